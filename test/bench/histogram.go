//go:build benchcluster

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// histogram is a Prometheus histogram summed over the series a scrape
// selected: cumulative counts by upper bound.
type histogram map[float64]float64

// scrapeHistogram sums the buckets of family (without _bucket) over the
// series whose controller label contains controller.
func scrapeHistogram(ctx context.Context, url, family, controller string) (histogram, error) {
	body, err := fetch(ctx, url, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("scraping: %w", err)
	}
	out := histogram{}
	prefix := family + "_bucket{"
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		labels := parseLabels(line[len(prefix):end])
		if !strings.Contains(labels["controller"], controller) {
			continue
		}
		le, err := strconv.ParseFloat(labels["le"], 64)
		if err != nil {
			continue // +Inf parses; anything else is not a bucket
		}
		fields := strings.Fields(line[end+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %q: %w", url, line, err)
		}
		out[le] += v
	}
	return out, sc.Err()
}

func (h histogram) minus(before histogram) histogram {
	out := histogram{}
	for le, v := range h {
		out[le] = v - before[le]
	}
	return out
}

// quantile estimates quantile q as Prometheus' histogram_quantile does:
// linearly within the bucket it falls in.
func (h histogram) quantile(q float64) time.Duration {
	bounds := make([]float64, 0, len(h))
	for le := range h {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 || h[bounds[len(bounds)-1]] == 0 {
		return 0
	}
	rank := q * h[bounds[len(bounds)-1]]
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		if h[le] >= rank {
			if math.IsInf(le, 1) {
				return time.Duration(lower * float64(time.Second))
			}
			in := h[le] - below
			frac := 1.0
			if in > 0 {
				frac = (rank - below) / in
			}
			return time.Duration((lower + (le-lower)*frac) * float64(time.Second))
		}
		lower, below = le, h[le]
	}
	return time.Duration(lower * float64(time.Second))
}
