"""coordination.k8s.io/v1 Lease (upstream's type): leader election and node heartbeats."""

from __future__ import annotations

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import definition
from apiserver.validation.field import ErrorList, invalid
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

SCHEMA = definition("io.k8s.api.coordination.v1.Lease")
GATED = ("strategy", "preferredHolder")  # the CoordinatedLeaderElection gate's fields, off in this release


class LeaseStrategy(Strategy):
    """A PUT may create a Lease; the gated fields are dropped unless the stored Lease has them."""

    allow_create_on_update = True

    def prepare_for_create(self, obj: Obj) -> None:
        for name in GATED:
            (obj.get("spec") or {}).pop(name, None)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        for name in GATED:
            if (old.get("spec") or {}).get(name) is None:
                (obj.get("spec") or {}).pop(name, None)

    def validate(self, obj: Obj) -> ErrorList:
        errs = validate_object_meta(obj["metadata"], namespaced=True)
        errs.extend(_validate_spec(obj.get("spec") or {}))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errs = validate_object_meta_update(obj["metadata"], old["metadata"])
        errs.extend(_validate_spec(obj.get("spec") or {}))
        return errs


def _validate_spec(spec: Obj) -> ErrorList:
    """ValidateLeaseSpec: a positive duration, no negative transition count (the gated fields never reach it)."""
    errs = ErrorList()
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if transitions is not None and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return errs


LEASE = Kind(
    group="coordination.k8s.io",
    version="v1",
    kind="Lease",
    plural="leases",
    singular="lease",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/leases",
    strategy=LeaseStrategy(),
    description=SCHEMA.description,
    columns=(
        NAME,
        Column(name="Holder", description=field_doc(SCHEMA, "spec.holderIdentity"),
               cell=lambda o: (o.get("spec") or {}).get("holderIdentity") or ""),
        AGE,
    ),
)
