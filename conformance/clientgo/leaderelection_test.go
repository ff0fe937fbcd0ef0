package clientgo

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
)

// TestLeaderElection runs client-go's leader election on a Lease between two candidates, as every controller
// manager does: one leads, and when it steps down (ReleaseOnCancel) the other takes over; their Events land.
func TestLeaderElection(t *testing.T) {
	cfg := config(t)
	cs, ns := clientset(t, cfg), newWriter(t, cfg).ns
	broadcaster := record.NewBroadcaster()
	defer broadcaster.Shutdown()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events(ns)})
	leading := make(chan string, 2)
	var wg sync.WaitGroup
	run := func(ctx context.Context, identity string) {
		defer wg.Done()
		lock := &resourcelock.LeaseLock{
			LeaseMeta: metav1.ObjectMeta{Namespace: ns, Name: "leader"},
			Client:    cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity, EventRecorder: broadcaster.NewRecorder(
				scheme.Scheme, corev1.EventSource{Component: "clientgo-" + identity})},
		}
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second,
			RetryPeriod: 100 * time.Millisecond, Name: "test",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) { leading <- identity },
				OnStoppedLeading: func() {},
			},
		})
	}
	first, stopFirst := context.WithCancel(context.Background())
	second, stopSecond := context.WithCancel(context.Background())
	defer stopSecond()
	wg.Add(1)
	go run(first, "a")
	if got := waitLeader(t, leading); got != "a" {
		t.Fatalf("first leader: %s, want a", got)
	}
	wg.Add(1)
	go run(second, "b")
	stopFirst() // steps down, releasing the Lease
	if got := waitLeader(t, leading); got != "b" {
		t.Fatalf("second leader: %s, want b", got)
	}
	lease, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), "leader", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "b" || *lease.Spec.LeaseTransitions < 1 {
		t.Fatalf("the Lease: %v (%+v)", err, lease.Spec)
	}
	stopSecond()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		events, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "reason=LeaderElection"})
		if err == nil && len(events.Items) >= 2 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the LeaderElection Events did not land")
}

func waitLeader(t *testing.T, leading chan string) string {
	t.Helper()
	select {
	case identity := <-leading:
		return identity
	case <-time.After(20 * time.Second):
		t.Fatal("no leader elected")
		return ""
	}
}
