"""Loading TensorFlow and LiteRT without their start-up chatter on the user's terminal."""

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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow quietly: TF ≥ 2.20 prints oneDNN notices through absl before
    TF_CPP_MIN_LOG_LEVEL applies, which would clutter every explanation."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with muted_stderr():
        import tensorflow  # noqa: F401  (imported for its side effect: loaded once, quietly)
