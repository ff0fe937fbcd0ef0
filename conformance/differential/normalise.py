"""Volatile values made comparable, per scenario run: what two correct servers may answer differently.

- resourceVersions of objects become `rv#N`, N their order of first appearance in the run; a collection's
  (list, Table, bookmark) becomes `rv>=#N`, N the newest object resourceVersion seen not above it, since a
  server's current revision also moves with writes the scenario does not see (leases, other clients);
- uids become `uid#N` by order of appearance (requests included), wherever they occur (ownerReferences,
  preconditions, messages);
- timestamps become `<time>`, Table Age cells `<age>`, continue tokens `<continue>`;
- generated names become `<prefix><gen#N>`; the run's unique token (in namespace and cluster-scoped names)
  becomes `RUN`;
- server-chosen Service IPs and node ports become `<ip>` / `<port>`; `selfLink` is dropped;
- a Status keeps only what clients read: status, reason, code, message and details;
- periodic BOOKMARK events are dropped from watch streams (their timing is not part of the contract) but the
  one closing the initial events is kept.

Protobuf answers are normalised with the same state, at field-number paths (`conformance.differential.protobuf`).
"""

from __future__ import annotations

import re
from typing import Any

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
MESSAGE_NUMBERS = [
    # "too old resource version: 1 (5)": the window's start is the server's own history
    (re.compile(r"(too old resource version: \d+) \(\d+\)"), r"\1 (<oldest>)"),
    (re.compile(r"(Too large resource version: \d+), current: \d+"), r"\1, current: <current>"),
]
# resourceVersions quoted by precondition and storage errors (other numbers in messages are left alone)
RV_IN_MESSAGE = re.compile(r"((?:ResourceVersion in record|ResourceVersion in the precondition) \(|"
                           r"(?:ResourceVersion in precondition|ResourceVersion in object meta|ResourceVersion): |"
                           r'\\"resourceVersion\\":\\")(\d+)')  # the last: an object quoted in a patch's 422
VOLATILE_COLUMNS = {"Age": "<age>", "Cluster-IP": "<ip>", "External-IP": None, "IP": None}
STATUS_KEYS = ("status", "reason", "code", "message", "details")
GENERATED_SUFFIX = 5
GENERATED_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's name generator draws from these


