package kudo

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Labels and annotations KUDO put on what it rendered.
const (
	LabelHeritage             = "heritage"
	LabelOperator             = "kudo.dev/operator"
	LabelInstance             = "kudo.dev/instance"
	AnnotationOperatorVersion = "kudo.dev/operator-version"
	AnnotationPlan            = "kudo.dev/plan"
	AnnotationPhase           = "kudo.dev/phase"
	AnnotationStep            = "kudo.dev/step"
	AnnotationLastPlanRun     = "kudo.dev/last-plan-execution-uid"
	heritage                  = "kudo"
)

// Marks are what an object rendered for a KUDO package is marked with.
type Marks struct {
	Operator, OperatorVersion, Instance string
	Plan, Phase, Step, PlanUID          string
}

// Where KUDO put its labels and annotations: labels on an object's
// metadata and on the templates it holds (kustomize's common-label paths),
// which packages' selectors match; the plan, phase, step and run only on
// the object's own metadata, and on pod templates only the operator
// version: a plan run's annotations there would restart the pods on every
// run, and make a Job's template, which cannot change, differ.
var (
	labelPaths = [][]string{
		{"metadata"},
		{"spec", "template", "metadata"},
		{"spec", "volumeClaimTemplates[]", "metadata"},
		{"spec", "jobTemplate", "metadata"},
		{"spec", "jobTemplate", "spec", "template", "metadata"},
	}
	templatePaths = [][]string{
		{"spec", "template", "metadata"},
		{"spec", "jobTemplate", "metadata"},
		{"spec", "jobTemplate", "spec", "template", "metadata"},
	}
)

// Mark puts KUDO's labels and annotations on obj. Unlike KUDO, which added
// them on every path and let the conversion to a typed object drop the
// wrong ones, it marks only templates obj has: a custom resource is not
// given a spec.template it never had.
func Mark(obj map[string]any, m Marks) {
	labels := map[string]string{LabelHeritage: heritage, LabelOperator: m.Operator, LabelInstance: m.Instance}
	annotations := map[string]string{
		AnnotationOperatorVersion: m.OperatorVersion, AnnotationPlan: m.Plan, AnnotationPhase: m.Phase,
		AnnotationStep: m.Step, AnnotationLastPlanRun: m.PlanUID,
	}
	for _, p := range labelPaths {
		merge(obj, p, "labels", labels)
	}
	merge(obj, []string{"metadata"}, "annotations", annotations)
	for _, p := range templatePaths {
		merge(obj, p, "annotations", map[string]string{AnnotationOperatorVersion: m.OperatorVersion})
	}
}

// merge adds values to the string map key of the object at path, when the
// path exists; "name[]" in a path stands for every element of a list.
func merge(obj map[string]any, path []string, key string, values map[string]string) {
	if len(path) == 0 {
		m, _, err := unstructured.NestedStringMap(obj, key)
		if err != nil {
			return // not a string map: not ours to touch
		}
		if m == nil {
			m = map[string]string{}
		}
		for k, v := range values {
			m[k] = v
		}
		_ = unstructured.SetNestedStringMap(obj, m, key)
		return
	}
	head, rest := path[0], path[1:]
	if name, ok := strings.CutSuffix(head, "[]"); ok {
		list, _ := obj[name].([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				merge(m, rest, key, values)
			}
		}
		return
	}
	next, ok := obj[head].(map[string]any)
	if !ok {
		if head != "metadata" || len(rest) != 0 {
			return // the object has no such template
		}
		next = map[string]any{}
		obj[head] = next
	}
	merge(next, rest, key, values)
}
