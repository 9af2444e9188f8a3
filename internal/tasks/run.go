package tasks

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"operetta.dev/operetta/api/v1alpha1"
	"operetta.dev/operetta/internal/compile"
	"operetta.dev/operetta/internal/expr"
	"operetta.dev/operetta/internal/kube"
	"operetta.dev/operetta/internal/plans"
)

// ChildCache reads children from informers, never from the API server.
type ChildCache interface {
	// Get returns a child as the cache holds it, with its kind set: the Go
	// type of a built-in kind, unstructured for any other. found is false
	// if it does not exist.
	Get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (obj client.Object, found bool, err error)
	// Ensure watches one more kind for the loop named loop.
	Ensure(ctx context.Context, loop string, gvk schema.GroupVersionKind) error
}

// Clients are what an Executor talks to.
type Clients struct {
	// Writer applies and deletes children: the manager's client, or one
	// impersonating the Framework's service account.
	Writer client.Client
	// Children reads children from the shared children cache.
	Children ChildCache
	// Frameworks reads Frameworks, with the manager's own rights, from its
	// cache.
	Frameworks client.Reader
	// Renders remembers renders between reconciles; nil renders every time.
	Renders *Renders
	// Verdicts remembers kstatus' verdicts on children; nil computes each
	// one every time.
	Verdicts *Verdicts
	// PipeImage is the image of the container Pipe tasks read files out
	// of; default DefaultPipeImage.
	PipeImage string
	// Shard labels every child applied, so only this manager shard's
	// child informers hold it (internal/shard).
	Shard string
	// References reads what externalRefs name; nil reads nothing (an
	// Apply task of one waits).
	References ReferenceReader
}

// Executor executes the tasks of one instance during one reconcile. Every
// task is idempotent, and applies a child only when it has something new to
// say: a step waiting for its children to become healthy reads them from the
// cache and sends nothing.
//
// Its work is split by concern into parts sharing one scope: the applier
// (apply tasks, and reading children back), the pruner (delete tasks, drift
// correction and pruning), the piper (Pipe tasks), the renderer (a resource to objects), the child
// writer (every write, with the ownership check) and the inventory (what the
// instance's status records of its children).
type Executor struct{ *scope }

// scope is what the parts of one Executor share: the instance, its status,
// the variables expressions see, and each other.
type scope struct {
	c        Clients
	fw       *compile.Framework
	instance *unstructured.Unstructured
	status   *v1alpha1.InstanceStatus // its inventory is kept current
	vars     expr.Vars
	planUID  string
	left     []string // children deleteOutside left: not this instance's

	applier   *applier
	pruner    *pruner
	piper     *piper
	renderer  *renderer
	writer    *childWriter
	inventory *inventory
}

// applier runs apply tasks and reads children back from the cache.
type applier struct{ *scope }

// pruner runs delete tasks, corrects drift and prunes what plans left.
type pruner struct{ *scope }

// renderer renders a resource into the objects it stands for.
type renderer struct{ *scope }

// childWriter sends every write of a child, after the ownership check.
type childWriter struct{ *scope }

// inventory keeps the instance's record of its children.
type inventory struct{ *scope }

// NewExecutor returns the executor of one reconcile of instance, whose
// status st it keeps the inventory of.
func NewExecutor(c Clients, fw *compile.Framework, instance *unstructured.Unstructured, st *v1alpha1.InstanceStatus) *Executor {
	s := &scope{c: c, fw: fw, instance: instance, status: st, vars: NewVars(fw, instance)}
	s.applier, s.pruner, s.piper, s.renderer = &applier{s}, &pruner{s}, &piper{s}, &renderer{s}
	s.writer, s.inventory = &childWriter{s}, &inventory{s}
	return &Executor{s}
}

// NewVars are the variables expressions see for instance before a plan
// run is chosen and any child is observed.
func NewVars(fw *compile.Framework, instance *unstructured.Unstructured) expr.Vars {
	return expr.Vars{
		Instance:  instance.Object,
		Resources: map[string]any{},
		Framework: map[string]any{"name": fw.Name, "appVersion": fw.AppVersion, "generation": fw.Generation},
		Plan:      map[string]any{},
	}
}

// SetPlan says which plan run the following steps belong to.
func (r *Executor) SetPlan(name string) { setPlan(r.scope, name) }

func setPlan(s *scope, name string) {
	run := s.status.Plans[name]
	s.planUID = string(run.UID)
	s.vars.Plan = map[string]any{"name": name, "uid": s.planUID}
}

// Observe makes every child in the inventory visible to expressions as
// resources.<id>, from the children cache, for conditions and projections
// over objects applied in earlier reconciles.
func (r *Executor) Observe(ctx context.Context) error { return r.applier.observe(ctx) }

