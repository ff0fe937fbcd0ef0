"""Write apiserver/kinds/upstream/<group>_<version>.json from upstream's own API definitions.

Two sources, merged type by type: the Go types of k8s.io/api and k8s.io/apimachinery read by reflection
(`go run ./schemagen` prints each field's JSON name, omitempty, inline, pointer-ness, kind of value and protobuf
number), and the OpenAPI v3 documents of the real kube-apiserver of the release we report (descriptions,
required, defaults, enums, formats and the x-kubernetes list, map and patch markers).

    python -m conformance.schemagen            # regenerate (starts kube-apiserver and etcd)
    python -m conformance.schemagen --check    # exit 1 if the committed data is not what upstream gives
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from apiserver.kinds import KINDS
from conformance.kube_apiserver import KubeAPIServer

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "apiserver" / "kinds" / "upstream"
DOCUMENTS = ("api/v1", "apis/discovery.k8s.io/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1",
             "apis/events.k8s.io/v1", "apis/policy/v1", "apis/rbac.authorization.k8s.io/v1",
             "apis/authorization.k8s.io/v1", "apis/autoscaling/v1", "apis/authentication.k8s.io/v1",
             "apis/apiextensions.k8s.io/v1")
# The package prefixes of OpenAPI names and the data file their types go to.
FILES = {"io.k8s.api.core.v1.": "core_v1", "io.k8s.api.discovery.v1.": "discovery_v1",
         "io.k8s.api.apps.v1.": "apps_v1", "io.k8s.api.coordination.v1.": "coordination_v1",
         "io.k8s.api.events.v1.": "events_v1", "io.k8s.api.policy.v1.": "policy_v1",
         "io.k8s.api.rbac.v1.": "rbac_v1", "io.k8s.api.authorization.v1.": "authorization_v1",
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.": "apiextensions_v1",
         "io.k8s.api.autoscaling.v1.": "autoscaling_v1", "io.k8s.api.authentication.v1.": "authentication_v1",
         "io.k8s.apimachinery.pkg.apis.meta.v1.": "meta_v1"}
# The OpenAPI keys of a property kept, under shorter names.
MARKERS = {"description": "description", "default": "default", "enum": "enum", "format": "format",
           "x-kubernetes-list-type": "list_type", "x-kubernetes-list-map-keys": "map_keys",
           "x-kubernetes-patch-merge-key": "merge_key", "x-kubernetes-patch-strategy": "patch_strategy",
           "x-kubernetes-map-type": "map_type"}
# The apimachinery types with JSON and protobuf forms of their own: their OpenAPI components are kept whole.
SCALARS = ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
           "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
           "io.k8s.apimachinery.pkg.api.resource.Quantity", "io.k8s.apimachinery.pkg.runtime.RawExtension")
# Go values whose JSON is never left out, even with omitempty: structs and the types that marshal themselves.
STRUCT_LIKE = {"struct", "time", "microtime", "duration", "quantity", "intorstring", "raw", "fieldsv1"}


def go_types() -> JSON:
    """The Go shape of every type reachable from the served kinds (conformance/schemagen/main.go)."""
    out = subprocess.run(["go", "run", "./schemagen"], cwd=ROOT / "conformance", check=True, capture_output=True)
    types: JSON = json.loads(out.stdout)
    return types


def openapi_documents(server: KubeAPIServer) -> dict[str, JSON]:
    """The group-versions' OpenAPI v3 documents, from a real kube-apiserver."""
    documents: dict[str, JSON] = {}
    for document in DOCUMENTS:
        with urllib.request.urlopen(server.request("/openapi/v3/" + document), context=server.ssl_context()) as reply:
            documents[document] = json.load(reply)
    return documents


def components(documents: dict[str, JSON]) -> JSON:
    """The component schemas of all the documents."""
    found: JSON = {}
    for document in documents.values():
        found.update(document["components"]["schemas"])
    return found


def subresource_paths(documents: dict[str, JSON]) -> JSON:
    """The path items of the subresources served that are no read or write of the kind itself (pods/log,
    pods/exec, pods/eviction, services/proxy…): their operations are upstream's, query parameters and all."""
    paths = {name: item for document in documents.values() for name, item in document["paths"].items()}
    found: JSON = {}
    for kind in KINDS:
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        prefix = f"/{'apis/' + kind.group if kind.group else 'api'}/{kind.version}{scope}/{kind.plural}/{{name}}/"
        for sub in kind.subresources:
            if not sub.of_parent:
                found.update({name: paths[name] for name in (prefix + sub.name, prefix + sub.name + "/{path}")
                              if name in paths})
    return dict(sorted(found.items()))


