// Package clientgo drives client-go against a running server: discovery, typed and dynamic clients, informers
// and the pager. tests/test_clientgo.py builds it with `go test -c` and runs one test per pytest case:
//
//	clientgo.test -test.run '^TestCRUD$/^services$' -server http://127.0.0.1:8080 -content-type json
package clientgo

import (
	"flag"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var (
	server      = flag.String("server", os.Getenv("CLIENTGO_SERVER"), "URL of the API server under test")
	contentType = flag.String("content-type", "json", "what typed clients send: json, or protobuf as kube-proxy does")
	kinds       = flag.String("kinds", "", "apiVersion/Kind of every kind the server serves, comma separated")
	token       = flag.String("token", os.Getenv("CLIENTGO_TOKEN"), "bearer token (kube-apiserver; https is not verified)")
)

const protobuf = "application/vnd.kubernetes.protobuf"

// config is a rest.Config for the server with the content type asked for, and wide enough limits that the
// client never throttles the test.
func config(t *testing.T) *rest.Config {
	t.Helper()
	if *server == "" {
		t.Fatal("no server: pass -server URL or set CLIENTGO_SERVER")
	}
	cfg := &rest.Config{Host: *server, BearerToken: *token, QPS: 1000, Burst: 1000, WarningHandler: rest.NoWarnings{}}
	cfg.Insecure = strings.HasPrefix(*server, "https:")
	switch *contentType {
	case "json":
		cfg.ContentType = "application/json"
	case "protobuf":
		cfg.ContentType = protobuf
		cfg.AcceptContentTypes = protobuf + ",application/json"
	default:
		t.Fatalf("unknown -content-type %q: json or protobuf", *contentType)
	}
	return cfg
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func dynamicClient(t *testing.T, cfg *rest.Config) *dynamic.DynamicClient {
	t.Helper()
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// requestLog records every request a client sends ("GET /apis/...?query"), to tell a list from a watch-list.
type requestLog struct {
	mu       sync.Mutex
	requests []string
}

// wrap makes cfg's clients record their requests in l.
func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			l.mu.Lock()
			l.requests = append(l.requests, req.Method+" "+req.URL.RequestURI())
			l.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// matching returns the requests whose method and URI contain every one of parts.
func (l *requestLog) matching(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []string
	for _, r := range l.requests {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(r, p)
		}
		if all {
			found = append(found, r)
		}
	}
	return found
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
