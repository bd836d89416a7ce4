"""Which version of the mood models the bundled files are (their cards), read without TensorFlow."""

from __future__ import annotations

import json

from photocull.base.errors import PhotocullError
from photocull.base.heads import HEADS
from photocull.base.modelfiles import WHAT_TO_DO, model_path


def scorer_version() -> str:
    """The version of the mood scores a scan stores: both heads' card versions (plain JSON, no TensorFlow)."""
    try:
        cards = [
            json.loads(model_path(HEADS[n].card_file).read_text(encoding="utf-8")) for n in ("happy-sad", "emotion")
        ]
        return "+".join(card["version"] for card in cards)
    except (OSError, ValueError, KeyError) as exc:
        raise PhotocullError(f"cannot read the model cards: {exc}. {WHAT_TO_DO}") from exc
