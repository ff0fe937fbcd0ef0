"""core/v1 Secret (upstream's type): base64 `data`; `stringData` is write-only, merged into `data` at decoding."""

from __future__ import annotations

import base64

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, definition
from apiserver.validation.configdata import validate_secret, validate_secret_update
from apiserver.validation.field import ErrorList

SCHEMA = definition(CORE + "Secret")


class SecretStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        """The v1 conversion merges `stringData` into `data` (its values win) and drops it; the type defaults
        to Opaque (SetDefaults_Secret)."""
        strings = obj.pop("stringData", None)
        if isinstance(strings, dict) and strings:
            data = obj.get("data")
            data = data if isinstance(data, dict) else {}
            obj["data"] = {**data, **{k: base64.b64encode(str(v).encode()).decode() for k, v in strings.items()}}
        if not obj.get("type"):
            obj["type"] = "Opaque"

    def validate(self, obj: Obj) -> ErrorList:
        return validate_secret(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_secret_update(obj, old)


SECRET = Kind(
    group="",
    version="v1",
    kind="Secret",
    plural="secrets",
    singular="secret",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/secrets",
    strategy=SecretStrategy(),
    description=SCHEMA.description,
    extra_field_selectors={"type": lambda o: o.get("type", "")},
    columns=(
        NAME,
        Column(name="Type", description=field_doc(SCHEMA, "type"), cell=lambda o: o.get("type", "")),
        Column(name="Data", description=field_doc(SCHEMA, "data"), cell=lambda o: len(o.get("data") or {})),
        AGE,
    ),
)
