"""Replaying scenarios on two servers: fresh namespaces per scenario, steps in order, answers normalised."""

from __future__ import annotations

import asyncio
import time
import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from conformance.differential import wire
from conformance.differential.client import Answer, Stream, Target, encode_body, exchange
from conformance.differential.compare import Record, compare
from conformance.differential.normalise import Normaliser, content_type
from conformance.differential.protobuf import Protobuf, Reader
from conformance.differential.restrict import restrict, restrict_protobuf
from conformance.differential.scenario import Scenario, Step, dig, substitute

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
BYTES = "<bytes>"  # capture a protobuf answer's bytes whole, to send them back as a `pb` body


@dataclass
class Outcome:
    """A scenario's two runs compared: per compared request, the differing lines (empty: identical)."""

    scenario: Scenario
    labels: list[str] = field(default_factory=list)
    diffs: list[list[str]] = field(default_factory=list)
    records: list[tuple[Record, Record]] = field(default_factory=list)
    error: str = ""

    @property
    def identical(self) -> int:
        return sum(1 for d in self.diffs if not d)

    @property
    def same(self) -> bool:
        return not self.error and all(not d for d in self.diffs)


def new_token() -> str:
    """A run-unique token (letters first, so names built from it are valid DNS labels)."""
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(7))


class ScenarioRun:
    """One scenario on one server."""

    def __init__(self, scenario: Scenario, session: aiohttp.ClientSession) -> None:
        self.scenario = scenario
        self.session = session
        self.token = new_token()
        self.normaliser = Normaliser(self.token)
        self.variables: dict[str, Any] = {"run": self.token}
        for index in range(scenario.namespaces):
            self.variables["ns" if index == 0 else f"ns{index + 1}"] = f"dc-{self.token}-{index + 1}"
        self.streams: dict[str, tuple[Stream, Step]] = {}

    async def run(self) -> list[Record]:
        records: list[Record] = []
        try:
            for index in range(self.scenario.namespaces):
                name = self.variables["ns" if index == 0 else f"ns{index + 1}"]
                answer = await exchange(self.session, "POST", "/api/v1/namespaces", {},
                                        {"Content-Type": "application/json"},
                                        json.dumps({"metadata": {"name": name}}).encode())
                if answer.status != 201:
                    raise RuntimeError(f"creating namespace {name}: {answer.status} {answer.body}")
                self.normaliser.document(answer.body)
            for index, step in enumerate(self.scenario.steps):
                record = await self.step(index, step)
                if record is not None:
                    records.append(record)
        finally:
            for stream, _ in self.streams.values():
                await stream.close()
            await self.cleanup()
        return records

    async def step(self, index: int, step: Step) -> Record | None:
        if step.collect:
            stream, opened = self.streams.pop(step.collect)
            answer = await stream.collect(step.events, step.until, step.timeout)
            return self.record(index, step, opened, answer)
        path = substitute(step.path, self.variables)
        query = substitute(step.query, self.variables)
        headers = substitute(step.headers, self.variables)
        if step.watch:
            stream = Stream()
            await stream.open(self.session, step.method, path, query, headers)
            self.streams[step.watch] = (stream, step)
            return None
        answer = await exchange(self.session, step.method, path, query, headers, self.body(step, headers))
        deadline = time.monotonic() + step.timeout
        while step.wait_for and answer.status != step.wait_for and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            answer = await exchange(self.session, step.method, path, query, headers, self.body(step, headers))
        for variable, where in step.capture.items():
            whole = where == BYTES and isinstance(answer.body, Protobuf)
            self.variables[variable] = answer.body.data if whole else dig(answer.body, where)
        return self.record(index, step, step, answer)

    def body(self, step: Step, headers: dict[str, str]) -> bytes | None:
        data = self.encode(step, headers)
        if data is not None:
            self.normaliser.learn_uids(data.decode("utf-8", "replace"))
        return data

    def encode(self, step: Step, headers: dict[str, str]) -> bytes | None:
        if step.raw is not None:
            return str(substitute(step.raw, self.variables)).encode()
        if step.pad:
            return json.dumps({"padding": "x" * step.pad}).encode()
        if step.pb is not None:
            headers.setdefault("Content-Type", wire.MEDIA_TYPE)
            pb = substitute(step.pb, self.variables)
            if isinstance(pb, bytes):  # a protobuf answer captured whole
                return pb
            return wire.envelope(pb.get("apiVersion", ""), pb.get("kind", ""), wire.write(pb.get("fields") or {}))
        if step.body is None:
            return None
        headers.setdefault("Content-Type", "application/json")
        body = substitute(step.body, self.variables)
        prefix = dig(body, "metadata.generateName")
        if isinstance(prefix, str):
            self.normaliser.expect_generated(prefix)
        return encode_body(body, headers["Content-Type"])

    def record(self, index: int, step: Step, request: Step, answer: Answer) -> Record:
        if is_protobuf(answer.body):
            body = restrict_protobuf(Reader(self.normaliser).document(answer.body))
        else:
            body = self.normaliser.document(restrict(substitute(request.path, self.variables), answer.body))
        if step.select:
            body = dig(body, step.select)
        headers: dict[str, Any] = {"Content-Type": content_type(answer.content_type)}
        if answer.warnings:
            headers["Warning"] = [self.normaliser.message(w) for w in answer.warnings]
        if "Retry-After" in answer.headers:
            headers["Retry-After"] = answer.headers["Retry-After"]
        return Record(index, step.label if step.collect else request.label, answer.status, headers, body)

    async def cleanup(self) -> None:
        paths = [substitute(p, self.variables) for p in self.scenario.cleanup]
        paths += [f"/api/v1/namespaces/{self.variables['ns' if i == 0 else f'ns{i + 1}']}"
                  for i in range(self.scenario.namespaces)]
        for path in paths:
            try:
                await exchange(self.session, "DELETE", path, {}, {}, None)
            except aiohttp.ClientError:
                pass


def is_protobuf(body: Any) -> bool:
    """A protobuf answer, or a watch's events in protobuf."""
    return isinstance(body, Protobuf) or (isinstance(body, list) and any(isinstance(e, Protobuf) for e in body))


async def run_pair(scenario: Scenario, ours: aiohttp.ClientSession, theirs: aiohttp.ClientSession) -> Outcome:
    """Run `scenario` on both servers at once and compare request by request."""
    outcome = Outcome(scenario)
    results = await asyncio.gather(ScenarioRun(scenario, ours).run(), ScenarioRun(scenario, theirs).run(),
                                   return_exceptions=True)
    failures = [f"{side}: {type(r).__name__}: {r}" for side, r in zip(("ours", "theirs"), results)
                if isinstance(r, BaseException)]
    if failures:
        outcome.error = "; ".join(failures)
        return outcome
    mine, other = results
    assert isinstance(mine, list) and isinstance(other, list)
    for a, b in zip(mine, other):
        outcome.labels.append(a.label)
        outcome.records.append((a, b))
        outcome.diffs.append(compare(a, b, scenario.steps[a.step].compare))
    return outcome


async def run_corpus(scenarios: list[Scenario], ours: Target, theirs: Target,
                     progress: Any = None) -> list[Outcome]:
    outcomes = []
    async with ours.session() as mine, theirs.session() as other:
        for scenario in scenarios:
            outcome = await run_pair(scenario, mine, other)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    return outcomes
