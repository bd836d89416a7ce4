"""The scan spine on a generated phone folder: discovery, reading, errors, groups, rescans."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from photocull.groups.rule import GroupingOptions
from photocull.pipeline import ScanOptions, scan
from synthetic import save_photo


def rel_groups(db, root: Path) -> list[set[str]]:
    groups: dict[int, set[str]] = {}
    for row in db.query("select group_id, path from photos where group_id is not null"):
        groups.setdefault(row["group_id"], set()).add(os.path.relpath(row["path"], root))
    return sorted(groups.values(), key=sorted)


def test_groups_bursts_resaves_and_keeps_unrelated_apart(library, db):
    summary = scan(db, [library.root], options=ScanOptions(workers=2))
    assert rel_groups(db, library.root) == sorted(library.groups, key=sorted)
    assert summary.groups == len(library.groups)
    grouped = set().union(*library.groups)
    for single in library.singles:
        assert single not in grouped
        row = db.execute("select group_id from photos where path = ?", [str(library.root / single)]).fetchone()
        assert row == (None,)


def test_counts_videos_skips_hidden_and_loops(library, db):
    summary = scan(db, [library.root], options=ScanOptions(workers=1))
    c = summary.counts
    expected_photos = len(set().union(*library.groups)) + len(library.singles)
    assert c["measured"] == expected_photos
    assert c["photos_found"] == expected_photos + len(library.errors)
    assert c["videos"] == library.videos
    assert c["skipped_hidden"] == 2  # .thumbnails folder and a .trashed-* file
    assert c["skipped_loops"] == 1
    paths = {r["path"] for r in db.query("select path from photos")}
    assert not any("/." in p or "/loop/" in p for p in paths)


def test_orientation_applied_before_measuring(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    row = db["photos"].rows_where("path = ?", [str(library.root / library.rotated)]).__next__()
    assert row["orientation"] == 6
    assert (row["width"], row["height"]) == (1280, 854)  # stored 854×1280, shown upright
    raw = Image.open(library.root / library.rotated)
    assert raw.size == (854, 1280)


def test_capture_time_from_exif_with_subseconds_and_offset(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    get = lambda rel: next(db["photos"].rows_where("path = ?", [str(library.root / rel)]))  # noqa: E731
    frame = get("DCIM/Camera/IMG_0001.jpg")
    assert frame["captured_at"] == "2024-07-14T10:30:05.250000+01:00"
    assert frame["time_source"] == "exif"
    assert frame["camera_make"] == "Pixel"
    resave = get("WhatsApp/Images/IMG-20240714-WA0001.jpg")
    assert resave["time_source"] == "mtime"
    assert resave["captured_at"]


def test_unreadable_files_recorded_with_reason(library, db):
    summary = scan(db, [library.root], options=ScanOptions(workers=1))
    errors = {os.path.relpath(r["path"], library.root): r["error"] for r in db.query("select * from errors")}
    assert set(errors) == set(library.errors)
    for rel, keyword in library.errors.items():
        assert keyword in errors[rel]
    assert summary.counts["errors"] == len(library.errors)


def test_decompression_bomb_refused(tmp_path, db):
    root = tmp_path / "bomb"
    root.mkdir()
    Image.new("L", (15000, 15000)).save(root / "huge.png", optimize=True)  # 225 MP, tiny file
    scan(db, [root], options=ScanOptions(workers=1))
    (error,) = [r["error"] for r in db.query("select error from errors")]
    assert "decompression bomb" in error


def test_symlink_out_of_root_not_followed(tmp_path, db, pristine_library):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    shutil.copytree(pristine_library.root / "DCIM" / "Camera", outside, ignore=shutil.ignore_patterns("loop"))
    os.symlink(outside, root / "linked")
    os.symlink(outside / "IMG_9001.jpg", root / "file_link.jpg")
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["photos_found"] == 0
    assert summary.counts["skipped_links"] == 2


def test_unchanged_rescan_reads_nothing(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    before = {r["id"]: r["group_id"] for r in db.query("select id, group_id from photos")}
    again = scan(db, [library.root], options=ScanOptions(workers=1))
    assert again.counts["measured"] == 0 and again.counts["new"] == 0 and again.counts["changed"] == 0
    assert again.counts["unchanged"] == len(before)
    assert {r["id"]: r["group_id"] for r in db.query("select id, group_id from photos")} == before


def test_unchanged_rescan_keeps_groups_and_suggestions_without_recomputing(library, db, monkeypatch):
    from photocull import pipeline

    first = scan(db, [library.root], options=ScanOptions(workers=1))
    suggestions = {
        r["id"]: (r["suggestion"], r["reasons"]) for r in db.query("select id, suggestion, reasons from photos")
    }

    def must_not_run(*args, **kwargs):
        raise AssertionError("an unchanged rescan regrouped")

    monkeypatch.setattr(pipeline, "regroup", must_not_run)
    again = scan(db, [library.root], options=ScanOptions(workers=1))
    assert (again.groups, again.grouped_photos, again.suggestions) == (
        first.groups,
        first.grouped_photos,
        first.suggestions,
    )
    assert {
        r["id"]: (r["suggestion"], r["reasons"]) for r in db.query("select id, suggestion, reasons from photos")
    } == suggestions
    with pytest.raises(AssertionError, match="regrouped"):  # other settings: groups are rebuilt
        scan(db, [library.root], options=ScanOptions(workers=1, grouping=GroupingOptions(phash_threshold=4)))


def test_rescan_sees_new_changed_deleted_and_moved(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    ids = {r["path"]: r["id"] for r in db.query("select id, path from photos")}
    cam = library.root / "DCIM" / "Camera"
    # moved: same content, new folder
    (library.root / "Archive").mkdir()
    shutil.move(cam / "IMG_9001.jpg", library.root / "Archive" / "IMG_9001.jpg")
    # deleted
    (cam / "IMG_9002.jpg").unlink()
    # changed in place
    img = Image.open(cam / "IMG_9003.jpg")
    img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(cam / "IMG_9003.jpg", quality=80)
    # new
    save_photo(Image.open(cam / "IMG_9004.jpg").rotate(90), cam / "IMG_9999.jpg")

    summary = scan(db, [library.root], options=ScanOptions(workers=1))
    c = summary.counts
    assert (c["new"], c["changed"], c["moved"], c["missing"]) == (1, 1, 1, 1)
    assert c["measured"] == 2
    moved = next(db["photos"].rows_where("path = ?", [str(library.root / "Archive" / "IMG_9001.jpg")]))
    assert moved["id"] == ids[str(cam / "IMG_9001.jpg")]  # history follows the file
    changed = next(db["photos"].rows_where("path = ?", [str(cam / "IMG_9003.jpg")]))
    assert changed["id"] == ids[str(cam / "IMG_9003.jpg")]
    gone = next(db["photos"].rows_where("path = ?", [str(cam / "IMG_9002.jpg")]))
    assert gone["missing_since"] and gone["group_id"] is None


def test_group_ids_stable_when_membership_unchanged(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    first = {frozenset(m): gid for gid, m in _groups_by_id(db).items()}
    (library.root / "DCIM" / "Camera" / "IMG_1003.jpg").unlink()  # changes the chelsea group only
    scan(db, [library.root], options=ScanOptions(workers=1))
    second = {frozenset(m): gid for gid, m in _groups_by_id(db).items()}
    unchanged = set(first) & set(second)
    assert len(unchanged) == len(first) - 1
    for members in unchanged:
        assert first[members] == second[members]
    new_ids = set(second.values()) - set(first.values())
    assert len(new_ids) == 1 and min(new_ids) > max(first.values())  # ids never reused


def _groups_by_id(db) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for row in db.query("select id, group_id from photos where group_id is not null"):
        out.setdefault(row["group_id"], set()).add(row["id"])
    return out


def test_no_chain_merging(tmp_path, db):
    """A~B and B~C must not pull in a C that is far from A."""
    from photocull.groups.cluster import group

    a = 0
    b = (1 << 8) - 1  # 8 bits from a
    c = (1 << 16) - 1  # 8 bits from b, 16 from a
    hours = [0.0, 3600.0, 7200.0]  # one session, beyond a burst: the default thresholds
    groups = group([a, b, c], [a, b, c], hours, GroupingOptions(phash_threshold=10, dhash_threshold=10))
    assert groups in ([[0, 1]], [[1, 2]])


def test_burst_time_loosens_and_distance_tightens(db):
    from photocull.groups.cluster import group

    a, b = 0, (1 << 12) - 1  # 12 bits apart: too far without time evidence, fine within a burst
    opts = GroupingOptions()
    assert group([a, b], [a, b], [float("nan"), float("nan")], opts) == []
    assert group([a, b], [a, b], [0.0, 0.5], opts) == [[0, 1]]
    c = (1 << 8) - 1  # 8 bits: a near-duplicate within a session, not when taken days apart or at unknown times
    assert group([a, c], [a, c], [0.0, 3600.0], opts) == [[0, 1]]
    assert group([a, c], [a, c], [0.0, 3 * 86400.0], opts) == []
    assert group([a, c], [a, c], [float("nan"), 0.0], opts) == []
    d = (1 << 5) - 1  # 5 bits: a copy (a re-save, a messaging-app copy without EXIF) at any time
    assert group([a, d], [a, d], [float("nan"), 0.0], opts) == [[0, 1]]
    assert group([a, d], [a, d], [0.0, 3 * 86400.0], opts) == [[0, 1]]


def test_missing_root_is_a_clear_error(tmp_path, db):
    from photocull.base.errors import PhotocullError

    with pytest.raises(PhotocullError, match="not a folder"):
        scan(db, [tmp_path / "nope"])


def test_webp_gif_tiff_and_extensionless_photos_are_read(tmp_path, db, pristine_library):
    root = tmp_path / "formats"
    root.mkdir()
    src = Image.open(pristine_library.root / "DCIM" / "Camera" / "IMG_9001.jpg")
    src.save(root / "a.webp", quality=85)
    src.save(root / "b.tiff")
    frames = [src.convert("P"), src.rotate(180).convert("P")]
    frames[0].save(root / "c.gif", save_all=True, append_images=frames[1:])
    src.save(root / "IMG_NOEXT", format="JPEG")  # no extension: recognised by content
    (root / "clip.bin").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # a video by content
    summary = scan(db, [root], options=ScanOptions(workers=1))
    formats = {r["path"].rsplit("/", 1)[-1]: r["format"] for r in db.query("select path, format from photos")}
    assert formats == {"a.webp": "webp", "b.tiff": "tiff", "c.gif": "gif", "IMG_NOEXT": "jpeg"}
    assert summary.counts["videos"] == 1 and summary.counts["errors"] == 0
    # the GIF's first frame is the one measured: it groups with the other copies
    assert summary.groups == 1 and summary.grouped_photos == 4


def test_sharpness_ranks_blur_below_noise_and_ignores_exposure():
    """Noise must not pass for detail, blur must always cost, a darker frame must score the same."""
    import numpy as np
    from PIL import Image, ImageFilter

    from photocull.scan.measure import fixed_grey, sharpness
    from synthetic import sample_photos

    def score(img: Image.Image) -> float:
        return sharpness(np.asarray(fixed_grey(img), dtype=np.float32))

    rng = np.random.default_rng(0)
    for name in ("chelsea", "coffee", "astronaut"):
        soft = sample_photos()[name].resize((1600, 1200), Image.Resampling.BICUBIC)  # an upscaled, soft photo
        clean = score(soft)
        arr = np.asarray(soft, dtype=np.float32)
        noisy = score(Image.fromarray(np.clip(arr + rng.normal(0, 9, arr.shape), 0, 255).astype(np.uint8)))
        darker = score(Image.fromarray(np.clip(arr * 0.8, 0, 255).astype(np.uint8)))
        blurred = score(soft.filter(ImageFilter.GaussianBlur(3.5)))
        assert noisy < 1.3 * clean, (name, clean, noisy)
        assert abs(darker - clean) < 0.1 * clean, (name, clean, darker)
        assert blurred < 0.7 * min(clean, noisy), (name, clean, blurred)


def test_rows_measured_by_an_older_version_are_measured_again(library, db):
    from photocull.scan.measure import MEASURE_VERSION

    scan(db, [library.root], options=ScanOptions(workers=1))
    n = db.execute("select count(*) from photos").fetchone()[0]
    db.execute("update photos set measure_version = null, sharpness = 1.0")  # as an older photocull left them
    db.conn.commit()
    again = scan(db, [library.root], options=ScanOptions(workers=1))
    assert again.counts["read_again"] == n and again.counts["unchanged"] == 0
    versions = {r[0] for r in db.execute("select distinct measure_version from photos")}
    assert versions == {MEASURE_VERSION}
    assert db.execute("select count(*) from photos where sharpness = 1.0").fetchone()[0] == 0
    assert scan(db, [library.root], options=ScanOptions(workers=1)).counts["unchanged"] == n


def test_hashes_are_imagehash_bit_for_bit():
    """The scan's pHash and dHash are imagehash.phash's and dhash's bit for bit (grouping thresholds
    were set on them), computed without SciPy and without Pillow's resizes: on photos, noise, a
    panorama and strips whose short side is the hash's own size or smaller."""
    import imagehash
    import numpy as np
    from PIL import Image
    from skimage import data

    from photocull.scan.hashes import hash_bits
    from photocull.scan.measure import fixed_grey

    rng = np.random.default_rng(0)
    photos = [Image.fromarray(getattr(data, n)()) for n in ("chelsea", "astronaut", "coffee", "rocket", "camera")]
    photos += [Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) for _ in range(20)]
    photos += [Image.fromarray(data.astronaut()).resize(size) for size in ((4000, 300), (12, 400), (384, 32), (9, 384))]
    # a tiny photo, not a flat one: a flat grey's pHash bits are rounding noise in either DCT
    photos += [Image.fromarray(rng.integers(0, 256, (2, 3, 3), dtype=np.uint8))]
    for img in photos:
        grey = fixed_grey(img.convert("RGB"))
        phash, dhash = hash_bits(np.asarray(grey))
        np.testing.assert_array_equal(phash, np.asarray(imagehash.phash(grey).hash), err_msg=str(img.size))
        np.testing.assert_array_equal(dhash, np.asarray(imagehash.dhash(grey).hash), err_msg=str(img.size))


