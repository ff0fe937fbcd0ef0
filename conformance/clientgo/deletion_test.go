package clientgo

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodGracefulDeletion deletes pods as upstream's pod strategy does, gracefully: an unscheduled pod goes at
// once, but watchers first see it MODIFIED with a deletionTimestamp and deletionGracePeriodSeconds 0; a scheduled
// pod stays, terminating, for its terminationGracePeriodSeconds, until deleted with gracePeriodSeconds 0 (as the
// kubelet does).
func TestPodGracefulDeletion(t *testing.T) {
	cfg := config(t)
	ns := newWriter(t, cfg).ns
	pods := clientset(t, cfg).CoreV1().Pods(ns)
	ctx := context.Background()

	created, err := pods.Create(ctx, pod(ns, "unscheduled", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Stop()
	if err := pods.Delete(ctx, "unscheduled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for timeout := time.After(5 * time.Second); len(seen) < 2; {
		select {
		case e := <-events.ResultChan():
			p, _ := e.Object.(*corev1.Pod)
			seen = append(seen, fmt.Sprintf("%s terminating=%v", e.Type, p != nil && p.DeletionTimestamp != nil))
		case <-timeout:
			t.Fatalf("watch saw %v, want MODIFIED then DELETED", seen)
		}
	}
	if want := "[MODIFIED terminating=true DELETED terminating=true]"; fmt.Sprint(seen) != want {
		t.Fatalf("deleting an unscheduled pod: watch saw %v, want %s", seen, want)
	}

	scheduled := pod(ns, "scheduled", nil)
	scheduled.Spec.NodeName = "node-1"
	if _, err := pods.Create(ctx, scheduled, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := pods.Delete(ctx, "scheduled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	terminating, err := pods.Get(ctx, "scheduled", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a scheduled pod is gone at once (%v); want it terminating for 30s", err)
	}
	grace, deadline := terminating.DeletionGracePeriodSeconds, terminating.DeletionTimestamp
	if grace == nil || *grace != 30 || deadline == nil || deadline.Time.Before(before.Add(25*time.Second)) {
		t.Fatalf("terminating pod: deletionGracePeriodSeconds %v, deletionTimestamp %v; want 30 and 30s from now", grace, deadline)
	}
	if err := pods.Delete(ctx, "scheduled", metav1.DeleteOptions{GracePeriodSeconds: to[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "scheduled", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after a delete with gracePeriodSeconds 0: %v, want NotFound", err)
	}
}
