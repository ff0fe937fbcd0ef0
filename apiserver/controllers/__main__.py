"""`python -m apiserver.controllers`: run the controllers as their own process against a server's plain-HTTP URL.

    python -m apiserver.controllers --server http://127.0.0.1:8080 --controllers endpointslice,endpoints \\
        --max-endpoints-per-slice 100

Works against this server or a real cluster through `kubectl proxy`. Call counts are logged every
`--report-interval` seconds and at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

import orjson
import uvloop

from apiserver.controllers.manager import CONTROLLERS, ControllerManager, parse_controllers

log = logging.getLogger("apiserver.controllers")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m apiserver.controllers", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--server", default="http://127.0.0.1:8080", help="API server URL (default %(default)s)")
    root.add_argument("--controllers", type=parse_controllers, default=CONTROLLERS,
                      help="comma-separated controllers to run (default endpointslice,endpoints)")
    root.add_argument("--max-endpoints-per-slice", type=int, default=100,
                      help="endpoints per EndpointSlice, 1..1000 (default %(default)s)")
    root.add_argument("--no-endpoints-truncation", dest="truncate_endpoints", action="store_false",
                      help="let Endpoints objects grow past 1000 addresses instead of truncating them")
    root.add_argument("--concurrent-syncs", type=int, default=5, help="workers per controller (default %(default)s)")
    root.add_argument("--max-retries", type=int, default=15,
                      help="retries of a failing sync before it is dropped (default %(default)s)")
    root.add_argument("--report-interval", type=float, default=60.0,
                      help="seconds between call-count log lines; 0 turns them off (default %(default)s)")
    return root


async def run(args: argparse.Namespace) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background, where SIGINT is ignored
        loop.add_signal_handler(signum, stopping.set)
    manager = ControllerManager(args.server, args.controllers, args.max_endpoints_per_slice, args.truncate_endpoints,
                                args.concurrent_syncs, args.max_retries)
    await manager.start(timeout=None)
    log.info("controllers %s running against %s", ",".join(manager.names), args.server)
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), args.report_interval or None)
            if args.report_interval and not stopping.is_set():
                log.info("calls %s", orjson.dumps(manager.counts()).decode())
    finally:
        log.info("calls %s", orjson.dumps(manager.counts()).decode())
        await manager.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not 1 <= args.max_endpoints_per_slice <= 1000:
        parser().error("--max-endpoints-per-slice must be 1..1000")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        uvloop.run(run(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
