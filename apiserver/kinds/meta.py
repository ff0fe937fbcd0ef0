"""Schemas shared by every kind: ObjectMeta and its parts, ObjectReference, and the resource envelope."""

from __future__ import annotations

from apiserver.schema import Array, Boolean, Free, Integer, Map, Object, Schema, String, Time

META = "io.k8s.apimachinery.pkg.apis.meta.v1."

OWNER_REFERENCE = Object(
    ref=META + "OwnerReference",
    atomic=True,
    description="OwnerReference contains enough information to let you identify an owning object.",
    required=("apiVersion", "kind", "name", "uid"),
    properties={
        "apiVersion": String(description="API version of the referent."),
        "kind": String(description="Kind of the referent."),
        "name": String(description="Name of the referent."),
        "uid": String(description="UID of the referent."),
        "controller": Boolean(description="If true, this reference points to the managing controller."),
        "blockOwnerDeletion": Boolean(
            description="If true, the owner cannot be deleted from storage until this reference is removed."
        ),
    },
)

MANAGED_FIELDS_ENTRY = Object(
    ref=META + "ManagedFieldsEntry",
    description="ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
    "that the fieldset applies to.",
    properties={
        "manager": String(description="Manager is an identifier of the workflow managing these fields."),
        "operation": String(description="Operation is the type of operation which lead to this entry: Apply or Update."),
        "apiVersion": String(description="APIVersion defines the version of this resource that this field set applies to."),
        "time": Time(description="Time is the timestamp of when the entry was last changed."),
        "fieldsType": String(description="FieldsType is the discriminator for the fields format: only FieldsV1."),
        "fieldsV1": Free(description="FieldsV1 holds the first JSON version format of the field set."),
        "subresource": String(description="Subresource is the name of the subresource used to update the object."),
    },
)

OBJECT_META = Object(
    ref=META + "ObjectMeta",
    description="ObjectMeta is metadata that all persisted resources must have, which includes all objects "
    "users must create.",
    properties={
        "name": String(
            description="Name must be unique within a namespace. Is required when creating resources, although "
            "some resources may allow a client to request the generation of an appropriate name automatically. "
            "Name is primarily intended for creation idempotence and configuration definition. Cannot be updated."
        ),
        "generateName": String(
            description="GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF "
            "the Name field has not been provided."
        ),
        "namespace": String(
            description="Namespace defines the space within which each name must be unique. Cannot be updated."
        ),
        "selfLink": String(description="Deprecated: selfLink is a legacy read-only field that is no longer populated."),
        "uid": String(description="UID is the unique in time and space value for this object. Read-only."),
        "resourceVersion": String(
            description="An opaque value that represents the internal version of this object, used for optimistic "
            "concurrency, change detection, and the watch operation. Read-only."
        ),
        "generation": Integer(
            format="int64",
            description="A sequence number representing a specific generation of the desired state. Read-only.",
        ),
        "creationTimestamp": Time(
            description="CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is represented in RFC3339 form and is in UTC. Read-only."
        ),
        "deletionTimestamp": Time(
            description="DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. "
            "Set by the server when a graceful deletion is requested. Read-only."
        ),
        "deletionGracePeriodSeconds": Integer(
            format="int64",
            description="Number of seconds allowed for this object to gracefully terminate before it is removed.",
        ),
        "labels": Map(
            values=String(),
            description="Map of string keys and values that can be used to organize and categorize (scope and "
            "select) objects.",
        ),
        "annotations": Map(
            values=String(),
            description="Annotations is an unstructured key value map stored with a resource that may be set by "
            "external tools to store and retrieve arbitrary metadata.",
        ),
        "ownerReferences": Array(
            items=OWNER_REFERENCE,
            list_type="map",
            map_keys=("uid",),
            merge_key="uid",
            patch_strategy="merge",
            description="List of objects depended by this object.",
        ),
        "finalizers": Array(
            items=String(),
            list_type="set",
            patch_strategy="merge",
            description="Must be empty before the object is deleted from the registry.",
        ),
        "managedFields": Array(
            items=MANAGED_FIELDS_ENTRY,
            description="ManagedFields maps workflow-id and version to the set of fields that are managed by that "
            "workflow.",
        ),
    },
)

OBJECT_REFERENCE = Object(
    ref="io.k8s.api.core.v1.ObjectReference",
    atomic=True,
    description="ObjectReference contains enough information to let you inspect or modify the referred object.",
    properties={
        "kind": String(description="Kind of the referent."),
        "namespace": String(description="Namespace of the referent."),
        "name": String(description="Name of the referent."),
        "uid": String(description="UID of the referent."),
        "apiVersion": String(description="API version of the referent."),
        "resourceVersion": String(description="Specific resourceVersion to which this reference is made, if any."),
        "fieldPath": String(description="If referring to a piece of an object instead of an entire object."),
    },
)

CONDITION = Object(
    ref=META + "Condition",
    description="Condition contains details for one aspect of the current state of this API Resource.",
    required=("type", "status", "lastTransitionTime", "reason", "message"),
    always=("type", "status", "lastTransitionTime", "reason", "message"),
    properties={
        "type": String(description="type of condition in CamelCase or in foo.example.com/CamelCase."),
        "status": String(enum=("False", "True", "Unknown"), description="status of the condition, one of True, "
                         "False, Unknown."),
        "observedGeneration": Integer(format="int64", description="observedGeneration represents the "
                                      ".metadata.generation that the condition was set based upon."),
        "lastTransitionTime": Time(description="lastTransitionTime is the last time the condition transitioned from "
                                   "one status to another."),
        "reason": String(description="reason contains a programmatic identifier indicating the reason for the "
                         "condition's last transition."),
        "message": String(description="message is a human readable message indicating details about the "
                          "transition."),
    },
)


def conditions(item: Object, description: str) -> Array:
    """A status' conditions: a map list keyed by type (`+listType=map +listMapKey=type`)."""
    return Array(items=item, list_type="map", map_keys=("type",), merge_key="type", patch_strategy="merge",
                 description=description)


def resource(ref: str, description: str, required: tuple[str, ...] = (), always: tuple[str, ...] = (),
             **fields: Schema) -> Object:
    """The top-level schema of a kind: apiVersion, kind and metadata, then the kind's own fields.

    metadata and struct fields (spec, status) are always serialised, as are the fields named in `always`."""
    return Object(
        ref=ref,
        description=description,
        required=required,
        always=("metadata", *(name for name, node in fields.items() if isinstance(node, Object)), *always),
        properties={
            "apiVersion": String(
                description="APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": String(description="Kind is a string value representing the REST resource this object represents."),
            "metadata": OBJECT_META,
            **fields,
        },
    )


def creation_timestamp(obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("creationTimestamp", "")) if isinstance(meta, dict) else ""
