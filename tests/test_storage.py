"""Conformance suite for ``storage.Storage``: every backend must pass it unchanged.

Tests only use the interface and make no assumption about absolute revisions or about other keys in
the store, so a shared etcd can run them too: each test works under its own random ``root`` prefix.
To add a backend, add its name to ``BACKEND_URLS`` and its URL to the ``store`` fixture.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest

from storage import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    Storage,
    TooLargeError,
    WatchEvent,
    WatchStream,
    open_storage,
)
from storage.etcd import progress_ordered

BACKEND_URLS = ["memory://", "etcd", "kube_etcd"]
TIMEOUT = 5.0


@pytest.fixture(params=BACKEND_URLS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    url = request.param if "://" in request.param else request.getfixturevalue(request.param).storage_url()
    s = open_storage(url)
    yield s
    await s.close()


@pytest.fixture
def root() -> str:
    return f"/registry/{uuid.uuid4().hex}/endpointslices/"


async def next_events(watch: WatchStream, n: int) -> list[WatchEvent]:
    """Read batches until exactly ``n`` events have arrived (fails on more, or on timeout)."""
    events: list[WatchEvent] = []
    while len(events) < n:
        events.extend(await asyncio.wait_for(anext(watch), TIMEOUT))
    assert len(events) == n
    return events


async def test_open_storage_schemes() -> None:
    default = open_storage(None)
    assert await default.current_revision() >= 1
    await default.close()
    small = open_storage("memory://", max_request_bytes=10)
    with pytest.raises(TooLargeError):
        await small.create("/registry/k", b"0123456789")
    await small.close()
    with pytest.raises(ValueError):
        open_storage("nosuch://x")


async def test_create_get(store: Storage, root: str) -> None:
    key = root + "default/web-1"
    before, missing = await store.get(key)
    assert missing is None
    rev = await store.create(key, b"v1")
    assert rev > before
    current, kv = await store.get(key)
    assert current >= rev
    assert kv is not None
    assert (kv.key, kv.value, kv.mod_revision, kv.create_revision) == (key, b"v1", rev, rev)
    with pytest.raises(KeyExistsError) as exc:
        await store.create(key, b"v2")
    assert exc.value.key == key
    assert (await store.get(key))[1] == kv


async def test_revisions_increase_by_one_per_write(store: Storage, root: str) -> None:
    start = await store.current_revision()
    r1 = await store.create(root + "a", b"1")
    r2 = await store.update(root + "a", b"2", r1)
    r3, _ = await store.delete(root + "a")
    assert [r1, r2, r3] == [start + 1, start + 2, start + 3]
    assert await store.current_revision() == r3


async def test_update_cas(store: Storage, root: str) -> None:
    key = root + "default/web-1"
    r1 = await store.create(key, b"v1")
    r2 = await store.update(key, b"v2", r1)
    assert r2 > r1
    _, kv = await store.get(key)
    assert kv is not None
    assert (kv.value, kv.mod_revision, kv.create_revision) == (b"v2", r2, r1)

    with pytest.raises(ConflictError) as exc:
        await store.update(key, b"stale", r1)
    assert exc.value.key == key
    assert exc.value.current == kv
    assert (await store.get(key))[1] == kv

    with pytest.raises(KeyNotFoundError):
        await store.update(root + "default/absent", b"x", r1)


async def test_delete_with_and_without_precondition(store: Storage, root: str) -> None:
    a, b = root + "ns/a", root + "ns/b"
    ra = await store.create(a, b"a")
    rb = await store.create(b, b"b")

    with pytest.raises(ConflictError) as exc:
        await store.delete(a, expected_revision=rb)
    assert exc.value.current.mod_revision == ra
    rev, deleted = await store.delete(a, expected_revision=ra)
    assert rev > rb
    assert (deleted.key, deleted.value, deleted.mod_revision) == (a, b"a", ra)
    assert (await store.get(a))[1] is None

    rev_b, deleted_b = await store.delete(b)
    assert rev_b > rev and deleted_b.value == b"b"
    with pytest.raises(KeyNotFoundError):
        await store.delete(b)
    with pytest.raises(KeyNotFoundError):
        await store.delete(b, expected_revision=rb)


async def test_recreate_after_delete_starts_new_generation(store: Storage, root: str) -> None:
    key = root + "ns/a"
    r1 = await store.create(key, b"1")
    await store.delete(key)
    r3 = await store.create(key, b"2")
    _, kv = await store.get(key)
    assert kv is not None and kv.create_revision == r3 != r1
    with pytest.raises(ConflictError):
        await store.update(key, b"x", r1)


async def test_range_paging(store: Storage, root: str) -> None:
    keys = [f"{root}ns/s-{i:02d}" for i in range(7)]
    for key in reversed(keys):
        await store.create(key, key.encode())
    await store.create(root.rstrip("/") + "x/other", b"outside the prefix")

    full = await store.range(root)
    assert [kv.key for kv in full.kvs] == keys
    assert (full.more, full.count) == (False, 7)

    seen: list[str] = []
    start, revision = "", 0
    while True:
        page = await store.range(root, start=start, limit=3, revision=revision)
        assert page.count == 7 - len(seen)
        seen += [kv.key for kv in page.kvs]
        revision = page.revision
        if not page.more:
            break
        assert len(page.kvs) == 3
        start = page.kvs[-1].key + "\x00"
        if len(seen) == 3:  # must not show up in later pages of the same snapshot
            await store.create(root + "ns/s-99", b"written between pages")
    assert seen == keys
    assert revision == full.revision

    exact = await store.range(root, limit=7, revision=full.revision)
    assert (len(exact.kvs), exact.more) == (7, False)
    empty = await store.range(root + "nothing/")
    assert (empty.kvs, empty.more, empty.count) == ([], False, 0)


async def test_range_at_old_revision(store: Storage, root: str) -> None:
    a, b, c = root + "a", root + "b", root + "c"
    ra = await store.create(a, b"a1")
    rb = await store.create(b, b"b1")
    snapshot = await store.current_revision()
    await store.update(a, b"a2", ra)
    await store.delete(b, rb)
    await store.create(c, b"c1")

    old = await store.range(root, revision=snapshot)
    assert old.revision == snapshot
    assert [(kv.key, kv.value, kv.mod_revision) for kv in old.kvs] == [(a, b"a1", ra), (b, b"b1", rb)]
    before_b = await store.range(root, revision=ra)
    assert [kv.key for kv in before_b.kvs] == [a]
    now = await store.range(root)
    assert [(kv.key, kv.value) for kv in now.kvs] == [(a, b"a2"), (c, b"c1")]

    with pytest.raises(FutureRevisionError):
        await store.range(root, revision=now.revision + 1000)


async def test_prefix_isolation(store: Storage, root: str) -> None:
    base = root + "services/"
    first = await store.create(base + "endpoints/default/kubernetes", b"endpoints")
    await store.create(base + "specs/default/kubernetes", b"service")
    await store.create(base + "endpointsx/default/kubernetes", b"similar prefix")

    listed = await store.range(base + "endpoints/")
    assert [kv.value for kv in listed.kvs] == [b"endpoints"]
    assert listed.count == 1

    watch = store.watch(base + "endpoints/", first)
    try:
        assert [e.kv.value for e in await next_events(watch, 1)] == [b"endpoints"]
        await store.create(base + "specs/default/other", b"service")
        await store.create(base + "endpoints/default/other", b"endpoints 2")
        assert [e.kv.value for e in await next_events(watch, 1)] == [b"endpoints 2"]
    finally:
        await watch.aclose()


async def test_too_large_writes_rejected(store: Storage, root: str) -> None:
    key = root + "big"
    before = await store.current_revision()
    with pytest.raises(TooLargeError) as exc:
        await store.create(key, b"x" * 1_600_000)
    assert str(exc.value) == "etcdserver: request is too large"
    assert await store.current_revision() == before
    assert (await store.get(key))[1] is None

    rev = await store.create(key, b"x" * 1_500_000)
    with pytest.raises(TooLargeError):
        await store.update(key, b"y" * 1_600_000, rev)
    _, kv = await store.get(key)
    assert kv is not None and kv.mod_revision == rev and kv.value == b"x" * 1_500_000


async def test_compaction(store: Storage, root: str) -> None:
    key = root + "a"
    r1 = await store.create(key, b"1")
    r2 = await store.update(key, b"2", r1)
    gone = await store.create(root + "gone", b"g")
    await store.delete(root + "gone")
    r4 = await store.update(key, b"3", r2)
    await store.compact(r4)

    with pytest.raises(CompactedError) as exc:
        await store.range(root, revision=r2)
    assert exc.value.compacted_revision >= r4
    at_compacted = await store.range(root, revision=r4)
    assert [(kv.key, kv.value) for kv in at_compacted.kvs] == [(key, b"3")]
    assert (await store.get(key))[1] is not None
    assert (await store.get(root + "gone"))[1] is None

    watch = store.watch(root, gone)
    with pytest.raises(CompactedError):
        await asyncio.wait_for(anext(watch), TIMEOUT)
    await watch.aclose()
    with pytest.raises(CompactedError):
        await store.compact(r2)

    r5 = await store.update(key, b"4", r4)
    watch = store.watch(root, r4 + 1)
    try:
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [r5]
    finally:
        await watch.aclose()


async def test_watch_replays_then_goes_live(store: Storage, root: str) -> None:
    a, b = root + "a", root + "b"
    ra1 = await store.create(a, b"a1")
    ra2 = await store.update(a, b"a2", ra1)
    rb1 = await store.create(b, b"b1")
    watch = store.watch(root, ra2)
    try:
        replayed = await next_events(watch, 2)
        assert [(e.type, e.kv.key, e.kv.mod_revision) for e in replayed] == [("PUT", a, ra2), ("PUT", b, rb1)]
        assert [(e.kv.value, e.kv.create_revision) for e in replayed] == [(b"a2", ra1), (b"b1", rb1)]

        rd, _ = await store.delete(a)
        rb2 = await store.update(b, b"b2", rb1)
        live = await next_events(watch, 2)
        assert [(e.type, e.kv.mod_revision) for e in live] == [("DELETE", rd), ("PUT", rb2)]
        assert watch.revision == rb2
    finally:
        await watch.aclose()


async def test_delete_event_carries_key_and_revision_only(store: Storage, root: str) -> None:
    """No previous values on the wire: a DELETE is its key and revision (the watch cache has the object)."""
    key = root + "a"
    r1 = await store.create(key, b"old")
    r2 = await store.update(key, b"last", r1)
    rd, _ = await store.delete(key, r2)
    watch = store.watch(root, rd)
    try:
        (event,) = await next_events(watch, 1)
    finally:
        await watch.aclose()
    assert event.type == "DELETE"
    assert (event.kv.key, event.kv.value, event.kv.mod_revision, event.kv.create_revision) == (key, b"", rd, 0)


async def test_progress_reports_writes_outside_the_prefix(store: Storage, root: str) -> None:
    """A progress request answers with an empty batch at the store's revision, after every pending event;
    where storage cannot promise that order (etcd 3.4.23) the empty batch is a wake-up that proves nothing."""
    ordered = await store.watch_progress()
    inside = await store.create(root + "a", b"a")
    watch = store.watch(root, inside)
    try:
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [inside]
        outside = await store.create(root.replace("/endpointslices/", "/other/") + "b", b"b")
        watch.request_progress()
        batch = await asyncio.wait_for(anext(watch), TIMEOUT)
        assert batch == [] and (watch.revision >= outside) == ordered
        if not ordered:
            return
        last = await store.update(root + "a", b"a2", inside)
        watch.request_progress()
        assert [e.kv.mod_revision for e in await next_events(watch, 1)] == [last]  # events before the notification
        assert await asyncio.wait_for(anext(watch), TIMEOUT) == [] and watch.revision >= last
    finally:
        await watch.aclose()


@pytest.mark.parametrize(("version", "ordered"), [
    ("3.4.23", False), ("3.4.31", True), ("3.5.12", False), ("3.5.13", True), ("3.5.16", True), ("3.6.0", True),
    ("3.7.0-alpha.0", True), ("unknown", False)])
def test_which_etcd_orders_progress(version: str, ordered: bool) -> None:
    assert progress_ordered(version) == ordered


async def test_watch_progress_as_the_backend_reports(store: Storage, request: pytest.FixtureRequest) -> None:
    """The embedded store always answers in order; etcd as its release does (asked over the wire)."""
    backend = request.node.callspec.params["store"]
    if "://" in backend:
        assert await store.watch_progress()
        return
    version = subprocess.run([request.getfixturevalue(backend).binary, "--version"], capture_output=True,
                             text=True, check=True).stdout.split()[2]
    assert await store.watch_progress() == progress_ordered(version)


async def test_compact_turn(store: Storage, root: str) -> None:
    """Taking the current turn compacts to the given revision and advances the turn."""
    turn, _ = await store.compact_turn(0, 0)  # takes the first turn (no compaction) or learns the current one
    r1 = await store.create(root + "a", b"1")
    r2 = await store.update(root + "a", b"2", r1)
    next_turn, current = await store.compact_turn(turn, r2)
    assert next_turn == turn + 1 and current >= r2
    with pytest.raises(CompactedError):
        await store.range(root, revision=r1)
    assert [kv.value for kv in (await store.range(root, revision=r2)).kvs] == [b"2"]


async def test_watch_no_gap_between_replay_and_live(store: Storage, root: str) -> None:
    """A watch started from the past while writes continue sees each revision exactly once, in order."""
    key = root + "counter"
    first = await store.create(key, b"0")
    expected = [first]

    async def writer() -> None:
        rev = first
        for i in range(1, 200):
            rev = await store.update(key, str(i).encode(), rev)
            expected.append(rev)
            if i % 7 == 0:
                await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0)
    watch = store.watch(root, first)
    try:
        events = await next_events(watch, 200)
    finally:
        await watch.aclose()
    await task
    revisions = [e.kv.mod_revision for e in events]
    assert revisions == expected
    assert all(b - a == 1 for a, b in itertools.pairwise(revisions))
    assert [e.kv.value for e in events] == [str(i).encode() for i in range(200)]


async def test_watch_ends_on_aclose_and_on_store_close(store: Storage, root: str) -> None:
    watch = store.watch(root, await store.current_revision() + 1)
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    await watch.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, TIMEOUT)

    watch = store.watch(root, await store.current_revision() + 1)
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, TIMEOUT)
    await watch.aclose()


async def test_concurrent_cas_one_winner(store: Storage, root: str) -> None:
    key = root + "contended"
    rev = await store.create(key, b"start")
    results = await asyncio.gather(
        *(store.update(key, f"w{i}".encode(), rev) for i in range(20)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 19
    assert all(err.current.mod_revision == winners[0] for err in losers)


async def test_concurrent_read_modify_write_loses_nothing(store: Storage, root: str) -> None:
    key = root + "counter"
    await store.create(key, b"0")
    won: list[int] = []

    async def increment() -> None:
        while True:
            _, kv = await store.get(key)
            assert kv is not None
            await asyncio.sleep(0)  # let the others read the same revision
            try:
                won.append(await store.update(key, str(int(kv.value) + 1).encode(), kv.mod_revision))
                return
            except ConflictError:
                continue

    await asyncio.gather(*(increment() for _ in range(25)))
    _, kv = await store.get(key)
    assert kv is not None and kv.value == b"25"
    assert len(set(won)) == 25


async def test_ttl_deletes_the_key_with_a_delete_event(store: Storage, root: str) -> None:
    """A key written with a TTL goes away on its own (etcd: the lease expires; etcd's shortest lease is ~2 s), as
    a DELETE a watch sees; a later write without a TTL keeps a key for good."""
    start = await store.current_revision()
    watch = store.watch(root, start + 1)
    try:
        await store.create(root + "short", b"a", ttl=1)
        kept = await store.create(root + "kept", b"b", ttl=1)
        await store.update(root + "kept", b"c", kept)  # no TTL: no longer expires
        events = await next_events(watch, 3)
        assert [e.type for e in events] == ["PUT", "PUT", "PUT"]
        deleted = await asyncio.wait_for(anext(watch), 10)
        assert [(e.type, e.kv.key) for e in deleted] == [("DELETE", root + "short")]
        assert (await store.get(root + "short"))[1] is None
        await asyncio.sleep(1.5)
        assert (await store.get(root + "kept"))[1] is not None
    finally:
        await watch.aclose()


async def test_ttl_renewed_by_an_update(store: Storage, root: str) -> None:
    """An update with a TTL gives the new value its own lifetime (kube-apiserver's TTLFunc on every write)."""
    revision = await store.create(root + "e", b"a", ttl=30)
    await store.update(root + "e", b"b", revision, ttl=1)
    for _ in range(100):
        if (await store.get(root + "e"))[1] is None:
            break
        await asyncio.sleep(0.1)
    assert (await store.get(root + "e"))[1] is None
