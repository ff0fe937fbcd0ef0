package clientgo

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// TestDynamic creates, lists, updates, patches, applies (as an apply patch and through Apply) and deletes one
// unstructured object of each kind with the dynamic client.
func TestDynamic(t *testing.T) {
	w := newWriter(t, config(t))
	for _, k := range served {
		t.Run(k.key(), func(t *testing.T) {
			w := writer{t, w.dc, w.ns}
			c := w.dc.Resource(k.gvr).Namespace(w.ns)
			if !k.namespaced {
				c = w.dc.Resource(k.gvr)
			}
			dynamicCycle(t, c, toUnstructured(t, k.object(w.ns, "dynamic", nil)))
		})
	}
}

func dynamicCycle(t *testing.T, c dynamic.ResourceInterface, obj *unstructured.Unstructured) {
	ctx := context.Background()
	name := obj.GetName()
	created, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetKind() != obj.GetKind() || created.GetUID() == "" {
		t.Fatalf("create returned kind %q uid %q", created.GetKind(), created.GetUID())
	}
	created = established(t, c, created)
	list, err := c.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil || len(list.Items) != 1 || list.GetResourceVersion() == "" {
		t.Fatalf("list: %v (%d items)", err, len(list.Items))
	}

	created.SetLabels(map[string]string{"step": "update"})
	updated, err := c.Update(ctx, created, metav1.UpdateOptions{})
	if err != nil || updated.GetLabels()["step"] != "update" {
		t.Fatalf("update: %v", err)
	}
	patched, err := c.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"merge":"yes"}}}`), metav1.PatchOptions{})
	if err != nil || patched.GetAnnotations()["merge"] != "yes" {
		t.Fatalf("merge patch: %v", err)
	}

	intent := &unstructured.Unstructured{}
	intent.SetGroupVersionKind(obj.GroupVersionKind())
	intent.SetName(name)
	intent.SetNamespace(obj.GetNamespace())
	intent.SetLabels(map[string]string{"step": "apply"})
	body, err := intent.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: applyManager})
	if !apierrors.IsConflict(err) {
		t.Fatalf("apply over another manager's field: got %v, want a Conflict", err)
	}
	force := true
	applied, err := c.Patch(ctx, name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: applyManager, Force: &force})
	if err != nil || applied.GetLabels()["step"] != "apply" || applied.GetAnnotations()["merge"] != "yes" {
		t.Fatalf("forced apply patch: %v (labels %v)", err, applied.GetLabels())
	}
	intent.SetAnnotations(map[string]string{"applied": "yes"})
	applied, err = c.Apply(ctx, name, intent, metav1.ApplyOptions{FieldManager: applyManager, Force: true})
	if err != nil || applied.GetAnnotations()["applied"] != "yes" || !managedBy(applied, applyManager, metav1.ManagedFieldsOperationApply) {
		t.Fatalf("Apply: %v (annotations %v)", err, applied.GetAnnotations())
	}

	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if after, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || after.GetDeletionTimestamp() == nil) {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

// established is `obj` once the server has established it, if it is a CustomResourceDefinition (whose status the
// server writes right after its creation, as kube-apiserver's controllers do), else `obj`.
func established(t *testing.T, c dynamic.ResourceInterface, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	if obj.GetKind() != "CustomResourceDefinition" {
		return obj
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, err := c.Get(context.Background(), obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, condition := range conditions {
			if cond, ok := condition.(map[string]any); ok && cond["type"] == "Established" && cond["status"] == "True" {
				return got
			}
		}
	}
	t.Fatalf("%s was not established", obj.GetName())
	return nil
}
