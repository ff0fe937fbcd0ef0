"""core/v1 ConfigMap (upstream's type): configuration data, immutable once `immutable` is set."""

from __future__ import annotations

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, definition
from apiserver.validation.configdata import validate_configmap, validate_configmap_update
from apiserver.validation.field import ErrorList

SCHEMA = definition(CORE + "ConfigMap")


class ConfigMapStrategy(Strategy):
    def validate(self, obj: Obj) -> ErrorList:
        return validate_configmap(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_configmap_update(obj, old)


CONFIGMAP = Kind(
    group="",
    version="v1",
    kind="ConfigMap",
    plural="configmaps",
    singular="configmap",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/configmaps",
    strategy=ConfigMapStrategy(),
    description=SCHEMA.description,
    short_names=("cm",),
    columns=(
        NAME,
        Column(name="Data", description=field_doc(SCHEMA, "data"),
               cell=lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        AGE,
    ),
)
