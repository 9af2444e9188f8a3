package crdgen

import (
	"regexp"
	"testing"

	"operetta.dev/operetta/api/v1alpha1"
)

// TestAParameterAScheduleReadsIsCheckedByTheSchema: a parameter a schedule
// reads whole gets a pattern that refuses what has no schedule's shape, so
// the API server refuses it when the instance is written.
func TestAParameterAScheduleReadsIsCheckedByTheSchema(t *testing.T) {
	re := regexp.MustCompile(cronPattern)
	for _, ok := range []string{"", "0 2 * * *", "*/15 9-17 * * 1-5", "@daily", "@every 6h", "CRON_TZ=Europe/Berlin 0 2 * * *", "0 0 1 JAN MON"} {
		if !re.MatchString(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"every night", "0 2 * *", "0 2 * * * *", "@nightly", "0 2 * * *; rm -rf /"} {
		if re.MatchString(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	fw := &v1alpha1.Framework{Spec: v1alpha1.FrameworkSpec{
		Names: v1alpha1.Names{Group: "x.example.com", Kind: "X"},
		Parameters: []v1alpha1.Parameter{
			{Name: "backupSchedule", Type: v1alpha1.TypeString},
			{Name: "ownPattern", Type: v1alpha1.TypeString, Pattern: "^@daily$"},
			{Name: "other", Type: v1alpha1.TypeString},
		},
		Schedules: []v1alpha1.Schedule{
			{Name: "a", Plan: "deploy", Schedule: "${instance.spec.backupSchedule}"},
			{Name: "b", Plan: "deploy", Schedule: "${ instance.spec.ownPattern }"},
			{Name: "c", Plan: "deploy", Schedule: "${instance.spec.other == '' ? '@daily' : instance.spec.other}"},
		},
	}}
	spec, errs := specSchema(fw, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := spec.Properties["backupSchedule"].Pattern; got != cronPattern {
		t.Errorf("backupSchedule's pattern %q", got)
	}
	if got := spec.Properties["ownPattern"].Pattern; got != "^@daily$" {
		t.Errorf("the author's own pattern was replaced: %q", got)
	}
	if got := spec.Properties["other"].Pattern; got != "" {
		t.Errorf("a parameter only part of an expression got a pattern: %q", got)
	}
}
