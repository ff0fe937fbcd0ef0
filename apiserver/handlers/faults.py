"""/debug/faults: fault injection over HTTP, served only with --enable-fault-injection.

    POST /debug/faults/close-watches  {"resource": "endpointslices"}          → {"closed": 3}
    POST /debug/faults/expire         {"resource": "pods"}                    → {"resourceVersions": {"pods": 812}}
    POST /debug/faults/compact        {}                                      → {"revision": 812}
    POST /debug/faults/pause          {"resource": "services", "seconds": 5}  → {"paused": ["services"]}
    POST /debug/faults/resume         {"resource": "services"}                → {"applied": 4}
    POST /debug/faults/drop-watch     {"id": 17} or {"resource": "pods"}      → {"dropped": 17}
    POST /debug/faults/fail           {"verb": "list", "resource": "pods", "code": 429, "count": 2,
                                       "retryAfterSeconds": 1}                → the armed failure
    GET /debug/faults                 → {"failures": [...], "paused": [...]}
    DELETE /debug/faults              → disarm every failure, resume every cache

Every field is optional except `seconds` and `code`; a missing resource or verb means any. Bad input is a
400 BadRequest Status, an unknown resource or watch a 404 NotFound Status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from apiserver import errors
from apiserver.faults import FAULTS, Faults

Body = dict[str, Any]


async def _close_watches(faults: Faults, body: Body) -> Body:
    return {"closed": faults.close_watches(body.get("resource"))}


async def _expire(faults: Faults, body: Body) -> Body:
    return {"resourceVersions": faults.expire(body.get("resource"))}


async def _compact(faults: Faults, body: Body) -> Body:
    return {"revision": await faults.compact()}


async def _pause(faults: Faults, body: Body) -> Body:
    if "seconds" not in body:
        raise ValueError("seconds is required")
    return {"paused": faults.pause(body.get("resource"), body["seconds"])}


async def _resume(faults: Faults, body: Body) -> Body:
    return {"applied": faults.resume(body.get("resource"))}


async def _drop_watch(faults: Faults, body: Body) -> Body:
    return {"dropped": faults.drop_watch(body.get("id"), body.get("resource"))}


async def _fail(faults: Faults, body: Body) -> Body:
    if "code" not in body:
        raise ValueError("code is required")
    return faults.fail(body.get("verb"), body.get("resource"), body["code"], body.get("count", 1),
                       body.get("retryAfterSeconds", 1)).to_dict()


Action = Callable[[Faults, Body], Awaitable[Body]]
ACTIONS: dict[str, tuple[Action, dict[str, type]]] = {
    "close-watches": (_close_watches, {"resource": str}),
    "expire": (_expire, {"resource": str}),
    "compact": (_compact, {}),
    "pause": (_pause, {"resource": str, "seconds": float}),
    "resume": (_resume, {"resource": str}),
    "drop-watch": (_drop_watch, {"id": int, "resource": str}),
    "fail": (_fail, {"verb": str, "resource": str, "code": int, "count": int, "retryAfterSeconds": int}),
}


async def _read(request: web.Request, fields: dict[str, type]) -> Body:
    """The JSON object in the body (empty: {}), every field known and of its type (a float may be an int)."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as err:
        raise errors.bad_request(f"the body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a JSON object")
    for name, value in body.items():
        expected = fields.get(name)
        if expected is None:
            raise errors.bad_request(f"unknown field {name!r} (known: {', '.join(fields) or 'none'})")
        allowed = (int, float) if expected is float else (expected,)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise errors.bad_request(f"{name} must be a {'number' if expected is float else expected.__name__}")
    return body


async def act(request: web.Request) -> web.Response:
    entry = ACTIONS.get(request.match_info["action"])
    if entry is None:
        raise errors.not_found_path()
    action, fields = entry
    body = await _read(request, fields)
    try:
        result = await action(request.app[FAULTS], body)
    except ValueError as err:
        raise errors.bad_request(str(err)) from None
    except LookupError as err:
        raise errors.StatusError(404, "NotFound", str(err), {}) from None
    return web.json_response(result)


async def armed(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS].armed())


async def reset(request: web.Request) -> web.Response:
    faults = request.app[FAULTS]
    faults.reset()
    return web.json_response(faults.armed())


def setup(app: web.Application) -> None:
    app.router.add_get("/debug/faults", armed)
    app.router.add_delete("/debug/faults", reset)
    app.router.add_post("/debug/faults/{action}", act)
