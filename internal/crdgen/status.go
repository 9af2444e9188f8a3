package crdgen

import (
	"maps"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"operetta.dev/operetta/api/v1alpha1"
)

// statusSchema is the schema of v1alpha1.InstanceStatus, the status every
// generated kind shares. A test round-trips a filled InstanceStatus through it
// so the two cannot drift apart. It is built once and shared by every CRD
// generated (it is most of a small Framework's CRD): nothing writes into a
// generated CRD without copying it first (WithStatusFields does).
var statusSchema = sync.OnceValue(buildStatusSchema)

func buildStatusSchema() apiextensionsv1.JSONSchemaProps {
	str := func(what string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "string", Description: what}
	}
	execution := func(what string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{
			Type:        "string",
			Description: what + ": NEVER_RUN, PENDING, IN_PROGRESS, COMPLETE, ERROR (retried with backoff) or FATAL_ERROR (stopped until the spec, the Framework or a trigger changes).",
			Enum:        jsonStrings("NEVER_RUN", "PENDING", "IN_PROGRESS", "COMPLETE", "ERROR", "FATAL_ERROR"),
		}
	}
	timestamp := func(what string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "string", Format: "date-time", Description: what}
	}
	generation := func(what string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "integer", Format: "int64", Description: what}
	}
	step := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "The progress of one step.",
		Required:    []string{"name", "status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name":       str("The step's name in the Framework."),
			"status":     execution("The step's status"),
			"message":    str("What the step waits for, or why it failed."),
			"startedAt":  timestamp("When the step first ran in this plan run; its timeout counts from it."),
			"finishedAt": timestamp("When the step completed or failed for good."),
		},
	}
	phase := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "The progress of one phase.",
		Required:    []string{"name", "status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name":    str("The phase's name in the Framework."),
			"status":  execution("The phase's status"),
			"message": str("What the phase waits for, or why it failed."),
			"steps": {Type: "array", Description: "The phase's steps, in order.",
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &step}},
		},
	}
	plan := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "The last run of a plan.",
		Required:    []string{"status"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"status":     execution("The run's status"),
			"message":    str("What the run waits for, or why it failed."),
			"uid":        str("Identifies the run; a plan triggered again gets a new one."),
			"cause":      str("What started the run: the instance's creation, a parameter, a revision, the operetta.dev/run-plan annotation, a schedule."),
			"startedAt":  timestamp("When the run started."),
			"finishedAt": timestamp("When the run completed or failed for good."),
			"phases": {Type: "array", Description: "The plan's phases, in order.",
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &phase}},
		},
	}
	inventoryItem := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "A child operetta applied.",
		Required:    []string{"id", "apiVersion", "kind", "name"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"id":         str("The Framework resource, or Instance task, the child was rendered from."),
			"apiVersion": str("The child's apiVersion."),
			"kind":       str("The child's kind."),
			"name":       str("The child's name."),
			"namespace":  str("The child's namespace, if not the instance's; empty for the instance's own or a cluster-scoped child."),
			"cluster":    {Type: "boolean", Description: "Whether the child is cluster-scoped."},
			"observed":   str("The child's generation (resourceVersion for kinds without one) after operetta last applied it; another one means someone else changed it."),
			"hash":       str("Digests what operetta last applied and the plan run that applied it."),
			"step":       str("The plan/phase/step that last applied an object of a goTemplate resource; drift is corrected with that render."),
			"superseded": {Type: "boolean", Description: "Whether a later render of its goTemplate resource no longer has the object; it is pruned once the plans are done."},
		},
	}
	scheduleStatus := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "Where one of the Framework's schedules stands on the instance.",
		Required:    []string{"name"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name":             str("The schedule's name in the Framework."),
			"schedule":         str("The schedule in effect on this instance."),
			"since":            timestamp("When the instance first had the schedule; earlier times are not its to run."),
			"lastScheduleTime": timestamp("The scheduled time of the last run started, skipped or missed."),
			"lastRunUID":       str("The plan run the schedule last started."),
			"lastOutcome": {Type: "string", Description: "What became of the last scheduled time.",
				Enum: jsonStrings("Started", "Skipped", "Missed", "Invalid")},
			"message":          str("Why the last scheduled time was skipped or missed, or why the schedule is invalid here."),
			"nextScheduleTime": timestamp("When the next run is due, its jitter included."),
		},
	}
	triggerStatus := apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "What one of the Framework's triggers watches on the instance and the data it last saw.",
		Required:    []string{"name"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"name":            str("The trigger's name in the Framework."),
			"watching":        str("What it watches on this instance: a kind and a name, or a kind and a selector."),
			"digest":          str("A short hash of the watched data as last seen, salted with each object's uid; empty when nothing it watches exists."),
			"lastTriggerTime": timestamp("When a change last triggered the plan."),
			"lastRunUID":      str("The plan run a change last started."),
			"lastOutcome": {Type: "string", Description: "What became of the last change.",
				Enum: jsonStrings("Started", "Queued", "Invalid")},
			"message": str("Why the last change was queued, or why the trigger is invalid here."),
		},
	}
	return apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Description: "Written by operetta only. Its default makes an instance operetta has not reconciled yet " +
			"read as in progress to kstatus (observedGeneration 0 is behind every generation), not as current.",
		// Defaults apply when an object is read, so an instance created a
		// moment ago has it too.
		Default: &apiextensionsv1.JSON{Raw: []byte(`{"observedGeneration":0}`)},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"observedGeneration": generation("The instance generation this status describes."),
			"conditions": {
				Type: "array",
				Description: "Ready: the active plan is complete and every child is healthy. Reconciling: a plan runs or retries, " +
					"or a child is not ready. Stalled: a plan or a child failed for good. Reconciling and Stalled are present only while true, as kstatus expects.",
				XListType:    ptrString("map"),
				XListMapKeys: []string{"type"},
				Items:        &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptrSchema(conditionSchema())},
			},
			"activePlan":       str("The plan that runs now, or ran last."),
			"activePlanStatus": execution("The active plan's status, repeated for printer columns"),
			"planQueue": {Type: "array", Description: "Plans triggered while another ran, in the order they will run.",
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptrSchema(str("A plan's name."))}},
			"queuedCauses": {Type: "object", Description: "What triggered each queued plan, by plan: its run's cause when it starts.",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: ptrSchema(str("A cause."))}},
			"parameterDigests": {Type: "object", Description: "Digests of the parameter values plans were last triggered for; a parameter whose digest changes triggers its plan.",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: ptrSchema(str("A digest."))}},
			"frameworkGeneration": generation("The Framework generation plans were last triggered for; a newer one triggers upgrade (else update, else deploy)."),
			"frameworkRevision":   str("The FrameworkRevision the instance runs: <framework>-<generation>; a newer one reaches it as its rollout admits it."),
			"lastRunPlan":         str("The last value of the operetta.dev/run-plan annotation that was acted on."),
			"runPlanError":        str("Why the last operetta.dev/run-plan value was not run: it names no plan of the Framework."),
			"schedules": {Type: "array", Description: "Where each of the Framework's schedules stands on the instance.",
				XListType: ptrString("map"), XListMapKeys: []string{"name"},
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &scheduleStatus}},
			"triggers": {Type: "array", Description: "What each of the Framework's triggers watches on the instance and the data it last saw.",
				XListType: ptrString("map"), XListMapKeys: []string{"name"},
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &triggerStatus}},
			"inventory": {Type: "array", Description: "The children operetta applied and has not deleted.",
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &inventoryItem}},
			"plans": {
				Type:                 "object",
				Description:          "The last run of each plan, by name.",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &plan},
			},
		},
	}
}

