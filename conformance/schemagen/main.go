// Command schemagen prints, as JSON, the Go shape of the API types this server serves: for every struct
// reachable from the roots, its fields' JSON names, omitempty and inline, Go pointer-ness, kind of value and
// protobuf field number, read by reflection from k8s.io/api and k8s.io/apimachinery. The Python generator
// (python -m conformance.schemagen) merges this with upstream's OpenAPI documents.
package main

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// roots are the kinds, their lists and the meta types operations name: the types described.
var roots = []any{
	corev1.Namespace{}, corev1.Service{}, corev1.Endpoints{}, corev1.Pod{}, corev1.ConfigMap{}, corev1.Secret{},
	corev1.ServiceAccount{}, corev1.Event{}, corev1.Node{}, discoveryv1.EndpointSlice{}, appsv1.Deployment{},
	appsv1.ReplicaSet{}, appsv1.StatefulSet{}, appsv1.DaemonSet{}, coordinationv1.Lease{}, eventsv1.Event{},
	corev1.NamespaceList{}, corev1.ServiceList{}, corev1.EndpointsList{}, corev1.PodList{}, corev1.ConfigMapList{},
	corev1.SecretList{}, corev1.ServiceAccountList{}, corev1.EventList{}, corev1.NodeList{},
	discoveryv1.EndpointSliceList{}, appsv1.DeploymentList{}, appsv1.ReplicaSetList{}, appsv1.StatefulSetList{},
	appsv1.DaemonSetList{}, coordinationv1.LeaseList{}, eventsv1.EventList{},
	corev1.Binding{}, policyv1.Eviction{}, autoscalingv1.Scale{}, authenticationv1.TokenRequest{}, metav1.Status{}, metav1.DeleteOptions{}, metav1.ListMeta{}, metav1.WatchEvent{}, metav1.APIResourceList{}, metav1.Patch{},
	rbacv1.Role{}, rbacv1.ClusterRole{}, rbacv1.RoleBinding{}, rbacv1.ClusterRoleBinding{}, rbacv1.RoleList{},
	rbacv1.ClusterRoleList{}, rbacv1.RoleBindingList{}, rbacv1.ClusterRoleBindingList{},
	authorizationv1.SelfSubjectAccessReview{}, authorizationv1.SelfSubjectRulesReview{},
	authorizationv1.SubjectAccessReview{}, authorizationv1.LocalSubjectAccessReview{},
	apiextensionsv1.CustomResourceDefinition{}, apiextensionsv1.CustomResourceDefinitionList{},
}

// special are the types with their own JSON and protobuf forms, not described field by field.
var special = map[string]string{
	"k8s.io/apimachinery/pkg/apis/meta/v1.Time":       "time",
	"k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":  "microtime",
	"k8s.io/apimachinery/pkg/apis/meta/v1.Duration":   "duration",
	"k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1":   "fieldsv1",
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString": "intorstring",
	"k8s.io/apimachinery/pkg/api/resource.Quantity":   "quantity",
	"k8s.io/apimachinery/pkg/runtime.RawExtension":    "raw",
	// a CRD's schema: recursive, read by apiserver/apiextensions rather than described field by field
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.JSONSchemaProps": "jsonschema",
}

// Value is the shape of one Go value: its kind, the OpenAPI name of a struct, the element of a slice or map.
type Value struct {
	Kind string `json:"kind"`
	Type string `json:"type,omitempty"`
	Elem *Value `json:"elem,omitempty"`
}

// Field is one struct field as encoding/json and gogo-protobuf see it.
type Field struct {
	JSON      string `json:"json"`
	Proto     int    `json:"proto,omitempty"`
	Pointer   bool   `json:"pointer,omitempty"`
	OmitEmpty bool   `json:"omitempty,omitempty"`
	Inline    bool   `json:"inline,omitempty"`
	Value
}

// openAPIName is upstream's definition name: the reversed package domain and path, then the type.
func openAPIName(t reflect.Type) string {
	path := t.PkgPath()
	parts := strings.SplitN(path, "/", 2)
	domain := strings.Split(parts[0], ".")
	for i, j := 0, len(domain)-1; i < j; i, j = i+1, j-1 {
		domain[i], domain[j] = domain[j], domain[i]
	}
	name := strings.Join(domain, ".")
	if len(parts) > 1 {
		name += "." + strings.ReplaceAll(parts[1], "/", ".")
	}
	return name + "." + t.Name()
}

type walker struct{ types map[string][]Field }

func (w *walker) value(t reflect.Type) Value {
	if kind, ok := special[t.PkgPath()+"."+t.Name()]; ok {
		return Value{Kind: kind}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(t.Elem())
	case reflect.Struct:
		w.walk(t)
		return Value{Kind: "struct", Type: openAPIName(t)}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return Value{Kind: "bytes"}
		}
		elem := w.value(t.Elem())
		return Value{Kind: "slice", Elem: &elem}
	case reflect.Map:
		elem := w.value(t.Elem())
		return Value{Kind: "map", Elem: &elem}
	case reflect.Interface:
		return Value{Kind: "any"}
	default:
		return Value{Kind: t.Kind().String()}
	}
}

func (w *walker) walk(t reflect.Type) {
	name := openAPIName(t)
	if _, seen := w.types[name]; seen {
		return
	}
	w.types[name] = nil
	fields := []Field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		field := Field{JSON: tag[0], Pointer: f.Type.Kind() == reflect.Pointer, Value: w.value(f.Type)}
		for _, option := range tag[1:] {
			field.OmitEmpty = field.OmitEmpty || option == "omitempty"
			field.Inline = field.Inline || option == "inline"
		}
		if f.Anonymous && tag[0] == "" {
			field.Inline = true
		}
		if proto := strings.Split(f.Tag.Get("protobuf"), ","); len(proto) > 1 {
			field.Proto, _ = strconv.Atoi(proto[1])
		}
		fields = append(fields, field)
	}
	w.types[name] = fields
}

func main() {
	w := walker{types: map[string][]Field{}}
	for _, root := range roots {
		w.walk(reflect.TypeOf(root))
	}
	names := make([]string, 0, len(w.types))
	for name := range w.types {
		names = append(names, name)
	}
	sort.Strings(names)
	out := map[string][]Field{}
	for _, name := range names {
		out[name] = w.types[name]
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", " ")
	if err := encoder.Encode(out); err != nil {
		panic(err)
	}
}
