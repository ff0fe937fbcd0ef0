"""`slice-apiserver`: serve the API (the default), print/write a kubeconfig for a running server, or print the
manifests that register an aggregated one with kube-apiserver."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop
import yaml
from aiohttp import web

from apiserver import aggregated, secure_serving, startup
from apiserver.aggregated import DEFAULT_GROUP
from apiserver.app import create_app
from apiserver.authentication.filter import authenticator_for
from apiserver.authorization.authorizer import parse_modes
from apiserver.clientconfig import load_client_config
from apiserver.codec import JSON, MEDIA_TYPES, PROTOBUF
from apiserver.config import Config
from apiserver.controllers import parse_controllers
from apiserver.filters import serving
from apiserver.filters.timeout import parse_duration
from apiserver.kubeconfig import default_path, kubeconfig, write_kubeconfig

log = logging.getLogger("apiserver")


def parser() -> argparse.ArgumentParser:
    defaults = Config()
    root = argparse.ArgumentParser(prog="slice-apiserver", description=__doc__)
    root.add_argument("--bind-address", default=defaults.bind_address, help="address to listen on (default %(default)s)")
    root.add_argument("--port", type=int, default=defaults.port, help="port to listen on (default %(default)s)")
    root.add_argument("--storage", default=defaults.storage,
                      help="storage backend: memory (embedded, the default) or etcd (see --etcd-servers)")
    root.add_argument("--etcd-servers", default=defaults.etcd_servers,
                      help="comma-separated etcd client URLs, http only (default %(default)s)")
    root.add_argument("--etcd-prefix", default=defaults.etcd_prefix,
                      help="prefix of every key in etcd (default %(default)s)")
    root.add_argument("--storage-media-type", default=defaults.storage_media_type, choices=MEDIA_TYPES,
                      help=f"how objects are written to storage: {PROTOBUF} (the default on etcd, as kube-apiserver "
                      f"writes them) or {JSON} (the default of the embedded store); both are read")
    root.add_argument("--max-request-bytes", type=int, default=defaults.max_request_bytes,
                      help="largest object the storage accepts, as etcd's --max-request-bytes (default %(default)s)")
    root.add_argument("--watch-cache-min-size", type=int, default=defaults.watch_cache_min_size,
                      help="events kept per resource at least, for watches from a resourceVersion (default %(default)s)")
    root.add_argument("--watch-cache-max-size", type=int, default=defaults.watch_cache_max_size,
                      help="events kept per resource at most; the window doubles while its events are under 75 s old "
                      "(default %(default)s)")
    root.add_argument("--watch-buffer", type=int, default=defaults.watch_buffer,
                      help="events a watcher may have pending before it is closed as too slow (default %(default)s)")
    root.add_argument("--watch-buffer-bytes", type=int, default=defaults.watch_buffer_bytes,
                      help="bytes a watcher may have pending before it is closed as too slow (default %(default)s)")
    root.add_argument("--no-watch-encode-cache", dest="watch_encode_cache", action="store_false",
                      help="serialize every event once per watcher instead of once per form (a benchmark baseline)")
    root.add_argument("--watch-frame-cache-bytes", type=int, default=defaults.watch_frame_cache_bytes,
                      help="bytes of encoded watch events kept for initial events and replays, all resources "
                      "together; past it the least recently encoded are dropped (default %(default)s)")
    root.add_argument("--bookmark-interval", type=float, default=defaults.bookmark_interval,
                      help="seconds between BOOKMARK events for watches that allow them (default %(default)s)")
    root.add_argument("--etcd-compaction-interval", dest="compaction_interval", type=float,
                      default=defaults.compaction_interval,
                      help="seconds between storage compactions; 0 turns compaction off (default %(default)s)")
    root.add_argument("--event-ttl", type=parse_duration, default=float(defaults.event_ttl),
                      help="how long an Event lives after its last write, a Go duration (default 1h0m0s)")
    root.add_argument("--kubeconfig", default=str(default_path()), help="where to write a kubeconfig for this server "
                      "(default %(default)s); empty to skip")
    root.add_argument("--controllers", type=parse_controllers, default=defaults.controllers,
                      help="comma-separated controllers to run in-process against this server: endpointslice, "
                      "endpoints (default: none)")
    root.add_argument("--no-garbage-collector", dest="garbage_collector", action="store_false",
                      help="run no garbage collector: dependents of deleted owners stay (as envtest)")
    root.add_argument("--no-namespace-controller", dest="namespace_controller", action="store_false",
                      help="run no namespace controller: deleted namespaces stay Terminating (as envtest)")
    root.add_argument("--max-endpoints-per-slice", type=int, default=defaults.max_endpoints_per_slice,
                      help="endpoints per EndpointSlice written by the endpointslice controller, 1..1000 "
                      "(default %(default)s)")
    root.add_argument("--no-endpoints-truncation", dest="endpoints_truncation", action="store_false",
                      help="the endpoints controller lets Endpoints grow past 1000 addresses instead of truncating")
    root.add_argument("--enable-fault-injection", action="store_true",
                      help="serve /debug/faults: close or drop watches, expire the watch cache, compact, pause a cache, "
                      "fail requests with 429/500/503 (for testing controllers; never in production)")
    root.add_argument("--service-cluster-ip-range", default=defaults.service_cluster_ip_range,
                      help="CIDR from which Services get their cluster IPs; its first address is the kubernetes "
                      "Service's (default %(default)s)")
    root.add_argument("--service-node-port-range", default=defaults.service_node_port_range,
                      help="ports from which NodePort and LoadBalancer Services get node ports, low-high inclusive "
                      "(default %(default)s)")
    secure = root.add_argument_group("secure serving and authentication")
    secure.add_argument("--secure", action="store_true",
                        help="serve TLS with a CA, serving certificate and admin token generated in --cert-dir "
                        "(reused while valid); the kubeconfig written carries the CA and the token")
    secure.add_argument("--cert-dir", default=str(default_path().parent),
                        help="where --secure keeps its certificates and token file (default %(default)s)")
    secure.add_argument("--tls-cert-file", default="", help="serving certificate (PEM, with its chain)")
    secure.add_argument("--tls-private-key-file", default="", help="private key of --tls-cert-file (PEM)")
    secure.add_argument("--insecure-allow-remote", action="store_true",
                        help="allow plain HTTP on a non-loopback --bind-address (no authentication: anyone who "
                        "reaches it can do anything)")
    secure.add_argument("--client-ca-file", default="",
                        help="authenticate client certificates signed by these CAs (CommonName: user, Organization: "
                        "groups)")
    secure.add_argument("--token-auth-file", default="",
                        help='authenticate bearer tokens of this CSV file: token,user,uid,"group1,group2"')
    secure.add_argument("--anonymous-auth", type=_boolean, default=defaults.anonymous_auth, metavar="true|false",
                        help="requests without credentials are system:anonymous (default %(default)s; off under "
                        "AlwaysAllow, as upstream)")
    secure.add_argument("--authorization-mode", default=defaults.authorization_mode,
                        help="comma-separated authorizers asked in order: AlwaysAllow, AlwaysDeny, RBAC; members of "
                        "system:masters are always allowed (default %(default)s)")
    secure.add_argument("--audit-log-path", default=defaults.audit_log_path,
                        help="write audit.k8s.io/v1 events of every request (Metadata level) to this file, one JSON "
                        "a line")
    secure.add_argument("--audit-log-maxsize", type=int, default=defaults.audit_log_maxsize,
                        help="megabytes of audit log before it is rotated (default %(default)s)")
    secure.add_argument("--audit-log-maxbackup", type=int, default=defaults.audit_log_maxbackup,
                        help="rotated audit logs kept (default %(default)s: all)")
    aggregated = root.add_argument_group("aggregated API (behind kube-apiserver's aggregator)")
    aggregated.add_argument("--aggregated", action="store_true",
                            help="serve our resources under --api-group, for kube-apiserver's aggregator (register it "
                            "with the manifests `slice-apiserver apiservice` prints)")
    aggregated.add_argument("--api-group", default=defaults.api_group,
                            help=f"the API group of our resources with --aggregated (default {DEFAULT_GROUP})")
    aggregated.add_argument("--service-name", default=defaults.service_name,
                            help="the Service the APIService names; --secure's serving certificate names "
                            "<service>.<namespace>.svc (default %(default)s)")
    aggregated.add_argument("--service-namespace", default=defaults.service_namespace,
                            help="its namespace (default %(default)s)")
    aggregated.add_argument("--requestheader-client-ca-file", default="",
                            help="authenticate the front proxy (the aggregator) by client certificates of these CAs; "
                            "it names the user in the request headers below")
    aggregated.add_argument("--requestheader-allowed-names", type=_strings, default=defaults.requestheader_allowed_names,
                            help="CommonNames of the front proxy's certificates allowed (comma-separated; default: any)")
    aggregated.add_argument("--requestheader-username-headers", type=_strings,
                            default=defaults.requestheader_username_headers,
                            help="headers naming the user, the first present wins (default X-Remote-User)")
    aggregated.add_argument("--requestheader-group-headers", type=_strings,
                            default=defaults.requestheader_group_headers,
                            help="headers naming the user's groups (default X-Remote-Group)")
    aggregated.add_argument("--requestheader-extra-headers-prefix", type=_strings,
                            default=defaults.requestheader_extra_headers_prefix,
                            help="prefixes of headers naming the user's extra (default X-Remote-Extra-)")
    aggregated.add_argument("--authorization-kubeconfig", default="",
                            help="delegate authorization: ask the kube-apiserver of this kubeconfig (SubjectAccessReview)"
                            " instead of --authorization-mode; system:masters and the always-allowed paths excepted")
    aggregated.add_argument("--authorization-always-allow-paths", type=_strings,
                            default=defaults.authorization_always_allow_paths,
                            help="paths delegated authorization allows anyone (a trailing * matches a prefix; default "
                            "/healthz,/readyz,/livez)")
    aggregated.add_argument("--authorization-webhook-cache-authorized-ttl", type=parse_duration,
                            default=defaults.authorization_webhook_cache_authorized_ttl,
                            help="how long an allowing review is cached, a Go duration (default 10s)")
    aggregated.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=parse_duration,
                            default=defaults.authorization_webhook_cache_unauthorized_ttl,
                            help="how long a review that does not allow is cached (default 10s)")
    root.add_argument("--request-timeout", type=parse_duration, default=defaults.request_timeout,
                      help="the longest a request that is not long-running (a watch) may take, a Go duration "
                      "(default 1m0s)")
    root.add_argument("--max-requests-inflight", type=int, default=defaults.max_requests_inflight,
                      help="read-only requests in flight at once, past which a 429 answers; long-running requests "
                      "are not counted; 0: no limit (default %(default)s)")
    root.add_argument("--max-mutating-requests-inflight", type=int, default=defaults.max_mutating_requests_inflight,
                      help="mutating requests in flight at once, past which a 429 answers; 0: no limit "
                      "(default %(default)s)")
    root.add_argument("-v", "--verbose", action="store_true", help="log every request")
    commands = root.add_subparsers(dest="command")
    config_cmd = commands.add_parser("kubeconfig", help="print a kubeconfig for a server (or write it with -o)")
    config_cmd.add_argument("--server", default="", help="server URL (default: from --bind-address/--port)")
    config_cmd.add_argument("-o", "--output", default="", help="file to write instead of printing")
    apiservice = commands.add_parser("apiservice", help="print the APIService, Service and Endpoints that register "
                                     "the server (run with --aggregated and the same flags) with kube-apiserver's "
                                     "aggregator")
    apiservice.add_argument("--address", default="",
                            help="the IP the aggregator reaches the server at (default: --bind-address); not a "
                            "loopback address, which Endpoints may not name")
    apiservice.add_argument("--ca-file", default="",
                            help="the CA of the serving certificate for the APIService's caBundle (default: the one "
                            "--secure generates; without either, the APIService skips verification)")
    return root


def config_from(args: argparse.Namespace) -> Config:
    return Config(
        bind_address=args.bind_address,
        port=args.port,
        storage=args.storage,
        etcd_servers=args.etcd_servers,
        etcd_prefix=args.etcd_prefix,
        storage_media_type=args.storage_media_type,
        max_request_bytes=args.max_request_bytes,
        watch_cache_min_size=args.watch_cache_min_size,
        watch_cache_max_size=args.watch_cache_max_size,
        watch_buffer=args.watch_buffer,
        watch_buffer_bytes=args.watch_buffer_bytes,
        watch_encode_cache=args.watch_encode_cache,
        watch_frame_cache_bytes=args.watch_frame_cache_bytes,
        bookmark_interval=args.bookmark_interval,
        compaction_interval=args.compaction_interval,
        event_ttl=int(args.event_ttl),
        kubeconfig=args.kubeconfig,
        controllers=args.controllers,
        garbage_collector=args.garbage_collector,
        namespace_controller=args.namespace_controller,
        max_endpoints_per_slice=args.max_endpoints_per_slice,
        endpoints_truncation=args.endpoints_truncation,
        enable_fault_injection=args.enable_fault_injection,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        secure=args.secure, cert_dir=args.cert_dir, tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file, insecure_allow_remote=args.insecure_allow_remote,
        client_ca_file=args.client_ca_file, token_auth_file=args.token_auth_file, anonymous_auth=args.anonymous_auth,
        authorization_mode=args.authorization_mode,
        audit_log_path=args.audit_log_path,
        audit_log_maxsize=args.audit_log_maxsize,
        audit_log_maxbackup=args.audit_log_maxbackup,
        request_timeout=args.request_timeout,
        max_requests_inflight=args.max_requests_inflight,
        max_mutating_requests_inflight=args.max_mutating_requests_inflight,
        aggregated=args.aggregated, api_group=args.api_group, service_name=args.service_name,
        service_namespace=args.service_namespace, requestheader_client_ca_file=args.requestheader_client_ca_file,
        requestheader_allowed_names=args.requestheader_allowed_names,
        requestheader_username_headers=args.requestheader_username_headers,
        requestheader_group_headers=args.requestheader_group_headers,
        requestheader_extra_headers_prefix=args.requestheader_extra_headers_prefix,
        authorization_kubeconfig=args.authorization_kubeconfig,
        authorization_always_allow_paths=args.authorization_always_allow_paths,
        authorization_webhook_cache_authorized_ttl=args.authorization_webhook_cache_authorized_ttl,
        authorization_webhook_cache_unauthorized_ttl=args.authorization_webhook_cache_unauthorized_ttl,
    )


def _strings(value: str) -> tuple[str, ...]:
    """A Go string-slice flag: comma-separated values."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _boolean(value: str) -> bool:
    """A Go-style boolean flag value."""
    if value.lower() in ("true", "1", "t"):
        return True
    if value.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r}")


