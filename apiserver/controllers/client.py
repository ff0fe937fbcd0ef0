"""A small Kubernetes API client over aiohttp: JSON reads, counted writes, typed failures.

Every mutating call goes through `ApiClient.write`, which records it in the caller's `CallCounts` by verb
(create, update, delete, patch) and, when the server refuses it, as a failure of that verb too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

Obj = dict[str, Any]

VERBS = {"POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}


class ApiError(Exception):
    """A Status answer from the server (or a transport failure, with code 0)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message

    def __repr__(self) -> str:
        return f"ApiError(code={self.code!r}, reason={self.reason!r}, message={self.message!r})"


@dataclass
class CallCounts:
    """Mutating API calls one controller made: `calls[verb]` counts every attempt, `failures[verb]` the refused."""

    calls: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    last_error: str = ""

    def snapshot(self) -> dict[str, Any]:
        """A plain copy: every verb present (0 when unused), the total, failures, and the last failure's message."""
        calls = {verb: self.calls[verb] for verb in VERBS.values()}
        return {**calls, "total": sum(calls.values()), "failed": sum(self.failures.values()),
                "failures": dict(self.failures), "last_error": self.last_error}

    def reset(self) -> None:
        self.calls.clear()
        self.failures.clear()
        self.last_error = ""


def status_error(code: int, body: bytes) -> ApiError:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ApiError(code, "", body[:200].decode(errors="replace"))
    if not isinstance(status, dict):
        return ApiError(code, "", "")
    return ApiError(int(status.get("code") or code), str(status.get("reason", "")), str(status.get("message", "")))


class ApiClient:
    """JSON requests against one server URL, sharing one connection pool."""

    def __init__(self, server: str, session: aiohttp.ClientSession) -> None:
        self.server = server.rstrip("/")
        self.session = session

    async def get(self, path: str, params: dict[str, str] | None = None) -> Obj:
        async with self.session.get(self.server + path, params=params,
                                    headers={"Accept": "application/json"}) as response:
            body = await response.read()
            if response.status != 200:
                raise status_error(response.status, body)
            result: Obj = orjson.loads(body)
            return result

    async def write(self, counts: CallCounts, method: str, path: str, body: Obj | None = None,
                    content_type: str = "application/json") -> Obj:
        """One mutating call, counted in `counts`; raises ApiError (counted as a failure) if refused."""
        verb = VERBS[method]
        counts.calls[verb] += 1
        data = orjson.dumps(body) if body is not None else None
        try:
            async with self.session.request(method, self.server + path, data=data, headers={
                    "Accept": "application/json", "Content-Type": content_type}) as response:
                raw = await response.read()
                if response.status >= 300:
                    raise status_error(response.status, raw)
        except aiohttp.ClientError as err:
            counts.failures[verb] += 1
            counts.last_error = f"{method} {path}: {err}"
            raise ApiError(0, "ClientError", str(err)) from err
        except ApiError as err:
            counts.failures[verb] += 1
            counts.last_error = f"{method} {path}: {err}"
            raise
        result: Obj = orjson.loads(raw) if raw else {}
        return result
