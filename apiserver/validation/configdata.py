"""core/v1 ConfigMap and Secret validation: their data keys, their size and the `immutable` rule."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from apiserver.validation.field import ErrorList, forbidden, invalid, required, too_long
from apiserver.validation.names import max_len_error, regex_error
from apiserver.validation.objectmeta import FIELD_IMMUTABLE, validate_object_meta, validate_object_meta_update

MAX_SIZE = 1024 * 1024  # core.MaxSecretSize: the data of a Secret, or a ConfigMap's both maps, in bytes
_KEY_FMT = "[-._a-zA-Z0-9]+"
_KEY_RE = re.compile(_KEY_FMT)
_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_IMMUTABLE = "field is immutable when `immutable` is set"
_REDACTED = "<secret contents redacted>"


def config_key_errors(key: str) -> list[str]:
    """IsConfigMapKey: at most 253 characters of `[-._a-zA-Z0-9]`, neither `.` nor starting with `..`."""
    errs = [max_len_error(253)] if len(key) > 253 else []
    if not _KEY_RE.fullmatch(key):
        errs.append(regex_error(_KEY_MSG, _KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def decoded(value: Any) -> bytes:
    """A `[]byte` value as JSON carries it (base64); b"" for what is not (strict decoding refused it already)."""
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        return b""


def _keys(values: dict[str, Any] | None, path: str) -> ErrorList:
    return ErrorList(invalid(f"{path}[{key}]", key, msg) for key in values or {} for msg in config_key_errors(key))


def validate_configmap(obj: dict[str, Any]) -> ErrorList:
    """ValidateConfigMap: metadata, the keys of `data` and `binaryData` (none in both), 1 MiB in all."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, msg) for msg in config_key_errors(key))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    errs.extend(_keys(binary, "binaryData"))
    size = sum(len(str(v).encode()) for v in data.values()) + sum(len(decoded(v)) for v in binary.values())
    if size > MAX_SIZE:
        errs.append(too_long("", "", MAX_SIZE))
    return errs


def validate_configmap_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    errs.extend(_immutable(obj, old, ("data", "binaryData")))
    errs.extend(validate_configmap(obj))
    return errs


def _immutable(obj: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...]) -> ErrorList:
    """An object stored with `immutable: true` keeps it and its data."""
    errs = ErrorList()
    if old.get("immutable"):
        if not obj.get("immutable"):
            errs.append(forbidden("immutable", _IMMUTABLE))
        errs.extend(forbidden(name, _IMMUTABLE) for name in fields if (obj.get(name) or {}) != (old.get(name) or {}))
    return errs


def validate_secret(obj: dict[str, Any]) -> ErrorList:
    """ValidateSecret: metadata, the data keys, 1 MiB of data, and what each well-known type requires."""
    meta = obj.get("metadata") or {}
    errs = validate_object_meta(meta, namespaced=True)
    data = obj.get("data") or {}
    errs.extend(_keys(data, "data"))
    if sum(len(decoded(v)) for v in data.values()) > MAX_SIZE:
        errs.append(too_long("data", "", MAX_SIZE))
    errs.extend(_typed(obj.get("type") or "", data, meta))
    return errs


def _typed(kind: str, data: dict[str, Any], meta: dict[str, Any]) -> ErrorList:
    """The keys a Secret of a well-known type must hold."""
    errs = ErrorList()
    if kind == "kubernetes.io/service-account-token":
        if not (meta.get("annotations") or {}).get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errs.append(required(f"data[{key}]"))
        elif (problem := _json_object_error(decoded(data[key]))) is not None:
            errs.append(invalid(f"data[{key}]", _REDACTED, problem))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.extend((required("data[username]"), required("data[password]")))
    elif kind == "kubernetes.io/ssh-auth":
        if not decoded(data.get("ssh-privatekey")):
            errs.append(required("data[ssh-privatekey]"))
    elif kind == "kubernetes.io/tls":
        errs.extend(required(f"data[{key}]") for key in ("tls.crt", "tls.key") if key not in data)
    return errs


def _json_object_error(raw: bytes) -> str | None:
    """What Go's json.Unmarshal into a map says of `raw`, or None when it is a JSON object (or null)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return "unexpected end of JSON input" if not raw.strip() else "invalid character in JSON input"
    if value is None or isinstance(value, dict):
        return None
    kind = {bool: "bool", str: "string", list: "array"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


def validate_secret_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    if (obj.get("type") or "") != (old.get("type") or ""):
        errs.append(invalid("type", obj.get("type") or "", FIELD_IMMUTABLE))
    errs.extend(_immutable(obj, old, ("data",)))
    errs.extend(validate_secret(obj))
    return errs
