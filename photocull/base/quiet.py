"""Native libraries (TensorFlow, LiteRT) print start-up notices on stderr that logging never reaches."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def muted_stderr() -> Iterator[None]:
    """Send C-level stderr (file descriptor 2) to /dev/null for the block: native libraries print
    notices there that Python's logging settings never reach."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