async def serve(config: Config, secure: secure_serving.SecureServing, verbose: bool = False) -> None:
    await startup.wait_for_storage(config, secure.ssl_context)
    runner = serving.Runner(create_app(config), handler_cancellation=True, access_log=log if verbose else None)
    await runner.setup()
    site = web.TCPSite(runner, config.bind_address, config.port, backlog=4096, ssl_context=secure.ssl_context)
    await site.start()
    url = secure_serving.server_url(config)
    if config.kubeconfig:
        path = write_kubeconfig(config.kubeconfig, url, secure.ca_pem, secure.token)
        log.info("kubeconfig written to %s", path)
    log.info("serving on %s (storage %s)", url, config.storage_url())
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def print_apiservice(config: Config, address: str, ca_pem: bytes | None) -> None:
    """The registration manifests, one YAML document each."""
    if secure_serving.is_loopback(address) or address in ("", "0.0.0.0", "::"):
        log.warning("Endpoints may not name %r: give the address the aggregator reaches the server at (--address)",
                    address)
    if not ca_pem:
        log.warning("no CA for the serving certificate (--ca-file or --secure): the APIService skips TLS verification")
    sys.stdout.write(yaml.safe_dump_all(aggregated.manifests(config, address, ca_pem), sort_keys=False))


def tune_gc() -> None:
    """Collect cycles less often: a request allocates thousands of short-lived containers that reference
    counting already frees, so the default young-generation threshold (700) runs the collector many times
    per request for nothing. What exists at start-up is frozen out of collections. (+40 % creates/s.)"""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from(args)
    try:
        if args.command != "kubeconfig":
            secure_serving.check(config)
        secure = secure_serving.prepare(config)
        if args.command == "apiservice":
            print_apiservice(config, args.address or config.bind_address,
                             Path(args.ca_file).read_bytes() if args.ca_file else secure.ca_pem)
            return
        if args.command == "kubeconfig":
            server = args.server or secure_serving.server_url(config)
            if args.output:
                print(write_kubeconfig(args.output, server, secure.ca_pem, secure.token))
            else:
                text = yaml.safe_dump(kubeconfig(server, ca_pem=secure.ca_pem, token=secure.token), sort_keys=False)
                sys.stdout.write(text)
            return
        parse_modes(config.authorization_mode)
        authenticator_for(config)  # a missing or malformed token file or CA stops the server here
        if config.authorization_kubeconfig:
            load_client_config(config.authorization_kubeconfig)  # and so does a kubeconfig that does not load
    except (OSError, ValueError, ssl.SSLError) as err:
        sys.exit(f"slice-apiserver: {err}")
    tune_gc()
    try:
        uvloop.run(serve(config, secure, args.verbose))
    except KeyboardInterrupt:
        pass