def _ref(schema: JSON) -> str:
    target = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref", "")
    return str(target).rsplit("/", 1)[-1]


def value(shape: JSON, schema: JSON) -> JSON:
    """One value: the Go kind (and struct type, items, map values) with the OpenAPI markers of its schema."""
    out: JSON = {"kind": shape["kind"]}
    out.update({short: schema[key] for key, short in MARKERS.items() if key in schema})
    if shape["kind"] == "struct":
        out["ref"] = shape["type"]
    elif shape["kind"] == "slice":
        out["items"] = value(shape["elem"], schema.get("items", {}))
    elif shape["kind"] == "map":
        out["values"] = value(shape["elem"], schema.get("additionalProperties", {}))
    return out


def describe(name: str, types: JSON, components: JSON, properties: JSON | None = None) -> dict[str, JSON]:
    """The data of type `name` and of the inline structs it embeds (whose properties are in its component)."""
    component = components.get(name, {})
    properties = component.get("properties", {}) if properties is None else properties
    fields, inline, out = [], [], {}
    for field in types[name]:
        if field.get("inline"):
            if field.get("proto"):  # an embedded struct with a message of its own (Volume's VolumeSource)
                inline.append({"proto": field["proto"], "ref": field["type"]})
                out.update(describe(field["type"], types, components, properties))
            else:  # TypeMeta: its fields are the parent's
                fields += [{"name": f["json"], "schema": value(f, properties.get(f["json"], {}))}
                           for f in types[field["type"]]]
            continue
        entry: JSON = {"name": field["json"], "schema": value(field, properties.get(field["json"], {}))}
        if field.get("proto"):
            entry["proto"] = field["proto"]
        if field.get("pointer"):
            entry["pointer"] = True
        elif not field.get("omitempty") or field["kind"] in STRUCT_LIKE:
            entry["always"] = True
        fields.append(entry)
    data: JSON = {"fields": fields}
    data.update({key: component[key] for key in ("description", "required") if key in component})
    if component.get("x-kubernetes-unions"):
        data["unions"] = component["x-kubernetes-unions"]
    if component.get("x-kubernetes-map-type"):
        data["map_type"] = component["x-kubernetes-map-type"]
    if inline:
        data["inline"] = inline
    out[name] = data
    return out


def generate(types: JSON, documents: dict[str, JSON]) -> dict[str, str]:
    """The text of each data file, by file name."""
    schemas = components(documents)
    files: dict[str, JSON] = {"paths": subresource_paths(documents)}
    for name in sorted(types):
        if types[name] is None or name not in schemas:  # an inline struct: described with its parent
            continue
        prefix = next((p for p in FILES if name.startswith(p)), None)
        if prefix is None:
            continue
        for described, data in describe(name, types, schemas).items():
            files.setdefault(FILES[prefix], {})[described] = data
    for name in SCALARS:
        files["meta_v1"][name] = {"description": schemas[name]["description"], "openapi": schemas[name]}
    return {f"{file}.json": _lines(data) for file, data in files.items()}


def _lines(data: JSON) -> str:
    """Compact JSON with one type a line, so that a change of upstream's shows as the lines of its types."""
    return "{\n" + ",\n".join(f"{json.dumps(name)}:{json.dumps(data[name], separators=(',', ':'))}"
                               for name in sorted(data)) + "\n}\n"


def stale_files(files: dict[str, str]) -> list[str]:
    """The data files whose committed text is not `files`' (missing ones included)."""
    return [name for name, text in files.items() if not (OUT / name).exists() or (OUT / name).read_text() != text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed data instead of writing")
    args = parser.parse_args()
    with KubeAPIServer() as server:
        files = generate(go_types(), openapi_documents(server))
    if args.check:
        for name in stale_files(files):
            print(f"{OUT / name} is not what upstream gives: run python -m conformance.schemagen", file=sys.stderr)
        return 1 if stale_files(files) else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
