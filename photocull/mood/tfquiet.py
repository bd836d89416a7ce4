"""Loading TensorFlow without its start-up chatter on the user's terminal."""

from __future__ import annotations

import os
import sys

from photocull.base.quiet import muted_stderr


def import_tensorflow_quietly() -> None:
    """Import TensorFlow quietly: TF ≥ 2.20 prints oneDNN notices through absl before
    TF_CPP_MIN_LOG_LEVEL applies, which would clutter every explanation."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with muted_stderr():
        import tensorflow  # noqa: F401  (imported for its side effect: loaded once, quietly)
