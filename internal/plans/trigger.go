package plans

import "operetta.dev/operetta/api/v1alpha1"

// Observed is what the instance shows about the need to run a plan.
type Observed struct {
	// Generation of the instance now.
	Generation int64
	// ObservedGeneration recorded in its status: the last generation a plan
	// was chosen for.
	ObservedGeneration int64
	// Status is the instance's status.
	Status v1alpha1.InstanceStatus
}

// Triggered returns the plan the instance needs to start now, or "" if it
// needs none: deploy when it never ran, and on a spec change the "update" plan
// if the Framework has one, else deploy.
func Triggered(plans map[string]v1alpha1.Plan, o Observed) string {
	if _, ran := o.Status.Plans[v1alpha1.PlanDeploy]; !ran {
		return v1alpha1.PlanDeploy
	}
	if o.Generation == o.ObservedGeneration {
		return ""
	}
	if _, ok := plans[v1alpha1.PlanUpdate]; ok {
		return v1alpha1.PlanUpdate
	}
	return v1alpha1.PlanDeploy
}
