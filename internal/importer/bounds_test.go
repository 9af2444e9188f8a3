package importer

import (
	"regexp"
	"strconv"
	"testing"
)

// TestUpToMatchesExactlyZeroToN checks upTo against every number up to
// past n, and against what sprig's int reads otherwise.
func TestUpToMatchesExactlyZeroToN(t *testing.T) {
	for _, n := range []int{0, 1, 7, 9, 10, 11, 30, 99, 100, 101, 250, 300, 909, 999, 1000, 1234, 50000} {
		re := regexp.MustCompile(upTo(n))
		for i := 0; i <= n*10+20; i++ {
			if got, want := re.MatchString(strconv.Itoa(i)), i <= n; got != want {
				t.Fatalf("upTo(%d) = %s: matches %d: %v, want %v", n, re, i, got, want)
			}
		}
		for _, s := range []string{"", "-1", "+1", "01", "00", " 1", "1 ", "0x1", "1_0", "1.0", "1e1"} {
			if re.MatchString(s) {
				t.Errorf("upTo(%d) = %s matches %q", n, re, s)
			}
		}
	}
	if got, want := upTo(100), "^(0|[1-9][0-9]?|100)$"; got != want {
		t.Errorf("upTo(100) = %s, want %s", got, want)
	}
}

// TestLoopedParams: the parameters a template loops over, however it
// writes the loop, and not those it only prints or compares.
func TestLoopedParams(t *testing.T) {
	for text, want := range map[string]string{
		`{{ range $i, $v := until (int .Params.A) }}{{ $v }}{{ end }}`:                               "A",
		`{{ range $i, $v := untilStep 1 (int $.Params.B) 1 }}{{ end }}`:                              "B",
		`{{ range .Params.C | int | until }}{{ end }}`:                                               "C",
		`{{ seq (atoi .Params.D) }}`:                                                                 "D",
		`{{ repeat (int .Params.E) .Params.NOT }}`:                                                   "E",
		`{{ range (int .Params.F) }}{{ end }}`:                                                       "F",
		`{{ if .Params.X }}{{ range until (add 1 (int .Params.G)) }}{{ end }}{{ end }}`:              "G",
		`{{ define "t" }}{{ until (int .Params.H) }}{{ end }}{{ template "t" . }}`:                   "H",
		`{{ if gt (int .Params.NOT) 0 }}{{ .Params.NOT }}{{ end }}{{ range .Params.LIST }}{{ end }}`: "",
		`{{ range splitList "," .Params.HOSTS }}{{ . }}{{ end }}`:                                    "",
	} {
		got := ""
		for _, p := range loopedParams("t.yaml", text) {
			got += p
		}
		if got != want {
			t.Errorf("%s: %q, want %q", text, got, want)
		}
	}
}
