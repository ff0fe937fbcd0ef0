"""Hub: dispatches one resource's watch-cache events to its watchers, encoding each form once.

Watchers are grouped by filter (namespace, name, label and field selectors), so a filter is
evaluated once per event for all watchers that share it, and within a group by form, so a frame
is encoded once (lazily, on first use) and the same bytes are appended to every watcher of that
form. Dispatch is a synchronous loop of appends; `flush` (which the cacher schedules) then makes one
write per touched watcher whose transport is not paused (a paused one is woken by its transport).
Nothing here awaits: a watcher that cannot keep up is terminated, never waited for.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from apiserver.cacher.event import CacheEvent, Form, Obj
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watcher import Watcher
from apiserver.kinds.base import Kind

log = logging.getLogger(__name__)
Predicate = Callable[[Obj], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
REAP_BATCH = 100  # terminated watchers reset per flush: each wakes a task, which costs the loop ~0.1 ms


class Group:
    """Watchers sharing one filter, by form."""

    __slots__ = ("by_form", "key", "predicate")

    def __init__(self, key: Hashable, predicate: Predicate) -> None:
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
        self.groups: dict[Hashable, Group] = {}
        self.waiting: list[tuple[Watcher, Hashable, Predicate]] = []
        self.dirty: list[Watcher] = []  # watchers with frames to send whose transport is not paused
        self.reaping: deque[Watcher] = deque()  # terminated watchers whose connections are still to reset
        self.schedule: Callable[[], None] = lambda: None  # the cacher's: flush soon
        self.rv = 0

    def __len__(self) -> int:
        return sum(len(m) for g in self.groups.values() for m in g.by_form.values()) + len(self.waiting)

    def watchers(self) -> list[Watcher]:
        return [w for g in self.groups.values() for m in g.by_form.values() for w in m] + [
            w for w, _, _ in self.waiting]

    def add(self, watcher: Watcher, key: Hashable, predicate: Predicate, initial: list[CacheEvent],
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

    def _join(self, watcher: Watcher, key: Hashable, predicate: Predicate) -> None:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, predicate)
        watcher.group = group
        group.add(watcher)

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
                self.groups.pop(group.key, None)
            watcher.group = None
        else:
            self.waiting = [w for w in self.waiting if w[0] is not watcher]
        self.meters.watcher_closed(watcher)

    def dispatch(self, event: CacheEvent) -> None:
        """Offer one event to every group; call `flush` after a batch of dispatches."""
        self.meters.dispatched += 1
        self.rv = event.rv
        if self.waiting:
            self._admit_waiting(event.rv)
        kind, encoded, cache = self.kind, self.meters.encoded, self.encode_cache
        for group in list(self.groups.values()):
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

    def bookmark(self, rv: int) -> None:
        """Queue a BOOKMARK at `rv` to every watcher that allows bookmarks (one encoding per form)."""
        frames: dict[Form, bytes] = {}
        for watcher in self.watchers():
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
        return form.encode(self.kind, "BOOKMARK", bookmark_object(self.kind, rv, initial_events_end))

    def close_all(self) -> None:
        for watcher in self.watchers():
            watcher.close()
        while self.reaping:
            self.reaping.popleft().release()

    def debug(self) -> list[dict[str, Any]]:
        return [w.debug() for w in self.watchers()]


def bookmark_object(kind: Kind, rv: int, initial_events_end: bool = False) -> Obj:
    """An empty object of the kind carrying only the resourceVersion (and the initial-events-end mark)."""
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta, **kind.strategy.empty_fields}
