//go:build benchcluster

package main

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// histogram is a Prometheus histogram summed over the series a scrape
// selected: cumulative counts by upper bound.
type histogram map[float64]float64

// scrapeHistogram sums the buckets of histogram family over the series
// whose controller label contains controller.
func scrapeHistogram(ctx context.Context, url, family, controller string) (histogram, error) {
	m, err := scrapeMetrics(ctx, url)
	if err != nil {
		return nil, err
	}
	out := histogram{}
	f := m[family]
	if f == nil {
		return out, nil
	}
	for _, metric := range f.Metric {
		h := metric.GetHistogram()
		if h == nil || !slices.ContainsFunc(metric.Label, func(l *dto.LabelPair) bool {
			return l.GetName() == "controller" && strings.Contains(l.GetValue(), controller)
		}) {
			continue
		}
		// The text format's +Inf bucket is among the parsed buckets; the
		// sample count stands for it where it is not.
		sawInf := false
		for _, b := range h.Bucket {
			out[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			sawInf = sawInf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !sawInf {
			out[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	return out, nil
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
