"""Schemas shared by every kind: ObjectMeta and its parts, ObjectReference, and the resource envelope."""

from __future__ import annotations

from apiserver.schema import Array, Boolean, Free, Integer, Map, Object, Schema, String, Time, numbered

META = "io.k8s.apimachinery.pkg.apis.meta.v1."

OWNER_REFERENCE = Object(
    ref=META + "OwnerReference",
    atomic=True,
    description="OwnerReference contains enough information to let you identify an owning object.",
    required=("apiVersion", "kind", "name", "uid"),
    properties={
        "apiVersion": String(proto=5, description="API version of the referent."),
        "kind": String(proto=1, description="Kind of the referent."),
        "name": String(proto=3, description="Name of the referent."),
        "uid": String(proto=4, description="UID of the referent."),
        "controller": Boolean(proto=6, pointer=True, description="If true, this reference points to the managing controller."),
        "blockOwnerDeletion": Boolean(proto=7, pointer=True,
            description="If true, the owner cannot be deleted from storage until this reference is removed."
        ),
    },
)

MANAGED_FIELDS_ENTRY = Object(
    ref=META + "ManagedFieldsEntry",
    description="ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
    "that the fieldset applies to.",
    properties={
        "manager": String(proto=1, description="Manager is an identifier of the workflow managing these fields."),
        "operation": String(proto=2, description="Operation is the type of operation which lead to this entry: Apply or Update."),
        "apiVersion": String(proto=3, description="APIVersion defines the version of this resource that this field set applies to."),
        "time": Time(proto=4, pointer=True, description="Time is the timestamp of when the entry was last changed."),
        "fieldsType": String(proto=6, description="FieldsType is the discriminator for the fields format: only FieldsV1."),
        "fieldsV1": Free(proto=7, pointer=True, description="FieldsV1 holds the first JSON version format of the field set."),
        "subresource": String(proto=8, description="Subresource is the name of the subresource used to update the object."),
    },
)

OBJECT_META = Object(
    ref=META + "ObjectMeta",
    description="ObjectMeta is metadata that all persisted resources must have, which includes all objects "
    "users must create.",
    properties={
        "name": String(proto=1,
            description="Name must be unique within a namespace. Is required when creating resources, although "
            "some resources may allow a client to request the generation of an appropriate name automatically. "
            "Name is primarily intended for creation idempotence and configuration definition. Cannot be updated."
        ),
        "generateName": String(proto=2,
            description="GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF "
            "the Name field has not been provided."
        ),
        "namespace": String(proto=3,
            description="Namespace defines the space within which each name must be unique. Cannot be updated."
        ),
        "selfLink": String(proto=4, description="Deprecated: selfLink is a legacy read-only field that is no longer populated."),
        "uid": String(proto=5, description="UID is the unique in time and space value for this object. Read-only."),
        "resourceVersion": String(proto=6,
            description="An opaque value that represents the internal version of this object, used for optimistic "
            "concurrency, change detection, and the watch operation. Read-only."
        ),
        "generation": Integer(proto=7,
            format="int64",
            description="A sequence number representing a specific generation of the desired state. Read-only.",
        ),
        "creationTimestamp": Time(proto=8,
            description="CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is represented in RFC3339 form and is in UTC. Read-only."
        ),
        "deletionTimestamp": Time(proto=9, pointer=True,
            description="DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. "
            "Set by the server when a graceful deletion is requested. Read-only."
        ),
        "deletionGracePeriodSeconds": Integer(proto=10, pointer=True,
            format="int64",
            description="Number of seconds allowed for this object to gracefully terminate before it is removed.",
        ),
        "labels": Map(proto=11,
            values=String(),
            description="Map of string keys and values that can be used to organize and categorize (scope and "
            "select) objects.",
        ),
        "annotations": Map(proto=12,
            values=String(),
            description="Annotations is an unstructured key value map stored with a resource that may be set by "
            "external tools to store and retrieve arbitrary metadata.",
        ),
        "ownerReferences": Array(proto=13,
            items=OWNER_REFERENCE,
            list_type="map",
            map_keys=("uid",),
            merge_key="uid",
            patch_strategy="merge",
            description="List of objects depended by this object.",
        ),
        "finalizers": Array(proto=14,
            items=String(),
            list_type="set",
            patch_strategy="merge",
            description="Must be empty before the object is deleted from the registry.",
        ),
        "managedFields": Array(proto=17,
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
        "kind": String(proto=1, description="Kind of the referent."),
        "namespace": String(proto=2, description="Namespace of the referent."),
        "name": String(proto=3, description="Name of the referent."),
        "uid": String(proto=4, description="UID of the referent."),
        "apiVersion": String(proto=5, description="API version of the referent."),
        "resourceVersion": String(proto=6, description="Specific resourceVersion to which this reference is made, if any."),
        "fieldPath": String(proto=7, description="If referring to a piece of an object instead of an entire object."),
    },
)

CONDITION = Object(
    ref=META + "Condition",
    description="Condition contains details for one aspect of the current state of this API Resource.",
    required=("type", "status", "lastTransitionTime", "reason", "message"),
    always=("type", "status", "lastTransitionTime", "reason", "message"),
    properties={
        "type": String(proto=1, description="type of condition in CamelCase or in foo.example.com/CamelCase."),
        "status": String(proto=2, enum=("False", "True", "Unknown"), description="status of the condition, one of True, "
                         "False, Unknown."),
        "observedGeneration": Integer(proto=3, format="int64", description="observedGeneration represents the "
                                      ".metadata.generation that the condition was set based upon."),
        "lastTransitionTime": Time(proto=4, description="lastTransitionTime is the last time the condition transitioned from "
                                   "one status to another."),
        "reason": String(proto=5, description="reason contains a programmatic identifier indicating the reason for the "
                         "condition's last transition."),
        "message": String(proto=6, description="message is a human readable message indicating details about the "
                          "transition."),
    },
)


def conditions(item: Object, description: str, proto: int = 0) -> Array:
    """A status' conditions: a map list keyed by type (`+listType=map +listMapKey=type`)."""
    return Array(items=item, list_type="map", map_keys=("type",), merge_key="type", patch_strategy="merge",
                 description=description, proto=proto)


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
            "metadata": numbered(OBJECT_META, 1),
            **fields,
        },
    )


