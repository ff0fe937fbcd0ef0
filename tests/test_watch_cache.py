"""WatchCache (reference §6.6) as a plain data structure: adaptive window, replay, 410, store order, frames kept.

No server, no I/O: every event is built with an explicit `received` time.
"""

from __future__ import annotations

import random

import orjson
import pytest

from apiserver.cacher.cacher import Cacher
from apiserver.cacher.event import PLAIN, CacheEvent, FrameBudget, Obj
from apiserver.cacher.watch_cache import TooOldError, WatchCache
from apiserver.codec import decode, encode
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.protobuf import envelope
from loadtest.codecbench import endpoint_slice
from storage import KeyValue, MemoryStorage

PREFIX = "/registry/endpointslices/"
FRESH = 75.0


def obj(key: str, rv: int) -> Obj:
    namespace, name = key.removeprefix(PREFIX).split("/")
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": str(rv)}}


def event(rv: int, received: float, key: str = PREFIX + "default/s", kind: str = "MODIFIED") -> CacheEvent:
    """One change of `key` at revision `rv`, seen by the cache at time `received`."""
    return CacheEvent(kind, key, rv, obj(key, rv), obj(key, rv - 1), received)


def fill(cache: WatchCache, first_rv: int, count: int, received: float, step: float = 0.0) -> int:
    """Apply `count` events with consecutive revisions; returns the next revision."""
    for i in range(count):
        cache.apply(event(first_rv + i, received + i * step))
    return first_rv + count


def rvs(cache: WatchCache) -> list[int]:
    return [e.rv for e in cache.history]


# Growth


def test_window_doubles_while_full_and_fresh_up_to_max() -> None:
    cache = WatchCache(min_capacity=4, max_capacity=16, fresh_seconds=FRESH)
    cache.replace([], 100)
    rv = fill(cache, 101, 4, received=0.0)
    assert (cache.capacity, len(cache.history)) == (4, 4)
    # the fifth event finds the window full and its oldest event 1 s old: 4 → 8, nothing dropped
    rv = fill(cache, rv, 1, received=1.0)
    assert (cache.capacity, rvs(cache)) == (8, list(range(101, 106)))
    rv = fill(cache, rv, 4, received=2.0)   # 9 events → 16
    assert (cache.capacity, len(cache.history)) == (16, 9)
    rv = fill(cache, rv, 7, received=3.0)   # full at 16
    assert (cache.capacity, len(cache.history)) == (16, 16)
    # at the maximum: the oldest event is dropped instead
    fill(cache, rv, 3, received=4.0)
    assert (cache.capacity, len(cache.history)) == (16, 16)
    assert rvs(cache) == list(range(104, 120))
    assert cache.start_rv == 103
    assert cache.resizes == {"increase": 2, "decrease": 0}


def test_window_does_not_grow_when_the_oldest_event_is_stale() -> None:
    cache = WatchCache(min_capacity=4, max_capacity=16, fresh_seconds=FRESH)
    cache.replace([], 0)
    fill(cache, 1, 4, received=0.0)
    # the oldest (t=0) is exactly fresh_seconds old: not younger → no growth; and the event a
    # quarter from the end (also t=0) is not older → no shrink either; the oldest is dropped
    cache.apply(event(5, FRESH))
    assert (cache.capacity, rvs(cache), cache.start_rv) == (4, [2, 3, 4, 5], 1)
    assert cache.resizes == {"increase": 0, "decrease": 0}


# Shrinking


def test_window_halves_when_even_the_newest_quarter_is_stale_down_to_min() -> None:
    cache = WatchCache(min_capacity=4, max_capacity=64, fresh_seconds=FRESH)
    cache.replace([], 0)
    rv = fill(cache, 1, 16, received=0.0)          # 4 → 8 → 16
    assert (cache.capacity, len(cache.history)) == (16, 16)
    rv = fill(cache, rv, 1, received=1.0)          # 16 → 32
    rv = fill(cache, rv, 15, received=1.0)         # full at 32, all events from t ≤ 1
    assert (cache.capacity, len(cache.history)) == (32, 32)
    # an hour later: the window is full and its newest quarter is stale → 32 → 16, keeping the newest 16
    rv = fill(cache, rv, 1, received=3600.0)
    assert cache.capacity == 16
    assert rvs(cache) == list(range(18, 34))
    assert cache.start_rv == 17
    # not full now; fill it with old-looking events again: each time full → halve, down to min
    for expected in (8, 4, 4):
        while len(cache.history) < cache.capacity:
            rv = fill(cache, rv, 1, received=0.0)
        rv = fill(cache, rv, 1, received=7200.0)
        assert cache.capacity == expected
    assert cache.resizes["decrease"] == 3
    assert len(cache.history) == 4 and rvs(cache)[-1] == rv - 1


