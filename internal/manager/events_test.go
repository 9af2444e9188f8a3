package manager

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEventNotesFitTheAPIServersLimit(t *testing.T) {
	long := "applying Job x: " + strings.Repeat("é", 2000)
	got := bound(long)
	if len(got) > noteLimit || !utf8.ValidString(got) || !strings.HasPrefix(got, "applying Job x: é") || !strings.HasSuffix(got, "(the whole message is in the status)") {
		t.Fatalf("bounded to %d bytes, valid UTF-8 %v: %q", len(got), utf8.ValidString(got), got[len(got)-60:])
	}
	if short := "plan deploy failed"; bound(short) != short {
		t.Fatalf("a short note changed: %q", bound(short))
	}
}
