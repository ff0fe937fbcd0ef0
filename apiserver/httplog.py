"""One short line, at most once per interval, for the malformed HTTP requests aiohttp refuses.

aiohttp's server logs every request it cannot parse (a NUL byte in a header, a bad request line, a
header line too long) at ERROR with a traceback: a dozen lines that any client can ask for as often as
it likes. Go's server refuses the same requests with 400 and logs nothing. `MalformedRequestFilter`,
on the `aiohttp.server` logger, turns each such record into one WARNING line without the traceback and
lets one through per `interval` seconds, counting those it held back. Other records pass untouched.
"""

from __future__ import annotations

import logging
import time

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class MalformedRequestFilter(logging.Filter):
    """Rewrites aiohttp's records of unparseable requests to one line and rate-limits them."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self.held = 0  # records dropped since the last one let through
        self._quiet_until = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        now = time.monotonic()
        if now < self._quiet_until:
            self.held += 1
            return False
        self._quiet_until = now + self.interval
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        lines = (error.message or type(error).__name__).strip().splitlines() or [type(error).__name__]
        record.msg = "malformed HTTP request from %s: %d %s (%d more not logged in the last %gs)"
        record.args = (remote, error.code, lines[0].rstrip(":")[:200], self.held, self.interval)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self.held = 0
        return True


def install(logger_name: str = SERVER_LOGGER) -> MalformedRequestFilter:
    """Put one `MalformedRequestFilter` on aiohttp's server logger (idempotent) and return it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, MalformedRequestFilter):
            return existing
    installed = MalformedRequestFilter()
    logger.addFilter(installed)
    return installed
