"""The server's settings, filled from the command line or by the pytest fixture."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    bind_address: str = "127.0.0.1"
    port: int = 8080
    storage: str = "memory://"
    max_request_bytes: int = 1_572_864
    watch_cache_min_size: int = 100
    watch_cache_max_size: int = 102_400
    watch_buffer: int = 1_000
    watch_buffer_bytes: int = 16 * 1024 * 1024
    watch_encode_cache: bool = True
    bookmark_interval: float = 60.0
    compaction_interval: float = 300.0
    kubeconfig: str = ""
    controllers: tuple[str, ...] = ()  # run in-process against this server: "endpointslice", "endpoints"
    max_endpoints_per_slice: int = 100
    endpoints_truncation: bool = True