// Keep keeps the children of a settled instance as its plans left them (see
// pruner.keep).
func (r *Executor) Keep(ctx context.Context) (Kept, error) { return r.pruner.keep(ctx) }

// DeleteOutside deletes, once the instance is deleted, its children no
// owner reference takes with it (see pruner.deleteOutside).
func (r *Executor) DeleteOutside(ctx context.Context) (bool, error) {
	return r.pruner.deleteOutside(ctx)
}

// Vars are the variables expressions see, with every child observed so far.
func (r *Executor) Vars() expr.Vars { return r.vars }

// Step runs a step's tasks in order and stops at the first that is not done.
// A done step keeps what its tasks said (a delete that left an object that
// is not the instance's).
func (r *Executor) Step(ctx context.Context, phase v1alpha1.Phase, step v1alpha1.Step) plans.Outcome {
	r.vars.Plan["phase"], r.vars.Plan["step"] = phase.Name, step.Name
	var said []string
	for _, name := range step.Tasks {
		out := r.task(ctx, r.fw.Tasks[name])
		if out.Result != plans.Done {
			return out
		}
		if out.Message != "" {
			said = append(said, out.Message)
		}
	}
	return plans.Outcome{Result: plans.Done, Message: strings.Join(said, "; ")}
}

func (r *Executor) task(ctx context.Context, t *compile.Task) plans.Outcome {
	switch t.Kind {
	case v1alpha1.TaskApply:
		return r.applier.apply(ctx, t.Resources)
	case v1alpha1.TaskDelete:
		return r.pruner.delete(ctx, t.Resources)
	case v1alpha1.TaskToggle:
		on, err := t.WhenExpr.EvalBool(r.vars)
		if err != nil {
			return outcome(kube.Fail("task %s: when: %w", t.Name, err))
		}
		if on {
			return r.applier.apply(ctx, t.Resources)
		}
		return r.pruner.delete(ctx, t.Resources)
	case v1alpha1.TaskWait:
		return r.wait(ctx, t)
	case v1alpha1.TaskInstance:
		return r.childInstance(ctx, t)
	case v1alpha1.TaskPipe:
		return r.piper.pipe(ctx, t)
	case v1alpha1.TaskDummy:
		if t.Done {
			return plans.Outcome{Result: plans.Done}
		}
		return plans.Outcome{Result: plans.Waiting, Message: fmt.Sprintf("task %s is a Dummy that is never done: this plan does not finish", t.Name)}
	}
	return outcome(kube.Fail("task %s: unknown kind %s", t.Name, t.Kind))
}

// wait is done when the task's condition is true.
func (r *Executor) wait(ctx context.Context, t *compile.Task) plans.Outcome {
	out := plans.Outcome{Result: plans.Waiting, Message: fmt.Sprintf("waiting for %s", strings.TrimSpace(t.Condition))}
	if t.Timeout != nil {
		out.Timeout = t.Timeout.Duration
	}
	if err := r.applier.observe(ctx); err != nil {
		return outcome(err)
	}
	ok, err := t.ConditionExpr.EvalBool(r.vars)
	if err != nil {
		// Fields a condition reads often appear only once a child's
		// controller has written status: not yet, rather than broken.
		out.Message += ": " + err.Error()
		return out
	}
	if ok {
		return plans.Outcome{Result: plans.Done}
	}
	return out
}

// observe is Executor.Observe. A collection's objects are read together
// and exposed as its list; what a step of this reconcile exposed already is
// not read again.
func (r *applier) observe(ctx context.Context) error {
	collections := map[string][]client.Object{}
	for _, item := range r.status.Inventory {
		if _, seen := r.vars.Resources[item.ID]; seen {
			continue
		}
		res := r.fw.Resources[item.ID]
		collection := res != nil && len(res.ForEach) > 0
		if collection && item.Superseded {
			continue
		}
		u := r.inventory.objectOf(item)
		obj, found, err := r.c.Children.Get(ctx, u.GroupVersionKind(), client.ObjectKeyFromObject(u))
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", item.Kind, item.Name, err)
		}
		if !found {
			continue
		}
		if collection {
			obj.GetObjectKind().SetGroupVersionKind(u.GroupVersionKind())
			collections[item.ID] = append(collections[item.ID], obj)
			continue
		}
		live, err := asUnstructured(u.GroupVersionKind(), obj)
		if err != nil {
			return err
		}
		r.vars.Resources[item.ID] = live.Object
	}
	for id, lives := range collections {
		if err := r.exposeCollection(id, lives); err != nil {
			return err
		}
	}
	return r.observeExternals(ctx)
}

func waitingFor(waiting []string) plans.Outcome {
	if len(waiting) == 0 {
		return plans.Outcome{Result: plans.Done}
	}
	sort.Strings(waiting)
	return plans.Outcome{Result: plans.Waiting, Message: "waiting for " + strings.Join(waiting, "; ")}
}
