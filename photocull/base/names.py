"""File names for people and for JSON: bytes that are not UTF-8 shown as escapes, never an error.

A Linux file name is bytes; Python gives a non-UTF-8 one to photocull as a str with surrogate
escapes. Terminals, HTML and UTF-8 files cannot hold those, so each output chooses: people see
``bad\\xff.jpg`` (``shown``), JSON gets ``\\udcff`` escapes that ``json.loads`` and ``os.fsencode``
turn back into the exact bytes (``json_text``), CSV carries the raw bytes (written with
``surrogateescape``).
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


def shown(name: str | None) -> str:
    """``name`` as a person should read it: undecodable bytes as ``\\xff`` escapes."""
    if name is None:
        return ""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def json_text(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that keeps non-ASCII text readable and escapes surrogates as ``\\udcXX``.

    ``ensure_ascii=False`` would leave a lone surrogate in the text, which no UTF-8 file can hold;
    inside a JSON document it can only stand in a string, where ``\\udcXX`` is its exact escape.
    """
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
