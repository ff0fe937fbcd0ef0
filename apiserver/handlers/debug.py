"""/debug/watches: every open watch with its meters, and closed watches in aggregate, per resource."""

from __future__ import annotations

from aiohttp import web

from apiserver.state import REGISTRIES


async def watches(request: web.Request) -> web.Response:
    registries = request.app[REGISTRIES].values()
    opened = [w for r in registries for w in r.cacher.hub.debug()]
    closed = {"count": 0, "events": 0, "bytes": 0, "terminated": 0}
    by_resource = {}
    for registry in registries:
        meters = registry.cacher.meters
        by_resource[registry.kind.resource_key] = {**meters.closed, "open": len(registry.cacher.hub),
                                             "eventsSent": meters.events_sent, "bytesSent": meters.bytes_sent}
        for key, value in meters.closed.items():
            closed[key] += value
    return web.json_response({"open": opened, "closed": closed, "resources": by_resource})


def setup(app: web.Application) -> None:
    app.router.add_get("/debug/watches", watches)
