//go:build benchcluster

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// writeCounter counts the writes to one object by watching it: each write
// that changes it comes as one MODIFIED event (the bench itself writes the
// Framework only before and after a run). The bench counts the
// Framework's this way, whose status the manager reports the rollout in,
// so that a run's requests per instance can be told apart from the
// Framework's own.
type writeCounter struct {
	c    dynamic.ResourceInterface
	name string
	w    watch.Interface
	done chan struct{}

	mu     sync.Mutex
	writes int
	seen   map[string]bool // resourceVersions of the events so far

	stopOnce sync.Once
}

func countWrites(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, name string) (*writeCounter, error) {
	c := dyn.Resource(gvr)
	w, err := c.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return nil, fmt.Errorf("watching %s %s: %w", gvr.Resource, name, err)
	}
	wc := &writeCounter{c: c, name: name, w: w, done: make(chan struct{}), seen: map[string]bool{}}
	go func() {
		defer close(wc.done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			wc.mu.Lock()
			if ev.Type == watch.Modified {
				wc.writes++
			}
			wc.seen[u.GetResourceVersion()] = true
			wc.mu.Unlock()
		}
	}()
	return wc, nil
}

// count waits until the watch has seen the object as the API server holds
// it now (5 s at most) and returns the writes it counted.
func (wc *writeCounter) count(ctx context.Context) (int, error) {
	now, err := wc.c.Get(ctx, wc.name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	err = poll(ctx, 5*time.Second, 10*time.Millisecond, func() (bool, error) {
		wc.mu.Lock()
		defer wc.mu.Unlock()
		return wc.seen[now.GetResourceVersion()], nil
	}, "the watch of "+wc.name+" to catch up")
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.writes, err
}

// stop ends the watch; it may be called more than once.
func (wc *writeCounter) stop() {
	wc.stopOnce.Do(func() {
		wc.w.Stop()
		<-wc.done
	})
}
