package clientgo

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	applyapiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applydiscoveryv1 "k8s.io/client-go/applyconfigurations/discovery/v1"
	applyrbacv1 "k8s.io/client-go/applyconfigurations/rbac/v1"
)

// typedClient is what every generated typed client of a kind offers (T its object, A its apply configuration).
type typedClient[T metav1.Object, A any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Apply(context.Context, A, metav1.ApplyOptions) (T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

const applyManager = "clientgo-apply"

// TestCRUD creates, gets, updates, patches (merge, strategic, JSON), applies and deletes one object of each kind
// through the typed clientset, sending the -content-type asked for.
func TestCRUD(t *testing.T) {
	cfg := config(t)
	cs, ns := clientset(t, cfg), newWriter(t, cfg).ns
	core, slices, rbac := cs.CoreV1(), cs.DiscoveryV1(), cs.RbacV1()
	const name = "crud"
	t.Run("namespaces", func(t *testing.T) {
		crud(t, core.Namespaces(), namespace(name, nil), func(l map[string]string) *applycorev1.NamespaceApplyConfiguration {
			return applycorev1.Namespace(name).WithLabels(l)
		})
	})
	t.Run("services", func(t *testing.T) {
		crud(t, core.Services(ns), service(ns, name, nil), func(l map[string]string) *applycorev1.ServiceApplyConfiguration {
			return applycorev1.Service(name, ns).WithLabels(l)
		})
	})
	t.Run("endpoints", func(t *testing.T) {
		crud(t, core.Endpoints(ns), endpoints(ns, name, nil), func(l map[string]string) *applycorev1.EndpointsApplyConfiguration {
			return applycorev1.Endpoints(name, ns).WithLabels(l)
		})
	})
	t.Run("pods", func(t *testing.T) {
		crud(t, core.Pods(ns), pod(ns, name, nil), func(l map[string]string) *applycorev1.PodApplyConfiguration {
			return applycorev1.Pod(name, ns).WithLabels(l)
		})
	})
	t.Run("endpointslices", func(t *testing.T) {
		crud(t, slices.EndpointSlices(ns), endpointSlice(ns, name, nil), func(l map[string]string) *applydiscoveryv1.EndpointSliceApplyConfiguration {
			return applydiscoveryv1.EndpointSlice(name, ns).WithLabels(l)
		})
	})
	t.Run("clusterroles", func(t *testing.T) {
		crud(t, rbac.ClusterRoles(), clusterRole(name, nil), func(l map[string]string) *applyrbacv1.ClusterRoleApplyConfiguration {
			return applyrbacv1.ClusterRole(name).WithLabels(l)
		})
	})
	t.Run("clusterrolebindings", func(t *testing.T) {
		crud(t, rbac.ClusterRoleBindings(), clusterRoleBinding(name, nil), func(l map[string]string) *applyrbacv1.ClusterRoleBindingApplyConfiguration {
			return applyrbacv1.ClusterRoleBinding(name).WithLabels(l)
		})
	})
	t.Run("roles", func(t *testing.T) {
		crud(t, rbac.Roles(ns), role(ns, name, nil), func(l map[string]string) *applyrbacv1.RoleApplyConfiguration {
			return applyrbacv1.Role(name, ns).WithLabels(l)
		})
	})
	t.Run("rolebindings", func(t *testing.T) {
		crud(t, rbac.RoleBindings(ns), roleBinding(ns, name, nil), func(l map[string]string) *applyrbacv1.RoleBindingApplyConfiguration {
			return applyrbacv1.RoleBinding(name, ns).WithLabels(l)
		})
	})
	crudBuiltinKinds(t, cs, ns)
	t.Run("customresourcedefinitions", func(t *testing.T) {
		json := *cfg
		json.ContentType = "application/json" // CustomResourceDefinitions have no protobuf form here
		crds, err := apiextensions.NewForConfig(&json)
		if err != nil {
			t.Fatal(err)
		}
		crud(t, establishing{crds.ApiextensionsV1().CustomResourceDefinitions()}, customResourceDefinition(name, nil),
			func(l map[string]string) *applyapiextensionsv1.CustomResourceDefinitionApplyConfiguration {
				return applyapiextensionsv1.CustomResourceDefinition(crdName(name)).WithLabels(l)
			})
	})
}

type crdClient = typedClient[*apiextensionsv1.CustomResourceDefinition,
	*applyapiextensionsv1.CustomResourceDefinitionApplyConfiguration]

// establishing creates a CustomResourceDefinition and answers it once established: the server writes its status
// right after its creation (as kube-apiserver's controllers do), which an update from the created object would race.
type establishing struct{ crdClient }

func (c establishing) Create(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition,
	opts metav1.CreateOptions) (*apiextensionsv1.CustomResourceDefinition, error) {
	if _, err := c.crdClient.Create(ctx, crd, opts); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, err := c.Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		for _, condition := range got.Status.Conditions {
			if condition.Type == apiextensionsv1.Established && condition.Status == apiextensionsv1.ConditionTrue {
				return got, nil
			}
		}
	}
	return nil, fmt.Errorf("%s was not established", crd.Name)
}

func crud[T metav1.Object, A any](t *testing.T, c typedClient[T, A], obj T, apply func(map[string]string) A) {
	ctx := context.Background()
	name := obj.GetName()
	created, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" {
		t.Fatalf("create returned no uid or resourceVersion: %+v", created)
	}
	got, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Fatalf("get: %v (resourceVersion %s, want %s)", err, got.GetResourceVersion(), created.GetResourceVersion())
	}

	got.SetLabels(map[string]string{"step": "update"})
	updated, err := c.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || updated.GetLabels()["step"] != "update" || updated.GetResourceVersion() == created.GetResourceVersion() {
		t.Fatalf("update: %v (labels %v)", err, updated.GetLabels())
	}
	created.SetLabels(map[string]string{"step": "stale"})
	if _, err := c.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("update from a stale resourceVersion: got %v, want a Conflict", err)
	}

	patches := []struct {
		pt    types.PatchType
		patch string
		check func(T) bool
	}{
		{types.MergePatchType, `{"metadata":{"annotations":{"merge":"yes"}}}`,
			func(o T) bool { return o.GetAnnotations()["merge"] == "yes" }},
		{types.StrategicMergePatchType, `{"metadata":{"labels":{"strategic":"yes"}}}`,
			func(o T) bool { return o.GetLabels()["strategic"] == "yes" && o.GetLabels()["step"] == "update" }},
		{types.JSONPatchType, `[{"op":"add","path":"/metadata/annotations/json","value":"yes"}]`,
			func(o T) bool { return o.GetAnnotations()["json"] == "yes" && o.GetAnnotations()["merge"] == "yes" }},
	}
	for _, p := range patches {
		patched, err := c.Patch(ctx, name, p.pt, []byte(p.patch), metav1.PatchOptions{})
		if err != nil || !p.check(patched) {
			t.Fatalf("%s patch: %v (labels %v, annotations %v)", p.pt, err, patched.GetLabels(), patched.GetAnnotations())
		}
	}

	// "step" belongs to the updater: applying another value conflicts, unless forced.
	labels := map[string]string{"step": "apply", "applied": "yes"}
	if _, err := c.Apply(ctx, apply(labels), metav1.ApplyOptions{FieldManager: applyManager}); !apierrors.IsConflict(err) {
		t.Fatalf("apply over another manager's field: got %v, want a Conflict", err)
	}
	applied, err := c.Apply(ctx, apply(labels), metav1.ApplyOptions{FieldManager: applyManager, Force: true})
	if err != nil || applied.GetLabels()["step"] != "apply" || applied.GetLabels()["strategic"] != "yes" {
		t.Fatalf("forced apply: %v (labels %v)", err, applied.GetLabels())
	}
	if !managedBy(applied, applyManager, metav1.ManagedFieldsOperationApply) {
		t.Fatalf("no Apply entry of %s in managedFields: %+v", applyManager, applied.GetManagedFields())
	}

	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// A namespace may stay Terminating for a while (upstream); everything else is gone.
	if after, err := c.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || after.GetDeletionTimestamp() == nil) {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

func managedBy(obj metav1.Object, manager string, op metav1.ManagedFieldsOperationType) bool {
	for _, entry := range obj.GetManagedFields() {
		if entry.Manager == manager && entry.Operation == op {
			return true
		}
	}
	return false
}
