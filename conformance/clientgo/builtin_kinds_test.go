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
	"k8s.io/apimachinery/pkg/runtime"
	applyappsv1 "k8s.io/client-go/applyconfigurations/apps/v1"
	applycoordinationv1 "k8s.io/client-go/applyconfigurations/coordination/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applyeventsv1 "k8s.io/client-go/applyconfigurations/events/v1"
	"k8s.io/client-go/kubernetes"
)

func configMap(ns, name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: objectMeta(ns, name, labels), Data: map[string]string{"a": "b"}}
}

func secret(ns, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: objectMeta(ns, name, labels), StringData: map[string]string{"a": "b"}}
}

func serviceAccount(ns, name string, labels map[string]string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: objectMeta(ns, name, labels)}
}

func event(ns, name string, labels map[string]string) *corev1.Event {
	return &corev1.Event{ObjectMeta: objectMeta(ns, name, labels), Reason: "Started", Message: "hi",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Type: corev1.EventTypeNormal}
}

func eventV1(ns, name string, labels map[string]string) *eventsv1.Event {
	return &eventsv1.Event{ObjectMeta: objectMeta(ns, name, labels), Reason: "Pulled", Note: "done", Action: "Pull",
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Type: corev1.EventTypeNormal,
		ReportingController: "example.com/c", ReportingInstance: "c-1", EventTime: metav1.NewMicroTime(time.Now())}
}

// node is named after the namespace: Nodes are cluster-scoped, and every test has a namespace of its own.
func node(ns, _ string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: objectMeta("", ns, labels), Spec: corev1.NodeSpec{PodCIDR: "10.9.0.0/24"}}
}

func lease(ns, name string, labels map[string]string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: objectMeta(ns, name, labels), Spec: coordinationv1.LeaseSpec{HolderIdentity: to("me")}}
}

func podTemplate(name string) (*metav1.LabelSelector, corev1.PodTemplateSpec) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	return selector, corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: selector.MatchLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}
}

func deployment(ns, name string, labels map[string]string) *appsv1.Deployment {
	selector, template := podTemplate(name)
	return &appsv1.Deployment{ObjectMeta: objectMeta(ns, name, labels), Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}}
}

func replicaSet(ns, name string, labels map[string]string) *appsv1.ReplicaSet {
	selector, template := podTemplate(name)
	return &appsv1.ReplicaSet{ObjectMeta: objectMeta(ns, name, labels), Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}}
}

func statefulSet(ns, name string, labels map[string]string) *appsv1.StatefulSet {
	selector, template := podTemplate(name)
	return &appsv1.StatefulSet{ObjectMeta: objectMeta(ns, name, labels),
		Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template, ServiceName: name}}
}

func daemonSet(ns, name string, labels map[string]string) *appsv1.DaemonSet {
	selector, template := podTemplate(name)
	return &appsv1.DaemonSet{ObjectMeta: objectMeta(ns, name, labels), Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template}}
}

// builtIn are the kinds controllers use besides ours, for the dynamic client's cases (`served`).
var builtIn = []kind{
	{corev1.SchemeGroupVersion.WithResource("configmaps"), true, func(ns, name string, l map[string]string) runtime.Object { return configMap(ns, name, l) }},
	{corev1.SchemeGroupVersion.WithResource("secrets"), true, func(ns, name string, l map[string]string) runtime.Object { return secret(ns, name, l) }},
	{corev1.SchemeGroupVersion.WithResource("serviceaccounts"), true, func(ns, name string, l map[string]string) runtime.Object {
		return serviceAccount(ns, name, l)
	}},
	{corev1.SchemeGroupVersion.WithResource("events"), true, func(ns, name string, l map[string]string) runtime.Object { return event(ns, name, l) }},
	{eventsv1.SchemeGroupVersion.WithResource("events"), true, func(ns, name string, l map[string]string) runtime.Object { return eventV1(ns, name, l) }},
	{corev1.SchemeGroupVersion.WithResource("nodes"), false, func(ns, name string, l map[string]string) runtime.Object { return node(ns, name, l) }},
	{coordinationv1.SchemeGroupVersion.WithResource("leases"), true, func(ns, name string, l map[string]string) runtime.Object { return lease(ns, name, l) }},
	{appsv1.SchemeGroupVersion.WithResource("deployments"), true, func(ns, name string, l map[string]string) runtime.Object { return deployment(ns, name, l) }},
	{appsv1.SchemeGroupVersion.WithResource("replicasets"), true, func(ns, name string, l map[string]string) runtime.Object { return replicaSet(ns, name, l) }},
	{appsv1.SchemeGroupVersion.WithResource("statefulsets"), true, func(ns, name string, l map[string]string) runtime.Object { return statefulSet(ns, name, l) }},
	{appsv1.SchemeGroupVersion.WithResource("daemonsets"), true, func(ns, name string, l map[string]string) runtime.Object { return daemonSet(ns, name, l) }},
}

