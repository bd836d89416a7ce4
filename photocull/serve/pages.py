"""The web app's pages, rendered on the server: little JavaScript (static/review.js), no build step.

Every text from the library (file names, reasons, camera names) goes through ``escape``: a file
name is data, never markup. The pages read the same records the JSON API returns.
"""

from __future__ import annotations

import os
from html import escape

from photocull.base.heads import FACE_HEADS, HEADS, has_eyes_closed, is_smiling
from photocull.base.names import shown
from photocull.decide.apply import PlannedMove
from photocull.store.groups import Group
from photocull.store.records import shown_emotion, shown_time, verdict

EXPLAIN_MODELS = (*HEADS, *FACE_HEADS)


def page(title: str, token: str, body: str) -> str:
    """A whole page: the token for the script's state-changing requests, styles and script from /static."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="photocull-token" content="{escape(token)}">'
        f"<title>{escape(title)} · photocull</title>"
        '<link rel="stylesheet" href="/static/review.css">'
        '<script src="/static/review.js" defer></script>'
        f'</head><body><header><a href="/">photocull</a> <span class="where">{escape(title)}</span>'
        '<a class="right" href="/apply">what apply would move</a></header>'
        f'<div id="message" role="status" aria-live="polite"></div>{body}</body></html>\n'
    )


def _name(record: dict) -> str:
    return escape(shown(os.path.basename(record["path"])))


def badges(record: dict) -> str:
    """The signals as small labels: sharpness, exposure, mood, faces."""
    out = []
    if record.get("sharpness") is not None:
        out.append(f"sharpness {record['sharpness']:.0f}")
    if record.get("exposure") is not None:
        out.append(f"exposure {record['exposure']:.2f}")
    if record.get("happy") is not None:
        out.append(f"happy {record['happy']:.2f}")
    if record.get("top_emotion"):
        out.append(shown_emotion(record))
    faces = record.get("faces")
    if faces:
        out.append(f"{len(faces)} face{'s' if len(faces) > 1 else ''}")
        closed, smiling = sum(map(has_eyes_closed, faces)), sum(map(is_smiling, faces))
        if closed:
            out.append(f"eyes closed: {closed}")
        if smiling:
            out.append(f"smiling: {smiling}")
    return "".join(f'<span class="badge">{escape(b)}</span>' for b in out)


def _reasons(record: dict) -> str:
    items = "".join(f"<li>{escape(str(r))}</li>" for r in record.get("reasons") or [])
    return f'<ul class="reasons">{items}</ul>' if items else ""


def _state(record: dict) -> str:
    if record.get("decision"):
        return f"your decision: {record['decision']}"
    return f"suggested: {record['suggestion']}" if record.get("suggestion") else "no suggestion"


def frame(record: dict, size: int = 480) -> str:
    """One photo with its signals, reasons and keep/discard buttons (the script wires them)."""
    pid = int(record["id"])
    return (
        f'<figure class="frame {escape(verdict(record) or "")}{" decided" if record.get("decision") else ""}" '
        f'data-id="{pid}" data-suggestion="{escape(record.get("suggestion") or "")}" '
        f'data-decision="{escape(record.get("decision") or "")}" tabindex="0">'
        f'<a class="view" href="/photos/{pid}" title="full size"><img src="/api/photos/{pid}/thumbnail?size={size}" '
        f'alt="{_name(record)}" loading="lazy"></a>'
        f'<figcaption><div class="name">{_name(record)}</div>'
        f'<div class="state">{escape(_state(record))}</div>'
        f'<div class="badges">{badges(record)}</div>{_reasons(record)}'
        '<div class="buttons"><button type="button" data-decide="keep">Keep <kbd>K</kbd></button>'
        '<button type="button" data-decide="discard">Discard <kbd>D</kbd></button>'
        '<button type="button" data-decide="">Clear</button></div>'
        "</figcaption></figure>"
    )


def explain_controls() -> str:
    """Choose a model and class; the script overlays that saliency map on the focused photo."""
    options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in EXPLAIN_MODELS)
    return (
        '<form class="explain" id="explain">'
        f'<label>map of <select name="model">{options}</select></label> '
        '<label>class <input name="class" size="10" placeholder="top class"></label> '
        '<button type="submit">show on the selected photo</button> '
        '<button type="button" id="hide-map">hide maps</button></form>'
    )


KEYS = (
    "<p class='keys'><kbd>←</kbd>/<kbd>→</kbd> move · <kbd>K</kbd> keep · <kbd>D</kbd> discard · "
    "<kbd>A</kbd> accept the suggestion for the group · <kbd>Z</kbd> undo · <kbd>Enter</kbd> next group</p>"
)


def index_page(groups: list[Group], singles: list[dict], token: str) -> str:
    """Groups that need a decision (largest first), progress, then the decided ones and singles."""
    decided = [g for g in groups if g.decided]
    pending = [g for g in groups if not g.decided]
    progress = (
        f'<p class="progress"><progress value="{len(decided)}" max="{max(len(groups), 1)}"></progress> '
        f"{len(decided)} of {len(groups)} groups decided</p>"
    )

    def row(g: Group) -> str:
        marks = g.marks
        return (
            f'<li><a href="/groups/{g.id}"><img src="/api/photos/{int(g.cover["id"])}/thumbnail?size=160" alt="" '
            f'loading="lazy"><span>Group {g.id} · {len(g.members)} photos · keep {marks["keep"]}, '
            f"discard {marks['discard']}</span></a></li>"
        )

    body = [f"<main><h1>Groups to decide</h1>{progress}"]
    body.append(
        f'<ul class="groups">{"".join(map(row, pending))}</ul>' if pending else "<p>Every group is decided.</p>"
    )
    if decided:
        body.append(f'<details><summary>{len(decided)} decided groups</summary><ul class="groups">')
        body.append("".join(map(row, decided)) + "</ul></details>")
    if singles:
        body.append(f"<h2>{len(singles)} single photos that may be junk</h2><div class='frames'>")
        body.append("".join(frame(s, 320) for s in singles) + "</div>")
    body.append("</main>")
    return page("groups", token, "".join(body))


def group_page(group: Group, position: tuple[int, int], next_id: int | None, token: str) -> str:
    """A group's frames side by side, the suggestion pre-selected, keys to decide."""
    number, total = position
    nav = f'data-group="{group.id}" data-next="{"" if next_id is None else f"/groups/{next_id}"}"'
    title = f"Group {group.id} · {len(group.members)} photos"
    return page(
        title,
        token,
        f'<main class="group" {nav}><h1>{escape(title)}</h1>'
        f'<p class="progress">group {number} of {total} to decide · '
        f"{'decided' if group.decided else 'needs a decision'}</p>"
        f'{KEYS}{explain_controls()}<div class="frames">{"".join(frame(m) for m in group.members)}</div></main>',
    )


