"""The contact sheet is self-contained, escapes every name, and shows a person what they expect."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from photocull.pipeline import ScanOptions, scan
from photocull.report.sheet import render_contact_sheet
from photocull.store.database import open_db
from synthetic import save_photo, variant

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
# Any Chromium or Chrome on PATH (the Debian/Ubuntu package is `chromium`; no driver is needed).
CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), ""
)


@pytest.fixture
def sheet_library(tmp_path):
    root = tmp_path / "phone"
    rng = np.random.default_rng(0)
    t0 = dt.datetime(2024, 7, 14, 10, 30, 5)
    bursts = {
        "cat": (data.chelsea, ["IMG_0001.jpg", "IMG_0002.jpg", HOSTILE]),
        "rocket": (data.rocket, ["IMG_0101.jpg", "IMG_0102.jpg"]),
    }
    for k, (picture, names) in enumerate(bursts.values()):
        base = Image.fromarray(picture()).resize((320, 240))
        for f, name in enumerate(names):
            when = t0 + dt.timedelta(minutes=10 * k, milliseconds=250 * f)
            save_photo(variant(base, rng), root / name, when, orientation=6 if name == "IMG_0102.jpg" else 1)
    save_photo(Image.fromarray(data.coffee()).resize((240, 160)), root / "single.jpg", t0 + dt.timedelta(hours=2))
    save_photo(Image.fromarray(data.astronaut()).resize((200, 200)), root / "kept.jpg", t0 + dt.timedelta(hours=3))
    db = open_db(tmp_path / "photocull.db")
    scan(db, [root], options=ScanOptions(workers=1))
    ids = {Path(r["path"]).name: r["id"] for r in db.query("select id, path from photos")}
    verdicts = {
        "IMG_0001.jpg": ("keep", ["sharpest of 3", "eyes open"]),
        "IMG_0002.jpg": ("discard", ["blurry <b>bold</b> & more"]),
        HOSTILE: ("discard", ["duplicate of IMG_0001.jpg"]),
        "IMG_0101.jpg": ("discard", []),
        "IMG_0102.jpg": ("keep", ["rotated frame"]),
        "single.jpg": ("review", ["dark"]),
        "kept.jpg": ("keep", []),
    }
    for name, (suggestion, reasons) in verdicts.items():
        db["photos"].update(ids[name], {"suggestion": suggestion, "reasons": json.dumps(reasons)})
    db["photos"].update(ids[HOSTILE], {"happy": 0.82, "top_emotion": "contentment"})
    db["decisions"].insert({"photo_id": ids["IMG_0101.jpg"], "decision": "keep"})
    groups = {
        frozenset(Path(r["path"]).name for r in db.query("select path from photos where group_id = ?", [g["id"]]))
        for g in db.query("select id from groups where dissolved_at is null")
    }
    assert groups == {frozenset(bursts["cat"][1]), frozenset(bursts["rocket"][1])}, "fixture bursts must group"
    return db, root, ids


class Dom(HTMLParser):
    """The elements and visible text of a page, as a browser or this parser sees them."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, text):
        self.text.append(text)

    def having(self, tag: str, cls: str | None = None) -> list[dict]:
        return [a for t, a in self.elements if t == tag and (cls is None or cls in (a.get("class") or "").split())]


def test_contact_sheet_shows_groups_badges_scores_and_reasons(sheet_library, tmp_path):
    db, _root, ids = sheet_library
    out = render_contact_sheet(db, tmp_path / "sheet.html")
    text = out.read_text(encoding="utf-8")
    dom = Dom(text)
    sections = dom.having("section", "group")
    assert (
        next(s["id"] for s in sections) == f"group-{db['photos'].get(ids['IMG_0001.jpg'])['group_id']}"
    )  # largest first
    assert len(sections) == 2 and len(dom.having("section", "singles")) == 1
    badges = "".join(dom.text)
    assert badges.count("keep (your decision)") == 1  # the person's keep over a discard suggestion
    assert len(dom.having("span", "badge")) == 6  # 5 grouped + 1 single review; a lone keep is not listed
    assert "happy 0.82" in badges and "contentment" in badges and "sharpness" in badges
    assert "blurry <b>bold</b> & more" in badges and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in text
    assert "kept.jpg" not in text
    assert "word-break:break-all" not in text and "overflow-wrap:break-word" in text  # names wrap between words


def test_unreadable_files_have_their_own_section(sheet_library, tmp_path):
    db, root, _ids = sheet_library
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    scan(db, [root], options=ScanOptions(workers=1))
    dom = Dom(render_contact_sheet(db, tmp_path / "sheet.html").read_text(encoding="utf-8"))
    assert len(dom.having("section", "unreadable")) == 1
    said = "".join(dom.text)
    assert "broken.jpg" in said and "corrupt or unsupported image" in said and "1 unreadable file" in said


def test_hostile_names_are_text_and_the_page_is_offline(sheet_library, tmp_path):
    db, _, _ = sheet_library
    text = render_contact_sheet(db, tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;.jpg" in text
    dom = Dom(text)
    assert all(a["src"].startswith("data:image/jpeg;base64,") for a in dom.having("img"))
    assert len(dom.having("img")) == 6
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "no external resources"
    assert "default-src 'none'" in text


def test_thumbnails_are_upright_and_small(sheet_library, tmp_path):
    db, _root, _ = sheet_library
    dom = Dom(render_contact_sheet(db, tmp_path / "sheet.html").read_text(encoding="utf-8"))
    for img in dom.having("img"):
        thumb = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
        assert max(thumb.size) <= 240
        if img["alt"] == "IMG_0102.jpg":  # stored rotated with EXIF orientation 6
            assert thumb.width > thumb.height


def test_thumbnail_links_to_an_existing_explanation(sheet_library, tmp_path):
    db, _, ids = sheet_library
    png = tmp_path / "explain" / "IMG 0001.png"
    png.parent.mkdir()
    Image.new("RGB", (8, 8)).save(png)
    db["explanations"].insert({"photo_id": ids["IMG_0001.jpg"], "path": str(png)})
    db["explanations"].insert({"photo_id": ids["IMG_0002.jpg"], "path": str(tmp_path / "gone.png")})
    dom = Dom(render_contact_sheet(db, tmp_path / "sheet.html").read_text(encoding="utf-8"))
    assert [a["href"] for a in dom.having("a")] == ["explain/IMG%200001.png"]


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium or Chrome on PATH (apt-get install chromium)")
def test_a_browser_shows_the_sheet_as_intended(sheet_library, tmp_path):
    db, _, _ = sheet_library
    sheet = render_contact_sheet(db, tmp_path / "sheet.html")
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1100,1400",
    ]
    url = sheet.as_uri()
    dumped = subprocess.run(
        [*args, f"--user-data-dir={tmp_path / 'profile-dom'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    dom = Dom(dumped)
    assert len(dom.having("section", "group")) == 2
    assert {a["class"] for a in dom.having("span", "badge")} >= {
        "badge keep",
        "badge discard",
        "badge review",
        "badge keep decided",
    }
    assert HOSTILE in "".join(dom.text)  # shown as text…
    assert all(a["src"].startswith("data:") for a in dom.having("img"))  # …and no injected <img src=x>
    assert len(dom.having("img")) == 6
    shot = tmp_path / "sheet.png"
    subprocess.run(
        [*args, f"--user-data-dir={tmp_path / 'profile-shot'}", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=90,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    # A page of boxes and text has a few hundred colours; decoded photos bring thousands.
    # (measured: about 80,000 with the thumbnails, under 1,000 when they fail to decode)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5000
