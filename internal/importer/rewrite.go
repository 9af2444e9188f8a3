package importer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// document is one YAML document of a template, as text, with the
// apiVersion and kind it names literally at its top level ("" if a
// template expression chooses them).
type document struct {
	start, end       int // lines
	apiVersion, kind string
	apiVersionLine   int
}

var (
	separator      = regexp.MustCompile(`^---\s*$`)
	apiVersionLine = regexp.MustCompile(`^apiVersion:\s*["']?([^"'\s#]+)["']?\s*(#.*)?$`)
	kindLine       = regexp.MustCompile(`^kind:\s*["']?([^"'\s#]+)["']?\s*(#.*)?$`)
)

// documents splits a template's text at its document separators.
func documents(text string) []document {
	lines := strings.Split(text, "\n")
	var out []document
	d := document{apiVersionLine: -1}
	flush := func(end int) {
		d.end = end
		out = append(out, d)
	}
	for i, l := range lines {
		if separator.MatchString(l) {
			flush(i)
			d = document{start: i + 1, apiVersionLine: -1}
			continue
		}
		if m := apiVersionLine.FindStringSubmatch(l); m != nil && d.apiVersion == "" && !strings.Contains(m[1], "{{") {
			d.apiVersion, d.apiVersionLine = m[1], i
		}
		if m := kindLine.FindStringSubmatch(l); m != nil && d.kind == "" && !strings.Contains(m[1], "{{") {
			d.kind = m[1]
		}
	}
	flush(len(lines))
	return out
}

// removed are API versions Kubernetes no longer serves that packages
// still use, by apiVersion and kind, with the version to use instead and
// what changed. A removed version whose successor differs in shape is not
// rewritten: the API server refuses it, and the note says so.
var removed = map[[2]string]struct{ to, why string }{
	{"policy/v1beta1", "PodDisruptionBudget"}:                   {"policy/v1", "removed in Kubernetes 1.25; in policy/v1 an empty selector selects every pod of the namespace, in v1beta1 none"},
	{"rbac.authorization.k8s.io/v1beta1", "Role"}:               {"rbac.authorization.k8s.io/v1", "removed in Kubernetes 1.22; same fields"},
	{"rbac.authorization.k8s.io/v1beta1", "RoleBinding"}:        {"rbac.authorization.k8s.io/v1", "removed in Kubernetes 1.22; same fields"},
	{"rbac.authorization.k8s.io/v1beta1", "ClusterRole"}:        {"rbac.authorization.k8s.io/v1", "removed in Kubernetes 1.22; same fields"},
	{"rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"}: {"rbac.authorization.k8s.io/v1", "removed in Kubernetes 1.22; same fields"},
	{"apps/v1beta1", "StatefulSet"}:                             {"apps/v1", "removed in Kubernetes 1.16; apps/v1 requires spec.selector"},
	{"apps/v1beta2", "StatefulSet"}:                             {"apps/v1", "removed in Kubernetes 1.16; same fields"},
	{"apps/v1beta1", "Deployment"}:                              {"apps/v1", "removed in Kubernetes 1.16; apps/v1 requires spec.selector"},
	{"apps/v1beta2", "Deployment"}:                              {"apps/v1", "removed in Kubernetes 1.16; same fields"},
	{"extensions/v1beta1", "Deployment"}:                        {"apps/v1", "removed in Kubernetes 1.16; apps/v1 requires spec.selector"},
	{"apps/v1beta2", "DaemonSet"}:                               {"apps/v1", "removed in Kubernetes 1.16; same fields"},
	{"extensions/v1beta1", "DaemonSet"}:                         {"apps/v1", "removed in Kubernetes 1.16; apps/v1 requires spec.selector"},
	{"batch/v1beta1", "CronJob"}:                                {"batch/v1", "removed in Kubernetes 1.25; same fields"},
	{"autoscaling/v2beta2", "HorizontalPodAutoscaler"}:          {"autoscaling/v2", "removed in Kubernetes 1.26; same fields"},
}

// unrewritable are removed API versions whose successor has another shape.
var unrewritable = map[[2]string]string{
	{"extensions/v1beta1", "Ingress"}:                                          "networking.k8s.io/v1 Ingress has another backend shape",
	{"networking.k8s.io/v1beta1", "Ingress"}:                                   "networking.k8s.io/v1 Ingress has another backend shape",
	{"policy/v1beta1", "PodSecurityPolicy"}:                                    "PodSecurityPolicy is gone since Kubernetes 1.25, with no successor",
	{"admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"}: "admissionregistration.k8s.io/v1 requires sideEffects and admissionReviewVersions",
	{"admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"}:   "admissionregistration.k8s.io/v1 requires sideEffects and admissionReviewVersions",
}

// crdV1beta1 is the CustomResourceDefinition version Kubernetes 1.22
// removed; it is rewritten whole (crdToV1), not by its apiVersion line.
var crdV1beta1 = [2]string{"apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"}

// rewrite replaces removed API versions in a template's documents, noting
// each rewrite, and notes the removed ones it cannot rewrite. A v1beta1
// CustomResourceDefinition it cannot make a valid v1 one of is an error.
func (im *importer) rewrite(file, text string) (string, error) {
	lines := strings.Split(text, "\n")
	docs := documents(text)
	// Last first: a CRD rewritten whole changes the lines after it.
	for i := len(docs) - 1; i >= 0; i-- {
		d := docs[i]
		key := [2]string{d.apiVersion, d.kind}
		if key == crdV1beta1 {
			body := strings.Join(lines[d.start:d.end], "\n")
			if strings.Contains(body, "{{") {
				return "", fmt.Errorf("%s:%d: an apiextensions.k8s.io/v1beta1 CustomResourceDefinition, which Kubernetes no longer serves, is rewritten to v1 only when it has no template actions; this one has", file, d.apiVersionLine+1)
			}
			v1, notes, err := crdToV1(body)
			if err != nil {
				return "", fmt.Errorf("%s:%d: an apiextensions.k8s.io/v1beta1 CustomResourceDefinition, which Kubernetes no longer serves: %w", file, d.apiVersionLine+1, err)
			}
			lines = slices.Concat(lines[:d.start], strings.Split(strings.TrimSuffix(v1, "\n"), "\n"), lines[d.end:])
			for _, n := range notes {
				im.note("%s:%d: %s", file, d.apiVersionLine+1, n)
			}
			im.note("%s:%d: apiextensions.k8s.io/v1beta1 CustomResourceDefinition rewritten to apiextensions.k8s.io/v1 (removed in Kubernetes 1.22): its schema, subresources and columns copied to each version; unknown fields kept where v1beta1 kept them (x-kubernetes-preserve-unknown-fields)", file, d.apiVersionLine+1)
			continue
		}
		if r, ok := removed[key]; ok {
			lines[d.apiVersionLine] = strings.Replace(lines[d.apiVersionLine], d.apiVersion, r.to, 1)
			im.note("%s:%d: %s %s rewritten to %s (%s)", file, d.apiVersionLine+1, d.apiVersion, d.kind, r.to, r.why)
		}
		if why, ok := unrewritable[key]; ok {
			im.note("%s:%d: %s %s is no longer served and not rewritten: %s; the API server will refuse it", file, d.apiVersionLine+1, d.apiVersion, d.kind, why)
		}
	}
	return strings.Join(lines, "\n"), nil
}