// conditionSchema is metav1.Condition's schema, as controller-gen writes it.
func conditionSchema() apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "One aspect of the instance's state.",
		Required:    []string{"lastTransitionTime", "message", "reason", "status", "type"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"type":               {Type: "string", MaxLength: ptrInt(316), Description: "Ready, Reconciling or Stalled."},
			"status":             {Type: "string", Enum: jsonStrings("True", "False", "Unknown"), Description: "True, False or Unknown."},
			"observedGeneration": {Type: "integer", Format: "int64", Minimum: ptrFloat(0), Description: "The instance generation the condition was set for."},
			"lastTransitionTime": {Type: "string", Format: "date-time", Description: "When the status last changed."},
			"reason":             {Type: "string", MaxLength: ptrInt(1024), MinLength: ptrInt(1), Description: "Why, in one CamelCase word."},
			"message":            {Type: "string", MaxLength: ptrInt(32768), Description: "Why, in words."},
		},
	}
}

func jsonStrings(values ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, len(values))
	for i, v := range values {
		out[i] = apiextensionsv1.JSON{Raw: []byte(`"` + v + `"`)}
	}
	return out
}

func ptrSchema(s apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps { return &s }
func ptrString(s string) *string                                                   { return &s }
func ptrInt(i int64) *int64                                                        { return &i }
func ptrFloat(f float64) *float64                                                  { return &f }

// IsReservedStatusField says whether name is a status field operetta writes
// itself, which a projection may not take. It reads the status schema, so the
// two cannot disagree.
func IsReservedStatusField(name string) bool {
	_, ok := statusSchema().Properties[name]
	return ok
}

// WithStatusFields adds projected fields to crd's status schema and checks the
// result with the API server's validation again.
func WithStatusFields(crd *apiextensionsv1.CustomResourceDefinition, fw *v1alpha1.Framework, fields map[string]apiextensionsv1.JSONSchemaProps) (*apiextensionsv1.CustomResourceDefinition, field.ErrorList) {
	out := withoutStatus(crd).DeepCopy()
	// Status is operetta's, the same in every version. Below its own
	// properties, it stays the schema every CRD shares (statusSchema): a
	// copy of it would be ~40 kB for each Framework with projections.
	for i := range out.Spec.Versions {
		status := crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["status"]
		props := make(map[string]apiextensionsv1.JSONSchemaProps, len(status.Properties)+len(fields))
		maps.Copy(props, status.Properties)
		maps.Copy(props, fields)
		status.Properties = props
		out.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["status"] = status
	}
	if errs := validate(out, fw); len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// withoutStatus is a shallow copy of crd whose versions' schemas lack the
// status, for a deep copy of the rest.
func withoutStatus(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	out := *crd
	out.Spec.Versions = make([]apiextensionsv1.CustomResourceDefinitionVersion, len(crd.Spec.Versions))
	for i, v := range crd.Spec.Versions {
		root := *v.Schema.OpenAPIV3Schema
		root.Properties = make(map[string]apiextensionsv1.JSONSchemaProps, len(root.Properties))
		for name, p := range v.Schema.OpenAPIV3Schema.Properties {
			if name != "status" {
				root.Properties[name] = p
			}
		}
		v.Schema = &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root}
		out.Spec.Versions[i] = v
	}
	return &out
}
