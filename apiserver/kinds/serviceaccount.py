"""core/v1 ServiceAccount (upstream's type): an identity for processes in pods; its tokens are not issued here."""

from __future__ import annotations

from apiserver.kinds.base import Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, definition
from apiserver.validation.field import ErrorList
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

SCHEMA = definition(CORE + "ServiceAccount")


class ServiceAccountStrategy(Strategy):
    """DELETE answers with the deleted ServiceAccount."""

    return_deleted_object = True

    def validate(self, obj: Obj) -> ErrorList:
        return validate_object_meta(obj["metadata"], namespaced=True)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errs = validate_object_meta_update(obj["metadata"], old["metadata"])
        errs.extend(self.validate(obj))
        return errs


SERVICE_ACCOUNT = Kind(
    group="",
    version="v1",
    kind="ServiceAccount",
    plural="serviceaccounts",
    singular="serviceaccount",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/serviceaccounts",
    strategy=ServiceAccountStrategy(),
    description=SCHEMA.description,
    short_names=("sa",),
    subresources=(Subresource("token", ("create",), "TokenRequest", "authentication.k8s.io", "v1",
                              schema=definition("io.k8s.api.authentication.v1.TokenRequest")),),
    columns=(
        NAME,
        Column(name="Secrets", description=field_doc(SCHEMA, "secrets"), cell=lambda o: len(o.get("secrets") or ())),
        AGE,
    ),
)
