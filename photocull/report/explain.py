"""``photocull explain``: explain a photo or a group to a PNG, and remember it for the contact sheet."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS
from photocull.report.panel import Explanation, render_group_png, render_png
from photocull.report.saliency import (
    check_method,
    check_model,
    get_explainer,
    load_photo,
)
from photocull.scan.read import UnreadablePhoto, read_preview
from photocull.store.explanations import record_explanation as store_explanation
from photocull.store.groups import load_groups


def default_output(photo_path: str | Path, explanation: Explanation, face: int | None = None) -> Path:
    """``<photo stem>.<model>[.face<N>].<class>.explain.png`` in the current directory, never beside
    the (read-only) library: explaining the same photo with another model or class keeps the first."""
    parts = [Path(photo_path).stem, explanation.model]
    if face is not None:
        parts.append(f"face{face}")
    parts.append(explanation.class_name.replace(" ", "_"))
    return Path.cwd() / (".".join(parts) + ".explain.png")


def photo_caption(path: str | Path) -> list[str]:
    """The lines that name an explained photo: its file name and when it was taken."""
    try:
        preview = read_preview(str(path))
    except (UnreadablePhoto, OSError):  # the explainer already read it; an error here only loses the time
        return [Path(path).name]
    when = preview.captured_at.replace("T", " ")[:22] if preview.captured_at else "capture time unknown"
    return [Path(path).name, f"taken {when}"]


def default_group_output(group_id: int, model: str, class_name: str) -> Path:
    return Path.cwd() / f"group-{group_id}.{model}.{class_name.replace(' ', '_')}.explain.png"


def explain_to_file(
    path: str | Path,
    out_path: str | Path | None = None,
    *,
    model: str = "happy-sad",
    class_name: str | None = None,
    method: str = "gradcam++",
    face: int = 0,
) -> tuple[Explanation, Path]:
    """Explain one photo and render it; the whole of ``photocull explain PHOTO``. A face head
    (expression, smile, eyes) explains face number ``face`` of the export's list (0: the largest)."""
    if model in FACE_HEADS:
        from photocull.report.face_saliency import explain_face

        explanation, shown = explain_face(path, model=model, face=face, class_name=class_name, method=method)
        out = out_path or default_output(path, explanation, face)
        caption = [*photo_caption(path), f"face {face} (0: the largest)"]
        return explanation, render_png(explanation, shown, out, caption)
    check_model(model)
    check_method(method)
    model_input, shown = load_photo(path)
    explanation = get_explainer(model).explain(model_input, shown.size, class_name=class_name, method=method)
    return explanation, render_png(
        explanation, shown, out_path or default_output(path, explanation), photo_caption(path)
    )


def record_explanation(
    db: sqlite_utils.Database, photo_id: int, out_path: str | Path, explanation: Explanation
) -> None:
    """Remember (replacing any earlier one) the PNG that explains a photo, for the HTML contact sheet."""
    store_explanation(
        db, photo_id, str(Path(out_path).resolve()), explanation.model, explanation.class_name, explanation.method
    )


def _caption(member: dict) -> list[str]:
    if member.get("decision"):
        verdict = f"your decision: {member['decision']}"
    else:
        verdict = f"suggested: {member['suggestion']}" if member.get("suggestion") else "no suggestion yet"
    when = member["captured_at"].replace("T", " ")[:22] if member.get("captured_at") else "capture time unknown"
    return [Path(member["path"]).name, when, verdict]


def explain_group_to_file(
    db: sqlite_utils.Database,
    group_id: int,
    out_path: str | Path | None = None,
    *,
    model: str = "happy-sad",
    class_name: str | None = None,
    method: str = "gradcam++",
) -> tuple[list[Explanation], Path]:
    """Explain every member of a group for one class and render them side by side; each member's
    ``explanations`` row then points at this PNG. The whole of ``photocull explain --group N``.

    Without ``class_name`` the class with the highest mean score over the members is explained, so
    all maps answer the same question and can be compared.
    """
    check_model(model)
    check_method(method)
    groups = load_groups(db, group_id)
    if not groups:
        raise PhotocullError(f"there is no group {group_id}: it never existed or a rescan dissolved it")
    members = groups[0].members
    photos = [load_photo(m["path"]) for m in members]
    explainer = get_explainer(model)
    if class_name is None:
        all_scores = [explainer.scores(model_input) for model_input, _ in photos]
        class_name = max(explainer.classes, key=lambda c: sum(s[c] for s in all_scores))
    explanations = [explainer.explain(x, shown.size, class_name=class_name, method=method) for x, shown in photos]
    path = render_group_png(
        explanations,
        [shown for _, shown in photos],
        out_path or default_group_output(group_id, model, class_name),
        [_caption(m) for m in members],
    )
    for member, explanation in zip(members, explanations):
        record_explanation(db, member["id"], path, explanation)
    return explanations, path
