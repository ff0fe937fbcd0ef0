package clientgo

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
)

// TestEventsRecorder records through client-go's events.k8s.io/v1 recorder, as controllers built on it do: the
// Event is created, its repetition becomes a series (a strategic merge patch of the events.k8s.io form), and the
// core/v1 API shows the same stored Event.
func TestEventsRecorder(t *testing.T) {
	cfg := config(t)
	cs, ns := clientset(t, cfg), newWriter(t, cfg).ns
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, "clientgo-controller")
	regarding := &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", APIVersion: "v1"}
	recorder.Eventf(regarding, nil, corev1.EventTypeNormal, "Synced", "Sync", "synced %d", 1)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) { // the repetition is a patch of the Event once it exists
		if list, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil && len(list.Items) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	recorder.Eventf(regarding, nil, corev1.EventTypeNormal, "Synced", "Sync", "synced %d", 1)
	for time.Now().Before(deadline) {
		list, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 1 && list.Items[0].Series != nil && list.Items[0].Series.Count == 2 {
			core, err := cs.CoreV1().Events(ns).Get(ctx, list.Items[0].Name, metav1.GetOptions{})
			if err != nil || core.Message != "synced 1" || core.ReportingController != "clientgo-controller" ||
				core.Series == nil || core.Series.Count != 2 || core.InvolvedObject.Name != "p" {
				t.Fatalf("the core/v1 form: %v (%+v)", err, core)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	list, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	t.Fatalf("no Event with a series of 2: %v %+v", err, list)
}
