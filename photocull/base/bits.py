"""64-bit perceptual hashes as SQLite stores them (signed) and as they are compared (unsigned bits)."""

from __future__ import annotations


def to_signed64(value: int) -> int:
    """SQLite integers are signed 64-bit; store the 64 hash bits as such."""
    return value - (1 << 64) if value >= (1 << 63) else value


def to_unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def hamming(a: int, b: int) -> int:
    """Bits in which two stored 64-bit hashes differ (vectorised code uses ``np.bitwise_count``)."""
    return (to_unsigned64(a) ^ to_unsigned64(b)).bit_count()
