package clientgo

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// TestWatchList syncs an informer through the watch-list path (client-go's WatchListClient gate, on for this test): one watch with
// sendInitialEvents=true that ends its initial events with the k8s.io/initial-events-end bookmark, and no list.
func TestWatchList(t *testing.T) {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, true)
	requests := &requestLog{}
	cfg := config(t)
	w := newWriter(t, cfg)
	for i := range 30 {
		w.create("endpointslices", fmt.Sprintf("before-%03d", i), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactoryWithOptions(clientset(t, requests.wrap(config(t))), 0, informers.WithNamespace(w.ns))
	informer := factory.Discovery().V1().EndpointSlices().Informer()
	events := &eventLog{seen: map[string][]string{}}
	if _, err := informer.AddEventHandler(events.handler()); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	if n := len(informer.GetStore().List()); n != 30 {
		t.Fatalf("synced with %d objects, want 30", n)
	}
	for i := range 10 {
		w.create("endpointslices", fmt.Sprintf("after-%03d", i), nil)
	}
	awaitStore(t, "endpointslices", informer.GetStore(), 40, w, "endpointslices", "")
	for name, seen := range events.snapshot() {
		if fmt.Sprint(seen) != "[add]" {
			t.Errorf("%s: handler saw %v, want [add]", name, seen)
		}
	}
	if n := len(events.snapshot()); n != 40 {
		t.Errorf("handler saw %d objects, want 40", n)
	}

	// With the gate on, a typed List without a limit is a watch-list too, ended by the bookmark's resourceVersion.
	list, err := clientset(t, requests.wrap(config(t))).DiscoveryV1().EndpointSlices(w.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 40 || list.ResourceVersion == "" {
		t.Fatalf("List through watch-list: %v (%d items, resourceVersion %q)", err, len(list.Items), list.ResourceVersion)
	}

	t.Logf("requests: %v", requests.matching("/endpointslices"))
	if found := requests.matching("GET", "/endpointslices?", "watch=true", "sendInitialEvents=true",
		"resourceVersionMatch=NotOlderThan", "allowWatchBookmarks=true"); len(found) != 2 {
		t.Errorf("%d watch-list requests (watch with sendInitialEvents=true), want 2: the informer's and List's", len(found))
	}
	for _, r := range requests.matching("GET", "/endpointslices") {
		if !strings.Contains(r, "watch=true") {
			t.Errorf("the informer listed: %s", r)
		}
	}
}

// TestRelistAfterExpired forces a 410 on a reflector's re-watch: its watch (with a selector, so it misses the
// other writes) is closed after the watch cache dropped its history, so the re-watch from its last
// resourceVersion is too old. The reflector relists and the informer's store recovers.
func TestRelistAfterExpired(t *testing.T) {
	cfg := config(t)
	w := newWriter(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const selector = "app=relist"
	slices := clientset(t, cfg).DiscoveryV1().EndpointSlices(w.ns)
	var lists, expired atomic.Int32
	isExpired := func(err error) bool { return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) }
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			lists.Add(1)
			return slices.List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			events, err := slices.Watch(ctx, o)
			if err != nil {
				if isExpired(err) {
					expired.Add(1)
				}
				return nil, err
			}
			return watch.Filter(events, func(e watch.Event) (watch.Event, bool) {
				if e.Type == watch.Error && isExpired(apierrors.FromObject(e.Object)) {
					expired.Add(1)
				}
				return e, true
			}), nil
		},
	}, &discoveryv1.EndpointSlice{}, 0, cache.Indexers{})
	matching := map[string]string{"app": "relist"}
	for i := range 10 {
		w.create("endpointslices", fmt.Sprintf("relist-%03d", i), matching)
	}
	go informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	for i := range 20 {
		w.create("endpointslices", fmt.Sprintf("other-%03d", i), nil)
	}
	time.Sleep(1500 * time.Millisecond) // a watch closed within a second counts as broken: the reflector would relist
	fault(t, cfg.Host, "expire", `{"resource":"endpointslices"}`)
	fault(t, cfg.Host, "close-watches", `{"resource":"endpointslices"}`)
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return expired.Load() > 0 && lists.Load() > 1, nil
	})
	if err != nil {
		t.Fatalf("after the re-watch: %d 410s, %d lists; want a 410 then a relist", expired.Load(), lists.Load())
	}
	for i := range 5 {
		w.create("endpointslices", fmt.Sprintf("relist-%03d", 10+i), matching)
	}
	w.delete("endpointslices", "relist-000")
	awaitStore(t, "endpointslices {"+selector+"}", informer.GetStore(), 14, w, "endpointslices", selector)
}

// awaitStore waits until the store holds count objects, then asserts it equals one fresh list of resource.
func awaitStore(t *testing.T, what string, store cache.Store, count int, w writer, resource, selector string) {
	t.Helper()
	_ = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return len(store.List()) == count, nil })
	assertStoreEqualsList(t, what, store, w.list(resource, selector))
}

// fault arms one of the server's injected faults (served with --enable-fault-injection).
func fault(t *testing.T, server, action, body string) {
	t.Helper()
	resp, err := http.Post(server+"/debug/faults/"+action, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fault %s: %s", action, resp.Status)
	}
}
