"""Opening a user's file safely and naming its content: the SHA-256 that scan records and apply checks."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from typing import BinaryIO

DIGEST = "sha256"


class NotARegularFile(OSError):
    """A pipe, socket or device where a photo was expected: nothing to read, and reading could block."""


def open_regular(path: str) -> BinaryIO:
    """Open ``path`` for reading without blocking on a FIFO or device, and only if it is a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file (a pipe, socket or device)", path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def content_digest(f: BinaryIO) -> str:
    """SHA-256 of every byte of an open file, from its current position."""
    return hashlib.file_digest(f, DIGEST).hexdigest()  # type: ignore[arg-type]  # typeshed wants a raw file type


def sha256_file(path: str) -> str:
    """SHA-256 of every byte of ``path`` (OSError when it cannot be read, NotARegularFile included)."""
    with open_regular(path) as f:
        return content_digest(f)
