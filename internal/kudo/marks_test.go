package kudo

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestMarkPutsKUDOsLabelsWhereKUDODid(t *testing.T) {
	m := Marks{Operator: "zookeeper", OperatorVersion: "0.3.3", Instance: "zk", Plan: "deploy", Phase: "zookeeper", Step: "deploy", PlanUID: "run-1"}
	labels := map[string]any{"heritage": "kudo", "kudo.dev/operator": "zookeeper", "kudo.dev/instance": "zk"}
	withApp := map[string]any{"app": "zookeeper", "heritage": "kudo", "kudo.dev/operator": "zookeeper", "kudo.dev/instance": "zk"}
	annotations := map[string]any{"kudo.dev/operator-version": "0.3.3", "kudo.dev/plan": "deploy", "kudo.dev/phase": "zookeeper",
		"kudo.dev/step": "deploy", "kudo.dev/last-plan-execution-uid": "run-1"}
	// Pod templates get the version only: a run's annotations would restart
	// pods on every plan run and change a Job's immutable template.
	version := map[string]any{"kudo.dev/operator-version": "0.3.3"}
	tests := []struct {
		name, in string
		paths    map[string]map[string]any // path → the map that must be there, exactly
		absent   []string
	}{
		{
			name: "a StatefulSet: metadata, pod template, claim templates",
			in: `{"kind":"StatefulSet","metadata":{"name":"zk","labels":{"app":"zookeeper"}},"spec":{
				"template":{"metadata":{"labels":{"app":"zookeeper"}},"spec":{}},
				"volumeClaimTemplates":[{"metadata":{"name":"data"}},{"metadata":{"name":"logs"}}]}}`,
			paths: map[string]map[string]any{
				"metadata.labels": withApp, "metadata.annotations": annotations,
				"spec.template.metadata.labels": withApp, "spec.template.metadata.annotations": version,
				"spec.volumeClaimTemplates.0.metadata.labels": labels, "spec.volumeClaimTemplates.1.metadata.labels": labels,
			},
		},
		{
			name: "a CronJob: its job template and that job's pod template",
			in:   `{"kind":"CronJob","metadata":{"name":"b"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{}}}}}}`,
			paths: map[string]map[string]any{
				"metadata.labels": labels, "spec.jobTemplate.metadata.labels": labels,
				"spec.jobTemplate.spec.template.metadata.labels":      labels,
				"spec.jobTemplate.spec.template.metadata.annotations": version,
			},
		},
		{
			name:   "a ConfigMap: its metadata only, nothing invented",
			in:     `{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"b"}}`,
			paths:  map[string]map[string]any{"metadata.labels": labels, "metadata.annotations": annotations},
			absent: []string{"spec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(tt.in), &obj); err != nil {
				t.Fatal(err)
			}
			Mark(obj, m)
			for path, want := range tt.paths {
				if got := at(obj, path); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %v, want %v", path, got, want)
				}
			}
			for _, key := range tt.absent {
				if _, ok := obj[key]; ok {
					t.Errorf("%s was added: %v", key, obj[key])
				}
			}
		})
	}
}

// at reads a dotted path; a number indexes a list.
func at(obj any, path string) any {
	cur := obj
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}