def photo_page(record: dict, token: str) -> str:
    """The full-size photo: click to switch between fitting the window and 100% (to check focus and eyes)."""
    pid = int(record["id"])
    back = (
        f'<a href="/groups/{int(record["group"])}">back to group {int(record["group"])}</a>'
        if record.get("group")
        else ""
    )
    taken = shown_time(record.get("captured_at"))
    facts = " · ".join(
        escape(str(x)) for x in (taken, f"{record['width']}×{record['height']}", record.get("camera_model")) if x
    )
    return page(
        shown(os.path.basename(record["path"])),
        token,
        f'<main class="photo" data-id="{pid}"><h1>{_name(record)}</h1><p>{facts} {back}</p>'
        f"{explain_controls()}"
        f'<div class="frames single">{frame(record, 1024)}</div>'
        f'<p class="hint">Click the photo to switch between fit and 100%.</p>'
        f'<div class="zoom fit"><img id="full" src="/api/photos/{pid}/image" alt="{_name(record)}"></div></main>',
    )


def apply_page(moves: list[PlannedMove], token: str) -> str:
    """What ``photocull apply`` would move now (a dry run; moving stays a command-line action)."""
    rows = "".join(
        f"<tr><td>{escape(shown(m.src))}</td><td>{escape(shown(m.dst) or 'system trash')}</td>"
        f"<td>{escape(m.because)}</td></tr>"
        for m in moves
    )
    table = (
        f"<table><thead><tr><th>photo</th><th>would go to</th><th>because</th></tr></thead><tbody>{rows}</tbody></table>"
        if moves
        else "<p>Nothing would move.</p>"
    )
    return page(
        "apply (dry run)",
        token,
        f"<main><h1>{len(moves)} photos would move</h1><p>Moving is done from the command line: "
        f"<code>photocull apply</code> (it never deletes; <code>photocull undo</code> puts them back).</p>"
        f"{table}</main>",
    )
