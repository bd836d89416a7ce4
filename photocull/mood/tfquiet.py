"""Importing TensorFlow without its start-up chatter on the user's terminal."""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with C-level stderr muted: TF ≥ 2.20 prints oneDNN notices through absl
    before TF_CPP_MIN_LOG_LEVEL applies, which would clutter every scan and explanation."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401  (imported for its side effect: loaded once, quietly)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
