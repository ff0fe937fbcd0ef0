"""`authorization.k8s.io/v1` access reviews, answered by the server's own authorizer and stored nowhere (upstream's
registry/authorization): SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview (`can-i --list`)
and SubjectAccessReview, which asks about another user and is authorized as any create."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from apiserver import errors
from apiserver.authentication.filter import user_of
from apiserver.authentication.user import UserInfo
from apiserver.authorization.authorizer import AnyAuthorizer, Attributes, Decision, Union, authorize
from apiserver.handlers import negotiation, rest
from apiserver.kinds.upstream import definition
from apiserver.protobuf import envelope
from apiserver.protobuf.message import message
from apiserver.protobuf.values import ProtobufError
from apiserver.schema import Object, Schema
from apiserver.validation.field import ErrorList, Pointer, invalid

GROUP_VERSION = "authorization.k8s.io/v1"
TYPES = "io.k8s.api.authorization.v1."
Obj = dict[str, Any]
ALL_RULES: tuple[list[Obj], list[Obj]] = ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                                          [{"verbs": ["*"], "nonResourceURLs": ["*"]}])


async def read_review(request: web.Request, kind: str) -> Obj:
    """The review of the request's body, JSON, YAML or protobuf (kubectl's typed client sends protobuf)."""
    if negotiation.media_type(request) == envelope.MEDIA_TYPE:
        try:
            api_version, sent_kind, raw = envelope.unwrap(await rest.read_body(request))
        except ProtobufError as err:
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): {err}") from None
        obj: Obj = {"kind": sent_kind, "apiVersion": api_version,
                    **message(definition(TYPES + kind)).decode(raw, 0, len(raw))}
    else:
        parsed = await rest.read_parsed_body(request, kind)
        obj = parsed if isinstance(parsed, dict) else {}
    obj["kind"], obj["apiVersion"] = obj.get("kind") or kind, obj.get("apiVersion") or GROUP_VERSION
    if obj["kind"] != kind or obj["apiVersion"] != GROUP_VERSION:
        version = str(obj["apiVersion"]).rsplit("/", 1)[-1]
        raise errors.bad_request(f'{obj["kind"]} in version "{version}" cannot be handled as a {kind}: converting '
                                 f'({version}.{obj["kind"]}) to (authorization.{kind}): unknown conversion')
    obj.setdefault("metadata", {})
    obj.setdefault("spec", {})
    return obj


def validate_attributes(spec: Obj) -> ErrorList:
    """Exactly one of resourceAttributes and nonResourceAttributes (ValidateSubjectAccessReviewSpec)."""
    errs = ErrorList()
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        errs.append(invalid("spec.nonResourceAttributes", Pointer(non_resource),
                            "cannot be specified in combination with resourceAttributes"))
    if resource is None and non_resource is None:  # upstream names the (nil) nonResourceAttributes as the value
        errs.append(invalid("spec.resourceAttributes", "null",
                            "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
    return errs


def attributes_of(user: UserInfo, spec: Obj) -> Attributes:
    resource = spec.get("resourceAttributes")
    if resource is not None:
        return Attributes(user, resource.get("verb", ""), "", True, resource.get("group", ""),
                          resource.get("version", ""), resource.get("namespace", ""), resource.get("resource", ""),
                          resource.get("subresource", ""), resource.get("name", ""))
    non_resource = spec.get("nonResourceAttributes") or {}
    return Attributes(user, non_resource.get("verb", ""), non_resource.get("path", ""))


async def decide(authorizer: AnyAuthorizer | None, asked: Attributes) -> Obj:
    """The review's status: allowed, denied (by an authorizer that denies, not one without an opinion), reason."""
    decision, reason = (Decision.ALLOW, "") if authorizer is None else await authorize(authorizer, asked)
    status: Obj = {"allowed": decision is Decision.ALLOW}
    if decision is Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def rules_of(authorizer: AnyAuthorizer | None, user: UserInfo, namespace: str) -> Obj:
    """SubjectRulesReviewStatus: every rule the authorizers that list rules give the user in `namespace`."""
    if authorizer is None:
        resource_rules, non_resource_rules = ALL_RULES
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}
    resource_rules, non_resource_rules, failures = [], [], []
    incomplete = False
    for member in authorizer.authorizers if isinstance(authorizer, Union) else (authorizer,):
        rules_for = getattr(member, "rules_for", None)
        if rules_for is None:
            continue
        rules, found_errors = rules_for(user, namespace)
        failures += found_errors
        for rule in rules:
            if rule.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": rule["verbs"], "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                resource_rules.append({k: rule[k] for k in ("verbs", "apiGroups", "resources", "resourceNames")
                                       if rule.get(k) or k == "verbs"})
    status: Obj = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                   "incomplete": incomplete or bool(failures)}
    if failures:
        status["evaluationError"] = failures[0] if len(failures) == 1 else f"[{', '.join(failures)}]"
    return status


