"""Cut the smile and eyes training data: GENKI-4K and the closed-eye faces, through the scan's own detector.

Each photo goes through photocull's face detector and photocull.faces.crops, exactly as a scanned
photo would, and yields a 48×48 face crop and two 24×24 eye patches. Closed-eye crops are tight, so
they are padded with grey first (the detector needs some context around a face). Photos where no
face is found are counted and left out.

Splits are fixed by a hash of the source photo (the closed-eye set's ``…jpg_face_1``/``_face_2`` come
from one photo and stay together): 70% train, 15% validation, 15% test. The test split is read only
by the final evaluation. The validation and test photos are also linked into class folders
(``OUT/<split>/smile/{smile,non_smile}/``, ``OUT/<split>/eyes/{closed,open}/``, open eyes being the
GENKI-4K faces), the layout ``photocull models evaluate smile|eyes --data`` reads.

    python scripts/prepare_faces.py --data ../shared/data --out .faces
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from photocull.faces.crops import eye_patches, face_crop
from photocull.faces.detect import FaceDetector

REPO = Path(__file__).resolve().parent.parent


def split_of(source: str) -> str:
    """train / val / test, fixed by the source photo's name."""
    h = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) % 100
    return "train" if h < 70 else "val" if h < 85 else "test"


def cut(det: FaceDetector, path: Path, pad: bool) -> tuple[np.ndarray, np.ndarray] | None:
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if pad:
        w, h = img.size
        img = ImageOps.expand(img, border=(w // 3, h // 3), fill=(128, 128, 128))
    faces = det.detect(img)
    if not faces:
        return None
    grey = img.convert("L")
    return face_crop(grey, faces[0]), eye_patches(grey, faces[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / ".faces")
    args = ap.parse_args()
    det = FaceDetector()
    sets = {
        "genki": [
            (p, int(label == "smile"), p.name)
            for label in ("smile", "non_smile")
            for p in sorted((args.data / "genki4k" / label).glob("*.jpg"))
        ],
        "closed": [(p, 1, p.name.split("_face_")[0]) for p in sorted((args.data / "eyes_closed").glob("*.jpg"))],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, items in sets.items():
        faces, eyes, labels, splits, names, missed = [], [], [], [], [], []
        for path, label, source in items:
            got = cut(det, path, pad=name == "closed")
            if got is None:
                missed.append(path.name)
                continue
            faces.append(got[0])
            eyes.append(got[1])
            labels.append(label)
            splits.append(split_of(source))
            names.append(path.name)
        np.savez_compressed(
            args.out / f"{name}.npz",
            faces=np.stack(faces),
            eyes=np.stack(eyes),
            y=np.array(labels, np.int8),
            split=np.array(splits),
            name=np.array(names),
        )
        summary[name] = {
            "photos": len(items),
            "no_face": len(missed),
            "per_split": {s: splits.count(s) for s in ("train", "val", "test")},
        }
    for path, _label, source in sets["genki"] + sets["closed"]:
        split = split_of(source)
        if split == "train":
            continue
        if path.parent.parent.name == "genki4k":
            links = [("smile", path.parent.name), ("eyes", "open")]
        else:
            links = [("eyes", "closed")]
        for head, cls in links:
            folder = args.out / split / head / cls
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
