//go:build benchcluster

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// conversionResult is n instances of a kind served in two versions, read in
// the stored version (no conversion: the floor) and in the other one (every
// object through the manager's conversion webhook).
type conversionResult struct {
	n, lists, gets int
	// LIST latencies of all n, sorted: in the stored version; in the other
	// from the API server's cache; in the other after every object changed.
	listStored, listCached, listConverted []time.Duration
	// The reviews the manager answered over the LISTs.
	cachedReviews float64
	// Per object written: the reviews the manager answered and its CPU;
	// and the reconciles those writes caused (none expected).
	writeReviews, writeCPU, writeReconciles float64
	// review is the latency of a review of all n posted to the webhook,
	// reviewCPU the manager's CPU for each.
	review    []time.Duration
	reviewCPU float64
	// GET latencies of one object in each version.
	getStored, getConverted []time.Duration
}

// rounds is how often every object is changed and LISTed in the other
// version.
const rounds = 5

// webhookSecret is where the benchmark's manager keeps its certificate.
var webhookSecret = types.NamespacedName{Namespace: "kube-system", Name: "bench-webhook-cert"}

// conversion creates n instances of examples/versions (written in v1,
// stored as v2, replicas 0 so no pod is made) and times reads in each
// version.
func (b *bench) conversion(ctx context.Context, fwPath string, n, lists, gets int) (conversionResult, error) {
	r := conversionResult{n: n, lists: lists, gets: gets}
	m, err := readYAML(fwPath)
	if err != nil {
		return r, err
	}
	fw := &unstructured.Unstructured{Object: m}
	group, _, _ := unstructured.NestedString(m, "spec", "names", "group")
	kind, _, _ := unstructured.NestedString(m, "spec", "names", "kind")
	namespace := fmt.Sprintf("bench-conversion-%d-%d", n, time.Now().Unix()%100000)
	fmt.Printf("\n== %d instances of %s (Framework %s) written in v1, stored as v2, namespace %s\n", n, kind, fw.GetName(), namespace)
	if err := b.applyFramework(ctx, fw, 2*time.Minute); err != nil {
		return r, err
	}
	defer b.deleteFramework(context.WithoutCancel(ctx), fw.GetName())
	older, err := b.resource(schema.GroupKind{Group: group, Kind: kind}, "v1")
	if err != nil {
		return r, err
	}
	stored, err := b.resource(schema.GroupKind{Group: group, Kind: kind}, "v2")
	if err != nil {
		return r, err
	}
	deleteNamespace, err := b.inNamespace(ctx, namespace)
	if err != nil {
		return r, err
	}
	defer deleteNamespace()
	if err := b.create(ctx, n, func(ctx context.Context, i int) error {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": older.GroupVersion().String(), "kind": kind,
			"metadata": map[string]any{"name": fmt.Sprintf("c-%04d", i), "namespace": namespace},
			"spec":     map[string]any{"size": int64(0), "image": "nginx:1.27"},
		}}
		_, err := b.dyn.Resource(older).Namespace(namespace).Create(ctx, u, metav1.CreateOptions{})
		return err
	}); err != nil {
		return r, fmt.Errorf("creating the instances in v1: %w", err)
	}
	if err := poll(ctx, b.runTimeout, time.Second, func() (bool, error) {
		list, err := b.dyn.Resource(stored).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		complete := 0
		for _, u := range list.Items {
			if s, _, _ := unstructured.NestedString(u.Object, "status", "plans", "deploy", "status"); s == "COMPLETE" {
				complete++
			}
		}
		return complete == n, nil
	}, "every instance's deploy COMPLETE"); err != nil {
		return r, err
	}
	c := func(gvr schema.GroupVersionResource) dynamic.ResourceInterface {
		return b.dyn.Resource(gvr).Namespace(namespace)
	}
	list := func(gvr schema.GroupVersionResource, into *[]time.Duration) (*unstructured.UnstructuredList, error) {
		start := time.Now()
		l, err := c(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("LIST in %s: %w", gvr.Version, err)
		}
		if len(l.Items) != n {
			return nil, fmt.Errorf("LIST in %s: %d objects, want %d", gvr.Version, len(l.Items), n)
		}
		if into != nil {
			*into = append(*into, time.Since(start))
		}
		return l, nil
	}
	reviews := func() (float64, error) {
		return metricSum(ctx, b.mgr.metrics, "controller_runtime_webhook_requests_total", func(labels map[string]string) bool {
			return labels["code"] == "200" && labels["webhook"] == "/convert"
		})
	}
	// The API server keeps a watch cache per served version, filled by
	// converting each object as it changes: a LIST in v1 converts nothing
	// on the request's path.
	if _, err := list(older, nil); err != nil {
		return r, err
	}
	before, err := reviews()
	if err != nil {
		return r, err
	}
	for range lists {
		if _, err := list(stored, &r.listStored); err != nil {
			return r, err
		}
		if _, err := list(older, &r.listCached); err != nil {
			return r, err
		}
	}
	after, err := reviews()
	if err != nil {
		return r, err
	}
	r.cachedReviews = after - before
	// What conversion costs then is paid on each write: every object
	// relabelled (a change no loop reconciles), through the stored version.
	for round := range rounds {
		s0, err := b.sample(ctx, b.mgr)
		if err != nil {
			return r, err
		}
		reviews0, err := reviews()
		if err != nil {
			return r, err
		}
		if err := b.create(ctx, n, func(ctx context.Context, i int) error {
			patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-round":"%d"}}}`, round)
			_, err := c(stored).Patch(ctx, fmt.Sprintf("c-%04d", i), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}); err != nil {
			return r, fmt.Errorf("changing the instances: %w", err)
		}
		time.Sleep(2 * time.Second) // the API server's watch caches take the change
		s1, err := b.sample(ctx, b.mgr)
		if err != nil {
			return r, err
		}
		reviews1, err := reviews()
		if err != nil {
			return r, err
		}
		r.writeReviews += (reviews1 - reviews0) / float64(rounds*n)
		r.writeCPU += (s1.cpu - s0.cpu) / float64(rounds*n)
		r.writeReconciles += s1.reconciles - s0.reconciles
		if _, err := list(older, &r.listConverted); err != nil {
			return r, err
		}
	}
	// The webhook alone: the review a LIST of all n in v1 sends, posted to
	// it as the API server would.
	l, err := list(stored, nil)
	if err != nil {
		return r, err
	}
	cpu0, err := cpuSeconds(b.mgr.pid())
	if err != nil {
		return r, err
	}
	for range lists {
		d, err := b.review(ctx, l, older.GroupVersion().String())
		if err != nil {
			return r, err
		}
		r.review = append(r.review, d)
	}
	cpu1, _ := cpuSeconds(b.mgr.pid())
	r.reviewCPU = (cpu1 - cpu0) / float64(lists)
	for i := range gets {
		for _, g := range []struct {
			gvr  schema.GroupVersionResource
			into *[]time.Duration
		}{{stored, &r.getStored}, {older, &r.getConverted}} {
			start := time.Now()
			if _, err := c(g.gvr).Get(ctx, fmt.Sprintf("c-%04d", i%n), metav1.GetOptions{}); err != nil {
				return r, fmt.Errorf("GET in %s: %w", g.gvr.Version, err)
			}
			*g.into = append(*g.into, time.Since(start))
		}
	}
	for _, s := range [][]time.Duration{r.listStored, r.listCached, r.listConverted, r.review, r.getStored, r.getConverted} {
		slices.Sort(s)
	}
	fmt.Printf("  LIST of %d: as v2 p50 %s; as v1 p50 %s (%.0f reviews); as v1 right after every object changed p50 %s\n",
		n, secs(percentile(r.listStored, 50)), secs(percentile(r.listCached, 50)), r.cachedReviews, secs(percentile(r.listConverted, 50)))
	fmt.Printf("  per object written: %.2f reviews, manager CPU %.2f ms (%.0f reconciles over %d writes)\n",
		r.writeReviews, r.writeCPU*1000, r.writeReconciles, rounds*n)
	fmt.Printf("  a review of %d posted to the webhook: p50 %s p99 %s, manager CPU %.3f s each\n",
		n, secs(percentile(r.review, 50)), secs(percentile(r.review, 99)), r.reviewCPU)
	return r, nil
}

