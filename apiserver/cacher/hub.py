"""Hub: dispatches one resource's watch-cache events to its watchers, encoding each form once.

Watchers are grouped by filter (namespace, name, label and field selectors), so a filter is
evaluated once per event for all watchers that share it, and within a group by form, so a frame
is encoded once (lazily, on first use) and the same bytes are appended to every watcher of that
form. Groups whose field selector pins a field to a value (`spec.nodeName=node-17`: a kubelet) are
indexed by it, as upstream's cacher indexes watchers with trigger functions: an event is offered
only to the groups pinned to the value its object has now or had before, and to the unindexed ones.
Dispatch is a synchronous loop of appends; `flush` (which the cacher schedules) then makes one
write per touched watcher.
Nothing here awaits: a watcher that cannot keep up is terminated, never waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apiserver.cacher.event import CacheEvent, Form, Obj
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watcher import Watcher
from apiserver.kinds.base import Kind
from apiserver.options import field_getters
from apiserver.selectors import FieldSelector

Predicate = Callable[[Obj], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True, slots=True)
class GroupKey:
    """What watchers sharing a group share: scope and selectors (canonical text), and the trigger,
    the (field, value) an `=` term of the field selector pins, which indexes the group."""

    namespace: str
    name: str
    label_selector: str
    field_selector: str
    trigger: tuple[str, str] | None = None


def group_key(kind: Kind, namespace: str, name: str, label_selector: str,
              field_selector: FieldSelector | None) -> GroupKey:
    """The key of a watch; its trigger is the first field (by `field_getters` order) an `=` term pins."""
    trigger = None
    if field_selector is not None:
        for field in field_getters(kind):
            value = field_selector.requires(field)
            if value is not None:
                trigger = (field, value)
                break
    return GroupKey(namespace, name, label_selector, str(field_selector or ""), trigger)


class Group:
    """Watchers sharing one filter, by form."""

    __slots__ = ("by_form", "key", "predicate")

    def __init__(self, key: GroupKey, predicate: Predicate) -> None:
        self.key = key
        self.predicate = predicate
        self.by_form: dict[Form, dict[Watcher, None]] = {}

    def add(self, watcher: Watcher) -> None:
        self.by_form.setdefault(watcher.form, {})[watcher] = None

    def discard(self, watcher: Watcher) -> None:
        members = self.by_form.get(watcher.form)
        if members is not None:
            members.pop(watcher, None)
            if not members:
                del self.by_form[watcher.form]

    def promote(self, form: Form) -> None:
        """Watchers that just received their Table headers continue with the headerless form."""
        members = self.by_form.pop(form)
        plain = form.without_headers()
        for watcher in members:
            watcher.form = plain
        self.by_form.setdefault(plain, {}).update(members)


def transition(event: CacheEvent, predicate: Predicate) -> tuple[str, bool] | None:
    """The (event type, send the previous object) a watcher with `predicate` sees, or None.

    An update that makes an object match is ADDED, one that makes it stop matching is DELETED
    carrying the previous state at the new resourceVersion, as kube-apiserver's cacher does.
    """
    if event.type == "DELETED":
        return ("DELETED", False) if predicate(event.obj) else None
    now = predicate(event.obj)
    before = event.prev is not None and predicate(event.prev)
    if now:
        return ("MODIFIED", False) if before else ("ADDED", False)
    return ("DELETED", True) if before else None


class Hub:
    """The watchers of one resource and the dispatch of its events to them."""

    def __init__(self, kind: Kind, meters: WatchMeters, encode_cache: bool = True) -> None:
        self.kind = kind
        self.meters = meters
        self.encode_cache = encode_cache
        self.groups: dict[GroupKey, Group] = {}
        self.unindexed: dict[GroupKey, Group] = {}  # offered every event
        self.indexed: dict[str, dict[str, dict[GroupKey, Group]]] = {}  # trigger field → value → groups
        self.getters = field_getters(kind)
        self.waiting: list[tuple[Watcher, GroupKey, Predicate]] = []
        self.dirty: list[Watcher] = []
        self.blocked: list[Watcher] = []  # watchers whose socket was full at the last flush
        self.rv = 0

    def __len__(self) -> int:
        return sum(len(m) for g in self.groups.values() for m in g.by_form.values()) + len(self.waiting)

    def watchers(self) -> list[Watcher]:
        return [w for g in self.groups.values() for m in g.by_form.values() for w in m] + [
            w for w, _, _ in self.waiting]

    def add(self, watcher: Watcher, key: GroupKey, predicate: Predicate, initial: list[CacheEvent],
            replay: list[CacheEvent], end_bookmark: int = 0) -> None:
        """Register a watcher after queueing its initial ADDED events or the history it missed.

        A watcher that starts from a revision the cache has not reached waits outside the groups
        until the cache passes it, so dispatch never checks revisions per watcher.
        """
        for entry in initial:
            if predicate(entry.obj):
                self._queue_one(watcher, entry, "ADDED", False, bounded=False)
                self.meters.init_events += 1
        for event in replay:
            change = transition(event, predicate)
            if change is not None:
                self._queue_one(watcher, event, *change, bounded=False)
        if end_bookmark:
            watcher.queue(self._encode_bookmark(watcher.form, end_bookmark, initial_events_end=True), bounded=False)
            watcher.form = watcher.form.without_headers()
        if watcher.after > self.rv:
            self.waiting.append((watcher, key, predicate))
        else:
            self._join(watcher, key, predicate)

    def _join(self, watcher: Watcher, key: GroupKey, predicate: Predicate) -> None:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, predicate)
            if key.trigger is None:
                self.unindexed[key] = group
            else:
                field, value = key.trigger
                self.indexed.setdefault(field, {}).setdefault(value, {})[key] = group
        watcher.group = group
        group.add(watcher)

    def _leave(self, group: Group) -> None:
        """Forget a group that has no watchers left."""
        key = group.key
        self.groups.pop(key, None)
        if key.trigger is None:
            self.unindexed.pop(key, None)
            return
        field, value = key.trigger
        by_value = self.indexed.get(field, {})
        pinned = by_value.get(value, {})
        pinned.pop(key, None)
        if not pinned:
            by_value.pop(value, None)
            if not by_value:
                self.indexed.pop(field, None)

    def _queue_one(self, watcher: Watcher, event: CacheEvent, event_type: str, use_prev: bool,
                   bounded: bool = True) -> None:
        form = watcher.form
        if self.encode_cache and form.projection != "table":  # Table rows (Age) are encoded at send time
            frame = event.frame(self.kind, form, event_type, use_prev, self.meters.encoded)
        else:
            frame = event.encode(self.kind, form, event_type, use_prev)
            self.meters.encoded(form)
        watcher.queue(frame, bounded)
        watcher.form = form.without_headers()

    def remove(self, watcher: Watcher) -> None:
        group = watcher.group
        if group is not None:
            group.discard(watcher)
            if not group.by_form:
                self._leave(group)
            watcher.group = None
        else:
            self.waiting = [w for w in self.waiting if w[0] is not watcher]
        self.meters.watcher_closed(watcher)

    def dispatch(self, event: CacheEvent) -> None:
        """Offer one event to every group it may concern; call `flush` after a batch of dispatches."""
        self.meters.dispatched += 1
        self.rv = event.rv
        if self.waiting:
            self._admit_waiting(event.rv)
        kind, encoded, cache = self.kind, self.meters.encoded, self.encode_cache
        groups = self._concerned(event)
        self.meters.filters_evaluated += len(groups)
        for group in groups:
            change = transition(event, group.predicate)
            if change is None:
                continue
            event_type, use_prev = change
            headed = []
            for form, members in list(group.by_form.items()):
                if cache:
                    frame = event.frame(kind, form, event_type, use_prev, encoded)
                    for watcher in tuple(members):
                        watcher.queue(frame)
                else:
                    for watcher in tuple(members):
                        watcher.queue(event.encode(kind, form, event_type, use_prev))
                        encoded(form)
                if form.headers:
                    headed.append(form)
            for form in headed:
                if form in group.by_form:
                    group.promote(form)
        event.forget_frames()

    def _concerned(self, event: CacheEvent) -> list[Group]:
        """The unindexed groups and those pinned to a value the object has now or had before the event."""
        groups = list(self.unindexed.values())
        obj, prev = event.obj, event.prev
        for field, by_value in self.indexed.items():
            get = self.getters[field]
            value = get(obj)
            pinned = by_value.get(value)
            if pinned:
                groups += pinned.values()
            if prev is not None and prev is not obj:
                before = get(prev)
                if before != value:
                    pinned = by_value.get(before)
                    if pinned:
                        groups += pinned.values()
        return groups

    def _admit_waiting(self, rv: int) -> None:
        """Watchers whose start revision is now behind the cache join their groups (before this event)."""
        ready = [w for w in self.waiting if w[0].after < rv]
        if ready:
            self.waiting = [w for w in self.waiting if w[0].after >= rv]
            for watcher, key, predicate in ready:
                self._join(watcher, key, predicate)

    def flush(self) -> None:
        """One write per watcher with frames pending; those whose socket is full are retried next time."""
        candidates = self.blocked + self.dirty if self.blocked else self.dirty
        self.dirty = []
        self.blocked = [watcher for watcher in candidates if not watcher.flush()]

    def bookmark(self, rv: int, watchers: Iterable[Watcher] | None = None) -> None:
        """Queue a BOOKMARK at `rv` to every watcher (or each of `watchers`) that allows bookmarks and has
        nothing pending (one encoding per form)."""
        frames: dict[Form, bytes] = {}
        for watcher in self.watchers() if watchers is None else watchers:
            if watcher.info.allow_bookmarks and watcher.after <= rv and not watcher.pending:
                form = watcher.form
                frame = frames.get(form)
                if frame is None:
                    frame = frames[form] = self._encode_bookmark(form, rv)
                watcher.queue(frame)
                if form.headers:
                    self._headers_sent(watcher)

    def _headers_sent(self, watcher: Watcher) -> None:
        """A Table watcher's column definitions went out with a bookmark: later events come without them."""
        group = watcher.group
        if group is not None:
            group.discard(watcher)
        watcher.form = watcher.form.without_headers()
        if group is not None:
            group.add(watcher)

    def _encode_bookmark(self, form: Form, rv: int, initial_events_end: bool = False) -> bytes:
        self.meters.encoded(form)
        return form.encode(self.kind, "BOOKMARK", bookmark_object(self.kind, rv, initial_events_end))

    def close_all(self) -> None:
        for watcher in self.watchers():
            watcher.close()

    def debug(self) -> list[dict[str, Any]]:
        return [w.debug() for w in self.watchers()]


def bookmark_object(kind: Kind, rv: int, initial_events_end: bool = False) -> Obj:
    """An empty object of the kind carrying only the resourceVersion (and the initial-events-end mark)."""
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta, **kind.strategy.empty_fields}
