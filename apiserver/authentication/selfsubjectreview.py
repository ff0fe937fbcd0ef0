"""`authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`): a create that stores nothing and answers
the requester's own user info, as upstream's selfsubjectreview REST."""

from __future__ import annotations

from aiohttp import web

from apiserver import errors
from apiserver.authentication.filter import user_of
from apiserver.handlers import negotiation, rest
from apiserver.protobuf import envelope
from apiserver.registry import now

GROUP_VERSION = "authentication.k8s.io/v1"
KIND = "SelfSubjectReview"
PATH = f"/apis/{GROUP_VERSION}/selfsubjectreviews"


async def create(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        raise errors.method_not_allowed()
    if negotiation.media_type(request) == envelope.MEDIA_TYPE:
        body = await rest.read_body(request)  # kubectl's typed client: the review's content is ignored anyway
        if not body.startswith(envelope.PREFIX):
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {KIND}): provided data "
                                     "does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    else:
        _check_kind(await rest.read_parsed_body(request, KIND))
    review = {"kind": KIND, "apiVersion": GROUP_VERSION, "metadata": {"creationTimestamp": now()},
              "status": {"userInfo": user_of(request).to_dict()}}
    return rest.respond(request, review, 201)


def _check_kind(obj: object) -> None:
    if not isinstance(obj, dict):
        return
    kind, api_version = obj.get("kind") or KIND, obj.get("apiVersion") or GROUP_VERSION
    if kind != KIND or api_version != GROUP_VERSION:
        version = str(api_version).rsplit("/", 1)[-1]
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {KIND}: converting '
                                 f"({version}.{kind}) to (authentication.{KIND}): unknown conversion")


def setup(app: web.Application) -> None:
    """Serve it (before the generic API routes, which serve only the groups of our kinds)."""
    app.router.add_route("*", PATH, create)
