"""serviceaccounts/token: a TokenRequest, answered with a token for the service account (upstream's TokenREST).

The request is decoded and defaulted (an hour's validity), its managedFields recorded as the field manager saw
it, then the account must exist (404 before any validation error), the validity be between ten minutes and 2^32
seconds; the audiences default to the server's own (its URL, the issuer). Nothing is stored.
"""

from __future__ import annotations

import time

from apiserver import errors
from apiserver.authentication.serviceaccount import ServiceAccountTokens
from apiserver.kinds.base import Obj
from apiserver.kinds.upstream import definition
from apiserver.managedfields import update_managed_fields
from apiserver.options import WriteOptions
from apiserver.registry import Registry, now
from apiserver.subresources.body import decode_subresource_body
from apiserver.validation.field import ErrorList, invalid

TOKEN_REQUEST = definition("io.k8s.api.authentication.v1.TokenRequest")
API_VERSION = "authentication.k8s.io/v1"
DEFAULT_SECONDS = 3600
MIN_SECONDS = 600


def validate_token_request(request: Obj) -> ErrorList:
    """ValidateTokenRequest: between ten minutes and 2^32 seconds of validity."""
    seconds = (request.get("spec") or {}).get("expirationSeconds") or 0
    errs = ErrorList()
    if seconds < MIN_SECONDS:
        errs.append(invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"))
    if seconds > 1 << 32:
        errs.append(invalid("spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"))
    return errs


async def request_token(accounts: Registry, tokens: ServiceAccountTokens, namespace: str, name: str, body: object,
                        opts: WriteOptions) -> Obj:
    """The TokenRequest `body` for the service account `namespace/name`, answered."""
    request = decode_subresource_body(body, TOKEN_REQUEST, "TokenRequest", (API_VERSION,), opts)
    spec = request.setdefault("spec", {})
    if spec.get("expirationSeconds") is None:
        spec["expirationSeconds"] = DEFAULT_SECONDS
    meta = request["metadata"]
    if opts.field_manager:
        update_managed_fields(request, None, opts.field_manager, API_VERSION, TOKEN_REQUEST, now(), "token")
    account = await accounts.get(namespace, name)
    errs = validate_token_request(request)
    if errs:
        raise errors.StatusError(
            422, "Invalid", f'TokenRequest.authentication.k8s.io "{meta.get("name", "")}" is invalid: '
            f"{errs.aggregate()}", {**({"name": meta["name"]} if meta.get("name") else {}),
                                   "group": "authentication.k8s.io", "kind": "TokenRequest", "causes": errs.causes()})
    if meta.get("name") and meta["name"] != name:
        raise errors.bad_request("name in URL does not match name in TokenRequest object")
    audiences = spec.get("audiences") or [tokens.issuer]
    token, expires = tokens.issue(namespace, name, account["metadata"]["uid"], audiences, spec["expirationSeconds"])
    shown_meta = {"name": name, "namespace": namespace, "creationTimestamp": now(),
                  **({"managedFields": meta["managedFields"]} if meta.get("managedFields") else {})}
    return {"kind": "TokenRequest", "apiVersion": API_VERSION, "metadata": shown_meta,
            "spec": {"audiences": audiences, "expirationSeconds": spec["expirationSeconds"],
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token,
                       "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))}}
