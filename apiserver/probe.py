"""`slice-apiserver-probe [URL]`: the containers' healthcheck. One executable and no shell, so the same exec-form
check runs under Docker and podman: exit 0 when URL answers 200 (default: the API server's /readyz on port 8080;
etcd's is `http://127.0.0.1:2379/health`), else print why and exit 1."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Sequence

READYZ = "http://127.0.0.1:8080/readyz"
TIMEOUT = 2.0  # seconds: below every healthcheck's timeout


def main(argv: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    url = args[0] if args else READYZ
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status = response.status
    except OSError as err:  # refused, timed out, or an HTTP error status (HTTPError)
        sys.exit(f"{url}: {err}")
    if status != 200:
        sys.exit(f"{url}: HTTP {status}")


if __name__ == "__main__":
    main()
