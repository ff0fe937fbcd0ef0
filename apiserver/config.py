"""The server's settings, filled from the command line or by the pytest fixture."""

from __future__ import annotations

from dataclasses import dataclass

from apiserver import codec


@dataclass
class Config:
    bind_address: str = "127.0.0.1"
    port: int = 8080
    storage: str = "memory"  # memory, etcd, or a storage URL (memory://, etcd://host:port,.../prefix)
    etcd_servers: str = "http://127.0.0.1:2379"
    etcd_prefix: str = "/registry"
    storage_media_type: str = ""  # --storage-media-type; "": protobuf on etcd (upstream's default), JSON embedded
    max_request_bytes: int = 1_572_864
    watch_cache_min_size: int = 100
    watch_cache_max_size: int = 102_400
    watch_buffer: int = 1_000
    watch_buffer_bytes: int = 16 * 1024 * 1024
    watch_encode_cache: bool = True
    watch_frame_cache_bytes: int = 64 * 1024 * 1024  # encoded frames kept for initial events and replays
    bookmark_interval: float = 60.0
    compaction_interval: float = 300.0  # --etcd-compaction-interval
    event_ttl: int = 3600  # --event-ttl, in seconds: how long an Event lives after its last write
    kubeconfig: str = ""
    controllers: tuple[str, ...] = ()  # run in-process against this server: "endpointslice", "endpoints"
    garbage_collector: bool = True  # ownerReferences cascade (apiserver/lifecycle); False: as envtest
    namespace_controller: bool = True  # deleted namespaces are emptied and removed; False: they stay Terminating
    max_endpoints_per_slice: int = 100
    endpoints_truncation: bool = True
    enable_fault_injection: bool = False  # serve /debug/faults (apiserver/faults.py)
    service_cluster_ip_range: str = "10.0.0.0/24"  # kube-apiserver's default (--service-cluster-ip-range)
    service_node_port_range: str = "30000-32767"  # --service-node-port-range
    # secure serving and authentication (apiserver/secure_serving.py, apiserver/authentication)
    secure: bool = False  # TLS with a CA, serving certificate and admin token generated in cert_dir
    cert_dir: str = ""  # "": the state directory of the default kubeconfig
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    insecure_allow_remote: bool = False  # plain HTTP on a non-loopback address
    client_ca_file: str = ""
    token_auth_file: str = ""
    anonymous_auth: bool = True
    authorization_mode: str = "AlwaysAllow"
    audit_log_path: str = ""  # --audit-log-path: audit.k8s.io/v1 events at Metadata level, one JSON a line
    audit_log_maxsize: int = 100  # --audit-log-maxsize: megabytes before the log is rotated (0: lumberjack's 100)
    audit_log_maxbackup: int = 0  # --audit-log-maxbackup: rotated files kept (0: all)
    request_timeout: float = 60.0  # --request-timeout: every request but the long-running ones
    max_requests_inflight: int = 400  # --max-requests-inflight: read-only requests at once (0: no limit)
    max_mutating_requests_inflight: int = 200  # --max-mutating-requests-inflight (0: no limit)
    # aggregated-API mode (apiserver/aggregated.py): our group, the front proxy's authentication, delegation
    aggregated: bool = False  # serve our resources under api_group, behind kube-apiserver's aggregator
    api_group: str = ""  # --api-group; "": aggregated.DEFAULT_GROUP
    service_name: str = "slice-apiserver"  # the Service the APIService names (its serving certificate's name)
    service_namespace: str = "default"
    requestheader_client_ca_file: str = ""  # the CA of the front proxy's client certificate
    requestheader_allowed_names: tuple[str, ...] = ()  # its CommonNames allowed; (): any the CA signed
    requestheader_username_headers: tuple[str, ...] = ("X-Remote-User",)
    requestheader_group_headers: tuple[str, ...] = ("X-Remote-Group",)
    requestheader_extra_headers_prefix: tuple[str, ...] = ("X-Remote-Extra-",)
    authorization_kubeconfig: str = ""  # delegate authorization: SubjectAccessReviews to this kube-apiserver
    authorization_always_allow_paths: tuple[str, ...] = ("/healthz", "/readyz", "/livez")
    authorization_webhook_cache_authorized_ttl: float = 10.0
    authorization_webhook_cache_unauthorized_ttl: float = 10.0
    read_header_timeout: float = 32.0  # upstream's Go server's ReadHeaderTimeout (no flag)
    idle_timeout: float = 90.0  # its IdleTimeout for kept-alive connections (no flag)

    def media_type(self) -> str:
        """The media type objects are stored in: the one asked for, else protobuf on etcd as kube-apiserver
        stores them, JSON in the embedded store (nobody else reads it, and JSON is the faster one here)."""
        if self.storage_media_type:
            return self.storage_media_type
        return codec.JSON if self.storage_url().startswith("memory:") else codec.PROTOBUF

    def storage_url(self) -> str:
        """The ``open_storage`` URL for ``storage`` (with ``etcd_servers`` and ``etcd_prefix`` for etcd)."""
        if "://" in self.storage:
            return self.storage
        if self.storage == "memory":
            return "memory://"
        if self.storage != "etcd":
            raise ValueError(f"unknown storage {self.storage!r}: memory or etcd")
        endpoints = []
        for server in self.etcd_servers.split(","):
            scheme, sep, address = server.strip().rpartition("://")
            if sep and scheme != "http":
                raise ValueError(f"unsupported etcd server {server!r}: only http:// (no TLS)")
            endpoints.append(address.rstrip("/"))
        return f"etcd://{','.join(endpoints)}/{self.etcd_prefix.strip('/')}"