def test_shrink_checks_the_event_a_quarter_from_the_newest_end() -> None:
    """Upstream checks cache[(endIndex - capacity/4) % capacity]: with 8 events, the 2nd newest."""
    cache = WatchCache(min_capacity=2, max_capacity=8, fresh_seconds=FRESH)
    cache.replace([], 0)
    fill(cache, 1, 8, received=0.0)
    assert cache.capacity == 8
    # rebuild the window's times: the six oldest at t=0, the two newest at t=100
    for e, t in zip(cache.history, [0, 0, 0, 0, 0, 0, 100, 100]):
        e.received = float(t)
    # at t=180 the 2nd newest (t=100) is 80 s old (> 75): halve
    cache.apply(event(9, 180.0))
    assert cache.capacity == 4 and rvs(cache) == [6, 7, 8, 9]

    cache = WatchCache(min_capacity=2, max_capacity=8, fresh_seconds=FRESH)
    cache.replace([], 0)
    fill(cache, 1, 8, received=0.0)
    for e, t in zip(cache.history, [0, 0, 0, 0, 0, 0, 100, 100]):
        e.received = float(t)
    # at t=170 the 2nd newest is 70 s old (fresh) although the 3rd newest is stale: keep 8
    cache.apply(event(9, 170.0))
    assert cache.capacity == 8 and rvs(cache) == list(range(2, 10))


# Replay and 410


def test_events_after_returns_exactly_the_later_events() -> None:
    cache = WatchCache(min_capacity=8, max_capacity=8)
    cache.replace([], 10)
    for rv in (12, 15, 16, 20):  # revisions are global: gaps are normal
        cache.apply(event(rv, 0.0))
    assert [e.rv for e in cache.events_after(10)] == [12, 15, 16, 20]
    assert [e.rv for e in cache.events_after(12)] == [15, 16, 20]
    assert [e.rv for e in cache.events_after(13)] == [15, 16, 20]
    assert [e.rv for e in cache.events_after(19)] == [20]
    assert cache.events_after(20) == []
    assert cache.events_after(1000) == []   # newer than the cache: nothing yet
    events = cache.events_after(15)
    assert all(isinstance(e, CacheEvent) for e in events) and events[0] is cache.history[2]


def test_too_old_resource_version() -> None:
    cache = WatchCache(min_capacity=4, max_capacity=4)
    cache.replace([], 100)
    with pytest.raises(TooOldError) as err:
        cache.events_after(99)
    assert str(err.value) == "too old resource version: 99 (100)"
    assert (err.value.requested, err.value.oldest) == (99, 100)
    fill(cache, 101, 10, received=0.0)         # keeps 107..110
    assert rvs(cache) == [107, 108, 109, 110]
    assert [e.rv for e in cache.events_after(106)] == [107, 108, 109, 110]
    for requested in (1, 100, 105):
        with pytest.raises(TooOldError) as err:
            cache.events_after(requested)
        # upstream: too old resource version: <requested> (<oldest available - 1>)
        assert str(err.value) == f"too old resource version: {requested} (106)"


def test_replace_resets_store_and_window() -> None:
    cache = WatchCache(min_capacity=4, max_capacity=4)
    cache.replace([], 1)
    fill(cache, 2, 6, received=0.0)
    assert cache.start_rv == 3 and cache.rv == 7
    listed = [CacheEvent("ADDED", PREFIX + f"ns/{n}", rv, obj(PREFIX + f"ns/{n}", rv), None) for n, rv in
              (("b", 40), ("a", 41))]
    cache.replace(listed, 50)
    assert (cache.rv, cache.start_rv, len(cache.history)) == (50, 50, 0)
    assert [e.key for e in cache.entries()] == [PREFIX + "ns/a", PREFIX + "ns/b"]
    assert cache.events_after(50) == []
    with pytest.raises(TooOldError, match=r"^too old resource version: 7 \(50\)$"):
        cache.events_after(7)
    cache.apply(event(51, 0.0, key=PREFIX + "ns/a"))
    assert [e.rv for e in cache.events_after(50)] == [51]


# Store


