//go:build benchcluster

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// requests are the manager's rest_client_requests_total by method and code.
type requests map[[2]string]float64

// scrape reads rest_client_requests_total, and the sum of
// controller_runtime_reconcile_total over every controller, from the
// manager's metrics endpoint.
func scrape(ctx context.Context, url string) (requests, float64, error) {
	m, err := scrapeMetrics(ctx, url)
	if err != nil {
		return nil, 0, err
	}
	out := requests{}
	m.each("rest_client_requests_total", nil, func(labels map[string]string, v float64) {
		out[[2]string{labels["method"], labels["code"]}] += v
	})
	return out, m.sum("controller_runtime_reconcile_total", nil), nil
}

// metricSum is the sum of the samples of family in the manager's metrics
// at url whose labels match (all of them if match is nil).
func metricSum(ctx context.Context, url, family string, match func(labels map[string]string) bool) (float64, error) {
	m, err := scrapeMetrics(ctx, url)
	if err != nil {
		return 0, err
	}
	return m.sum(family, match), nil
}

// metrics is one scrape of a metrics endpoint, by family.
type metrics map[string]*dto.MetricFamily

// scrapeMetrics reads the metrics at url (Prometheus text format).
func scrapeMetrics(ctx context.Context, url string) (metrics, error) {
	body, err := fetch(ctx, url, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scraping: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	return families, nil
}

// each calls do with the labels and value of every sample of family (a
// counter, gauge or untyped one) whose labels match, all if match is nil.
func (m metrics) each(family string, match func(labels map[string]string) bool, do func(labels map[string]string, v float64)) {
	f := m[family]
	if f == nil {
		return
	}
	for _, metric := range f.Metric {
		labels := make(map[string]string, len(metric.Label))
		for _, l := range metric.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if match != nil && !match(labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			do(labels, metric.Counter.GetValue())
		case metric.Gauge != nil:
			do(labels, metric.Gauge.GetValue())
		case metric.Untyped != nil:
			do(labels, metric.Untyped.GetValue())
		}
	}
}

// sum is the sum of what each gives.
func (m metrics) sum(family string, match func(labels map[string]string) bool) float64 {
	var total float64
	m.each(family, match, func(_ map[string]string, v float64) { total += v })
	return total
}

// controllerPrefix matches the samples of the controllers whose name
// starts with prefix.
func controllerPrefix(prefix string) func(labels map[string]string) bool {
	return func(labels map[string]string) bool { return strings.HasPrefix(labels["controller"], prefix) }
}

// fetch GETs url (a manager's metrics or pprof endpoint) within timeout.
func fetch(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// minus returns r − before.
func (r requests) minus(before requests) requests {
	out := requests{}
	for k, v := range r {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (r requests) total() float64 {
	var t float64
	for _, v := range r {
		t += v
	}
	return t
}

// byMethod formats the requests per method divided by n, largest first,
// and the non-2xx answers by code.
func (r requests) byMethod(n int) string {
	methods := map[string]float64{}
	codes := map[string]float64{}
	for k, v := range r {
		methods[k[0]] += v
		if !strings.HasPrefix(k[1], "2") {
			codes[k[1]] += v
		}
	}
	var parts []string
	for _, m := range sortedKeys(methods) {
		parts = append(parts, fmt.Sprintf("%s %.2f", m, methods[m]/float64(n)))
	}
	s := strings.Join(parts, ", ")
	if len(codes) > 0 {
		var cs []string
		for _, c := range sortedKeys(codes) {
			cs = append(cs, fmt.Sprintf("%s×%.0f", c, codes[c]))
		}
		s += "; not 2xx: " + strings.Join(cs, ", ")
	}
	return s
}

func sortedKeys(m map[string]float64) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// cpuSeconds is utime+stime of pid from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields from 3 on follow the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(fields[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return (utime + stime) / clockTicks, nil
}

// rssBytes is VmRSS of pid from /proc/<pid>/status.
func rssBytes(pid int) (float64, error) {
	m, err := residentMemory(pid)
	return m.rss, err
}

// mem is a process's resident memory: all of it, and its private (anonymous)
// part. The rest is mapped files, above all the executable's own pages,
// which the kernel can drop and read again.
type mem struct{ rss, anon float64 }

// residentMemory reads VmRSS and RssAnon of pid from /proc/<pid>/status.
func residentMemory(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	var m mem
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		for key, into := range map[string]*float64{"VmRSS:": &m.rss, "RssAnon:": &m.anon} {
			rest, ok := strings.CutPrefix(line, key)
			if !ok {
				continue
			}
			f := strings.Fields(rest) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				return m, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return m, err
			}
			*into = kb * 1024
			found++
		}
	}
	if found != 2 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS or RssAnon", pid)
	}
	return m, nil
}

// sample is the counters of one or more managers at one moment: requests,
// reconciles and CPU summed, RSS of each.
type sample struct {
	at         time.Time
	requests   requests
	reconciles float64
	cpu        float64
	rss        []float64
	anon       []float64 // the private part of each RSS
}

func (b *bench) sample(ctx context.Context, procs ...*managerProc) (sample, error) {
	s := sample{at: time.Now(), requests: requests{}}
	for _, p := range procs {
		r, reconciles, err := scrape(ctx, p.metrics)
		if err != nil {
			return s, fmt.Errorf("manager %s: %w", p.name, err)
		}
		for k, v := range r {
			s.requests[k] += v
		}
		s.reconciles += reconciles
		cpu, err := cpuSeconds(p.pid())
		if err != nil {
			return s, fmt.Errorf("reading the CPU time of manager %s: %w", p.name, err)
		}
		s.cpu += cpu
		m, err := residentMemory(p.pid())
		if err != nil {
			return s, fmt.Errorf("reading the RSS of manager %s: %w", p.name, err)
		}
		s.rss, s.anon = append(s.rss, m.rss), append(s.anon, m.anon)
	}
	return s, nil
}

// private formats each RSS with its private part, in MB.
func private(rss, anon []float64) string {
	var parts []string
	for i, r := range rss {
		parts = append(parts, fmt.Sprintf("%.1f MB (private %.1f)", r/1e6, anon[i]/1e6))
	}
	return strings.Join(parts, " + ")
}

// mb formats each RSS in MB.
func mb(rss []float64) string {
	var parts []string
	for _, r := range rss {
		parts = append(parts, fmt.Sprintf("%.1f MB", r/1e6))
	}
	return strings.Join(parts, " + ")
}
