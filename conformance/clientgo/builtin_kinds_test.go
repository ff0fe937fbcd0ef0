package clientgo

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applyappsv1 "k8s.io/client-go/applyconfigurations/apps/v1"
	applycoordinationv1 "k8s.io/client-go/applyconfigurations/coordination/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applyeventsv1 "k8s.io/client-go/applyconfigurations/events/v1"
	"k8s.io/client-go/kubernetes"
)

// crudBuiltinKinds runs crud on one object of each kind controllers use besides ours: ConfigMap, Secret,
// ServiceAccount, Event (both APIs), Node, Lease and the apps/v1 workloads.
func crudBuiltinKinds(t *testing.T, cs kubernetes.Interface, ns string) {
	core, apps := cs.CoreV1(), cs.AppsV1()
	const name = "crud"
	t.Run("configmaps", func(t *testing.T) {
		crud(t, core.ConfigMaps(ns), &corev1.ConfigMap{ObjectMeta: objectMeta(ns, name, nil), Data: map[string]string{"a": "b"}},
			func(l map[string]string) *applycorev1.ConfigMapApplyConfiguration {
				return applycorev1.ConfigMap(name, ns).WithLabels(l)
			})
	})
	t.Run("secrets", func(t *testing.T) {
		crud(t, core.Secrets(ns), &corev1.Secret{ObjectMeta: objectMeta(ns, name, nil), StringData: map[string]string{"a": "b"}},
			func(l map[string]string) *applycorev1.SecretApplyConfiguration {
				return applycorev1.Secret(name, ns).WithLabels(l)
			})
	})
	t.Run("serviceaccounts", func(t *testing.T) {
		crud(t, core.ServiceAccounts(ns), &corev1.ServiceAccount{ObjectMeta: objectMeta(ns, name, nil)},
			func(l map[string]string) *applycorev1.ServiceAccountApplyConfiguration {
				return applycorev1.ServiceAccount(name, ns).WithLabels(l)
			})
	})
	t.Run("events", func(t *testing.T) {
		event := &corev1.Event{ObjectMeta: objectMeta(ns, name, nil), Reason: "Started", Message: "hi",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Type: corev1.EventTypeNormal}
		crud(t, core.Events(ns), event, func(l map[string]string) *applycorev1.EventApplyConfiguration {
			return applycorev1.Event(name, ns).WithLabels(l)
		})
	})
	t.Run("events.events.k8s.io", func(t *testing.T) {
		event := &eventsv1.Event{ObjectMeta: objectMeta(ns, name, nil), Reason: "Pulled", Note: "done", Action: "Pull",
			Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Type: corev1.EventTypeNormal,
			ReportingController: "example.com/c", ReportingInstance: "c-1", EventTime: metav1.NewMicroTime(time.Now())}
		crud(t, cs.EventsV1().Events(ns), event, func(l map[string]string) *applyeventsv1.EventApplyConfiguration {
			return applyeventsv1.Event(name, ns).WithLabels(l)
		})
	})
	t.Run("nodes", func(t *testing.T) {
		node := &corev1.Node{ObjectMeta: objectMeta("", ns, map[string]string{"topology.kubernetes.io/zone": "z"})}
		crud(t, core.Nodes(), node, func(l map[string]string) *applycorev1.NodeApplyConfiguration {
			return applycorev1.Node(ns).WithLabels(l)
		})
	})
	t.Run("leases", func(t *testing.T) {
		holder := "me"
		lease := &coordinationv1.Lease{ObjectMeta: objectMeta(ns, name, nil), Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
		crud(t, cs.CoordinationV1().Leases(ns), lease, func(l map[string]string) *applycoordinationv1.LeaseApplyConfiguration {
			return applycoordinationv1.Lease(name, ns).WithLabels(l)
		})
	})
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector.MatchLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
	t.Run("deployments", func(t *testing.T) {
		crud(t, apps.Deployments(ns), &appsv1.Deployment{ObjectMeta: objectMeta(ns, name, nil),
			Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}},
			func(l map[string]string) *applyappsv1.DeploymentApplyConfiguration {
				return applyappsv1.Deployment(name, ns).WithLabels(l)
			})
	})
	t.Run("replicasets", func(t *testing.T) {
		crud(t, apps.ReplicaSets(ns), &appsv1.ReplicaSet{ObjectMeta: objectMeta(ns, name, nil),
			Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}},
			func(l map[string]string) *applyappsv1.ReplicaSetApplyConfiguration {
				return applyappsv1.ReplicaSet(name, ns).WithLabels(l)
			})
	})
	t.Run("statefulsets", func(t *testing.T) {
		crud(t, apps.StatefulSets(ns), &appsv1.StatefulSet{ObjectMeta: objectMeta(ns, name, nil),
			Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template, ServiceName: name}},
			func(l map[string]string) *applyappsv1.StatefulSetApplyConfiguration {
				return applyappsv1.StatefulSet(name, ns).WithLabels(l)
			})
	})
	t.Run("daemonsets", func(t *testing.T) {
		crud(t, apps.DaemonSets(ns), &appsv1.DaemonSet{ObjectMeta: objectMeta(ns, name, nil),
			Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template}},
			func(l map[string]string) *applyappsv1.DaemonSetApplyConfiguration {
				return applyappsv1.DaemonSet(name, ns).WithLabels(l)
			})
	})
}

// TestScale reads and writes a Deployment's scale subresource through the typed client, as the HPA and
// `kubectl scale` do, and its status as a controller writes it.
func TestScale(t *testing.T) {
	cfg := config(t)
	cs, ns := clientset(t, cfg), newWriter(t, cfg).ns
	ctx := context.Background()
	deployments := cs.AppsV1().Deployments(ns)
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	_, err := deployments.Create(ctx, &appsv1.Deployment{ObjectMeta: objectMeta(ns, "web", nil), Spec: appsv1.DeploymentSpec{
		Selector: selector, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector.MatchLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	scale, err := deployments.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 1 || scale.Status.Selector != "app=web" {
		t.Fatalf("get scale: %v (%+v)", err, scale)
	}
	scale.Spec.Replicas = 3
	if _, err := deployments.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	if _, err := deployments.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err == nil {
		t.Fatalf("update scale from a stale resourceVersion: no Conflict")
	}
	web, err := deployments.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *web.Spec.Replicas != 3 || web.Generation != 2 {
		t.Fatalf("get after scale: %v (replicas %d, generation %d)", err, *web.Spec.Replicas, web.Generation)
	}
	web.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, ObservedGeneration: web.Generation}
	if status, err := deployments.UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil || status.Status.ReadyReplicas != 2 {
		t.Fatalf("update status: %v", err)
	}
}
