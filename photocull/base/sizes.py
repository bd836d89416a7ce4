"""File sizes for people: a unit that keeps two or three significant digits."""

from __future__ import annotations

_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"))


def shown_size(n: int) -> str:
    """``n`` bytes as ``68 KB``, ``2.4 MB``, ``31 MB``: a phone's photos run from tens of KB
    (messaging re-saves) to tens of MB, and "0.0 MB vs 0.1 MB" told nobody which file was larger."""
    for scale, unit in _UNITS:
        if n >= 0.9995 * scale:  # 999,600 bytes is 1.0 MB, not 1000 KB
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n} B"