def test_entries_and_snapshot_in_key_order_by_prefix() -> None:
    cache = WatchCache()
    cache.replace([], 0)
    keys = ["prod/web", "default/zeta", "default/alpha", "prod/api", "default-2/x", "default/mid"]
    for rv, key in enumerate(keys, start=1):
        cache.apply(event(rv, 0.0, key=PREFIX + key, kind="ADDED"))
    cache.apply(event(7, 0.0, key=PREFIX + "default/mid", kind="MODIFIED"))
    cache.apply(event(8, 0.0, key=PREFIX + "prod/web", kind="DELETED"))
    assert [e.key.removeprefix(PREFIX) for e in cache.entries()] == [
        "default-2/x", "default/alpha", "default/mid", "default/zeta", "prod/api"]
    assert [e.key.removeprefix(PREFIX) for e in cache.entries(PREFIX + "default/")] == [
        "default/alpha", "default/mid", "default/zeta"]
    snapshot = cache.snapshot(PREFIX + "default/")
    assert [o["metadata"]["name"] for o in snapshot] == ["alpha", "mid", "zeta"]
    # the current object is the latest event's
    assert snapshot[1]["metadata"]["resourceVersion"] == "7"
    assert cache.snapshot(PREFIX + "prod/") == [obj(PREFIX + "prod/api", 4)]
    assert cache.snapshot(PREFIX + "none/") == []


async def test_cacher_deletes_without_a_previous_value_from_its_own_copy() -> None:
    """etcd omits prev_kv on DELETE when it was compacted: the cacher uses its cached object instead."""
    key = "/registry/endpointslices/default/a"
    obj = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
           "metadata": {"name": "a", "namespace": "default"}, "addressType": "IPv4", "endpoints": None, "ports": None}
    cacher = Cacher(ENDPOINTSLICE, MemoryStorage(), decode, WatchCache())
    cacher._apply("PUT", KeyValue(key, encode(obj), 5, 5))
    cacher._apply("DELETE", KeyValue(key, b"", 7, 5))
    assert cacher.cache.store == {}
    deleted = cacher.cache.history[-1]
    assert deleted.type == "DELETED" and deleted.obj["metadata"]["resourceVersion"] == "7"
    cacher._apply("DELETE", KeyValue("/registry/endpointslices/default/unknown", b"", 9, 8))
    assert cacher.cache.rv == 9 and len(cacher.cache.history) == 2


def test_store_order_and_replay_match_a_plain_scan_under_random_changes() -> None:
    """The ordered store and the bisected window give exactly what sorting and scanning gave."""
    rng = random.Random(8)
    cache = WatchCache(min_capacity=8, max_capacity=64, fresh_seconds=FRESH)
    cache.replace([], 1)
    names = [f"{ns}/{n}" for ns in ("a", "a-b", "ab", "b") for n in ("x", "y", "z", "x-1")]
    live: dict[str, CacheEvent] = {}
    seen: list[CacheEvent] = []
    rv = 1
    for step in range(2_000):
        rv += rng.randint(1, 3)  # revisions are global: gaps are normal
        key = PREFIX + rng.choice(names)
        kind = "DELETED" if key in live and rng.random() < 0.3 else ("MODIFIED" if key in live else "ADDED")
        change = event(rv, step * rng.choice((0.01, 1.0)), key=key, kind=kind)
        cache.apply(change)
        seen.append(change)
        if kind == "DELETED":
            del live[key]
        else:
            live[key] = change
        for prefix in ("", PREFIX, PREFIX + "a/", PREFIX + "a", PREFIX + "ab/", PREFIX + "c/"):
            assert cache.entries(prefix) == [live[k] for k in sorted(live) if k.startswith(prefix)]
        for since in (cache.start_rv, rng.randint(cache.start_rv, rv), rv - 1, rv):
            assert cache.events_after(since) == [e for e in seen if e.rv > since and e.rv > cache.start_rv]


# Frames kept for replay


def encoded(e: CacheEvent, event_type: str = "ADDED", use_prev: bool = False) -> bytes:
    return e.frame(ENDPOINTSLICE, PLAIN, event_type, use_prev, lambda form: None)


def test_a_superseded_event_drops_its_frames() -> None:
    cache = WatchCache()
    cache.replace([], 0)
    created = event(1, 0.0, kind="ADDED")
    cache.apply(created)
    encoded(created)
    created.forget_frames()  # after its dispatch: the ADDED frame of the current state stays
    assert cache.frames.bytes == created.frame_bytes > 0
    encoded(created, "MODIFIED")  # a replay of it
    updated = event(2, 0.0)
    cache.apply(updated)
    assert created.frame_bytes == 0 and list(cache.frames.holders) == []
    frame = encoded(updated)
    body = updated.body("json", lambda form: None)  # the frame wraps the object's body, kept with it
    assert frame == b'{"type":"ADDED","object":' + body + b"}\n"
    assert cache.frames.bytes == len(frame) + len(body) and list(cache.frames.holders) == [updated]
    cache.apply(event(3, 0.0, kind="DELETED"))
    assert cache.frames.bytes == 0 and updated.frame_bytes == 0


