"""Watch metering: what every watch was sent, per resource and per stream, in kube-apiserver's metric names.

Counting happens in plain integers on the hot path; a Prometheus collector turns them into
`apiserver_watch_events_total`, `apiserver_watch_events_sizes` (its `_sum` is the bytes sent; both carry an
`encoding` label beside kube-apiserver's, the watchers' media type, so JSON and protobuf watches are told apart),
`apiserver_terminated_watchers_total`, `apiserver_watch_cache_events_dispatched_total`,
`apiserver_watch_cache_events_received_total`, `apiserver_init_events_total`,
`apiserver_watch_cache_initializations_total`, `apiserver_storage_decode_errors_total` and our
`apiserver_watch_cache_encodings_total`, `apiserver_watch_cache_dispatch_filters_total`,
`apiserver_watch_cache_failures_total`, `apiserver_watch_cache_dispatch_errors_total` and
`apiserver_watch_flush_errors_total` only when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apiserver.cacher.event import Form
from apiserver.kinds.base import Kind

if TYPE_CHECKING:
    from apiserver.cacher.watcher import Watcher

SIZE_BUCKETS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)


class Sent:
    """Events and bytes sent to the watchers of one encoding, and the events' size histogram."""

    __slots__ = ("bytes", "events", "size_counts")

    def __init__(self) -> None:
        self.events = 0
        self.bytes = 0
        self.size_counts = [0] * (len(SIZE_BUCKETS) + 1)


class WatchMeters:
    """Counters of one resource's watch path."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.events_sent = 0
        self.bytes_sent = 0
        self.by_encoding: dict[str, Sent] = {}  # the same, per encoding label
        self.received = 0
        self.dispatched = 0
        self.init_events = 0
        self.filters_evaluated = 0  # groups of watchers dispatch offered an event to
        self.encodings: dict[str, int] = {}
        self.initializations = 0  # lists of storage into the cache
        self.decode_errors = 0  # stored values that did not decode
        self.failures = 0  # times the cache could not follow storage and was relisted
        self.dispatch_errors = 0  # exceptions while dispatching an event (a predicate, an encoder)
        self.terminated_count = 0
        self.flush_errors = 0
        self.closed = {"count": 0, "events": 0, "bytes": 0, "terminated": 0}

    def sent(self, encoding: str, frames: list[bytes], total: int) -> None:
        self.events_sent += len(frames)
        self.bytes_sent += total
        sent = self.by_encoding.get(encoding)
        if sent is None:
            sent = self.by_encoding[encoding] = Sent()
        sent.events += len(frames)
        sent.bytes += total
        counts = sent.size_counts
        for frame in frames:
            counts[bisect_left(SIZE_BUCKETS, len(frame))] += 1

    def encoded(self, form: Form) -> None:
        self.encodings[form.encoding] = self.encodings.get(form.encoding, 0) + 1

    def terminated(self, watcher: Watcher) -> None:
        self.terminated_count += 1
        self.closed["terminated"] += 1

    def watcher_closed(self, watcher: Watcher) -> None:
        self.closed["count"] += 1
        self.closed["events"] += watcher.events
        self.closed["bytes"] += watcher.bytes


class WatchCollector(Collector):
    """Exposes every resource's WatchMeters (and watch-cache gauges) to a Prometheus registry."""

    def __init__(self, meters: list[WatchMeters], capacities: dict[str, Any]) -> None:
        self.meters = meters
        self.capacities = capacities

    def collect(self) -> Iterator[Any]:
        gvr = ["group", "version", "resource"]
        gr = ["group", "resource"]
        events = CounterMetricFamily("apiserver_watch_events", "Number of events sent in watch clients",
                                     labels=[*gvr, "encoding"])
        sizes = HistogramMetricFamily("apiserver_watch_events_sizes", "Watch event size distribution in bytes",
                                      labels=[*gvr, "encoding"])
        terminated = CounterMetricFamily("apiserver_terminated_watchers",
                                         "Counter of watchers closed due to unresponsiveness.", labels=gr)
        dispatched = CounterMetricFamily("apiserver_watch_cache_events_dispatched",
                                         "Counter of events dispatched in watch cache.", labels=gr)
        received = CounterMetricFamily("apiserver_watch_cache_events_received",
                                       "Counter of events received in watch cache.", labels=gr)
        init = CounterMetricFamily("apiserver_init_events", "Counter of init events processed in watch cache.",
                                   labels=gr)
        encodings = CounterMetricFamily("apiserver_watch_cache_encodings",
                                        "Serializations of watch-cache objects (GET, LIST, watch) and events actually "
                                        "made, by encoding.",
                                        labels=[*gr, "encoding"])
        filters = CounterMetricFamily("apiserver_watch_cache_dispatch_filters",
                                      "Watch filters (groups of watchers sharing one) evaluated by dispatch.", labels=gr)
        initializations = CounterMetricFamily("apiserver_watch_cache_initializations",
                                              "Counter of watch cache initializations.", labels=gr)
        decode_errors = CounterMetricFamily("apiserver_storage_decode_errors",
                                            "Number of stored object decode errors split by object type", labels=gr)
        failures = CounterMetricFamily("apiserver_watch_cache_failures",
                                       "Times a watch cache could not follow storage and was relisted.", labels=gr)
        dispatch_errors = CounterMetricFamily("apiserver_watch_cache_dispatch_errors",
                                              "Exceptions while dispatching watch cache events; each closed the "
                                              "resource's watchers.", labels=gr)
        flush_errors = CounterMetricFamily("apiserver_watch_flush_errors",
                                           "Watchers closed because writing to them failed.", labels=gr)
        capacity = GaugeMetricFamily("watch_cache_capacity", "Total capacity of watch cache broken by resource type.",
                                     labels=gr)
        for m in self.meters:
            group, version, resource = m.kind.group, m.kind.version, m.kind.plural
            for encoding, sent in sorted(m.by_encoding.items()):
                events.add_metric([group, version, resource, encoding], sent.events)
                buckets, running = [], 0
                for bound, count in zip((*SIZE_BUCKETS, float("inf")), sent.size_counts):
                    running += count
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
                sizes.add_metric([group, version, resource, encoding], buckets, sent.bytes)
            terminated.add_metric([group, resource], m.terminated_count)
            flush_errors.add_metric([group, resource], m.flush_errors)
            dispatched.add_metric([group, resource], m.dispatched)
            received.add_metric([group, resource], m.received)
            init.add_metric([group, resource], m.init_events)
            filters.add_metric([group, resource], m.filters_evaluated)
            for encoding, count in sorted(m.encodings.items()):
                encodings.add_metric([group, resource, encoding], count)
            initializations.add_metric([group, resource], m.initializations)
            decode_errors.add_metric([group, resource], m.decode_errors)
            failures.add_metric([group, resource], m.failures)
            dispatch_errors.add_metric([group, resource], m.dispatch_errors)
            capacity.add_metric([group, resource], self.capacities[resource]())
        yield from (events, sizes, terminated, flush_errors, dispatched, received, init, encodings, filters,
                    initializations, decode_errors, failures, dispatch_errors, capacity)
