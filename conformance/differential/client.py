"""A server under test as (base URL, headers, TLS verification), and the HTTP exchanges the runner makes with it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from yarl import URL

from apiserver.protobuf import envelope
from conformance.differential.protobuf import Protobuf

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/strategic-merge-patch+json",
              "application/json-patch+json")


@dataclass(frozen=True)
class Target:
    """Where a server listens and how to reach it: `headers` carry e.g. `Authorization: Bearer ...`."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    verify_tls: bool = False

    def session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=self.verify_tls, limit=20)
        headers = {"User-Agent": "differential/v1", **self.headers}
        return aiohttp.ClientSession(self.url, headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60, sock_read=30))


@dataclass
class Answer:
    """What came back: status, the headers compared, and the parsed body (JSON, YAML, text or watch events)."""

    status: int
    content_type: str
    warnings: list[str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def encode_body(body: Any, content_type: str) -> bytes:
    if content_type.startswith(envelope.MEDIA_TYPE):
        return envelope.encode(body)
    if "yaml" in content_type and "apply-patch" not in content_type:
        text: str = yaml.safe_dump(body, sort_keys=False)
        return text.encode()
    return json.dumps(body).encode()


def parse_body(data: bytes, content_type: str) -> Any:
    """YAML when the type says so, else JSON whatever the type (some answers are JSON sent as text/plain), else a
    watch stream read whole (one JSON document per line), else the text. Protobuf is kept as its bytes (a watch
    stream as its frames), for the run's normaliser to read (`conformance.differential.protobuf`)."""
    if content_type == envelope.WATCH_MEDIA_TYPE:
        return [Protobuf(frame, frame=True) for frame in watch_frames(data)]
    if content_type.startswith(envelope.MEDIA_TYPE) and data.startswith(envelope.PREFIX):
        return Protobuf(data)
    text = data.decode("utf-8", "replace")
    if not text.strip():
        return None
    try:
        return yaml.safe_load(text) if "yaml" in content_type else json.loads(text)
    except (ValueError, yaml.YAMLError):
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return text.strip()


def watch_frames(data: bytes) -> list[bytes]:
    """The frames of a protobuf watch stream read whole: each led by its length (4 bytes, big-endian)."""
    frames = []
    while len(data) >= 4:
        size = int.from_bytes(data[:4], "big")
        frames.append(data[4:4 + size])
        data = data[4 + size:]
    return frames


def warnings_of(response: aiohttp.ClientResponse) -> list[str]:
    """The texts of the `Warning: 299 - "text"` headers."""
    texts = []
    for value in response.headers.getall("Warning", []):
        _, _, rest = value.partition(" ")
        _, _, quoted = rest.partition(" ")
        try:
            texts.append(json.loads(quoted) if quoted.startswith('"') else quoted)
        except ValueError:
            texts.append(quoted)
    return texts


def build_url(path: str, query: dict[str, Any]) -> URL:
    if query:
        path += ("&" if "?" in path else "?") + urlencode({k: str(v).lower() if isinstance(v, bool) else v
                                                           for k, v in query.items()})
    return URL(path, encoded=True)


async def send(session: aiohttp.ClientSession, method: str, path: str, query: dict[str, Any],
               headers: dict[str, str], body: bytes | None) -> aiohttp.ClientResponse:
    skip = {"Content-Type"} if body is not None and "Content-Type" not in headers else set()
    return await session.request(method, build_url(path, query), headers=headers, data=body,
                                 skip_auto_headers=skip)


def answer_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: response.headers[k] for k in ("Content-Type", "Retry-After") if k in response.headers}


async def exchange(session: aiohttp.ClientSession, method: str, path: str, query: dict[str, Any],
                   headers: dict[str, str], body: bytes | None, timeout: float = 20.0) -> Answer:
    """One request and its whole answer; an answer that does not end within `timeout` s (a watch the server
    started where it should have refused) is recorded as such."""
    async with await send(session, method, path, query, headers, body) as response:
        content_type = response.headers.get("Content-Type", "")
        try:
            parsed = parse_body(await asyncio.wait_for(response.read(), timeout), content_type)
        except TimeoutError:
            parsed = f"<the answer did not end within {timeout:g} s>"
        return Answer(response.status, content_type, warnings_of(response), parsed, answer_headers(response))


class Stream:
    """A watch read in the background: its answer's head at once, its events as they come."""

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.events: list[Any] = []
        self.ended = False
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    async def open(self, session: aiohttp.ClientSession, method: str, path: str, query: dict[str, Any],
                   headers: dict[str, str]) -> None:
        self.task = asyncio.create_task(self._read(session, method, path, query, headers))
        opened = asyncio.create_task(self._opened.wait())
        await asyncio.wait({opened, self.task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        opened.cancel()

    async def _read(self, session: aiohttp.ClientSession, method: str, path: str, query: dict[str, Any],
                    headers: dict[str, str]) -> None:
        try:
            async with await send(session, method, path, query, headers, None) as response:
                content_type = response.headers.get("Content-Type", "")
                self.answer = Answer(response.status, content_type, warnings_of(response), None,
                                     answer_headers(response))
                if response.status != 200:
                    self.answer.body = parse_body(await response.read(), content_type)
                    return
                self._opened.set()
                if content_type == envelope.WATCH_MEDIA_TYPE:
                    await self._read_frames(response)
                    return
                while True:
                    line = await response.content.readline()
                    if not line:
                        return
                    if line.strip():
                        self.events.append(parse_body(line, "application/json"))
                        self.arrived.set()
        except (TimeoutError, aiohttp.ClientError) as err:
            if self.answer is None:
                self.answer = Answer(0, "", [], f"connection failed: {type(err).__name__}")
        finally:
            self.ended = True
            self._opened.set()
            self.arrived.set()

    async def _read_frames(self, response: aiohttp.ClientResponse) -> None:
        """A protobuf watch: frames led by their 4-byte length, each a WatchEvent, kept as its bytes."""
        try:
            while True:
                size = int.from_bytes(await response.content.readexactly(4), "big")
                self.events.append(Protobuf(await response.content.readexactly(size), frame=True))
                self.arrived.set()
        except asyncio.IncompleteReadError:
            return

    async def collect(self, count: int, until: str, timeout: float) -> Answer:
        """Wait for `count` events, or the `until` marker, or the end of the stream, at most `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ended and not self._done(count, until):
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                break
        await self.close()
        answer = self.answer or Answer(0, "", [], "no answer")
        if answer.status == 200:
            answer.body = self.first(count)
        return answer

    def first(self, count: int) -> list[Any]:
        """The events up to the `count`th that is not a bookmark (all when `count` is 0): later ones may or may
        not have arrived by the time the count was reached."""
        if not count:
            return list(self.events)
        taken, seen = [], 0
        for event in self.events:
            taken.append(event)
            seen += not is_bookmark(event)
            if seen == count:
                break
        return taken

    def _done(self, count: int, until: str) -> bool:
        if until == "initial-events-end":
            return any(is_initial_events_end(e) for e in self.events)
        return bool(count) and len([e for e in self.events if not is_bookmark(e)]) >= count

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass


def is_bookmark(event: Any) -> bool:
    if isinstance(event, Protobuf):
        return event.is_bookmark()
    return isinstance(event, dict) and event.get("type") == "BOOKMARK"


def is_initial_events_end(event: Any) -> bool:
    if isinstance(event, Protobuf):
        return event.is_initial_events_end()
    if not is_bookmark(event):
        return False
    annotations = ((event.get("object") or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get("k8s.io/initial-events-end") == "true"
