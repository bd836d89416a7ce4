"""A contact sheet to review groups in a browser: one self-contained HTML file, usable offline.

Thumbnails are embedded as JPEG data URIs and a Content-Security-Policy forbids scripts and any
network access, so the file can be opened, mailed or archived safely. All text from the library
(file names, reasons) is escaped: a file name is data, never markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
from html import escape
from pathlib import Path
from urllib.parse import quote

import sqlite_utils
from PIL import ImageDraw

from photocull.base.atomic import atomic_write_text, check_output_folder
from photocull.base.heads import has_eyes_closed, is_smiling
from photocull.base.names import shown
from photocull.base.progress import Progress
from photocull.scan.read import UnreadablePhoto, read_preview
from photocull.store.explanations import explanation_paths
from photocull.store.export import error_records
from photocull.store.groups import load_groups, load_review_singles
from photocull.store.records import shown_emotion

THUMB_SIZE = 240
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#f4f4f4;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin:0 0 .6em}
.group,.singles,.unreadable{background:#fff;border:2px solid #bbb;border-radius:8px;padding:1em;margin:0 0 1.5em}
.photos{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;width:248px}
figure img,.nothumb{display:block;width:240px;height:240px;object-fit:contain;background:#ddd;border:4px solid transparent}
.nothumb{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.85em}
figure.keep img{border-color:#2e8b57}figure.discard img{border-color:#c0392b;opacity:.75}
figure.review img{border-color:#e0a800}
figcaption{font-size:.85em;overflow-wrap:break-word;hyphens:none}
.unreadable li{overflow-wrap:break-word}
.badge{display:inline-block;padding:.1em .5em;border-radius:1em;color:#fff;font-weight:600;font-size:.85em}
.badge.keep{background:#2e8b57}.badge.discard{background:#c0392b}.badge.review{background:#b58900}
.badge.none{background:#888}.badge.decided{outline:2px solid #222}
.scores{color:#555}ul.reasons{margin:.3em 0 0;padding-left:1.2em}
"""


def render_contact_sheet(db: sqlite_utils.Database, path: str | os.PathLike, progress: Progress | None = None) -> Path:
    """Write the contact sheet to ``path`` (atomically) and return it; ``progress`` counts photos."""
    out = Path(path)
    check_output_folder(out)
    explanations = explanation_paths(db)
    groups = load_groups(db)
    singles = load_review_singles(db)
    unreadable = list(error_records(db))
    if progress is not None:
        progress.start(sum(len(g.members) for g in groups) + len(singles))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>photocull contact sheet</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>photocull contact sheet</h1>",
        f"<p>{len(groups)} groups, {len(singles)} single photo{'' if len(singles) == 1 else 's'} to review, "
        f"{len(unreadable)} unreadable file{'' if len(unreadable) == 1 else 's'} · made "
        f"{escape(dt.datetime.now().strftime('%Y-%m-%d %H:%M'))}</p>",
    ]
    for g in groups:
        parts.append(f'<section class="group" id="group-{g.id}"><h2>Group {g.id} · {len(g.members)} photos</h2>')
        parts.append(_photos(g.members, explanations, out.parent, progress))
        parts.append("</section>")
    if singles:
        parts.append(
            '<section class="singles" id="review"><h2>Single photos to review</h2>'
            "<p>No near-duplicates, but they look like junk (dark, blurred, a screenshot…).</p>"
        )
        parts.append(_photos(singles, explanations, out.parent, progress))
        parts.append("</section>")
    if unreadable:
        parts.append(
            '<section class="unreadable" id="unreadable"><h2>Files that could not be read</h2>'
            "<p>Not photos to photocull, or damaged: they are left where they are, never moved.</p><ul>"
        )
        parts.extend(
            f'<li><span class="name">{escape(shown(e["path"]))}</span>: {escape(e["error"])}</li>' for e in unreadable
        )
        parts.append("</ul></section>")
    parts.append("</body></html>\n")
    return atomic_write_text(out, "\n".join(parts))


