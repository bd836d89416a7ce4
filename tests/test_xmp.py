"""Sidecars carry decisions to darktable/digiKam and never lose what other tools wrote."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from photocull.decide.xmp import write_sidecars
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from synthetic import save_photo

RATING = "{http://ns.adobe.com/xap/1.0/}Rating"
LABEL = "{http://ns.adobe.com/xap/1.0/}Label"
DESC = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"

DARKTABLE_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:foo="http://example.com/foo/1.0/"
    exif:GPSLatitude="48,51.5N"
    xmp:Rating="4"
    darktable:xmp_version="5"
    foo:custom="kept">
   <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
   <darktable:history><rdf:Seq><rdf:li darktable:operation="exposure" darktable:enabled="1"/></rdf:Seq></darktable:history>
   <foo:note>an unknown element</foo:note>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


@pytest.fixture
def suggested(tmp_path, set_verdicts):
    """Five photos named after their verdict; "person" is suggested discard but the person keeps it."""
    root = tmp_path / "phone"
    for k, name in enumerate(["keep", "discard", "review", "person", "none"]):
        save_photo(Image.new("RGB", (64, 48), (40 * k, 90, 200 - 30 * k)), root / f"{name}.jpg")
    db = open_db(tmp_path / "photocull.db")
    scan(db, [root], options=ScanOptions(workers=1))
    verdicts = {
        "keep": ("keep", None),
        "discard": ("discard", None),
        "review": ("review", None),
        "person": ("discard", "keep"),
    }
    set_verdicts(db, {root / f"{name}.jpg": verdict for name, verdict in verdicts.items()})
    return db, root


def fields(sidecar: Path) -> dict:
    desc = ET.parse(sidecar).getroot().find(f".//{DESC}")
    out = {k: v for k, v in desc.attrib.items() if k in (RATING, LABEL)}
    out.update({c.tag: c.text for c in desc if c.tag in (RATING, LABEL)})
    return out


def test_new_sidecars_follow_the_effective_decision(suggested):
    db, root = suggested
    photo_bytes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("*.jpg")}
    report = write_sidecars(db, keep_rating=3)
    assert sorted(Path(p).name for p in report.created) == [
        "discard.jpg.xmp",
        "keep.jpg.xmp",
        "person.jpg.xmp",
        "review.jpg.xmp",
    ]
    assert fields(root / "discard.jpg.xmp") == {RATING: "-1", LABEL: "photocull: discard"}
    assert fields(root / "keep.jpg.xmp") == {RATING: "3", LABEL: "photocull: keep"}
    assert fields(root / "person.jpg.xmp") == {RATING: "3", LABEL: "photocull: keep"}  # the person's keep wins
    assert fields(root / "review.jpg.xmp") == {LABEL: "photocull: review"}
    assert not (root / "none.jpg.xmp").exists()
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.glob("*.jpg")} == photo_bytes
    again = write_sidecars(db, keep_rating=3)
    assert len(again.unchanged) == 4 and not again.created and not again.updated


def test_merge_keeps_foreign_fields_namespaces_and_packet(suggested):
    db, root = suggested
    sidecar = root / "person.jpg.xmp"
    sidecar.write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    db.execute("update decisions set decision = 'discard'")  # a person's discard overrides stars
    db.conn.commit()
    report = write_sidecars(db)
    assert str(sidecar) in report.updated
    text = sidecar.read_text(encoding="utf-8")
    assert "<?xpacket begin=" in text and '<?xpacket end="w"?>' in text
    for kept in (
        "darktable:history",
        'darktable:operation="exposure"',
        'foo:custom="kept"',
        "foo:note",
        "exif:GPSLatitude",
    ):
        assert kept in text
    root_el = ET.fromstring(text.encode())
    assert [li.text for li in root_el.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li") if li.text] == [
        "holiday",
        "beach",
    ]
    assert fields(sidecar) == {RATING: "-1", LABEL: "photocull: discard"}
    assert text.count("Rating") == 1


def test_a_suggestion_never_rejects_a_starred_photo(suggested):
    db, root = suggested
    (root / "discard.jpg.xmp").write_text(DARKTABLE_SIDECAR, encoding="utf-8")
    write_sidecars(db)
    assert fields(root / "discard.jpg.xmp") == {RATING: "4", LABEL: "photocull: discard"}


def test_element_form_rating_and_foreign_label(suggested):
    db, root = suggested
    sidecar = root / "keep.jpg.xmp"
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        "<xmp:Rating>2</xmp:Rating><xmp:Label>Red</xmp:Label></rdf:Description></rdf:RDF></x:xmpmeta>",
        encoding="utf-8",
    )
    write_sidecars(db, keep_rating=5)
    assert fields(sidecar) == {RATING: "5", LABEL: "Red"}  # someone else's label is kept
    assert sidecar.read_text().count("Rating") == 2  # one element: open and close tag, no extra attribute


def test_a_rejection_photocull_wrote_is_taken_back(suggested):
    db, root = suggested
    write_sidecars(db)
    assert fields(root / "discard.jpg.xmp")[RATING] == "-1"
    pid = db.execute("select id from photos where path = ?", [str(root / "discard.jpg")]).fetchone()[0]
    db["decisions"].insert({"photo_id": pid, "decision": "keep"})
    write_sidecars(db)
    assert fields(root / "discard.jpg.xmp") == {RATING: "0", LABEL: "photocull: keep"}


def test_broken_sidecar_is_left_untouched_and_reported(suggested):
    db, root = suggested
    broken = root / "review.jpg.xmp"
    broken.write_text("<x:xmpmeta this is not xml", encoding="utf-8")
    report = write_sidecars(db)
    assert [p for p, _ in report.skipped] == [str(root / "review.jpg")]
    assert "left untouched" in report.skipped[0][1]
    assert broken.read_text(encoding="utf-8") == "<x:xmpmeta this is not xml"
    assert not list(root.glob(".*photocull-tmp"))


def test_stem_naming_writes_lightroom_style_names_and_skips_collisions(suggested):
    db, root = suggested
    save_photo(Image.new("RGB", (64, 48)), root / "keep.png")
    scan(db, [root], options=ScanOptions(workers=1))
    db.execute("update photos set suggestion = 'keep' where path = ?", [str(root / "keep.png")])
    db.conn.commit()
    report = write_sidecars(db, naming="stem")
    assert (root / "discard.xmp").exists() and not (root / "keep.xmp").exists()
    assert sorted(Path(p).name for p, _ in report.skipped) == ["keep.jpg", "keep.png"]
