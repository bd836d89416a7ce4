"""``photocull explain``: explain a photo or a group to a PNG, and remember it for the contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlite_utils
from PIL import Image

from photocull.base.atomic import atomic_write
from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS
from photocull.report.maps import DEFAULT_METHOD, check_method, check_model, explainer, load_photo, reading
from photocull.report.panel import Explanation, render_group_png, render_png
from photocull.scan.read import read_preview
from photocull.store.explanations import record_explanation as store_explanation
from photocull.store.groups import load_groups
from photocull.store.records import shown_time


def default_output(photo_path: str | Path, model: str, class_name: str, face: int | None = None) -> Path:
    """``<photo stem>.<model>[.face<N>].<class>.explain.png`` in the current directory, never beside
    the (read-only) library: explaining the same photo with another model or class keeps the first."""
    parts = [Path(photo_path).stem, model]
    if face is not None:
        parts.append(f"face{face}")
    parts.append(class_name.replace(" ", "_"))
    return Path.cwd() / (".".join(parts) + ".explain.png")


def default_group_output(group_id: int, model: str, class_name: str) -> Path:
    return Path.cwd() / f"group-{group_id}.{model}.{class_name.replace(' ', '_')}.explain.png"


def explain_to_file(
    path: str | Path,
    out_path: str | Path | None = None,
    *,
    model: str = "happy-sad",
    class_name: str | None = None,
    method: str = DEFAULT_METHOD,
    face: int = 0,
    map_out: str | Path | None = None,
) -> tuple[Explanation, Path]:
    """Explain one photo and render it; the whole of ``photocull explain PHOTO``. A face head
    (expression, smile, eyes) explains face number ``face`` of the export's list (0: the largest).
    ``map_out``: also write the raw map there (``save_map``)."""
    on_face = model in FACE_HEADS
    if on_face:
        from photocull.report.face_saliency import explain_face

        explanation, shown = explain_face(path, model=model, face=face, class_name=class_name, method=method)
    else:
        chosen = explainer(model, method)
        model_input, shown = load_photo(path)
        explanation = chosen.explain(model_input, shown.size, class_name=class_name, method=method)
    with reading(path):  # the header once, for the caption and the map's size
        header = read_preview(str(path))
    caption = [Path(path).name, f"taken {shown_time(header.captured_at) or 'at an unknown time'}"]
    if on_face:
        caption.append(f"face {face} (0: the largest)")
    if out_path is None:  # named by the model asked for: a face map's title also says which face
        out_path = default_output(path, model, explanation.class_name, face if on_face else None)
    out = render_png(explanation, shown, out_path, caption)
    if map_out is not None:
        save_map(explanation, (header.width, header.height), map_out)
    return explanation, out


def save_map(explanation: Explanation, size: tuple[int, int], out: str | Path) -> Path:
    """Write the map as a float32 ``.npy`` of the photo's displayed ``size`` (width, height: the
    export's), 0–1; a face head's map covers the whole frame and is zero outside the face."""
    heat = Image.fromarray(explanation.heatmap.astype(np.float32), mode="F")
    full = np.clip(np.asarray(heat.resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)
    return atomic_write(out, lambda f: np.save(f, full.astype(np.float32)))


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
    return [Path(member["path"]).name, shown_time(member.get("captured_at")) or "capture time unknown", verdict]


# face signals a group's reasons can name, and the head (and class) whose map shows each
FACE_SIGNALS = (("eyes", "eyes", "closed"), ("smil", "smile", "smile"))


def explain_group_to_file(
    db: sqlite_utils.Database,
    group_id: int,
    out_path: str | Path | None = None,
    *,
    model: str = "happy-sad",
    class_name: str | None = None,
    method: str = DEFAULT_METHOD,
) -> tuple[list[tuple[str, list[Explanation | None]]], Path]:
    """Why this frame over that one: every member of a group side by side, each with its
    suggestion and reasons, and the maps of the signals that decided — the mood model's, and the
    eyes or smile head's on each member's largest face when the reasons name eyes or smiles. Each
    member's ``explanations`` row then points at this PNG. The whole of ``photocull explain --group N``.

    Without ``class_name`` the class with the highest mean score over the members is explained
    (for ``contrast``: against the class with the next highest mean), so all maps of a row answer
    the same question and can be compared. Returns the rows (a title, one explanation or None per
    member) and the PNG.
    """
    check_model(model)
    check_method(method)
    groups = load_groups(db, group_id)
    if not groups:
        raise PhotocullError(f"there is no group {group_id}: it never existed or a rescan dissolved it")
    members = groups[0].members
    photos = [load_photo(m["path"]) for m in members]
    chosen = explainer(model, method)
    all_scores = [chosen.scores(model_input) for model_input, _ in photos]
    mean = {c: sum(s[c] for s in all_scores) for c in chosen.classes}
    if class_name is None:
        class_name = max(chosen.classes, key=lambda c: mean[c])
    against = max((c for c in chosen.classes if c != class_name), key=lambda c: mean[c])
    explanations = [
        chosen.explain(x, shown.size, class_name=class_name, method=method, against=against) for x, shown in photos
    ]
    title = f"{model}: {class_name}" + (f" rather than {against}" if method == "contrast" else "")
    rows: list[tuple[str, list[Explanation | None]]] = [(title, list(explanations))]
    reasons = " ".join(r for m in members for r in m["reasons"]).lower()
    for word, head, face_class in FACE_SIGNALS:
        if word in reasons and any(m["faces"] for m in members):
            rows.append(
                (f"{head}: {face_class} (largest face)", [_face_map(m, head, face_class, method) for m in members])
            )
    path = render_group_png(
        rows,
        [shown for _, shown in photos],
        out_path or default_group_output(group_id, model, class_name),
        [_caption(m) for m in members],
        [m["reasons"] for m in members],
    )
    for member, explanation in zip(members, explanations):
        record_explanation(db, member["id"], path, explanation)
    return rows, path


def _face_map(member: dict, head: str, face_class: str, method: str) -> Explanation | None:
    """The face head's map on the member's largest face, or None when it has none."""
    if not member["faces"]:
        return None
    from photocull.report.face_saliency import explain_face

    try:
        explanation, _ = explain_face(member["path"], model=head, face=0, class_name=face_class, method=method)
    except PhotocullError:  # the detector no longer finds the stored face (say, the file changed)
        return None
    return explanation
