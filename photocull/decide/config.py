"""Suggestion weights and thresholds: defined once here, overridable in the user's config.toml.

Example ``config.toml``::

    [weights]
    sharpness = 0.5
    happy = 0.0

    [junk]
    blur_sharpness = 80
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

from photocull.base.errors import PhotocullError
from photocull.base.paths import config_path

DEFAULTS: dict[str, dict[str, float]] = {
    # How much each signal counts when ranking the members of a group (normalised within the group).
    "weights": {
        "sharpness": 0.35,
        "exposure": 0.20,
        "resolution": 0.20,
        "file_quality": 0.10,
        "happy": 0.15,
        # Only in groups where every member shows faces: the least sharp subject face (faces at least
        # half the largest one's width) as a fraction of the group's best; outweighs whole-scene mood.
        "face_sharpness": 0.30,
        # Also only where every member shows faces: the share of subject faces with open eyes (a
        # blink loses to a sharper background), and the smiling ones relative to the group's best.
        "eyes_open": 0.40,
        "smiles": 0.25,
    },
    # When a second member is worth keeping too.
    "keep": {
        "min_relative_score": 0.90,  # its score is at least this fraction of the best's
        "distinct_phash_bits": 8,  # and it differs this much from every kept photo (taken apart) …
        # Frames this close in capture time are one moment: hand shake moves their hashes, so only
        # a different expression (distinct_happy) makes a second one worth keeping.
        "moment_seconds": 10.0,
        "distinct_happy": 0.35,  # … or its happiness differs this much
        "min_relative_sharpness": 0.80,  # and it is never clearly blurrier than a kept photo
        # Happiness differences smaller than this, between members of a group, are model noise:
        # the 99th percentile between unblurred frames of one burst (scripts/measure_bursts.py).
        "happy_noise": 0.20,
    },
    # Single photos marked 'review' rather than kept.
    "junk": {
        "dark_brightness": 0.06,
        "bright_brightness": 0.95,
        "blur_sharpness": 100.0,  # sharp photos of scripts/measure_bursts.py: 219 and up
    },
}


def load_config(path: Path | None = None) -> dict[str, dict[str, float]]:
    """Defaults, with any values from the TOML file laid over them (unknown keys are an error)."""
    config = copy.deepcopy(DEFAULTS)
    path = path or config_path()
    if not path.exists():
        return config
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise PhotocullError(f"cannot read the config file {path}: {exc}. Fix or remove it.") from None
    for section, values in user.items():
        if section not in config or not isinstance(values, dict):
            raise PhotocullError(f"{path}: unknown section [{section}]; known: {', '.join(config)}")
        for key, value in values.items():
            if key not in config[section] and section != "weights":
                raise PhotocullError(f"{path}: unknown key {key!r} in [{section}]; known: {', '.join(config[section])}")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise PhotocullError(f"{path}: [{section}] {key} must be a number, not {value!r}")
            config[section][key] = float(value)
    validate(config, str(path))
    return config


# Allowed ranges, so a bad value stops photocull when the file is read, never at the end of a scan.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "keep": {
        "min_relative_score": (0.0, 1.0),
        "distinct_phash_bits": (0.0, 64.0),
        "moment_seconds": (0.0, math.inf),
        "distinct_happy": (0.0, 1.0),
        "min_relative_sharpness": (0.0, 1.0),
        "happy_noise": (0.0, 1.0),
    },
    "junk": {"dark_brightness": (0.0, 1.0), "bright_brightness": (0.0, 1.0), "blur_sharpness": (0.0, math.inf)},
}


def validate(config: dict[str, dict[str, float]], source: str = "config") -> None:
    """Every value finite and in range, and at least one positive weight; the message names the key."""
    for section, values in config.items():
        for key, value in values.items():
            where = f"{source}: [{section}] {key} = {value!r}"
            if not math.isfinite(value):
                raise PhotocullError(f"{where}: must be a finite number")
            low, high = RANGES.get(section, {}).get(key, (0.0, math.inf))
            if not low <= value <= high:
                bound = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
                raise PhotocullError(f"{where}: must be {bound}")
    if not any(v > 0 for v in config["weights"].values()):
        raise PhotocullError(f"{source}: [weights] needs at least one positive weight, or nothing can be ranked")
