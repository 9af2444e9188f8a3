package tasks

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/kudo"
	"operetta.dev/operetta/internal/manifest"
)

// renderGo renders a Go-template resource into this instance's objects.
func (r *renderer) renderGo(id string, res *compile.Resource) ([]*unstructured.Unstructured, error) {
	plan, phase, step := r.where()
	objs, err := RenderGo(r.fw, id, r.instance, Where{Plan: plan, Phase: phase, Step: step, PlanUID: r.planUID})
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		if err := r.place(id, obj); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// Where is the plan run, phase and step a Go template is rendered in.
type Where struct{ Plan, Phase, Step, PlanUID string }

// RenderGo renders Go-template resource id of fw for instance as KUDO did:
// with KUDO's variables, every scalar parameter a string, and KUDO's labels
// where the Framework asks for them. An object of a kind the resource does
// not declare is refused: nothing would watch it. The objects are not yet
// placed or owned.
func RenderGo(fw *compile.Framework, id string, instance *unstructured.Unstructured, at Where) ([]*unstructured.Unstructured, error) {
	res := fw.Resources[id]
	spec, _ := instance.Object["spec"].(map[string]any)
	params, err := kudo.Params(fw.Parameters, spec)
	if err != nil {
		return nil, kube.Fail("rendering resource %s: %w", id, err)
	}
	operator, version := fw.Name, ""
	if k := fw.KUDO; k != nil {
		operator, version = k.OperatorName, k.OperatorVersion
	}
	maps, err := res.Go.Render(kudo.Vars{
		Name: instance.GetName(), Namespace: instance.GetNamespace(),
		OperatorName: operator, OperatorVersion: version, AppVersion: fw.AppVersion,
		PlanName: at.Plan, PhaseName: at.Phase, StepName: at.Step,
		Params: params, Pipes: pipes(fw, instance.GetName(), at.Plan),
	})
	if err != nil {
		return nil, kube.Fail("rendering resource %s: %w", id, err)
	}
	objs := make([]*unstructured.Unstructured, 0, len(maps))
	for _, m := range maps {
		obj := &unstructured.Unstructured{Object: m}
		if !manifest.Within(m, manifest.MaxObjectBytes) {
			return nil, kube.Fail("resource %s rendered %s %s larger than the API server's limit of %d bytes", id, obj.GetKind(), obj.GetName(), manifest.MaxObjectBytes)
		}
		if !res.Emits(obj.GroupVersionKind()) {
			return nil, kube.Fail("resource %s rendered %s %s, a kind its goTemplate.kinds does not list", id, obj.GetAPIVersion()+" "+obj.GetKind(), obj.GetName())
		}
		if fw.KUDO != nil {
			// KUDO put every namespaced object in the instance's
			// namespace, whatever its template said ("default", often).
			obj.SetNamespace("")
			kudo.Mark(obj.Object, kudo.Marks{
				Operator: operator, OperatorVersion: version, Instance: instance.GetName(),
				Plan: at.Plan, Phase: at.Phase, Step: at.Step, PlanUID: at.PlanUID,
			})
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// pipes are the names of the objects the Pipe tasks of plan fill, by key
// (pipeName). Templates of other plans see no pipes, as in KUDO.
func pipes(fw *compile.Framework, instance, plan string) map[string]string {
	out := map[string]string{}
	for _, phase := range fw.Plans[plan].Phases {
		for _, step := range phase.Steps {
			for _, name := range step.Tasks {
				t := fw.Tasks[name]
				if t == nil || t.Kind != v1alpha1.TaskPipe {
					continue
				}
				for _, f := range t.Pipe {
					out[f.Key] = pipeName(instance, plan, phase.Name, step.Name, t.Name, f.Key)
				}
			}
		}
	}
	return out
}

// pipeName is the name KUDO gave an object of a Pipe task, and its pod
// (suffix "pipepod"): <instance>.<plan>.<phase>.<step>.<task>.<suffix>,
// each part lower case, stripped of what is not a letter or a digit.
func pipeName(instance, plan, phase, step, task, suffix string) string {
	return kudoName(instance, plan, phase, step, task, suffix)
}

var notAlnum = regexp.MustCompile(`[^a-z0-9]+`)

func kudoName(parts ...string) string {
	for i, p := range parts {
		parts[i] = notAlnum.ReplaceAllString(strings.ToLower(p), "")
	}
	return strings.Join(parts, ".")
}

// where is the plan, phase and step the run is in.
func (r *renderer) where() (plan, phase, step string) {
	plan, _ = r.vars.Plan["name"].(string)
	phase, _ = r.vars.Plan["phase"].(string)
	step, _ = r.vars.Plan["step"].(string)
	return plan, phase, step
}

// stepPath is where, as an inventory entry records it.
func (r *renderer) stepPath() string {
	plan, phase, step := r.where()
	return plan + "/" + phase + "/" + step
}

// enterStep puts the executor in the plan/phase/step an inventory entry records, so an
// object is rendered again as it was applied; it returns how to go back.
func (r *renderer) enterStep(path string) (restore func()) {
	savedPlan, savedUID := r.vars.Plan, r.planUID
	parts := strings.SplitN(path, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	setPlan(r.scope, parts[0])
	r.vars.Plan["phase"], r.vars.Plan["step"] = parts[1], parts[2]
	return func() { r.vars.Plan, r.planUID = savedPlan, savedUID }
}

// supersede marks the inventory entries of resource id that its latest
// render, objs, no longer has: Keep prunes them once the plans are done.
func (r *renderer) supersede(id string, objs []*unstructured.Unstructured) {
	for i, it := range r.status.Inventory {
		if it.ID != id {
			continue
		}
		rendered := false
		for _, obj := range objs {
			if sameObject(it, r.inventory.itemOf(obj)) {
				rendered = true
				break
			}
		}
		r.status.Inventory[i].Superseded = !rendered
	}
}