def _photos(
    rows: list[dict],
    explanations: dict[int, str],
    report_dir: Path,
    progress: Progress | None,
) -> str:
    figures = []
    for r in rows:
        figures.append(_figure(r, explanations.get(r["id"]), report_dir))
        if progress is not None:
            progress.advance(1)
    return '<div class="photos">' + "".join(figures) + "</div>"


def _figure(row: dict, explanation: str | None, report_dir: Path) -> str:
    faces = row.get("faces") or []
    decision, suggestion = row.get("decision"), row.get("suggestion")
    verdict = decision or suggestion
    kind = verdict if verdict in ("keep", "discard", "review") else "none"
    badge = f"{verdict} (your decision)" if decision else (verdict or "no suggestion")
    name = shown(os.path.basename(row["path"]))
    thumb = _thumbnail(row["path"], faces, row.get("width"))
    if thumb.startswith("data:"):
        picture = f'<img src="{thumb}" alt="{escape(name)}" title="{escape(shown(row["path"]))}">'
    else:
        picture = f'<div class="nothumb">{escape(thumb)}</div>'
    if explanation and os.path.exists(explanation):
        picture = f'<a href="{escape(_link(explanation, report_dir))}" title="what the model looked at">{picture}</a>'
    reason_list = "".join(f"<li>{escape(str(r))}</li>" for r in row.get("reasons") or [])
    return (
        f'<figure class="{kind}">{picture}<figcaption>'
        f'<span class="badge {kind}{" decided" if decision else ""}">{escape(badge)}</span> '
        f'<span class="name">{escape(name)}</span>'
        f'<div class="scores">{escape(_scores(row, faces))}</div>'
        + (f'<ul class="reasons">{reason_list}</ul>' if reason_list else "")
        + "</figcaption></figure>"
    )


def _scores(row: dict, faces: list[dict]) -> str:
    parts = []
    for label, key, fmt in (
        ("sharpness", "sharpness", "{:.0f}"),
        ("exposure", "exposure", "{:.2f}"),
        ("happy", "happy", "{:.2f}"),
    ):
        if row.get(key) is not None:
            parts.append(f"{label} {fmt.format(row[key])}")
    if row.get("top_emotion"):
        parts.append(shown_emotion(row))
    if faces:
        closed = sum(map(has_eyes_closed, faces))
        smiling = sum(map(is_smiling, faces))
        parts.append(f"{len(faces)} face{'s' if len(faces) > 1 else ''}, {smiling} smiling, {closed} eyes closed")
    return " · ".join(parts)


FACE_COLOURS = {"eyes closed": (230, 57, 70), "smiling": (46, 204, 113), "face": (255, 209, 102)}


def _thumbnail(path: str, faces: list[dict], width: int | None) -> str:
    """A ~240 px upright JPEG data URI with the faces outlined (red: eyes closed, green: smiling,
    yellow: neither), or the reason there is none."""
    try:
        img = read_preview(path).image.convert("RGB")
    except (UnreadablePhoto, OSError) as exc:
        return f"no thumbnail: {shown(str(exc))}"
    img.thumbnail((THUMB_SIZE, THUMB_SIZE))
    if faces and width:
        draw = ImageDraw.Draw(img)
        scale = img.width / width
        for f in faces:
            x, y, w, h = (v * scale for v in f["box"])
            flag = "eyes closed" if has_eyes_closed(f) else "smiling" if is_smiling(f) else "face"
            draw.rectangle((x, y, x + w, y + h), outline=FACE_COLOURS[flag], width=2)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _link(target: str, report_dir: Path) -> str:
    """A relative link when possible (the report and PNGs move together), else a file:// URI."""
    try:
        return quote(os.fsencode(Path(os.path.relpath(target, report_dir)).as_posix()))
    except ValueError:  # another drive on Windows
        return Path(target).resolve().as_uri()
