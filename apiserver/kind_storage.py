"""The storage side of the served kinds: a registry and a watch cache per kind, all fed by the one reflector.

Built for the kinds a server starts with; `serve` and `stop_serving` add and remove one kind while the server runs
(a CustomResourceDefinition established or deleted): its cacher is listed between two batches of the running storage
watch, then it is routed (added to the app's KindRegistry); on removal it is unrouted first, then its watchers closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from aiohttp import web

from apiserver import codec
from apiserver.allocator import IPRange, PortRange
from apiserver.apiextensions import conversion
from apiserver.apiextensions.definition import GROUP
from apiserver.apiextensions.storage import CustomResourceDefinitionRegistry
from apiserver.cacher.cacher import Cacher
from apiserver.cacher.event import FrameBudget
from apiserver.cacher.meters import WatchCollector
from apiserver.cacher.reflector import Reflector
from apiserver.cacher.watch_cache import WatchCache
from apiserver.codec import decode
from apiserver.config import Config
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.event import EVENT
from apiserver.kinds.namespace import NAMESPACE
from apiserver.kinds.service import SERVICE
from apiserver.namespaces import NamespaceRegistry
from apiserver.registry import Registry
from apiserver.kindstorage import TTLStorage, ViewStorage
from apiserver.services import ServiceRegistry
from apiserver.state import CONFIG, METRICS, REGISTRIES, SERVED_KINDS
from storage import KeyValue, Storage

KIND_STORAGE: web.AppKey[KindStorage] = web.AppKey("kind_storage")
# kinds whose registry does more than the generic one (besides namespaces and services)
REGISTRIES_OF: dict[tuple[str, str], type[Registry]] = {
    (GROUP, "customresourcedefinitions"): CustomResourceDefinitionRegistry}


class KindStorage:
    """Every served kind's registry (`app[REGISTRIES]`, by `Kind.resource_key`: the plural, qualified for a view)
    and watch cache."""

    def __init__(self, app: web.Application, storage: Storage) -> None:
        self.app = app
        self.config = app[CONFIG]
        self.storage = storage
        self.media_type = self.config.media_type()
        self.frames = FrameBudget(self.config.watch_frame_cache_bytes)  # one budget for every resource's watch cache
        self.registries: dict[str, Registry] = {}  # by plural: each kind's, at its storage version
        self.by_path: dict[tuple[str, str], Registry] = {}  # by (apiVersion, plural): every served version's
        self.namespaces: NamespaceRegistry | None = None
        # called with each registry `serve` adds, once its cache is listed (the lifecycle controllers follow it)
        self.on_serve: list[Callable[[Registry], None]] = []
        for kind in app[SERVED_KINDS].kinds:
            self._build(kind)
        assert self.namespaces is not None, "namespaces are served"
        self.collector: WatchCollector = WatchCollector([r.cacher.meters for r in self.registries.values()],
                                        {p: _capacity(r.cacher.cache) for p, r in self.registries.items()})
        app[METRICS].registry.register(self.collector)
        self.reflector: Reflector = Reflector(storage, [r.cacher for r in self.registries.values()])
        app[REGISTRIES] = self.registries

    def registry(self, kind: Kind) -> Registry:
        """The registry serving `kind` (at its version)."""
        return self.by_path[kind.api_version, kind.plural]

    def _build(self, kind: Kind, stored: str = "") -> Registry:
        """The registry and watch cache of `kind`, stored at apiVersion `stored` (its own when empty)."""
        config = self.config
        cache = WatchCache(config.watch_cache_min_size, config.watch_cache_max_size, frames=self.frames)
        if stored and stored != kind.api_version:  # a version of a CRD served by None conversion from the stored one
            cacher = Cacher(kind, self.storage, conversion.decoder(kind.api_version), cache, config.watch_encode_cache,
                            config.bookmark_interval)
            storage = conversion.VersionedStorage(self.storage, stored, kind.api_version)
            assert self.namespaces is not None
            versioned = Registry(kind, storage, cacher, self.namespaces.check_writable, self.media_type)
            self.by_path[kind.api_version, kind.plural] = versioned
            self.registries.setdefault(kind.plural, versioned)
            return versioned
        cacher = Cacher(kind, self.storage, kind_decoder(kind), cache, config.watch_encode_cache,
                        config.bookmark_interval)
        registry: Registry
        # the built-in Namespaces and Services, by where they are stored (--aggregated serves them in a group of ours)
        if kind.etcd_prefix == NAMESPACE.etcd_prefix:
            registry = self.namespaces = NamespaceRegistry(kind, self.storage, cacher, _no_namespace, self.media_type)
        else:
            assert self.namespaces is not None, "namespaces are served first"
            check = self.namespaces.check_writable
            if kind.etcd_prefix == SERVICE.etcd_prefix:
                registry = ServiceRegistry(kind, self.storage, cacher, check,
                                           IPRange.parse(config.service_cluster_ip_range),
                                           PortRange.parse(config.service_node_port_range), self.media_type)
            else:
                registry = REGISTRIES_OF.get((kind.group, kind.plural), Registry)(
                    kind, written_storage(kind, self.storage, config), cacher, check, self.media_type)
        self.registries[kind.resource_key] = self.by_path[kind.api_version, kind.plural] = registry
        return registry

    async def start(self) -> None:
        """List and watch storage for every cache."""
        await self.reflector.start()
        for registry in self.registries.values():
            await registry.cacher.start()

    async def stop(self) -> None:
        await self.reflector.stop()
        for registry in self.registries.values():
            await registry.cacher.stop()

    async def serve(self, kind: Kind, stored: str = "") -> Registry:
        """Serve `kind` from now on, stored at apiVersion `stored` (its own when empty): its cache listed and watched,
        then routed (KindConflict if it cannot be)."""
        served = self.app[SERVED_KINDS]
        served.check(kind)
        registry = self._build(kind, stored)
        cacher = registry.cacher
        self.collector.meters.append(cacher.meters)
        self.collector.capacities.setdefault(kind.resource_key, _capacity(cacher.cache))
        await self.reflector.add(cacher)
        await cacher.start()
        for callback in self.on_serve:
            callback(registry)
        served.add(kind)
        return registry

    def replace(self, old: Kind, new: Kind) -> None:
        """Serve `new` instead of `old`, a kind of the same path, name, scope and subresources (a CRD whose schema,
        columns or short names changed), keeping its storage, watch cache and watchers."""
        registry = self.by_path[old.api_version, old.plural]
        registry.kind, registry.strategy = new, new.strategy
        self.app[SERVED_KINDS].replace(old, new)

    async def stop_serving(self, kind: Kind) -> None:
        """Stop serving `kind`: unrouted, its cache no longer fed, its watchers closed (its stored objects stay)."""
        self.app[SERVED_KINDS].remove(kind)
        registry = self.by_path.pop((kind.api_version, kind.plural))
        if self.registries.get(kind.resource_key) is registry:
            del self.registries[kind.resource_key]
            self.collector.capacities.pop(kind.resource_key, None)
        self.reflector.remove(registry.cacher)
        self.collector.meters.remove(registry.cacher.meters)
        await registry.cacher.stop()


def kind_decoder(kind: Kind) -> Callable[[KeyValue], Obj]:
    """How a kind's watch cache decodes stored values: a view converts them to its form."""
    view = kind.view
    if view is None:
        return decode
    return lambda kv: view.from_stored(decode(kv))


def written_storage(kind: Kind, storage: Storage, config: Config) -> Storage:
    """The storage a kind's registry writes through: Events with the event TTL, views converting."""
    stored = kind.view.of if kind.view is not None else kind
    written: Storage = storage
    if stored.etcd_prefix == EVENT.etcd_prefix and config.event_ttl > 0:
        written = cast(Storage, TTLStorage(storage, config.event_ttl))
    if kind.view is not None:
        written = cast(Storage, ViewStorage(written, kind.view, codec.encoder(config.media_type())))
    return written


def _capacity(cache: WatchCache) -> Callable[[], int]:
    """The watch-cache capacity gauge's reading of `cache`."""
    return lambda: cache.capacity


async def _no_namespace(namespace: str, kind: Kind, name: str) -> None:
    """Cluster-scoped kinds have no namespace to check."""
