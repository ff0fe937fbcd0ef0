"""Hub: dispatches one resource's watch-cache events to its watchers, encoding each form once.

Watchers are grouped by filter (namespace, name, label and field selectors), so a filter is
evaluated once per event for all watchers that share it, and within a group by form, so a frame
is encoded once (lazily, on first use) and the same bytes are appended to every watcher of that
form. Groups whose field selector pins a field to a value (`spec.nodeName=node-17`: a kubelet) are
indexed by it, as upstream's cacher indexes watchers with trigger functions: an event is offered
only to the groups pinned to the value its object has now or had before, and to the unindexed ones.
Dispatch is a synchronous loop of appends; `flush` (which the cacher schedules) then makes one
write per touched watcher whose transport is not paused (a paused one is woken by its transport).
Nothing here awaits: a watcher that cannot keep up is terminated, never waited for.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from apiserver.cacher.event import CacheEvent, Form, Obj
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watcher import Watcher
from apiserver.kinds.base import Kind
from apiserver.options import field_getters
from apiserver.selectors import FieldSelector

log = logging.getLogger(__name__)
Predicate = Callable[[Obj], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
INITIAL_EVENTS_LIST_BLUEPRINT = "kubernetes.io/initial-events-list-blueprint"
REAP_BATCH = 100  # terminated watchers reset per flush: each wakes a task, which costs the loop ~0.1 ms


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

    def watchers(self) -> list[Watcher]:
        return [w for members in self.by_form.values() for w in members]

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
        self.dirty: list[Watcher] = []  # watchers with frames to send whose transport is not paused
        self.reaping: deque[Watcher] = deque()  # terminated watchers whose connections are still to reset
        self.schedule: Callable[[], None] = lambda: None  # the cacher's: flush soon
        self.rv = 0

    def __len__(self) -> int:
        return sum(len(m) for g in self.groups.values() for m in g.by_form.values()) + len(self.waiting)

    def watchers(self) -> list[Watcher]:
        return [w for g in self.groups.values() for w in g.watchers()] + [w for w, _, _ in self.waiting]

    def add(self, watcher: Watcher, key: GroupKey, predicate: Predicate, initial: list[CacheEvent],
            replay: list[CacheEvent], end_bookmark: int = 0) -> None:
        """Register a watcher; its initial ADDED events or the history it missed (then the initial-events-end
        bookmark if asked) become its backlog, encoded as its socket takes them.

        A watcher that starts from a revision the cache has not reached waits outside the groups
        until the cache passes it, so dispatch never checks revisions per watcher.
        """
        items = [(entry, "ADDED", False) for entry in initial if predicate(entry.obj)]
        for event in replay:
            change = transition(event, predicate)
            if change is not None:
                items.append((event, change[0], change[1]))
        watcher.attach()
        if watcher.done:
            return
        if items or end_bookmark:
            watcher.backlog = self._backlog(watcher.form, items, len(items) if initial else 0, end_bookmark)
            watcher.form = watcher.form.without_headers()
            self.dirty.append(watcher)
        if watcher.after > self.rv:
            self.waiting.append((watcher, key, predicate))
        else:
            self._join(watcher, key, predicate)

    def _backlog(self, form: Form, items: list[tuple[CacheEvent, str, bool]], initial: int,
                 end_bookmark: int) -> Iterator[bytes]:
        """The frames of `items` (the first `initial` of them initial events), then the end bookmark."""
        for index, (event, event_type, use_prev) in enumerate(items):
            frame = self._encode(event, form, event_type, use_prev)
            form = form.without_headers()
            if index < initial:
                self.meters.init_events += 1
            yield frame
        if end_bookmark:
            yield self._encode_bookmark(form, end_bookmark, initial_events_end=True)

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

    def _encode(self, event: CacheEvent, form: Form, event_type: str, use_prev: bool) -> bytes:
        if self.encode_cache and form.projection != "table":  # Table rows (Age) are encoded at send time
            return event.frame(self.kind, form, event_type, use_prev, self.meters.encoded)
        self.meters.encoded(form)
        return event.encode(self.kind, form, event_type, use_prev)

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
        failed: list[Watcher] = []
        for group in groups:
            try:
                change = transition(event, group.predicate)
            except Exception:  # noqa: BLE001 - isolates a failing filter to its own watchers
                self._dispatch_failed(event, group.key, "filter")
                failed += group.watchers()
                continue
            if change is None:
                continue
            event_type, use_prev = change
            headed = []
            for form, members in list(group.by_form.items()):
                try:
                    if cache:
                        frame = event.frame(kind, form, event_type, use_prev, encoded)
                        for watcher in tuple(members):
                            watcher.queue(frame)
                    else:
                        for watcher in tuple(members):
                            watcher.queue(event.encode(kind, form, event_type, use_prev))
                            encoded(form)
                except Exception:  # noqa: BLE001 - isolates a failing encoder to its own watchers
                    self._dispatch_failed(event, group.key, form)
                    failed += list(members)
                    continue
                if form.headers:
                    headed.append(form)
            for form in headed:
                if form in group.by_form:
                    group.promote(form)
        for watcher in failed:
            watcher.close()
        event.forget_frames()

    def _dispatch_failed(self, event: CacheEvent, key: GroupKey, step: object) -> None:
        """Log and count an exception from a filter or an encoder; the caller closes the watchers it concerns
        (they re-watch), the others and the cache go on."""
        self.meters.dispatch_errors += 1
        log.exception("dispatching %s %s at revision %d to watchers of %s (%s) failed at %s: closing them",
                      event.type, event.key, event.rv, self.kind.plural, key, step)

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

    def progress(self, rv: int) -> None:
        """Every event up to `rv` has been dispatched (a progress notification, other resources' events): watchers
        that start at or before it join their groups."""
        if rv > self.rv:
            self.rv = rv
            if self.waiting:
                self._admit_waiting(rv + 1)

    def _admit_waiting(self, rv: int) -> None:
        """Watchers whose start revision is now behind the cache join their groups (before this event)."""
        ready = [w for w in self.waiting if w[0].after < rv]
        if ready:
            self.waiting = [w for w in self.waiting if w[0].after >= rv]
            for watcher, key, predicate in ready:
                self._join(watcher, key, predicate)

    def flush(self, deadline: float) -> bool:
        """Reset terminated watchers (REAP_BATCH at most), then write to every watcher with frames to send,
        until `deadline` (perf_counter); True if work is left."""
        reaping = self.reaping
        for _ in range(min(REAP_BATCH, len(reaping))):
            watcher = reaping.popleft()
            self._guarded(watcher, watcher.release)
        dirty, self.dirty = self.dirty, []
        for index, watcher in enumerate(dirty):
            if time.perf_counter() > deadline:
                self.dirty = dirty[index:] + self.dirty
                break
            self._guarded(watcher, watcher.flush)
        return self.busy()

    def _guarded(self, watcher: Watcher, step: Callable[[], None]) -> None:
        """Run a flush step of `watcher`; if it raises, log and count it, and close that watcher alone."""
        try:
            step()
        except Exception:
            log.exception("watch %d of %s failed, closing it", watcher.id, self.kind.plural)
            self.meters.flush_errors += 1
            watcher.close()
            watcher.abort()  # the stream may end mid-chunk

    def busy(self) -> bool:
        return bool(self.dirty or self.reaping)

    def wake(self, watcher: Watcher) -> None:
        """A paused watcher's transport drained: flush it with the next batch."""
        self.dirty.append(watcher)
        self.schedule()

    def reap(self, watcher: Watcher) -> None:
        """A terminated watcher: reset its connection and wake its task with the next flushes."""
        self.reaping.append(watcher)
        self.schedule()

    def bookmark(self, rv: int, watchers: Iterable[Watcher] | None = None) -> None:
        """Queue a BOOKMARK at `rv` to every watcher (or each of `watchers`) that allows bookmarks and has
        nothing pending (one encoding per form)."""
        frames: dict[Form, bytes] = {}
        for watcher in self.watchers() if watchers is None else watchers:
            if watcher.info.allow_bookmarks and watcher.after <= rv and not watcher.pending and watcher.backlog is None:
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
        blueprint = form.list_blueprint(self.kind) if initial_events_end else None
        return form.encode(self.kind, "BOOKMARK", bookmark_object(self.kind, rv, blueprint))

    def close_all(self) -> None:
        for watcher in self.watchers():
            watcher.close()
        while self.reaping:
            self.reaping.popleft().release()

    def debug(self) -> list[dict[str, Any]]:
        return [w.debug() for w in self.watchers()]


def bookmark_object(kind: Kind, rv: int, list_blueprint: str | None = None) -> Obj:
    """An empty object of the kind carrying only the resourceVersion; the initial-events-end bookmark also has the
    mark and the list blueprint (`Form.list_blueprint`) client-go's watch-list List needs."""
    meta: Obj = {"resourceVersion": str(rv), "creationTimestamp": None}  # 1.32 writes the zero time as null
    if list_blueprint is not None:
        meta["annotations"] = {INITIAL_EVENTS_END: "true", INITIAL_EVENTS_LIST_BLUEPRINT: list_blueprint}
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta, **kind.strategy.empty_fields}