// key names a kind as the server keys its registries and the Python tests their cases: by resource, qualified by
// the group for events.k8s.io, whose resource core/v1 has too.
func (k kind) key() string {
	if k.gvr.Group == eventsv1.GroupName {
		return k.gvr.Resource + "." + k.gvr.Group
	}
	return k.gvr.Resource
}

// crudBuiltinKinds runs crud on one object of each kind controllers use besides ours: ConfigMap, Secret,
// ServiceAccount, Event (both APIs), Node, Lease and the apps/v1 workloads.
func crudBuiltinKinds(t *testing.T, cs kubernetes.Interface, ns string) {
	core, apps := cs.CoreV1(), cs.AppsV1()
	const name = "crud"
	t.Run("configmaps", func(t *testing.T) {
		crud(t, core.ConfigMaps(ns), configMap(ns, name, nil), func(l map[string]string) *applycorev1.ConfigMapApplyConfiguration {
			return applycorev1.ConfigMap(name, ns).WithLabels(l)
		})
	})
	t.Run("secrets", func(t *testing.T) {
		crud(t, core.Secrets(ns), secret(ns, name, nil), func(l map[string]string) *applycorev1.SecretApplyConfiguration {
			return applycorev1.Secret(name, ns).WithLabels(l)
		})
	})
	t.Run("serviceaccounts", func(t *testing.T) {
		crud(t, core.ServiceAccounts(ns), serviceAccount(ns, name, nil), func(l map[string]string) *applycorev1.ServiceAccountApplyConfiguration {
			return applycorev1.ServiceAccount(name, ns).WithLabels(l)
		})
	})
	t.Run("events", func(t *testing.T) {
		crud(t, core.Events(ns), event(ns, name, nil), func(l map[string]string) *applycorev1.EventApplyConfiguration {
			return applycorev1.Event(name, ns).WithLabels(l)
		})
	})
	t.Run("events.events.k8s.io", func(t *testing.T) {
		crud(t, cs.EventsV1().Events(ns), eventV1(ns, name, nil), func(l map[string]string) *applyeventsv1.EventApplyConfiguration {
			return applyeventsv1.Event(name, ns).WithLabels(l)
		})
	})
	t.Run("nodes", func(t *testing.T) {
		crud(t, core.Nodes(), node(ns, name, nil), func(l map[string]string) *applycorev1.NodeApplyConfiguration {
			return applycorev1.Node(ns).WithLabels(l)
		})
	})
	t.Run("leases", func(t *testing.T) {
		crud(t, cs.CoordinationV1().Leases(ns), lease(ns, name, nil), func(l map[string]string) *applycoordinationv1.LeaseApplyConfiguration {
			return applycoordinationv1.Lease(name, ns).WithLabels(l)
		})
	})
	t.Run("deployments", func(t *testing.T) {
		crud(t, apps.Deployments(ns), deployment(ns, name, nil), func(l map[string]string) *applyappsv1.DeploymentApplyConfiguration {
			return applyappsv1.Deployment(name, ns).WithLabels(l)
		})
	})
	t.Run("replicasets", func(t *testing.T) {
		crud(t, apps.ReplicaSets(ns), replicaSet(ns, name, nil), func(l map[string]string) *applyappsv1.ReplicaSetApplyConfiguration {
			return applyappsv1.ReplicaSet(name, ns).WithLabels(l)
		})
	})
	t.Run("statefulsets", func(t *testing.T) {
		crud(t, apps.StatefulSets(ns), statefulSet(ns, name, nil), func(l map[string]string) *applyappsv1.StatefulSetApplyConfiguration {
			return applyappsv1.StatefulSet(name, ns).WithLabels(l)
		})
	})
	t.Run("daemonsets", func(t *testing.T) {
		crud(t, apps.DaemonSets(ns), daemonSet(ns, name, nil), func(l map[string]string) *applyappsv1.DaemonSetApplyConfiguration {
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
