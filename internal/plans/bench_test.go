package plans

import (
	"testing"
)

// BenchmarkAdvance measures one pass of the plan state machine over a plan of 3 phases of
// 5 steps whose steps are all done: its own overhead per reconcile.
func BenchmarkAdvance(b *testing.B) {
	p := plan("serial:a=s1,s2,s3,s4,s5;b*=s1,s2,s3,s4,s5;c=s1,s2,s3,s4,s5")
	s := &script{}
	b.ReportAllocs()
	for b.Loop() {
		s.calls = s.calls[:0]
		if st := Advance(p, Start(p, "u", now), s.run, now); st.Status != "COMPLETE" {
			b.Fatal(st.Status)
		}
	}
}