class Normaliser:
    """The state of one scenario run on one server: the orders in which volatile values appeared."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.versions: dict[int, int] = {}   # resourceVersion → order of appearance
        self.uids: dict[str, int] = {}
        self.generated: dict[str, str] = {}  # generated name → its placeholder
        self.columns: list[str] = []         # the last Table's columns (later watch events may omit them)
        self.prefixes: list[re.Pattern[str]] = []  # generateName prefixes sent: names made of them in messages
        self.addresses: set[str] = set()     # Service IPs the server chose, wherever they are quoted later

    # -- values ---------------------------------------------------------------------------------------------

    def object_version(self, value: str) -> str:
        if not value.isdigit():
            return value
        number = int(value)
        if number not in self.versions:
            self.versions[number] = len(self.versions) + 1
        return f"rv#{self.versions[number]}"

    def collection_version(self, value: str) -> str:
        if not value.isdigit():
            return value
        number = int(value)
        below = [order for rv, order in self.versions.items() if rv <= number]
        return f"rv>=#{max(below, default=0)}"

    def uid(self, match: re.Match[str]) -> str:
        value = match.group(0)
        if value not in self.uids:
            self.uids[value] = len(self.uids) + 1
        return f"uid#{self.uids[value]}"

    def learn_uids(self, text: str) -> None:
        """Number the uids a request sends first, so a server that ignores one and a server that quotes it back
        in an error still agree on the numbering of later uids."""
        UUID.sub(self.uid, text)

    def string(self, value: str) -> str:
        if TIMESTAMP.fullmatch(value):
            return "<time>"
        for name, placeholder in self.generated.items():
            value = value.replace(name, placeholder)
        for pattern in self.prefixes:
            value = pattern.sub(r"\1<gen>", value)
        for address in self.addresses:
            value = re.sub(rf"(?<![\d.]){re.escape(address)}(?![\d.])", "<ip>", value)
        value = UUID.sub(self.uid, value)
        return value.replace(self.token, "RUN")

    def expect_generated(self, prefix: str) -> None:
        """A request asked for a name generated from `prefix`: such names in answers not returning the object
        (a refused create's message) become `<prefix><gen>`."""
        pattern = re.compile(f"({re.escape(prefix)})[{GENERATED_ALPHABET}]{{{GENERATED_SUFFIX}}}(?![a-z0-9])")
        if prefix and pattern not in self.prefixes:
            self.prefixes.append(pattern)

    def message(self, value: str) -> str:
        for pattern, replacement in MESSAGE_NUMBERS:
            value = pattern.sub(replacement, value)
        value = RV_IN_MESSAGE.sub(lambda m: m.group(1) + (f"rv#{self.versions[int(m.group(2))]}"
                                                          if int(m.group(2)) in self.versions else m.group(2)), value)
        return self.string(TIMESTAMP.sub("<time>", value))

    # -- documents ------------------------------------------------------------------------------------------

    def learn_generated_names(self, value: Any) -> None:
        """Register `metadata.name`s made from `generateName` anywhere in `value`, before it is rewritten."""
        if isinstance(value, dict):
            meta = value.get("metadata")
            if isinstance(meta, dict):
                prefix, name = meta.get("generateName"), meta.get("name")
                if (isinstance(prefix, str) and isinstance(name, str) and name.startswith(prefix)
                        and len(name) == len(prefix) + GENERATED_SUFFIX and name not in self.generated):
                    self.generated[name] = f"{prefix}<gen#{len(self.generated) + 1}>"
            for item in value.values():
                self.learn_generated_names(item)
        elif isinstance(value, list):
            for item in value:
                self.learn_generated_names(item)

    def document(self, value: Any) -> Any:
        """A whole answer body (JSON/YAML document, or a list of watch events), normalised."""
        self.learn_generated_names(value)
        if isinstance(value, list) and all(isinstance(e, dict) and "type" in e for e in value):
            return [self.event(e) for e in value if not is_periodic_bookmark(e)]
        return self.value(value)

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"type": event.get("type"), "object": self.value(event.get("object"))}

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.string(value)
        return value

    def mapping(self, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("kind") == "Status" and "code" in value:
            value = {k: value[k] for k in STATUS_KEYS if k in value}
            if isinstance(value.get("message"), str):
                value["message"] = self.message(value["message"])
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key == "selfLink":
                continue
            if key == "metadata" and isinstance(item, dict):
                result[key] = self.metadata(item)
            elif key == "message" and isinstance(item, str) and value.get("kind") != "Status":
                result[key] = self.message(item)  # e.g. a Status cause's
            else:
                result[self.string(key)] = self.value(item) if key != "message" else item
        if value.get("kind") == "Service" and isinstance(value.get("spec"), dict):
            self.addresses.update(service_addresses(value["spec"]))
            service_spec(result["spec"])
        if value.get("kind") == "Table":
            self.columns = table_cells(result, self.columns)
        return result

    def metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        is_object = "name" in meta or "uid" in meta or "generateName" in meta
        result = {}
        for key, item in meta.items():
            if key == "resourceVersion" and isinstance(item, str):
                result[key] = self.object_version(item) if is_object else self.collection_version(item)
            elif key == "continue" and item:
                result[key] = "<continue>"
            elif key != "selfLink":
                result[key] = self.value(item)
        return result


def service_addresses(spec: dict[str, Any]) -> set[str]:
    ips = [spec.get("clusterIP"), *(spec.get("clusterIPs") or ())]
    return {ip for ip in ips if isinstance(ip, str) and ip not in ("", "None")}


def service_spec(spec: dict[str, Any]) -> None:
    """Server-chosen addresses and ports of a Service."""
    if spec.get("clusterIP") not in (None, "", "None"):
        spec["clusterIP"] = "<ip>"
    if isinstance(spec.get("clusterIPs"), list):
        spec["clusterIPs"] = [ip if ip in ("", "None") else "<ip>" for ip in spec["clusterIPs"]]
    for port in spec.get("ports") or ():
        if isinstance(port, dict) and "nodePort" in port:
            port["nodePort"] = "<port>"
    if "healthCheckNodePort" in spec:
        spec["healthCheckNodePort"] = "<port>"


def table_cells(table: dict[str, Any], previous: list[str]) -> list[str]:
    """Volatile cells replaced; returns the columns, for Table watch events that omit them."""
    columns = [str(c.get("name")) for c in table.get("columnDefinitions") or () if isinstance(c, dict)] or previous
    volatile = {i: VOLATILE_COLUMNS[name] for i, name in enumerate(columns) if VOLATILE_COLUMNS.get(name)}
    for row in table.get("rows") or ():
        cells = row.get("cells") if isinstance(row, dict) else None
        if isinstance(cells, list):
            for index, placeholder in volatile.items():
                if index < len(cells) and cells[index] not in ("<none>", "None"):
                    cells[index] = placeholder
    return columns


def is_periodic_bookmark(event: dict[str, Any]) -> bool:
    if event.get("type") != "BOOKMARK":
        return False
    annotations = ((event.get("object") or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get("k8s.io/initial-events-end") != "true"


def content_type(value: str) -> str:
    """`application/json; charset=utf-8` and `application/json;charset=utf-8` are the same type."""
    return ";".join(part.strip() for part in value.split(";") if part.strip())
