"""SIGTERM stops long work exactly as Ctrl-C does: finished work is saved, the rest is left as it was.

Service managers, ``timeout`` and ``kill`` send SIGTERM; without this, Python would die on the spot
with a batch half done. Inside ``terminate_as_interrupt`` the signal raises KeyboardInterrupt in the
main thread, where scan and apply already stop cleanly.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
