// Package shard says which objects a manager shard owns. A manager started
// with --shard NAME runs the Frameworks labelled operetta.dev/shard=NAME,
// and one started without runs the unlabelled ones; each shard elects its
// own leader, and labels the children it applies with its name, so every
// shard's child informers hold its own children only. Kubernetes labels and
// Leases are the whole coordination.
package shard

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"

	"operetta.dev/operetta/api/v1alpha1"
)

// Validate checks a shard name: it is a label value and part of a Lease's
// name.
func Validate(name string) error {
	if name == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("--shard %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}

// Owns says whether shard name runs Framework fw. An empty label value
// is no shard, as no label is: a template that renders the label empty
// leaves the Framework to the unsharded manager, not to nobody.
func Owns(name string, fw interface{ GetLabels() map[string]string }) bool {
	return fw.GetLabels()[v1alpha1.LabelShard] == name
}

// Children selects the children shard name applied.
func Children(name string) labels.Selector {
	return labels.NewSelector().Add(must(v1alpha1.LabelManagedBy, selection.Equals, v1alpha1.ManagedByValue), requirement(name))
}

func requirement(name string) labels.Requirement {
	if name == "" {
		return must(v1alpha1.LabelShard, selection.DoesNotExist)
	}
	return must(v1alpha1.LabelShard, selection.Equals, name)
}

// Others selects the children of Framework fw that another shard applied
// (another shard label, or none when name has one): after a move, the
// ones to adopt.
func Others(name, fw string) labels.Selector {
	other := must(v1alpha1.LabelShard, selection.Exists)
	if name != "" {
		other = must(v1alpha1.LabelShard, selection.NotEquals, name)
	}
	return labels.NewSelector().Add(must(v1alpha1.LabelFramework, selection.Equals, fw), other)
}

// must is a requirement on a label whose values are already checked: a
// shard name by Validate, a Framework's name by compile (it labels the
// Framework's children).
func must(key string, op selection.Operator, values ...string) labels.Requirement {
	r, err := labels.NewRequirement(key, op, values)
	if err != nil {
		panic(fmt.Sprintf("%s %s %q: %v", key, op, values, err))
	}
	return *r
}

// LeaderElectionID is the Lease shard name's replicas elect a leader with.
func LeaderElectionID(name string) string {
	if name == "" {
		return "operetta.dev"
	}
	return "operetta.dev-" + name
}

// Label puts shard name's label on a child it applies: none for the
// manager without a shard.
func Label(obj interface {
	GetLabels() map[string]string
	SetLabels(map[string]string)
}, name string) {
	l := obj.GetLabels()
	if name == "" {
		if _, ok := l[v1alpha1.LabelShard]; ok {
			delete(l, v1alpha1.LabelShard)
			obj.SetLabels(l)
		}
		return
	}
	if l == nil {
		l = map[string]string{}
	}
	l[v1alpha1.LabelShard] = name
	obj.SetLabels(l)
}
