"""The corpus as data: scenarios of declarative request steps, loaded from YAML files.

A step is one HTTP request (method, path, query, headers, body) with what to capture from its answer for
later steps; a watch step opens a stream in the background and a later `collect` step reads its events, so a
scenario can write after opening the watch. A `pb` body is protobuf written as field numbers (`wire.write`), not
by the server's codec, or a protobuf answer captured whole (`capture: {var: <bytes>}`, then `pb: ${var}`). A
scenario marked `pending` (differences expected until some work lands) is run and reported but left out of the
identical share. Strings may use `${var}`: `ns`, `ns2`, ... (the scenario's fresh
namespaces), `run` (a token unique to the scenario's run, for cluster-scoped names and labels) and captures;
`${a*1000}` is a run of 1000 `a`s, `${'text'*3}` the text three times. A step with `wait_for: <status>` is repeated
until it answers that status, for its `timeout` at most (a kind a CustomResourceDefinition defines is served a
moment after the CRD is created, on each server its own).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parent.parent / "scenarios"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
REPEAT = re.compile(r"\$\{(\w|'[^']*')\*(\d+)\}")  # ${a*300000}, ${'text'*3}: long values
STEP_KEYS = {"title", "method", "path", "query", "headers", "body", "pb", "raw", "pad", "capture", "watch", "collect",
             "events", "until", "timeout", "compare", "select", "wait_for"}
COMPARED = ("status", "headers", "body")


@dataclass(frozen=True)
class Step:
    """One request, or the collection of a watch opened by an earlier step (`collect`)."""

    method: str = "GET"
    path: str = ""
    title: str = ""
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None          # encoded as the Content-Type says (JSON unless YAML)
    pb: Any = None            # a protobuf body as field numbers: {apiVersion, kind, fields: {1: {1: name}, ...}}
    raw: str | None = None    # sent as is (malformed bodies, duplicate fields)
    pad: int = 0              # a JSON body of this many bytes (413)
    capture: dict[str, str] = field(default_factory=dict)  # variable → dotted path in the answer's body
    watch: str = ""           # open as a stream under this name; its events are read by `collect`
    collect: str = ""         # read the named stream's events: `events` of them, or `until`, or until it ends
    events: int = 0
    until: str = ""           # "initial-events-end": the bookmark closing the initial events
    timeout: float = 5.0
    compare: tuple[str, ...] = COMPARED
    select: str = ""          # compare only this dotted part of the body
    wait_for: int = 0         # repeat the request until it answers this status, for `timeout` seconds at most

    @property
    def label(self) -> str:
        if self.collect:
            return self.title or f"collect {self.collect}"
        return self.title or f"{self.method} {self.path}"


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    namespaces: int = 1          # fresh namespaces made before the steps (0: none)
    description: str = ""
    cleanup: tuple[str, ...] = ()  # paths deleted after the run (cluster-scoped objects)
    source: str = ""
    pending: str = ""            # why differences are expected for now: run and reported, not in the share

    @property
    def requests(self) -> int:
        """Compared requests: every step but the opening of a watch, which its collect step reports."""
        return sum(1 for step in self.steps if not step.watch)


def parse_step(data: dict[str, Any], where: str) -> Step:
    unknown = set(data) - STEP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown step keys {sorted(unknown)}")
    values = dict(data)
    if "compare" in values:
        compare = values["compare"]
        values["compare"] = (compare,) if isinstance(compare, str) else tuple(compare)
        if set(values["compare"]) - set(COMPARED):
            raise ValueError(f"{where}: compare takes {COMPARED}")
    if "method" in values:
        values["method"] = str(values["method"]).upper()
    step = Step(**values)
    if not step.collect and not step.path:
        raise ValueError(f"{where}: a step needs a path (or collect)")
    return step


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    name = data["name"]
    steps = tuple(parse_step(s, f"{source}:{name}[{i}]") for i, s in enumerate(data["steps"]))
    opened = {s.watch for s in steps if s.watch}
    collected = {s.collect for s in steps if s.collect}
    if opened != collected:
        raise ValueError(f"{source}:{name}: watches opened {sorted(opened)} but collected {sorted(collected)}")
    return Scenario(name=name, steps=steps, namespaces=int(data.get("namespaces", 1)),
                    description=data.get("description", ""), cleanup=tuple(data.get("cleanup", ())),
                    source=source, pending=str(data.get("pending", "")))


def load_corpus(directory: Path = CORPUS, pattern: str = "") -> list[Scenario]:
    """Every scenario of every `*.yaml` file in `directory`, in file then document order; `pattern` keeps
    those whose name contains it (or matches it as a glob)."""
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ValueError(f"{path.name}: {err}") from None
        for data in document.get("scenarios", ()):
            scenarios.append(parse_scenario(data, path.name))
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate scenario names: {sorted(duplicates)}")
    if pattern:
        scenarios = [s for s in scenarios if pattern in s.name or fnmatch.fnmatch(s.name, pattern)]
    return scenarios


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with `${var}` replaced everywhere (a string that is exactly one variable takes its value's type)."""
    if isinstance(value, str):
        value = REPEAT.sub(lambda m: m.group(1).strip("'") * int(m.group(2)), value)
        whole = VARIABLE.fullmatch(value)
        if whole:
            return variables.get(whole.group(1), f"<missing:{whole.group(1)}>")
        return VARIABLE.sub(lambda m: str(variables.get(m.group(1), f"<missing:{m.group(1)}>")), value)
    if isinstance(value, dict):
        return {substitute(k, variables): substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def dig(value: Any, path: str) -> Any:
    """The value at a dotted path (`metadata.resourceVersion`, `items.0.metadata.name`), or None."""
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value
