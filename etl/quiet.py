"""Keep what Ray's native code writes to file descriptor 2 off the user's terminal.

Ray's C++ core worker writes notes straight to fd 2 (e.g. `core_worker.cc: ... max_restarts >
0`), which no Python logger controls and which read like failures. While Ray runs, fd 2 goes to
a log file and Python's own stderr (our warnings, errors, progress) keeps the terminal.
`-v` (MER_ETL_VERBOSE=1) or MER_ETL_DEBUG=1 leaves everything on the terminal.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def loud() -> bool:
    """Whether the user asked to see everything (`-v` sets MER_ETL_VERBOSE, or MER_ETL_DEBUG)."""
    return bool(os.environ.get("MER_ETL_DEBUG") or os.environ.get("MER_ETL_VERBOSE"))


@contextmanager
def native_stderr_to_log(name: str = "mer-etl-native-stderr.log") -> Iterator[str | None]:
    """Redirect fd 2 to a log file (its path is yielded; None when nothing was redirected)."""
    if loud():
        yield None
        return
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded, some notebooks): leave it alone
        yield None
        return
    path = os.path.join(tempfile.gettempdir(), name)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    old_stderr = sys.stderr
    new_stderr = io.TextIOWrapper(os.fdopen(os.dup(terminal), "wb"), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    handlers = [h for h in logging.root.handlers
                if isinstance(h, logging.StreamHandler) and h.stream is old_stderr]
    os.dup2(log_fd, 2)
    sys.stderr = new_stderr
    for handler in handlers:
        handler.setStream(new_stderr)
    try:
        yield path
    finally:
        new_stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr = old_stderr
        for handler in handlers:
            handler.setStream(old_stderr)
        new_stderr.close()
        os.close(terminal)
        os.close(log_fd)