def test_a_scan_without_models_reads_jpeg_luma_with_the_same_measures(tmp_path, monkeypatch):
    """Measures alone need grey: a colour JPEG is then decoded as its luma, which must measure the
    same as the colour decode; a scan with models or faces still gets colour."""
    from photocull.scan import worker
    from photocull.scan.measure import measure
    from photocull.scan.read import read_preview
    from synthetic import sample_photos

    for name in ("chelsea", "coffee", "astronaut"):
        path = tmp_path / f"{name}.jpg"
        sample_photos()[name].resize((1600, 1200)).save(path, quality=90)
        colour, grey = read_preview(str(path)), read_preview(str(path), grey=True)
        assert (colour.image.mode, grey.image.mode) == ("RGB", "L")
        a, b = measure(colour.image), measure(grey.image)
        assert (a.phash, a.dhash) == (b.phash, b.dhash)
        for value in ("brightness", "highlights", "shadows"):  # a grey level apart at a few pixels
            assert abs(getattr(a, value) - getattr(b, value)) <= 0.001
        assert abs(a.sharpness - b.sharpness) <= 0.01 * a.sharpness

    modes = []
    real = worker.read_preview
    monkeypatch.setattr(worker, "read_preview", lambda p, **kw: modes.append(kw["grey"]) or real(p, **kw))
    worker.process(worker.Task(str(path), 0, 0))
    worker.process(worker.Task(str(path), 0, 0, model_input=True))
    assert modes == [True, False]


