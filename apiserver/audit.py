"""Auditing as kube-apiserver's with `--audit-log-path` and a policy of one Metadata-level rule: every request authenticated (or anonymous)
writes an audit.k8s.io/v1 Event at RequestReceived, ResponseStarted (long-running ones: watches) and
ResponseComplete (who, what, from where, the authorizer's
decision and the response's status; no bodies), one JSON a line, the file rotated past `--audit-log-maxsize`
megabytes as upstream's log backend (lumberjack) does. A response not yet started carries its `Audit-Id`."""

from __future__ import annotations

import datetime
import logging
import os
import uuid
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from apiserver import errors
from apiserver.authentication.filter import USER, user_of
from apiserver.authorization.request_info import attributes
from apiserver.config import Config
from apiserver.filters.longrunning import classify

log = logging.getLogger(__name__)
AUDIT_ID = "Audit-Id"
DECISION: web.RequestKey[tuple[str, str]] = web.RequestKey("authorization decision", tuple)
STARTED: web.RequestKey[dict[str, Any]] = web.RequestKey("audit event of a long-running request", dict)
MEGABYTE = 1024 * 1024
Event = dict[str, Any]


def timestamp(when: datetime.datetime) -> str:
    """metav1.MicroTime's JSON: RFC 3339 with microseconds, UTC."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"), ("\u2028".encode(), b"\\u2028"),
              ("\u2029".encode(), b"\\u2029"))


def go_escaped(data: bytes) -> bytes:
    """JSON as Go's encoding/json writes it: <, >, & and the line and paragraph separators escaped (they occur only
    in strings, so replacing the bytes is enough)."""
    for raw, escaped in GO_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


class AuditLog:
    """The log file, appended to line by line (blocking, as upstream's default `--audit-log-mode`), rotated to
    `<name>-<time><ext>` when a line would take it past `max_bytes`, the oldest rotated files beyond `backups`
    removed."""

    def __init__(self, path: str, max_megabytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = (max_megabytes or 100) * MEGABYTE
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file: IO[bytes] = open(self.path, "ab")  # noqa: SIM115  (kept open for the server's lifetime)
        self.size = self.file.tell()

    def write(self, event: Event) -> None:
        line = go_escaped(orjson.dumps(event)) + b"\n"
        if self.size and self.size + len(line) > self.max_bytes:
            self.rotate()
        self.file.write(line)
        self.file.flush()
        self.size += len(line)

    def rotate(self) -> None:
        self.file.close()
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        os.replace(self.path, self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}"))
        if self.backups:
            rotated = sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"))
            for old in rotated[:-self.backups]:
                old.unlink(missing_ok=True)
        self.file = open(self.path, "ab")  # noqa: SIM115
        self.size = 0

    def close(self) -> None:
        self.file.close()


def new_event(request: web.Request, audit_id: str, received: datetime.datetime) -> Event:
    """The RequestReceived event of a request (upstream's NewEventFromRequest at Metadata level)."""
    asked = attributes(user_of(request), request.method, request.path, request.query)
    event: Event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                    "stage": "RequestReceived", "requestURI": request.path_qs, "verb": asked.verb,
                    "user": asked.user.to_dict(), "sourceIPs": [request.remote or ""]}
    if request.headers.get("User-Agent"):
        event["userAgent"] = request.headers["User-Agent"]
    if asked.resource_request:
        ref = {"resource": asked.resource, "namespace": asked.namespace, "name": asked.name,
               "apiGroup": asked.api_group, "apiVersion": asked.api_version, "subresource": asked.subresource}
        event["objectRef"] = {k: v for k, v in ref.items() if v}
    event["requestReceivedTimestamp"] = event["stageTimestamp"] = timestamp(received)
    return event


def response_status(code: int, body: bytes | None) -> Event:
    """The bounded fields of the response's Status (status, message, reason, details, code), or the code alone."""
    status: Event = {"metadata": {}, "code": code}
    if code >= 400 and body:
        try:
            sent = orjson.loads(body)
        except orjson.JSONDecodeError:
            return status
        if isinstance(sent, dict) and sent.get("kind") == "Status":
            status.update({k: sent[k] for k in ("status", "message", "reason", "details") if k in sent})
            status["code"] = code
    return status


def with_audit(audit_log: AuditLog) -> Middleware:
    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        audit_id = str(uuid.uuid4())
        event = new_event(request, audit_id, datetime.datetime.now(datetime.UTC))
        audit_log.write(event)
        if classify(request).long_running:
            request[STARTED] = event
        try:
            response = await handler(request)
        except errors.StatusError as err:
            complete(audit_log, request, event, response_status(err.code, orjson.dumps(err.to_status())))
            raise
        except web.HTTPException as err:
            complete(audit_log, request, event, response_status(err.status, None))
            raise
        if not response.prepared:
            response.headers[AUDIT_ID] = audit_id
        body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else None
        complete(audit_log, request, event, response_status(response.status, body))
        return response

    return audit


def complete(audit_log: AuditLog, request: web.Request, event: Event, status: Event,
             stage: str = "ResponseComplete") -> None:
    """The ResponseComplete (or a long-running request's ResponseStarted) event: the RequestReceived one with the
    response status and the authorizer's word."""
    decision, reason = request.get(DECISION, ("allow", ""))
    done = {key: value for key, value in event.items() if not key.endswith("Timestamp")}
    done.update(stage=stage, responseStatus=status,
                requestReceivedTimestamp=event["requestReceivedTimestamp"],
                stageTimestamp=timestamp(datetime.datetime.now(datetime.UTC)))
    done["annotations"] = {"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": reason}
    audit_log.write(done)


def with_failed_authentication_audit(audit_log: AuditLog) -> Middleware:
    """Before authentication: a request it refuses (401) is one ResponseStarted event without a user, as upstream's
    WithFailedAuthenticationAudit writes it."""
    @web.middleware
    async def audit_failure(request: web.Request, handler: Handler) -> web.StreamResponse:
        received = datetime.datetime.now(datetime.UTC)
        try:
            return await handler(request)
        except errors.StatusError as err:
            if err.code == 401 and USER not in request:
                event = new_event(request, str(uuid.uuid4()), received)
                event["user"] = {}
                event.pop("stageTimestamp")
                event.update(stage="ResponseStarted",
                             responseStatus=response_status(err.code, orjson.dumps(err.to_status())),
                             requestReceivedTimestamp=event.pop("requestReceivedTimestamp"),
                             stageTimestamp=timestamp(datetime.datetime.now(datetime.UTC)))
                audit_log.write(event)
            raise

    return audit_failure


def setup(app: web.Application, config: Config) -> AuditLog | None:
    """The audit log of `--audit-log-path` (None without one), closed with the app; the filters install its
    middlewares (`with_failed_authentication_audit` before authentication, `with_audit` after it)."""
    if not config.audit_log_path:
        return None
    audit_log = AuditLog(config.audit_log_path, config.audit_log_maxsize, config.audit_log_maxbackup)

    async def close(app: web.Application) -> None:
        audit_log.close()
    async def started(request: web.Request, response: web.StreamResponse) -> None:
        """A long-running request's ResponseStarted, as its headers go out."""
        event = request.pop(STARTED, None)
        if event is not None:
            complete(audit_log, request, event, {"metadata": {}, "code": response.status}, "ResponseStarted")
            response.headers[AUDIT_ID] = event["auditID"]
    app.on_cleanup.append(close)
    app.on_response_prepare.append(started)
    return audit_log
