package clientgo

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// The CustomResourceDefinition kind, known to client-go's scheme as the typed kinds are (kindOf).
func init() { utilruntime.Must(apiextensionsv1.AddToScheme(scheme.Scheme)) }

// A kind the server serves: its resource and a valid object of it.
type kind struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	object     func(namespace, name string, labels map[string]string) runtime.Object
}

var served = []kind{
	{corev1.SchemeGroupVersion.WithResource("namespaces"), false, func(_, name string, l map[string]string) runtime.Object {
		return namespace(name, l)
	}},
	{corev1.SchemeGroupVersion.WithResource("services"), true, func(ns, name string, l map[string]string) runtime.Object {
		return service(ns, name, l)
	}},
	{corev1.SchemeGroupVersion.WithResource("endpoints"), true, func(ns, name string, l map[string]string) runtime.Object {
		return endpoints(ns, name, l)
	}},
	{corev1.SchemeGroupVersion.WithResource("pods"), true, func(ns, name string, l map[string]string) runtime.Object {
		return pod(ns, name, l)
	}},
	{discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), true, func(ns, name string, l map[string]string) runtime.Object {
		return endpointSlice(ns, name, l)
	}},
	{rbacv1.SchemeGroupVersion.WithResource("clusterroles"), false, func(_, name string, l map[string]string) runtime.Object {
		return clusterRole(name, l)
	}},
	{rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings"), false, func(_, name string, l map[string]string) runtime.Object {
		return clusterRoleBinding(name, l)
	}},
	{rbacv1.SchemeGroupVersion.WithResource("roles"), true, func(ns, name string, l map[string]string) runtime.Object {
		return role(ns, name, l)
	}},
	{rbacv1.SchemeGroupVersion.WithResource("rolebindings"), true, func(ns, name string, l map[string]string) runtime.Object {
		return roleBinding(ns, name, l)
	}},
	{apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions"), false, func(_, name string, l map[string]string) runtime.Object {
		return customResourceDefinition(name, l)
	}},
}

func init() { served = append(served, builtIn...) }

func objectMeta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: objectMeta("", name, labels)}
}

func service(ns, name string, labels map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: objectMeta(ns, name, labels), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": name},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
	}}
}

func endpoints(ns, name string, labels map[string]string) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: objectMeta(ns, name, labels), Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
	}}}
}

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: objectMeta(ns, name, labels), Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
	}}
}

func endpointSlice(ns, name string, labels map[string]string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  objectMeta(ns, name, labels),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{Ready: to(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: to("http"), Port: to[int32](8080), Protocol: to(corev1.ProtocolTCP)}},
	}
}

var (
	readPods = []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
	alice    = []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}
)

func clusterRole(name string, labels map[string]string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: objectMeta("", name, labels), Rules: readPods}
}

func clusterRoleBinding(name string, labels map[string]string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: objectMeta("", name, labels), Subjects: alice,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
}

func role(ns, name string, labels map[string]string) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: objectMeta(ns, name, labels), Rules: readPods}
}

func roleBinding(ns, name string, labels map[string]string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: objectMeta(ns, name, labels), Subjects: alice,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}
}

// crdName is the name of the CRD a test calls `name`: its plural, then its group.
func crdName(name string) string { return name + "s.clientgo.example.com" }

func customResourceDefinition(name string, labels map[string]string) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: objectMeta("", crdName(name), labels),
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "clientgo.example.com",
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: name + "s", Kind: "Thing" + name},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:                   "object",
					XPreserveUnknownFields: to(true),
				}}}},
		},
	}
}

func to[T any](v T) *T { return &v }
