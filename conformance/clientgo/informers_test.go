package clientgo

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// kubeProxySelector is the label selector kube-proxy watches Services and EndpointSlices with.
const kubeProxySelector = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"

// TestInformers runs a SharedInformerFactory over EndpointSlices, Services and Pods, and a second one with
// kube-proxy's selector over EndpointSlices and Services, through 200 creates, 100 updates and 50 deletes: each
// handler sees exactly the events of its objects, and each store (what listers read) ends equal to a fresh list.
func TestInformers(t *testing.T) {
	cfg := config(t)
	cs, w := clientset(t, cfg), newWriter(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(w.ns))
	proxy := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(w.ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kubeProxySelector }))
	watched := []*watchedInformer{
		{resource: "endpointslices", informer: all.Discovery().V1().EndpointSlices().Informer()},
		{resource: "services", informer: all.Core().V1().Services().Informer()},
		{resource: "pods", informer: all.Core().V1().Pods().Informer()},
		{resource: "endpointslices", selector: kubeProxySelector, informer: proxy.Discovery().V1().EndpointSlices().Informer()},
		{resource: "services", selector: kubeProxySelector, informer: proxy.Core().V1().Services().Informer()},
	}
	for _, wi := range watched {
		wi.handle(t)
	}
	all.Start(ctx.Done())
	proxy.Start(ctx.Done())
	for _, wi := range watched {
		if !cache.WaitForCacheSync(ctx.Done(), wi.informer.HasSynced) {
			t.Fatalf("%s did not sync", wi)
		}
	}

	// Object i is of resource i%3 with labels i%4: one in four is headless, one in four another proxy's.
	resources := []string{"endpointslices", "services", "pods"}
	labels := []map[string]string{nil, {"service.kubernetes.io/headless": ""},
		{"service.kubernetes.io/service-proxy-name": "other"}, {"app": "informers"}}
	want := map[*watchedInformer]map[string][]string{}
	expect := func(i int, event string) {
		for _, wi := range watched {
			if wi.resource == resources[i%3] && (wi.selector == "" || i%4 == 0 || i%4 == 3) {
				if want[wi] == nil {
					want[wi] = map[string][]string{}
				}
				name := fmt.Sprintf("obj-%03d", i)
				want[wi][name] = append(want[wi][name], event)
			}
		}
	}
	for i := range 200 {
		w.create(resources[i%3], fmt.Sprintf("obj-%03d", i), labels[i%4])
		expect(i, "add")
	}
	for i := range 100 {
		w.annotate(resources[i%3], fmt.Sprintf("obj-%03d", i), "updated")
		expect(i, "update")
	}
	// Pods are left out of the deletes: upstream deletes them gracefully (TestPodGracefulDeletion).
	for i, deleted := 0, 0; deleted < 50; i++ {
		if resources[i%3] != "pods" {
			w.delete(resources[i%3], fmt.Sprintf("obj-%03d", i))
			expect(i, "delete")
			deleted++
		}
	}

	for _, wi := range watched {
		wi.awaitEvents(t, want[wi])
		assertStoreEqualsList(t, wi.String(), wi.informer.GetStore(), w.list(wi.resource, wi.selector))
	}
}

// watchedInformer is an informer under test with the events its handler saw, per object name.
type watchedInformer struct {
	resource, selector string
	informer           cache.SharedIndexInformer
	events             eventLog
}

func (wi *watchedInformer) String() string {
	if wi.selector == "" {
		return wi.resource
	}
	return wi.resource + " {" + wi.selector + "}"
}

func (wi *watchedInformer) handle(t *testing.T) {
	wi.events.seen = map[string][]string{}
	if _, err := wi.informer.AddEventHandler(wi.events.handler()); err != nil {
		t.Fatal(err)
	}
}

// awaitEvents waits until the handler has seen exactly want; it fails the test with the difference otherwise.
func (wi *watchedInformer) awaitEvents(t *testing.T, want map[string][]string) {
	t.Helper()
	var got map[string][]string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) {
			got = wi.events.snapshot()
			return fmt.Sprint(got) == fmt.Sprint(want), nil
		})
	if err == nil {
		return
	}
	for name, events := range want {
		if fmt.Sprint(got[name]) != fmt.Sprint(events) {
			t.Errorf("%s %s: handler saw %v, want %v", wi, name, got[name], events)
		}
	}
	for name, events := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s %s: handler saw %v, want nothing", wi, name, events)
		}
	}
	t.FailNow()
}
