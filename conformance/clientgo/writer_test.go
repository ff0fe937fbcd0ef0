package clientgo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// writer makes the changes tests watch and check, through the dynamic client (JSON), in its own namespace.
type writer struct {
	t  *testing.T
	dc *dynamic.DynamicClient
	ns string
}

// newWriter creates a namespace for the test, so that tests can share a server.
func newWriter(t *testing.T, cfg *rest.Config) writer {
	t.Helper()
	w := writer{t, dynamicClient(t, cfg), ""}
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + rand.String(5)
	w.create("namespaces", name, nil)
	w.ns = name
	return w
}

func (w writer) client(resource string) dynamic.ResourceInterface {
	k := servedKind(w.t, resource)
	if !k.namespaced {
		return w.dc.Resource(k.gvr)
	}
	return w.dc.Resource(k.gvr).Namespace(w.ns)
}

func (w writer) create(resource, name string, labels map[string]string) {
	w.t.Helper()
	obj := toUnstructured(w.t, servedKind(w.t, resource).object(w.ns, name, labels))
	if _, err := w.client(resource).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("create %s %s: %v", resource, name, err)
	}
}

func (w writer) annotate(resource, name, value string) {
	w.t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"clientgo":%q}}}`, value)
	if _, err := w.client(resource).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		w.t.Fatalf("patch %s %s: %v", resource, name, err)
	}
}

func (w writer) delete(resource, name string) {
	w.t.Helper()
	if err := w.client(resource).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		w.t.Fatalf("delete %s %s: %v", resource, name, err)
	}
}

// list is a fresh LIST of resource (a limit keeps it a plain list even when the WatchListClient gate is on).
func (w writer) list(resource, selector string) *unstructured.UnstructuredList {
	w.t.Helper()
	list, err := w.client(resource).List(context.Background(), metav1.ListOptions{LabelSelector: selector, Limit: 100_000})
	if err != nil {
		w.t.Fatalf("list %s: %v", resource, err)
	}
	return list
}

func servedKind(t *testing.T, resource string) kind {
	for _, k := range served {
		if k.gvr.Resource == resource {
			return k
		}
	}
	t.Fatalf("unknown resource %s", resource)
	return kind{}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: content}
	if k, ok := kindOf(obj); ok {
		u.SetGroupVersionKind(k)
	}
	return u
}

// assertStoreEqualsList checks that an informer's store holds exactly the list's objects at their resourceVersions.
func assertStoreEqualsList(t *testing.T, what string, store cache.Store, list *unstructured.UnstructuredList) {
	t.Helper()
	var inStore, listed []string
	for _, obj := range store.List() {
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		inStore = append(inStore, m.GetName()+"@"+m.GetResourceVersion())
	}
	for _, item := range list.Items {
		listed = append(listed, item.GetName()+"@"+item.GetResourceVersion())
	}
	sort.Strings(inStore)
	sort.Strings(listed)
	if strings.Join(inStore, " ") != strings.Join(listed, " ") {
		t.Fatalf("%s: store (%d objects) differs from a fresh list (%d):\nstore: %v\nlist:  %v", what,
			len(inStore), len(listed), inStore, listed)
	}
	t.Logf("%s: store equals a fresh list (%d objects)", what, len(listed))
}

func kindOf(obj runtime.Object) (schema.GroupVersionKind, bool) {
	kinds, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil || len(kinds) == 0 {
		return schema.GroupVersionKind{}, false
	}
	return kinds[0], true
}
