"""The kinds one server serves, which may change while it runs (upstream's RESTMapper and discovery manager in one).

A server starts with the built-in kinds (`apiserver.kinds.KINDS`) and any a test adds (`run_server(kinds=...)`);
CustomResourceDefinitions add and remove kinds while it serves. Routing, discovery and OpenAPI read the served set
from here (the documents derived from it are rebuilt on first use after `generation` changes), and every kind added
registers its protobuf messages. Adding a kind's storage (registry, watch cache) is `apiserver.kind_storage`'s part,
done before the kind is added here, so a kind is routed only once its storage is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind
from apiserver.protobuf import envelope

T = TypeVar("T")


class KindConflict(ValueError):
    """A kind whose resource path (or plural, which names its storage) another served kind already has."""


class KindRegistry:
    """The served kinds in discovery order, looked up by path (apiVersion, plural)."""

    def __init__(self, kinds: Iterable[Kind] = KINDS) -> None:
        self.kinds: tuple[Kind, ...] = ()
        self.by_path: dict[tuple[str, str], Kind] = {}
        self.group_names: frozenset[str] = frozenset()
        self.generation = 0  # bumped by every change
        for kind in kinds:
            self.add(kind)

    def check(self, kind: Kind) -> None:
        """KindConflict if `kind` cannot be added: its path is served, or its resource key (which names its storage:
        the plural, qualified for a view such as events.k8s.io's Events) in another group (the versions of one kind
        share it)."""
        if (kind.api_version, kind.plural) in self.by_path:
            raise KindConflict(f"{kind.plural} is served already in {kind.api_version}")
        if any(served.resource_key == kind.resource_key and served.group != kind.group for served in self.kinds):
            raise KindConflict(f"the resource {kind.plural} is served already in another group")

    def add(self, kind: Kind) -> None:
        """Serve `kind` (KindConflict if it cannot be)."""
        self.check(kind)
        envelope.register(kind)
        self._set((*self.kinds, kind))

    def remove(self, kind: Kind) -> None:
        """Stop serving `kind` (the one served at its path)."""
        served = self.by_path.pop((kind.api_version, kind.plural))
        self._set(tuple(k for k in self.kinds if k is not served))

    def replace(self, old: Kind, new: Kind) -> None:
        """Serve `new` in `old`'s place (the same path)."""
        assert (old.api_version, old.plural) == (new.api_version, new.plural)
        self._set(tuple(new if k is self.by_path[old.api_version, old.plural] else k for k in self.kinds))

    def _set(self, kinds: tuple[Kind, ...]) -> None:
        self.kinds = kinds
        self.by_path = {(k.api_version, k.plural): k for k in kinds}
        self.group_names = frozenset(k.group for k in kinds if k.group)
        self.generation += 1

    def group_versions(self) -> dict[str, list[Kind]]:
        """Kinds grouped by apiVersion ("v1", "discovery.k8s.io/v1"), core first."""
        grouped: dict[str, list[Kind]] = {}
        for kind in self.kinds:
            grouped.setdefault(kind.api_version, []).append(kind)
        return grouped

    def groups(self) -> dict[str, list[str]]:
        """Named (non-core) groups and their versions, preferred version first."""
        groups: dict[str, list[str]] = {}
        for kind in self.kinds:
            if kind.group and kind.version not in groups.setdefault(kind.group, []):
                groups[kind.group].append(kind.version)
        return groups

    def core_versions(self) -> list[str]:
        return sorted({kind.version for kind in self.kinds if not kind.group})


class Derived(Generic[T]):
    """A value derived from the served kinds (a discovery or OpenAPI document), rebuilt on first use after they
    change."""

    def __init__(self, kinds: KindRegistry, build: Callable[[KindRegistry], T]) -> None:
        self.kinds = kinds
        self.build = build
        self._generation = -1
        self._value: T | None = None

    def get(self) -> T:
        if self._generation != self.kinds.generation:
            self._value, self._generation = self.build(self.kinds), self.kinds.generation
        assert self._value is not None
        return self._value