def creation_timestamp(obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("creationTimestamp", "")) if isinstance(meta, dict) else ""


LIST_META = Object(
    ref=META + "ListMeta",
    description="ListMeta describes metadata that synthetic resources must have, including lists.",
    properties={
        "selfLink": String(proto=1, description="Deprecated: selfLink is a legacy read-only field."),
        "resourceVersion": String(proto=2, description="String that identifies the server's internal version of "
                                  "this object."),
        "continue": String(proto=3, description="continue may be set if the user set a limit on the number of "
                           "items returned."),
        "remainingItemCount": Integer(proto=4, pointer=True, format="int64", description="The number of "
                                      "subsequent items in the list which are not included in this list response."),
    },
)

STATUS = Object(
    ref=META + "Status",
    description="Status is a return value for calls that don't return other objects.",
    properties={
        "metadata": numbered(LIST_META, 1),
        "status": String(proto=2, description="Status of the operation. One of: \"Success\" or \"Failure\"."),
        "message": String(proto=3, description="A human-readable description of the status of this operation."),
        "reason": String(proto=4, description="A machine-readable description of why this operation is in the "
                         "\"Failure\" status."),
        "details": Object(
            proto=5,
            pointer=True,
            ref=META + "StatusDetails",
            description="Extended data associated with the reason.",
            properties={
                "name": String(proto=1, description="The name attribute of the resource associated with the status."),
                "group": String(proto=2, description="The group attribute of the resource associated with the status."),
                "kind": String(proto=3, description="The kind attribute of the resource associated with the status."),
                "uid": String(proto=6, description="UID of the resource."),
                "causes": Array(proto=4, description="The Causes array includes more details associated with the "
                                "failure.", items=Object(
                                    ref=META + "StatusCause",
                                    description="StatusCause provides more information about an api.Status failure.",
                                    properties={
                                        "reason": String(proto=1, description="A machine-readable description of "
                                                         "the cause of the error."),
                                        "message": String(proto=2, description="A human-readable description of "
                                                          "the cause of the error."),
                                        "field": String(proto=3, description="The field of the resource that has "
                                                        "caused this error."),
                                    })),
                "retryAfterSeconds": Integer(proto=5, description="If specified, the time in seconds before the "
                                             "operation should be retried."),
            },
        ),
        "code": Integer(proto=6, description="Suggested HTTP return code for this status, 0 if not set."),
    },
)

DELETE_OPTIONS = Object(
    ref=META + "DeleteOptions",
    description="DeleteOptions may be provided when deleting an API object.",
    properties={
        "gracePeriodSeconds": Integer(proto=1, pointer=True, format="int64", description="The duration in seconds "
                                      "before the object should be deleted."),
        "preconditions": Object(
            proto=2,
            pointer=True,
            ref=META + "Preconditions",
            description="Must be fulfilled before a deletion is carried out.",
            properties={
                "uid": String(proto=1, pointer=True, description="Specifies the target UID."),
                "resourceVersion": String(proto=2, pointer=True, description="Specifies the target ResourceVersion"),
            },
        ),
        "orphanDependents": Boolean(proto=3, pointer=True, description="Deprecated: please use the "
                                    "PropagationPolicy."),
        "propagationPolicy": String(proto=4, pointer=True, description="Whether and how garbage collection will be "
                                    "performed."),
        "dryRun": Array(proto=5, items=String(), description="When present, indicates that modifications should not "
                        "be persisted."),
        "ignoreStoreReadErrorWithClusterBreakingPotential": Boolean(
            proto=6, pointer=True, description="if set to true, it will trigger an unsafe deletion of the resource."),
    },
)


def list_of(item: Object, ref: str) -> Object:
    """The schema of a list kind: ListMeta and the items (numbered as every generated `<Kind>List` numbers them)."""
    return Object(ref=ref, description=f"A list of {item.ref.rsplit('.', 1)[-1]} objects.", properties={
        "apiVersion": String(), "kind": String(), "metadata": numbered(LIST_META, 1),
        "items": Array(proto=2, items=item)})
