"""The server's settings, filled from the command line or by the pytest fixture."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    bind_address: str = "127.0.0.1"
    port: int = 8080
    storage: str = "memory://"
    max_request_bytes: int = 1_572_864
    watch_cache_size: int = 10_240
    watch_buffer: int = 1_000
    bookmark_interval: float = 60.0
    compaction_interval: float = 300.0
    kubeconfig: str = ""