def test_an_event_leaving_the_window_drops_its_frames_unless_it_is_the_current_state() -> None:
    cache = WatchCache(min_capacity=2, max_capacity=2)
    cache.replace([], 0)
    first = event(1, 0.0, key=PREFIX + "default/a", kind="ADDED")
    second = event(2, 0.0, key=PREFIX + "default/b", kind="ADDED")
    third = event(3, 0.0, key=PREFIX + "default/b")
    for e in (first, second, third):
        cache.apply(e)
        encoded(e, e.type)
    assert [e.rv for e in cache.history] == [2, 3] and first.frame_bytes > 0  # still the state of a
    encoded(second, "ADDED")  # replayed after it was superseded
    cache.apply(event(4, 0.0, key=PREFIX + "default/c", kind="ADDED"))
    assert second.frame_bytes == 0
    assert cache.frames.bytes == first.frame_bytes + third.frame_bytes


def test_the_frame_budget_drops_the_least_recently_charged_frames() -> None:
    budget = FrameBudget(limit=1_000)
    cache = WatchCache(min_capacity=100, max_capacity=100, frames=budget)
    cache.replace([], 0)
    events = [event(rv, 0.0, key=PREFIX + f"default/s{rv}", kind="ADDED") for rv in range(10, 60)]
    frames = []
    for e in events:
        cache.apply(e)
        frames.append(encoded(e))
        assert budget.bytes <= budget.limit
    size = events[-1].frame_bytes  # all events keep the same: a frame and the body it wraps
    fit = budget.limit // size
    assert budget.bytes == sum(e.frame_bytes for e in events) == fit * size
    assert [e.frame_bytes > 0 for e in events] == [False] * (50 - fit) + [True] * fit
    assert budget.dropped == 2 * (50 - fit)  # a frame and a body each
    assert encoded(events[0]) == frames[0] and events[0].frame_bytes > 0  # encoded again, charged last
    assert events[50 - fit].frame_bytes == 0  # the least recently charged made room
    cache.replace([], 100)
    assert budget.bytes == 0 and not budget.holders


def test_a_list_item_is_the_body_without_its_type_meta_or_encoded_once_without_it() -> None:
    counts: list[str] = []
    for leading in ({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1"},
                    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice"}, {}):
        e = event(1, 0.0)
        e.obj = {**leading, **e.obj, "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1"}
        item = bytes(e.json_item(lambda form: counts.append(form.encoding)))
        assert b"{" + item == orjson.dumps({"metadata": e.obj["metadata"]})
        assert bytes(e.json_item(lambda form: counts.append(form.encoding))) == item
        assert counts == ["application/json"] * (1 if leading else 2)  # the body, and the item if not a slice of it
        counts.clear()


def _stored_protobuf(obj: Obj) -> bytes:
    """A value as storage writes it in protobuf: the enveloped object without its resourceVersion."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return envelope.encode({**obj, "metadata": meta})


def _read_protobuf(kv: KeyValue) -> Obj:
    """A stored value read back, protobuf or JSON, as storage reads it."""
    obj: Obj = envelope.decode(kv.value) if kv.value[:4] == envelope.PREFIX else orjson.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


@pytest.mark.parametrize("obj", [endpoint_slice(100), endpoint_slice(0), {
    "kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}},
    "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"app": "web"}, "type": "ClusterIP"}}])
def test_a_protobuf_body_is_spliced_from_the_stored_value(obj: Obj) -> None:
    """With protobuf in storage, an event's protobuf body is the stored message with its resourceVersion set:
    the bytes encoding the object read back makes."""
    stored = _stored_protobuf(obj)
    for rv in ("7", "123456789012"):
        read = _read_protobuf(KeyValue("k", stored, int(rv), 1))
        assert envelope.message_at_version(stored, rv) == envelope.encode_message(read)
    assert envelope.message_at_version(orjson.dumps(obj), "7") is None
    assert envelope.message_at_version(stored[:40], "7") is None


def test_the_cacher_splices_protobuf_bodies_and_forgets_superseded_stored_values() -> None:
    key = PREFIX + "default/web-abcde"
    obj = endpoint_slice(10)
    cacher = Cacher(ENDPOINTSLICE, MemoryStorage(), _read_protobuf, WatchCache())
    cacher._apply("PUT", KeyValue(key, _stored_protobuf(obj), 5, 5))
    first = cacher.cache.store[key]
    assert first.stored is not None
    assert first.body("protobuf", lambda form: None) == envelope.encode_message(first.obj)
    cacher._apply("PUT", KeyValue(key, orjson.dumps(obj), 6, 5))  # JSON in storage: nothing to splice from
    assert first.stored is None and cacher.cache.store[key].stored is None
