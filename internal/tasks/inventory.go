package tasks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"operetta.dev/operetta/api/v1alpha1"
)

// hash digests a rendered object and the plan run about to apply it. The
// same content in a new run of a plan is applied again, as a person who runs
// a plan expects; within a run, it is applied once.
//
// The digest is keyed: it is in the instance's status, which anyone who may
// read the instance reads, and an unkeyed digest of a Secret lets them test
// guesses of its values offline. The key lives as long as the process: after
// a restart a plan that is running applies its children once more, which is
// all a digest that no longer matches costs.
func (r *inventory) hash(obj *unstructured.Unstructured) string {
	b, err := json.Marshal(obj.Object) // sorted keys: equal objects, equal bytes
	if err != nil {
		return "" // never equal to a recorded hash: the child is applied
	}
	h := hmac.New(sha256.New, inventoryKey)
	h.Write([]byte(r.planUID))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// inventoryKey keys the inventory's digests; see hash.
var inventoryKey = func() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on Linux; nothing works without it
	}
	return key
}()

// find returns the inventory entry of obj.
func (r *inventory) find(obj *unstructured.Unstructured) (v1alpha1.InventoryItem, bool) {
	return r.findItem(r.itemOf(obj))
}

// findItem returns the inventory entry of the object want names.
func (r *inventory) findItem(want v1alpha1.InventoryItem) (v1alpha1.InventoryItem, bool) {
	for _, it := range r.status.Inventory {
		if sameObject(it, want) {
			return it, true
		}
	}
	return v1alpha1.InventoryItem{}, false
}

// remember records an applied child obj in the inventory with the version
// the API server answered (observed), so a later change by someone else
// shows, and the digest of what was applied.
func (r *inventory) remember(id string, obj *unstructured.Unstructured, observed, hash string) {
	item := r.itemOf(obj)
	item.ID, item.Observed, item.Hash = id, observed, hash
	if res := r.fw.Resources[id]; res != nil && res.Go != nil {
		item.Step = r.renderer.stepPath()
	}
	for i, it := range r.status.Inventory {
		if sameObject(it, item) && i == len(r.status.Inventory)-1 {
			r.status.Inventory[i] = item
			return
		}
	}
	// The most recently applied entry of an id comes last (Keep prunes the
	// ones before it).
	r.forget(item)
	r.status.Inventory = append(r.status.Inventory, item)
}

func sameObject(a, b v1alpha1.InventoryItem) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.Namespace == b.Namespace && a.Cluster == b.Cluster
}

// forget removes a deleted child from the inventory.
func (r *inventory) forget(gone v1alpha1.InventoryItem) {
	kept := r.status.Inventory[:0]
	for _, it := range r.status.Inventory {
		if !sameObject(it, gone) {
			kept = append(kept, it)
		}
	}
	r.status.Inventory = kept
	if len(kept) == 0 {
		r.status.Inventory = nil
	}
}

// markSuperseded marks the inventory entry of an object its resource no
// longer renders.
func (r *inventory) markSuperseded(item v1alpha1.InventoryItem) {
	for i, it := range r.status.Inventory {
		if sameObject(it, item) {
			r.status.Inventory[i].Superseded = true
		}
	}
}

// observedVersion is what tells a later change of a child: its generation,
// which only spec changes bump, or its resourceVersion for kinds that have no
// generation (ConfigMaps, Secrets).
func observedVersion(obj metav1.Object) string {
	if g := obj.GetGeneration(); g > 0 {
		return "g" + strconv.FormatInt(g, 10)
	}
	return "rv" + obj.GetResourceVersion()
}

// itemOf is the inventory entry of an object, without what it looks like.
func (r *inventory) itemOf(obj *unstructured.Unstructured) v1alpha1.InventoryItem {
	item := v1alpha1.InventoryItem{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Name: obj.GetName()}
	switch ns := obj.GetNamespace(); {
	case ns == "":
		item.Cluster = true
	case ns != r.instance.GetNamespace():
		item.Namespace = ns
	}
	return item
}

// objectOf is the object an inventory entry names, for reading or deleting.
func (r *inventory) objectOf(item v1alpha1.InventoryItem) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(item.APIVersion)
	u.SetKind(item.Kind)
	u.SetName(item.Name)
	switch {
	case item.Cluster:
	case item.Namespace != "":
		u.SetNamespace(item.Namespace)
	default:
		u.SetNamespace(r.instance.GetNamespace())
	}
	return u
}