def test_one_set_of_decoding_processes_serves_every_folder(tmp_path, db, monkeypatch):
    """A scan of several folders starts its decoding processes once, not once per folder (each start
    costs the processes their imports and models), and a folder too small for processes of its own
    still shares them."""
    from concurrent.futures import ProcessPoolExecutor

    from photocull.scan import pool

    started = []

    class CountedPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            started.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pool, "ProcessPoolExecutor", CountedPool)
    folders = [tmp_path / name for name in ("phone", "camera", "scans")]
    for k, folder in enumerate(folders):
        for i in range(4):
            colour = (40 * k + 20 * i, 255 - 30 * i, 60 * k)
            save_photo(Image.new("RGB", (64, 48), colour), folder / f"IMG_{i}.jpg")
    summary = scan(db, folders, options=ScanOptions(workers=2))
    assert started == [1]
    assert summary.counts["measured"] == 12 and summary.counts["errors"] == 0


def test_a_file_read_once_or_streamed_gives_the_same_digest_and_preview(tmp_path, monkeypatch):
    """A photo up to READ_ONCE_BYTES is read into memory once and digested and decoded there; a
    larger one is streamed twice. Both give the file's own digest and the same preview."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from photocull.base.files import file_digest
    from photocull.scan import read

    jpeg = tmp_path / "chelsea.jpg"
    Image.fromarray(data.chelsea()).save(jpeg, quality=90)
    once = read.read_preview(str(jpeg), digest=True)
    monkeypatch.setattr(read, "READ_ONCE_BYTES", 0)
    streamed = read.read_preview(str(jpeg), digest=True)
    assert once.digest == streamed.digest == file_digest(str(jpeg))
    np.testing.assert_array_equal(np.asarray(once.image), np.asarray(streamed.image))
    assert (once.width, once.height, once.format) == (streamed.width, streamed.height, streamed.format)
