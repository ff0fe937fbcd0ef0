package clientgo

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"
)

// TestPager lists 103 EndpointSlices with tools/pager in pages of 10: 11 pages chained by continue tokens, each
// object once.
func TestPager(t *testing.T) {
	cfg := config(t)
	cs, w := clientset(t, cfg), newWriter(t, cfg)
	const count, pageSize = 103, 10
	for i := range count {
		w.create("endpointslices", fmt.Sprintf("page-%03d", i), nil)
	}
	var continues []string
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		if opts.Limit != pageSize {
			t.Errorf("page asked with limit %d, want %d", opts.Limit, pageSize)
		}
		continues = append(continues, opts.Continue)
		return cs.DiscoveryV1().EndpointSlices(w.ns).List(ctx, opts)
	})
	p.PageSize = pageSize
	seen := map[string]int{}
	err := p.EachListItem(context.Background(), metav1.ListOptions{}, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err == nil {
			seen[m.GetName()]++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages := (count + pageSize - 1) / pageSize; len(continues) != pages {
		t.Errorf("%d pages, want %d", len(continues), pages)
	}
	for i, token := range continues {
		if (i == 0) != (token == "") {
			t.Errorf("page %d asked with continue %q", i, token)
		}
	}
	for i := range count {
		if name := fmt.Sprintf("page-%03d", i); seen[name] != 1 {
			t.Errorf("%s seen %d times", name, seen[name])
		}
	}
	if len(seen) != count {
		t.Errorf("%d objects seen, want %d", len(seen), count)
	}

	list, paginated, err := p.List(context.Background(), metav1.ListOptions{})
	if err != nil || !paginated || meta.LenList(list) != count {
		t.Errorf("pager.List: %d objects, paginated %v, error %v", meta.LenList(list), paginated, err)
	}
}