def _invalid(errs: ErrorList) -> errors.StatusError:
    """422 `.authorization.k8s.io "" is invalid: …`: upstream names the review by its TypeMeta, empty once decoded,
    and by its name, which it has none of."""
    details = {"group": "authorization.k8s.io", "causes": errs.causes()}
    return errors.StatusError(422, "Invalid", f'.authorization.k8s.io "" is invalid: {errs.aggregate()}', details)


def answered(review: Obj, status: Obj) -> Obj:
    """The review as upstream writes it back: TypeMeta, metadata, spec, then the status."""
    spec = definition(TYPES + review["kind"]).properties["spec"]
    return {"kind": review["kind"], "apiVersion": review["apiVersion"], "metadata": review["metadata"],
            "spec": in_go_order(review["spec"], spec), "status": status}


def in_go_order(value: Any, node: Schema) -> Any:
    """`value` with the keys of its objects in the order of the Go struct's fields, as Go writes it back."""
    if not isinstance(value, dict) or not isinstance(node, Object):
        return value
    known = [key for key in node.properties if key in value]
    return {**{key: in_go_order(value[key], node.properties[key]) for key in known},
            **{key: item for key, item in value.items() if key not in node.properties}}


def handlers(authorizer: AnyAuthorizer | None) -> dict[str, Callable[[web.Request], Any]]:
    async def self_subject_access_review(request: web.Request) -> web.StreamResponse:
        review = await read_review(request, "SelfSubjectAccessReview")
        errs = validate_attributes(review["spec"])
        if errs:
            raise _invalid(errs)
        status = await decide(authorizer, attributes_of(user_of(request), review["spec"]))
        return rest.respond(request, answered(review, status), 201)

    async def self_subject_rules_review(request: web.Request) -> web.StreamResponse:
        review = await read_review(request, "SelfSubjectRulesReview")
        namespace = review["spec"].get("namespace") or ""
        if not namespace:
            raise errors.bad_request("no namespace on request")
        answer = {"kind": review["kind"], "apiVersion": GROUP_VERSION, "metadata": {"creationTimestamp": None},
                  "spec": {}, "status": rules_of(authorizer, user_of(request), namespace)}
        return rest.respond(request, answer, 201)

    async def subject_access_review(request: web.Request) -> web.StreamResponse:
        review = await read_review(request, "SubjectAccessReview")
        spec = review["spec"]
        errs = validate_attributes(spec)
        if not spec.get("user") and not spec.get("groups"):
            errs.append(invalid("spec.user", spec.get("user", ""), "at least one of user or group must be specified"))
        if errs:
            raise _invalid(errs)
        user = UserInfo(spec.get("user", ""), spec.get("uid", ""), tuple(spec.get("groups") or ()),
                        {k: tuple(v) for k, v in (spec.get("extra") or {}).items()})
        return rest.respond(request, answered(review, await decide(authorizer, attributes_of(user, spec))), 201)

    return {"selfsubjectaccessreviews": self_subject_access_review,
            "selfsubjectrulesreviews": self_subject_rules_review,
            "subjectaccessreviews": subject_access_review}


def setup(app: web.Application, authorizer: AnyAuthorizer | None) -> None:
    """Serve the reviews (POST only, as upstream: any other method is 405)."""
    for plural, handler in handlers(authorizer).items():
        async def serve(request: web.Request, handler: Callable[[web.Request], Any] = handler) -> web.StreamResponse:
            if request.method != "POST":
                raise errors.method_not_allowed()
            response: web.StreamResponse = await handler(request)
            return response
        app.router.add_route("*", f"/apis/{GROUP_VERSION}/{plural}", serve)
