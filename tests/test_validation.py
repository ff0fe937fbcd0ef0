"""Unit tests for apiserver.validation: exact upstream message strings, paths and order."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver.validation import field
from apiserver.validation.endpoints import validate_endpoints, validate_endpoints_update
from apiserver.validation.endpointslice import (
    endpointslice_warnings,
    validate_endpointslice,
    validate_endpointslice_update,
)
from apiserver.validation.ip import parse_sloppy, validate_ip
from apiserver.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_node_name,
    is_qualified_name,
    name_is_dns_subdomain,
)
from apiserver.validation.namespace import validate_namespace, validate_namespace_update
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update
from apiserver.validation.pod import pod_warnings, validate_pod, validate_pod_status_update, validate_pod_update
from apiserver.validation.service import validate_service, validate_service_update

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def strs(errs: field.ErrorList) -> list[str]:
    return [str(e) for e in errs]


def eps(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "default"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"]}],
        "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
    }
    obj.update(overrides)
    return obj


# --- field -----------------------------------------------------------------------------------------


def test_field_error_rendering() -> None:
    detail = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
    err = field.invalid("endpoints[1].addresses[0]", "127.0.0.1", detail)
    assert err.reason == "FieldValueInvalid"
    assert err.message == 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'
    assert str(err) == "endpoints[1].addresses[0]: " + err.message


@pytest.mark.parametrize(
    ("err", "reason", "message"),
    [
        (field.required("metadata.name"), "FieldValueRequired", "Required value"),
        (field.required("x", "must contain at least 1 address"), "FieldValueRequired",
         "Required value: must contain at least 1 address"),
        (field.not_supported("addressType", "IPv5", ["IPv6", "FQDN", "IPv4"]), "FieldValueNotSupported",
         'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'),
        (field.duplicate("ports[1].name", "http"), "FieldValueDuplicate", 'Duplicate value: "http"'),
        (field.too_many("ports", 20001, 20000), "FieldValueTooMany", "Too many: 20001: must have at most 20000 items"),
        (field.too_many("x", 2, 1), "FieldValueTooMany", "Too many: 2: must have at most 1 item"),
        (field.too_long("metadata.annotations", "", 262144), "FieldValueTooLong",
         "Too long: may not be more than 262144 bytes"),
        (field.forbidden("spec", "nope"), "FieldValueForbidden", "Forbidden: nope"),
        (field.internal("x", "reserved key was not removed in conversion"), "InternalError",
         "Internal error: reserved key was not removed in conversion"),
        (field.not_found("x", "a"), "FieldValueNotFound", 'Not found: "a"'),
        (field.type_invalid("x", 3, "must be a string"), "FieldValueTypeInvalid", "Invalid value: 3: must be a string"),
    ],
)
def test_constructors(err: field.FieldError, reason: str, message: str) -> None:
    assert (err.reason, err.message) == (reason, message)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\"b\\c\n\t\x01\x7f", '"a\\"b\\\\c\\n\\t\\x01\\x7f"'),
        ("héllo\u00a0", '"héllo\\u00a0"'),
        (80, "80"),
        (True, "true"),
        (1.5, "1.5"),
        (None, "null"),
        (["10.0.0.1"], '["10.0.0.1"]'),
        ({"b": "<&>", "a": 1}, '{"b":"\\u003c\\u0026\\u003e","a":1}'),
        (field.Pointer("x"), '"x"'),
    ],
)
def test_value_formatting(value: Any, shown: str) -> None:
    assert field.format_value(value) == shown


def test_aggregate_and_causes() -> None:
    one = field.ErrorList([field.required("a")])
    assert one.aggregate() == "a: Required value"
    repeated = field.ErrorList([field.required("a"), field.required("a")])
    assert repeated.aggregate() == "a: Required value"
    assert len(repeated.causes()) == 2
    two = field.ErrorList([field.required("a"), field.required("b"), field.required("a")])
    assert two.aggregate() == "[a: Required value, b: Required value]"
    assert list(two.causes()[0]) == ["reason", "message", "field"]


# --- names -----------------------------------------------------------------------------------------


def test_dns_names() -> None:
    assert is_dns1123_label("my-name") == []
    assert is_dns1123_label("My") == [LABEL_MSG]
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert is_dns1123_subdomain("example.com") == []
    assert is_dns1123_subdomain("Foo") == [SUBDOMAIN_MSG]
    assert is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert is_node_name("node-1.example") == []
    assert name_is_dns_subdomain("web-", True) == []


def test_qualified_names_and_label_values() -> None:
    assert is_qualified_name("kubernetes.io/service-name") == []
    assert is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert is_qualified_name("Foo/x") == ["prefix part " + SUBDOMAIN_MSG]
    assert is_qualified_name("a/") == ["name part must be non-empty", NAME_PART_MSG]
    assert is_qualified_name("x" * 64) == ["name part must be no more than 63 bytes"]
    assert is_qualified_name("a/b/c")[0].startswith("a valid label key must consist of alphanumeric characters")
    assert is_label_value("") == []
    assert is_label_value("-x") == [LABEL_VALUE_MSG]
    assert is_label_value("x" * 64) == ["must be no more than 63 bytes"]


# --- ip --------------------------------------------------------------------------------------------


def test_sloppy_parsing_is_all_of_1_32() -> None:
    """1.32 (StrictIPCIDRValidation off) accepts whatever the sloppy parser reads, in any form."""
    assert parse_sloppy("010.0.0.1") is not None
    assert parse_sloppy("10.0.0.256") is None
    assert parse_sloppy("fe80::1%eth0") is None
    for accepted in ("010.0.0.1", "::ffff:1.2.3.4", "2001:DB8::1"):
        assert validate_ip("ip", accepted) == []
    assert strs(validate_ip("ip", "10.0.0.256")) == [
        'ip: Invalid value: "10.0.0.256": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'
    ]


# --- objectmeta ------------------------------------------------------------------------------------


def test_object_meta_create() -> None:
    assert strs(validate_object_meta({"namespace": "default"}, True)) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    assert strs(validate_object_meta({"name": "Foo", "namespace": "default"}, True)) == [
        'metadata.name: Invalid value: "Foo": ' + SUBDOMAIN_MSG
    ]
    assert strs(validate_object_meta({"name": "a"}, True)) == ["metadata.namespace: Required value"]
    assert strs(validate_object_meta({"name": "a", "namespace": "x"}, False)) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]
    errs = validate_object_meta(
        {"name": "a", "namespace": "default", "labels": {"ok": "-bad"}, "annotations": {"k": "v" * 262144}}, True
    )
    assert strs(errs) == [
        'metadata.labels: Invalid value: "-bad": ' + LABEL_VALUE_MSG,
        "metadata.annotations: Too long: may not be more than 262144 bytes",
    ]


def test_object_meta_owner_references_and_finalizers() -> None:
    meta = {
        "name": "a",
        "namespace": "default",
        "ownerReferences": [{"apiVersion": "", "kind": "Service", "name": "", "uid": "u"}],
        "finalizers": ["Bad Name", "custom"],
    }
    assert strs(validate_object_meta(meta, True)) == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": must not be empty',
        'metadata.finalizers: Invalid value: "Bad Name": ' + NAME_PART_MSG,
        ('metadata.finalizers[0]: Invalid value: "Bad Name": name is neither a standard finalizer name nor is it '
        "fully qualified"),
        ('metadata.finalizers[1]: Invalid value: "custom": name is neither a standard finalizer name nor is it '
        "fully qualified"),
    ]


def test_object_meta_update_immutables() -> None:
    old = {"name": "a", "namespace": "default", "uid": "u1", "creationTimestamp": "2026-01-08T11:11:55Z"}
    new = {"name": "a", "namespace": "default", "uid": "u2", "creationTimestamp": "2026-01-08T11:11:56Z"}
    assert strs(validate_object_meta_update(new, old)) == [
        'metadata.uid: Invalid value: "u2": field is immutable',
        "metadata.creationTimestamp: Invalid value: 2026-01-08 11:11:56 +0000 UTC: field is immutable",  # Time.String()
    ]
    deleting = {**old, "deletionTimestamp": "2026-01-08T12:00:00Z"}
    assert strs(validate_object_meta_update({**deleting, "finalizers": ["example.com/x"]}, deleting)) == [
        ("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new "
        'finalizers []string{"example.com/x"}')
    ]


# --- EndpointSlice ---------------------------------------------------------------------------------


def test_reference_2_5_example() -> None:
    obj = eps(
        endpoints=[{"addresses": []}, {"addresses": ["127.0.0.1"]}],
        ports=[{"name": "http", "protocol": "TCP", "port": 80}, {"name": "http", "protocol": "TCP", "port": 81}],
    )
    errs = validate_endpointslice(obj)
    assert errs.aggregate() == (
        '[endpoints[0].addresses: Required value: must contain at least 1 address, endpoints[1].addresses[0]: '
        'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128), ports[1].name: '
        'Duplicate value: "http"]'
    )  # 1.32's order: endpoints, then ports
    assert errs.causes() == [
        {"reason": "FieldValueRequired", "message": "Required value: must contain at least 1 address",
         "field": "endpoints[0].addresses"},
        {"reason": "FieldValueInvalid",
         "message": 'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
         "field": "endpoints[1].addresses[0]"},
        {"reason": "FieldValueDuplicate", "message": 'Duplicate value: "http"', "field": "ports[1].name"},
    ]


def test_endpointslice_valid() -> None:
    assert validate_endpointslice(eps()) == []


def test_address_type() -> None:
    assert strs(validate_endpointslice(eps(addressType=""))) == ["addressType: Required value"]
    assert strs(validate_endpointslice(eps(addressType="IPv5"))) == [
        'addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'
    ]


def test_ports() -> None:
    ports = [{"name": "", "protocol": "TCP"}, {"name": "", "protocol": "TCP"}, {"name": "Bad", "protocol": ""},
             {"name": "x", "protocol": "TCP", "appProtocol": "a/b/c"}]
    errs = strs(validate_endpointslice(eps(ports=ports)))
    assert errs[:3] == [
        'ports[1].name: Duplicate value: ""',
        'ports[2].name: Invalid value: "Bad": ' + LABEL_MSG,
        'ports[2].protocol: Unsupported value: "": supported values: "SCTP", "TCP", "UDP"',
    ]
    assert errs[3].startswith('ports[3].appProtocol: Invalid value: "a/b/c": a valid label key')
    too_many = [{"name": f"p{i}", "protocol": "TCP"} for i in range(20001)]
    assert strs(validate_endpointslice(eps(ports=too_many))) == [
        "ports: Too many: 20001: must have at most 20000 items"
    ]


def test_endpoint_counts() -> None:
    many = [{"addresses": ["10.0.0.1"]}] * 1001
    assert strs(validate_endpointslice(eps(endpoints=many))) == [
        "endpoints: Too many: 1001: must have at most 1000 items"
    ]
    addresses = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(101)]
    assert strs(validate_endpointslice(eps(endpoints=[{"addresses": addresses}]))) == [
        "endpoints[0].addresses: Too many: 101: must have at most 100 items"
    ]


@pytest.mark.parametrize(
    ("address_type", "address", "expected"),
    [
        ("IPv4", "10.0.0.256", ['endpoints[0].addresses[0]: Invalid value: "10.0.0.256": must be a valid IPv4 address',
                                'endpoints[0].addresses[0]: Invalid value: "10.0.0.256": must be a valid IP address']),
        ("IPv4", "2001:db8::1", ['endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be a valid IPv4 address']),
        ("IPv4", "010.0.0.1", []),
        ("IPv4", "0.0.0.0", ['endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)']),
        ("IPv4", "169.254.1.1", [('endpoints[0].addresses[0]: Invalid value: "169.254.1.1": may not be in the '
                                 "link-local range (169.254.0.0/16, fe80::/10)")]),
        ("IPv4", "224.0.0.5", [('endpoints[0].addresses[0]: Invalid value: "224.0.0.5": may not be in the link-local '
                               "multicast range (224.0.0.0/24, ff02::/10)")]),
        ("IPv6", "10.0.0.1", ['endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address']),
        ("IPv6", "2001:DB8::1", []),
        ("IPv6", "::ffff:10.0.0.1", [('endpoints[0].addresses[0]: Invalid value: "::ffff:10.0.0.1": must be a valid '
                                     "IPv6 address")]),
        ("IPv6", "::1", [('endpoints[0].addresses[0]: Invalid value: "::1": may not be in the loopback range '
                         "(127.0.0.0/8, ::1/128)")]),
        ("IPv6", "::", ['endpoints[0].addresses[0]: Invalid value: "::": may not be unspecified (::)']),
        ("IPv6", "fe80::1", [('endpoints[0].addresses[0]: Invalid value: "fe80::1": may not be in the link-local '
                             "range (169.254.0.0/16, fe80::/10)")]),
        ("IPv6", "ff02::1", [('endpoints[0].addresses[0]: Invalid value: "ff02::1": may not be in the link-local '
                             "multicast range (224.0.0.0/24, ff02::/10)")]),
        ("FQDN", "example.com.", []),
        ("FQDN", "localhost", [('endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at '
                               "least two segments separated by dots")]),
        ("FQDN", "Foo.com", ['endpoints[0].addresses[0]: Invalid value: "Foo.com": ' + SUBDOMAIN_MSG]),
    ],
)
def test_addresses(address_type: str, address: str, expected: list[str]) -> None:
    assert strs(validate_endpointslice(eps(addressType=address_type, endpoints=[{"addresses": [address]}]))) == expected


def test_endpoint_fields() -> None:
    endpoint = {
        "addresses": ["10.0.0.1"],
        "nodeName": "Node_1",
        "hostname": "a.b",
        "deprecatedTopology": {"topology.kubernetes.io/zone": "z"},
        "hints": {"forZones": [{"name": "z"}, {"name": "z"}], "forNodes": [{"name": "N"}]},
    }
    assert strs(validate_endpointslice(eps(endpoints=[endpoint]))) == [
        'endpoints[0].nodeName: Invalid value: "Node_1": ' + SUBDOMAIN_MSG,
        ("endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]: Internal error: reserved key was not removed "
        "in conversion"),
        'endpoints[0].hostname: Invalid value: "a.b": must not contain dots',
        'endpoints[0].hints.forZones[1].name: Duplicate value: "z"',
        'endpoints[0].hints.forNodes[0].name: Invalid value: "N": ' + SUBDOMAIN_MSG,
    ]
    nine = {"addresses": ["10.0.0.1"], "hints": {"forZones": [{"name": f"z{i}"} for i in range(9)]}}
    assert strs(validate_endpointslice(eps(endpoints=[nine]))) == [
        "endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"
    ]


def test_update_validates_everything_and_address_type_is_immutable() -> None:
    """1.32 has no ratchet: unchanged endpoints are validated again on update."""
    old = eps(endpoints=[{"addresses": ["127.0.0.1"]}])
    loopback = 'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'
    assert strs(validate_endpointslice_update(eps(endpoints=[{"addresses": ["127.0.0.1"]}]), old)) == [loopback]
    v6 = eps(addressType="IPv6", endpoints=[{"addresses": ["2001:db8::1"]}])
    assert strs(validate_endpointslice_update(v6, old)) == ['addressType: Invalid value: "IPv6": field is immutable']


def test_warnings() -> None:
    """1.32 warns of FQDN slices only (the IP form warnings came with the strict IP validation of 1.33)."""
    assert endpointslice_warnings(eps(addressType="FQDN", endpoints=[{"addresses": ["a.example"]}]), None) == [
        "spec.addressType: FQDN endpoints are deprecated"
    ]
    assert endpointslice_warnings(eps(addressType="IPv6", endpoints=[{"addresses": ["2001:DB8::1"]}]), None) == []


# --- Endpoints -------------------------------------------------------------------------------------


def test_endpoints() -> None:
    obj = {
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [
            {"ports": [{"port": 80, "protocol": "TCP"}]},
            {"addresses": [{"ip": "127.0.0.1", "hostname": "A"}], "notReadyAddresses": [{"ip": "10.0.0.2",
                                                                                          "nodeName": "n_1"}],
             "ports": [{"port": 0, "protocol": "TCP"}, {"name": "b", "port": 70000, "protocol": "ICMP",
                                                         "appProtocol": "/x"}]},
        ],
    }
    assert strs(validate_endpoints(obj)) == [
        "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`",
        'subsets[1].addresses[0].hostname: Invalid value: "A": ' + LABEL_MSG,
        ('subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, '
        "::1/128)"),
        'subsets[1].notReadyAddresses[0].nodeName: Invalid value: "n_1": ' + SUBDOMAIN_MSG,
        "subsets[1].ports[0].name: Required value",
        "subsets[1].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "subsets[1].ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'subsets[1].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'subsets[1].ports[1].appProtocol: Invalid value: "/x": prefix part must be non-empty',
    ]
    old = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}
    new = {"metadata": {"name": "web", "namespace": "default", "uid": "u2"}}
    assert strs(validate_endpoints_update(new, old)) == ['metadata.uid: Invalid value: "u2": field is immutable']


# --- Service ---------------------------------------------------------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    base = {"type": "ClusterIP", "sessionAffinity": "None", "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"],
            "ipFamilies": ["IPv4"], "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


def test_service_valid() -> None:
    assert validate_service(service()) == []
    assert validate_service(service(clusterIP="None", clusterIPs=["None"], ports=[])) == []


def test_service_name_is_dns1035() -> None:
    svc = {**service(), "metadata": {"name": "1web", "namespace": "default"}}
    assert strs(validate_service(svc)) == [
        ('metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters '
        "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
    ]


def test_service_ports_and_fields() -> None:
    ports = [
        {"name": "a", "port": 0, "protocol": "TCP", "targetPort": "http--x"},
        {"port": 81, "protocol": "ICMP", "targetPort": 70000, "nodePort": 30001},
        {"name": "a", "port": 0, "protocol": "TCP"},
    ]
    errs = strs(validate_service(service(ports=ports, selector={"app": "-x"}, sessionAffinity="Sticky", type="Foo")))
    assert errs == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[0].targetPort: Invalid value: "http--x": must not contain consecutive hyphens',
        "spec.ports[1].name: Required value",
        'spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        "spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.ports[2].name: Duplicate value: "a"',
        "spec.ports[2].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.selector: Invalid value: "-x": ' + LABEL_VALUE_MSG,
        'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"',
        ('spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
        '"NodePort"'),
        ('spec.ports[2]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:0, '
         'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'),
    ]


def test_service_node_ports() -> None:
    ports = [{"name": "a", "port": 80, "protocol": "TCP", "nodePort": 80}]
    assert strs(validate_service(service(ports=ports))) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]
    assert strs(validate_service(service(ports=ports, type="NodePort"))) == []  # the range is the allocator's


def test_service_external_ips() -> None:
    """Sloppily parsed (1.32), then not special; each address its own error."""
    obj = {"metadata": {"name": "s", "namespace": "default"},
           "spec": {"ports": [{"port": 80}], "externalIPs": ["1.2.3", "127.0.0.1", "010.0.0.1"]}}
    assert strs(validate_service(obj)) == [
        'spec.externalIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        'spec.externalIPs[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    ]


def test_service_cluster_ips() -> None:
    assert strs(validate_service(service(clusterIP="10.0.0.1", clusterIPs=["10.0.0.2"]))) == [
        'spec.clusterIPs: Invalid value: []string{"10.0.0.2"}: first value must match `clusterIP`'
    ]
    assert strs(validate_service(service(clusterIP="10.0.0.300", clusterIPs=["10.0.0.300"]))) == [
        ('spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
        "2001:db8::ffff)")
    ]
    assert strs(validate_service(service(ipFamilies=["IPv5"]))) == [
        'spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'
    ]
    assert strs(validate_service(service(ipFamilies=["IPv6"]))) == [
        'spec.clusterIPs[0]: Invalid value: "10.0.0.10": expected an IPv6 value as indicated by `ipFamilies[0]`'
    ]
    assert strs(validate_service(service(clusterIP="None", clusterIPs=["None"], type="NodePort"))) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
    ]


def test_service_update_cluster_ip_immutable() -> None:
    old, new = service(), service(clusterIP="10.0.0.11", clusterIPs=["10.0.0.11"])
    assert strs(validate_service_update(new, old)) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.0.0.11"}: may not change once set'
    ]
    assert validate_service_update(service(), old) == []


# --- Pod -------------------------------------------------------------------------------------------


def pod(**spec: Any) -> dict[str, Any]:
    """A decoded Pod: the policies validation requires are defaulted by then."""
    base: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}], "restartPolicy": "Always",
                            "dnsPolicy": "ClusterFirst"}
    base.update(spec)
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": base}


def test_pod_spec() -> None:
    assert validate_pod(pod()) == []
    assert strs(validate_pod(pod(containers=[]))) == ["spec.containers: Required value"]
    containers = [{"name": "", "image": ""}, {"name": "App", "image": " x"}, {"name": "App", "image": "x"}]
    assert strs(validate_pod(pod(containers=containers, nodeName="N"))) == [
        "spec.containers[0].name: Required value",
        "spec.containers[0].image: Required value",
        'spec.containers[1].name: Invalid value: "App": ' + LABEL_MSG,
        'spec.containers[1].image: Invalid value: " x": must not have leading or trailing whitespace',
        'spec.containers[2].name: Invalid value: "App": ' + LABEL_MSG,
        'spec.containers[2].name: Duplicate value: "App"',
        'spec.nodeName: Invalid value: "N": ' + SUBDOMAIN_MSG,
    ]


def test_pod_ports_and_restart_policy() -> None:
    """1.32's order: each container's name, image and ports, then its name's uniqueness; restartPolicy after all."""
    containers = [{"name": "c", "image": "x", "ports": [
        {"containerPort": 0}, {"containerPort": 70000, "name": "Bad_Name", "protocol": "ICMP", "hostPort": -1},
        {"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]}]
    assert strs(validate_pod(pod(containers=containers, restartPolicy="Sometimes"))) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        ('spec.containers[0].ports[1].name: Invalid value: "Bad_Name": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)"),
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[3].name: Duplicate value: "web"',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]


def test_pod_env_pull_policy_dns_policy_and_deadline() -> None:
    containers = [{"name": "c", "image": "x", "imagePullPolicy": "Sometimes",
                   "env": [{"name": ""}, {"name": "A B"}, {"name": "a=b"}]}]
    assert strs(validate_pod(pod(containers=containers, dnsPolicy="Weird", activeDeadlineSeconds=0))) == [
        "spec.containers[0].env[0].name: Required value",
        ('spec.containers[0].env[2].name: Invalid value: "a=b": a valid environment variable name must consist only '
         "of printable ASCII characters other than '='"),
        ('spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
         '"IfNotPresent", "Never"'),
        ('spec.dnsPolicy: Unsupported value: "Weird": supported values: "ClusterFirstWithHostNet", "ClusterFirst", '
         '"Default", "None"'),
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
    ]


def test_pod_name_warning() -> None:
    named = {**pod(), "metadata": {"name": "web.0"}}
    assert pod_warnings(named, None) == [
        ("metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is "
        "recommended: [must not contain dots]")]
    assert pod_warnings(named, named) == [] and pod_warnings(pod(), None) == []


def test_pod_status() -> None:
    obj = {**pod(), "status": {"phase": "Done", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}],
                               "conditions": [{"type": "Ready", "status": "Maybe"}]}}
    assert strs(validate_pod(obj)) == [
        ('status.phase: Unsupported value: "Done": supported values: "Failed", "Pending", "Running", "Succeeded", '
        '"Unknown"'),
        'status.conditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"',
        ('status.podIPs: Invalid value: [{"IP":"10.0.0.1"},{"IP":"10.0.0.1"}]: may specify no more than one IP for '
        "each IP family"),
        'status.podIPs[1]: Duplicate value: {"IP":"10.0.0.1"}',
    ]
    assert strs(validate_pod({**pod(), "status": {"podIP": "10.0.0.300"}})) == [
        ('status.podIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
        "2001:db8::ffff)")
    ]


def test_pod_update() -> None:
    old = pod(restartPolicy="Always", tolerations=[{"key": "a"}])
    allowed = pod(restartPolicy="Always", tolerations=[{"key": "a"}, {"key": "b"}], activeDeadlineSeconds=5)
    allowed["spec"]["containers"][0]["image"] = "nginx:2"
    assert validate_pod_update(allowed, old) == []
    changed = pod(restartPolicy="Never", tolerations=[{"key": "a"}])
    assert strs(validate_pod_update(changed, old)) == [
        ("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)")
    ]
    more = pod(containers=[{"name": "app", "image": "nginx"}, {"name": "b", "image": "x"}])
    assert strs(validate_pod_update(more, pod())) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_pod_update_may_not_add_or_remove_containers() -> None:
    old = pod()
    more = pod(containers=[{"name": "app", "image": "nginx"}, {"name": "side", "image": " y"}])
    assert strs(validate_pod_update(more, old)) == [
        'spec.containers[1].image: Invalid value: " y": must not have leading or trailing whitespace',
        "spec.containers: Forbidden: pod updates may not add or remove containers",
    ]


def test_pod_status_update() -> None:
    old = pod(nodeName="n1")
    new = {**pod(nodeName="n2"), "status": {"conditions": [{"type": "a/b/c", "status": "True"}]}}
    errs = strs(validate_pod_status_update(new, old))
    assert errs[0].startswith('metadata.conditions[0].Type: Invalid value: "a/b/c": a valid label key')
    assert errs[1:] == ["status.nodeName: Forbidden: may not be changed directly"]


# --- Namespace -------------------------------------------------------------------------------------


def test_namespace() -> None:
    assert validate_namespace({"metadata": {"name": "default"}, "spec": {"finalizers": ["kubernetes"]}}) == []
    obj = {"metadata": {"name": "a.b", "namespace": "x"}, "spec": {"finalizers": ["custom"]}}
    assert strs(validate_namespace(obj)) == [
        'metadata.name: Invalid value: "a.b": must not contain dots',
        "metadata.namespace: Forbidden: not allowed on this type",
        'spec.finalizers: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified',
    ]
    old = {"metadata": {"name": "ns", "uid": "1"}}
    assert strs(validate_namespace_update({"metadata": {"name": "ns", "uid": "2"}}, old)) == [
        'metadata.uid: Invalid value: "2": field is immutable'
    ]
