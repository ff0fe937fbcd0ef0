package clientgo

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// TestDiscovery resolves every kind given by -kinds (and every resource of `served`) through both RESTMappers
// client-go offers: the deferred one over cached discovery (kubectl's) and one built from GetAPIGroupResources.
func TestDiscovery(t *testing.T) {
	if *kinds == "" {
		t.Fatal("no kinds: pass -kinds v1/Namespace,discovery.k8s.io/v1/EndpointSlice,...")
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config(t))
	if err != nil {
		t.Fatal(err)
	}
	groupResources, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mappers := map[string]meta.RESTMapper{
		"deferred":      restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		"groupResource": restmapper.NewDiscoveryRESTMapper(groupResources),
	}
	for name, mapper := range mappers {
		for _, apiVersionKind := range strings.Split(*kinds, ",") {
			slash := strings.LastIndex(apiVersionKind, "/")
			gv, err := schema.ParseGroupVersion(apiVersionKind[:slash])
			if err != nil {
				t.Fatal(err)
			}
			gvk := gv.WithKind(apiVersionKind[slash+1:])
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s: RESTMapping(%s): %v", name, gvk, err)
				continue
			}
			t.Logf("%s: %s -> %s (%s)", name, gvk, mapping.Resource, mapping.Scope.Name())
			if got, err := mapper.KindFor(mapping.Resource.GroupResource().WithVersion("")); err != nil || got != gvk {
				t.Errorf("%s: KindFor(%s) = %v, %v; want %s", name, mapping.Resource.Resource, got, err, gvk)
			}
		}
		for _, k := range served {
			mapping, err := mapper.RESTMapping(mustKindFor(t, mapper, k.gvr).GroupKind(), k.gvr.Version)
			if err != nil {
				t.Errorf("%s: %s: %v", name, k.gvr, err)
			} else if namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace; namespaced != k.namespaced {
				t.Errorf("%s: %s namespaced = %v, want %v", name, k.gvr, namespaced, k.namespaced)
			}
		}
	}
}

func mustKindFor(t *testing.T, mapper meta.RESTMapper, gvr schema.GroupVersionResource) schema.GroupVersionKind {
	t.Helper()
	gvk, err := mapper.KindFor(gvr)
	if err != nil {
		t.Fatalf("KindFor(%s): %v", gvr, err)
	}
	return gvk
}
