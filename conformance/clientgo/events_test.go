package clientgo

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// eventLog records the events ("add", "update", "delete") a handler saw, per object name.
type eventLog struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (e *eventLog) handler() cache.ResourceEventHandlerFuncs {
	record := func(event string, obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		name := "?"
		if m, err := meta.Accessor(obj); err == nil {
			name = m.GetName()
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.seen[name] = append(e.seen[name], event)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record("add", obj) },
		UpdateFunc: func(_, obj any) { record("update", obj) },
		DeleteFunc: func(obj any) { record("delete", obj) },
	}
}

func (e *eventLog) snapshot() map[string][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]string, len(e.seen))
	for k, v := range e.seen {
		out[k] = append([]string(nil), v...)
	}
	return out
}
