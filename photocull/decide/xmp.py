"""Keep/discard decisions as XMP sidecars, so darktable, digiKam and others show them.

Naming: ``IMG_1.jpg.xmp`` by default, the convention of darktable and digiKam, the tools that read
sidecars for JPEG and HEIC (Lightroom reads sidecars only for raw files and embeds XMP in JPEGs,
which photocull never does: it does not modify photo files). Phones often keep ``IMG_1.jpg`` and
``IMG_1.heic`` side by side, which only this naming tells apart. ``naming="stem"`` writes
``IMG_1.xmp`` (Capture One, Lightroom-style) and skips photos whose stems collide.

What is written: ``xmp:Rating`` -1 (rejected, per the XMP spec) for a discard, ``keep_rating`` for
a keep if given, and ``xmp:Label`` "photocull: keep|discard|review". An existing sidecar is merged:
every other field, namespace and the packet wrapper are kept. Someone else's label is never
replaced, and a mere suggestion never rejects a photo that already has stars.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import sqlite_utils

from photocull.base.atomic import atomic_write_text
from photocull.base.errors import PhotocullError
from photocull.store.export import photo_records
from photocull.store.records import verdict

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
RATING = f"{{{NS_XMP}}}Rating"
LABEL = f"{{{NS_XMP}}}Label"
DESCRIPTION = f"{{{NS_RDF}}}Description"
LABEL_PREFIX = "photocull: "
REJECTED = -1
XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = '\n<?xpacket end="w"?>'
DECISIONS = ("keep", "discard", "review")
for _prefix, _uri in (("x", NS_X), ("rdf", NS_RDF), ("xmp", NS_XMP)):
    ET.register_namespace(_prefix, _uri)


@dataclass
class SidecarReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo path, why)

    def as_dict(self) -> dict:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def sidecar_path(photo: str, naming: Literal["full", "stem"] = "full") -> str:
    return (photo if naming == "full" else os.path.splitext(photo)[0]) + ".xmp"


def write_sidecars(
    db: sqlite_utils.Database,
    *,
    keep_rating: int | None = None,
    naming: Literal["full", "stem"] = "full",
) -> SidecarReport:
    """Write or merge a sidecar for every present photo with a decision or suggestion.

    ``keep_rating`` (0-5) is written for keeps; None leaves their rating as it is.
    """
    if keep_rating is not None and not 0 <= keep_rating <= 5:
        raise ValueError("keep_rating must be between 0 and 5 stars")
    report = SidecarReport()
    records = [(r, v) for r in photo_records(db) if (v := verdict(r)) in DECISIONS]
    owners = Counter(sidecar_path(r["path"], naming) for r, _ in records)
    for r, decision in records:
        side = sidecar_path(r["path"], naming)
        if owners[side] > 1:
            report.skipped.append((r["path"], f"{side} would be shared by several photos; use the default naming"))
            continue
        try:
            outcome = _write_one(side, decision, r["decision"] is not None, keep_rating)
        except (ET.ParseError, OSError, PhotocullError) as exc:
            report.skipped.append((r["path"], f"{side} left untouched: {exc}; fix or remove it and run again"))
            continue
        getattr(report, outcome).append(side)
    return report


def _write_one(side: str, decision: str, by_person: bool, keep_rating: int | None) -> str:
    """Create or merge one sidecar; returns "created", "updated" or "unchanged"."""
    old = None
    if os.path.exists(side):
        with open(side, encoding="utf-8-sig") as f:
            old = f.read()
    root, packet = _parse(old) if old is not None else (_new_tree(), False)
    _set_fields(root, decision, by_person, keep_rating)
    body = ET.tostring(root, encoding="unicode")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + (XPACKET_BEGIN + body + XPACKET_END if packet else body) + "\n"
    if old == text:
        return "unchanged"
    atomic_write_text(side, text)
    return "created" if old is None else "updated"


def _parse(text: str) -> tuple[ET.Element, bool]:
    """The xmpmeta (or bare rdf:RDF) tree, with every namespace prefix kept for writing back."""
    for _, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):
        if prefix and not (prefix.startswith("ns") and prefix[2:].isdigit()):
            ET.register_namespace(prefix, uri)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    root = ET.fromstring(text, parser=parser)
    if root.tag != f"{{{NS_X}}}xmpmeta" and root.tag != f"{{{NS_RDF}}}RDF":
        raise ET.ParseError("not an XMP packet (no x:xmpmeta or rdf:RDF)")
    return root, "<?xpacket" in text


def _new_tree() -> ET.Element:
    root = ET.Element(f"{{{NS_X}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
    ET.SubElement(rdf, DESCRIPTION, {f"{{{NS_RDF}}}about": ""})
    return root


def _set_fields(root: ET.Element, decision: str, by_person: bool, keep_rating: int | None) -> None:
    descriptions = list(root.iter(DESCRIPTION))
    if not descriptions:
        rdf = root if root.tag == f"{{{NS_RDF}}}RDF" else root.find(f"{{{NS_RDF}}}RDF")
        if rdf is None:
            rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
        descriptions = [ET.SubElement(rdf, DESCRIPTION, {f"{{{NS_RDF}}}about": ""})]
    label = _get(descriptions, LABEL)
    ours = label is None or label == "" or label.startswith(LABEL_PREFIX)
    if ours:
        _put(descriptions, LABEL, LABEL_PREFIX + decision)
    rating = _get(descriptions, RATING)
    stars = _as_int(rating)
    if decision == "discard":
        if by_person or stars is None or stars <= 0:
            _put(descriptions, RATING, str(REJECTED))
    elif decision == "keep" and keep_rating is not None:
        _put(descriptions, RATING, str(keep_rating))
    elif stars == REJECTED and ours and label:
        _put(descriptions, RATING, "0")  # take back a rejection photocull wrote before


def _as_int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _get(descriptions: list[ET.Element], key: str) -> str | None:
    for d in descriptions:
        if key in d.attrib:
            return d.attrib[key]
        child = d.find(key)
        if child is not None:
            return (child.text or "").strip()
    return None


def _put(descriptions: list[ET.Element], key: str, value: str) -> None:
    """Set every occurrence, attribute or element form; add an attribute when there is none."""
    found = False
    for d in descriptions:
        if key in d.attrib:
            d.set(key, value)
            found = True
        for child in d.findall(key):
            child.text = value
            found = True
    if not found:
        descriptions[0].set(key, value)
