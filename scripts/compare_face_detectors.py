"""Which faces one detector configuration finds on real photos that another does not, for checking by eye.

Pasted test faces (scripts/measure_face_detectors.py) say little about real group photos; this
runs the shipped ``FaceDetector`` and a variant on the scan benchmark's previews and draws every box
found by only one of them on a contact sheet (green: only the shipped one; red: only the variant).

    python scripts/compare_face_detectors.py --photos <bench folder> --variant no-whole-frame --out sheet.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from photocull.faces.detect import FaceDetector, _iou  # noqa: E402
from photocull.scan.read import read_preview  # noqa: E402

VARIANTS = {
    "no-whole-frame": lambda: FaceDetector(whole_frame=False),
    "all-confirmed": lambda: FaceDetector(short_sure=2),
    "no-whole-frame-256x192": lambda: FaceDetector(large=(256, 192), whole_frame=False),
}
TILE = (252, 189)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, required=True)
    ap.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    shipped, variant = FaceDetector(), VARIANTS[args.variant]()
    tiles = []
    for path in sorted(args.photos.iterdir()):
        img = read_preview(str(path)).image.convert("RGB")
        found = {"shipped": shipped.detect(img), "variant": variant.detect(img)}
        for mine, theirs, colour in (("shipped", "variant", "lime"), ("variant", "shipped", "red")):
            others = np.array([f.box for f in found[theirs]]).reshape(-1, 4)
            for face in found[mine]:
                if len(others) and _iou(face.box, others).max() > 0.3:
                    continue
                shown = img.copy()
                ImageDraw.Draw(shown).rectangle([float(v) for v in face.box], outline=colour, width=3)
                tiles.append(shown.resize(TILE))
                print(f"only {mine}: {path.name} score {face.confidence:.2f}")
    sheet = Image.new("RGB", (TILE[0] * 5, TILE[1] * max(1, (len(tiles) + 4) // 5)))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % 5) * TILE[0], (k // 5) * TILE[1]))
    sheet.save(args.out)
    print(f"{len(tiles)} boxes differ; sheet: {args.out}")


if __name__ == "__main__":
    main()