// review posts the ConversionReview of list's objects to version to the
// manager's webhook, trusting the CA the manager made, and returns how long
// the answer took.
func (b *bench) review(ctx context.Context, list *unstructured.UnstructuredList, to string) (time.Duration, error) {
	secret, err := b.kube.CoreV1().Secrets(webhookSecret.Namespace).Get(ctx, webhookSecret.Name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(secret.Data["ca.crt"])
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	req := &apiextensionsv1.ConversionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "ConversionReview"},
		Request:  &apiextensionsv1.ConversionRequest{UID: "bench", DesiredAPIVersion: to},
	}
	for i := range list.Items {
		raw, err := list.Items[i].MarshalJSON()
		if err != nil {
			return 0, err
		}
		req.Request.Objects = append(req.Request.Objects, runtime.RawExtension{Raw: raw})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := client.Post(b.webhookURL+"/convert", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer := &apiextensionsv1.ConversionReview{}
	if err := json.NewDecoder(resp.Body).Decode(answer); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if answer.Response == nil || answer.Response.Result.Status != metav1.StatusSuccess || len(answer.Response.ConvertedObjects) != len(list.Items) {
		return 0, fmt.Errorf("the webhook's answer: %+v", answer.Response)
	}
	return took, nil
}

// report prints r's figures: what conversion adds is each read in v1 less
// the same read in v2, the API server's own work.
func (r *conversionResult) report(w io.Writer) {
	fmt.Fprintf(w, "\n== A kind in two versions: %d instances read in the version they are not stored in (issue 26)\n\n", r.n)
	fmt.Fprintln(w, "| figure | p50 | p99 | reviews the manager answered |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	row := func(what string, s []time.Duration, reviews string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", what, secs(percentile(s, 50)), secs(percentile(s, 99)), reviews)
	}
	row(fmt.Sprintf("LIST of %d as v2, stored: no conversion (the floor), %d LISTs", r.n, r.lists), r.listStored, "–")
	row(fmt.Sprintf("LIST of %d as v1 (the API server's watch cache of v1)", r.n), r.listCached, fmt.Sprintf("%.0f over %d LISTs", r.cachedReviews, r.lists))
	row(fmt.Sprintf("LIST of %d as v1 right after every object changed, %d LISTs", r.n, rounds), r.listConverted, "–")
	row(fmt.Sprintf("a review of %d objects posted to the webhook, %d reviews", r.n, r.lists), r.review, "–")
	row(fmt.Sprintf("GET of one as v2, %d GETs", r.gets), r.getStored, "–")
	row("GET of one as v1, converted", r.getConverted, "–")
	fmt.Fprintf(w, "\nPer object written (relabelled through v2, %d writes): %.2f reviews answered, manager CPU %.2f ms, %.0f reconciles.\n",
		rounds*r.n, r.writeReviews, r.writeCPU*1000, r.writeReconciles)
	fmt.Fprintf(w, "Manager CPU per review of %d posted: %.3f s (%.2f ms per object).\n", r.n, r.reviewCPU, r.reviewCPU*1000/float64(r.n))
}
