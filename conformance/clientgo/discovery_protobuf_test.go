package clientgo

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/discovery"
)

const aggregatedProtobuf = protobuf + ";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// TestDiscoveryProtobuf reads discovery as a protobuf-configured client (-content-type protobuf) does: legacy
// discovery, whose APIResourceLists come in protobuf by the client's Accept, and the aggregated lists of /api and
// /apis asked for in protobuf and decoded into apidiscovery/v2 types. Every kind of -kinds
// must be found both ways, and the answers must have been protobuf.
func TestDiscoveryProtobuf(t *testing.T) {
	cfg := config(t)
	if cfg.ContentType != protobuf {
		t.Fatal("pass -content-type protobuf")
	}
	var mu sync.Mutex
	answered := map[string]string{} // path -> Content-Type
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				mu.Lock()
				answered[req.URL.Path] = resp.Header.Get("Content-Type")
				mu.Unlock()
			}
			return resp, err
		})
	})
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc.UseLegacyDiscovery = true
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	legacy := map[schema.GroupVersionKind]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if !strings.Contains(r.Name, "/") {
				legacy[gv.WithKind(r.Kind)] = true
			}
		}
	}
	checkKinds(t, "legacy", legacy)
	for _, path := range []string{"/api/v1", "/apis/discovery.k8s.io/v1"} {
		if got := answered[path]; got != protobuf {
			t.Errorf("%s answered in %q, want %s", path, got, protobuf)
		}
	}

	types := runtime.NewScheme() // as client-go's discovery client registers them
	if err := apidiscoveryv2.AddToScheme(types); err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(types).UniversalDeserializer()
	aggregated := map[schema.GroupVersionKind]bool{}
	for _, path := range []string{"/api", "/apis"} {
		var contentType string
		body, err := dc.RESTClient().Get().AbsPath(path).SetHeader("Accept", aggregatedProtobuf).
			Do(context.Background()).ContentType(&contentType).Raw()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if contentType != aggregatedProtobuf {
			t.Errorf("%s: Content-Type %q, want %q", path, contentType, aggregatedProtobuf)
		}
		obj, _, err := decoder.Decode(body, nil, nil)
		if err != nil {
			t.Fatalf("%s: decoding: %v", path, err)
		}
		list, ok := obj.(*apidiscoveryv2.APIGroupDiscoveryList)
		if !ok {
			t.Fatalf("%s: decoded a %T", path, obj)
		}
		for _, group := range list.Items {
			for _, version := range group.Versions {
				for _, r := range version.Resources {
					if r.ResponseKind == nil {
						t.Errorf("%s: %s/%s %s has no responseKind", path, group.Name, version.Version, r.Resource)
						continue
					}
					aggregated[schema.GroupVersionKind{Group: group.Name, Version: version.Version, Kind: r.ResponseKind.Kind}] = true
				}
			}
		}
	}
	checkKinds(t, "aggregated", aggregated)
}

// checkKinds fails for every kind of -kinds missing from found.
func checkKinds(t *testing.T, how string, found map[schema.GroupVersionKind]bool) {
	t.Helper()
	if *kinds == "" {
		t.Fatal("no kinds: pass -kinds v1/Namespace,discovery.k8s.io/v1/EndpointSlice,...")
	}
	for _, apiVersionKind := range strings.Split(*kinds, ",") {
		slash := strings.LastIndex(apiVersionKind, "/")
		gv, err := schema.ParseGroupVersion(apiVersionKind[:slash])
		if err != nil {
			t.Fatal(err)
		}
		if gvk := gv.WithKind(apiVersionKind[slash+1:]); !found[gvk] {
			t.Errorf("%s discovery in protobuf: %s not found", how, gvk)
		} else {
			t.Logf("%s discovery in protobuf: %s", how, gvk)
		}
	}
}
