"""FER-2013 as arrays: Training, PublicTest and PrivateTest, each 48×48 grey faces with 7 labels.

FER-2013 is too large for ../shared/data; its README names a public copy in the Kaggle layout, the
GitHub repository anudeepkaddala/Facial-Expression-Predictor (folder ``archive/``). Fetch it as a
git directory (the tool library's ``fetch``), then:

    python scripts/prepare_fer.py --git /work/.mirror/anudeepkaddala+Facial-Expression-Predictor/repo

writes ``.fer/fer2013_train.npz`` (Training), ``.fer/fer2013_public.npz`` (PublicTest: model
selection) and ``.fer/fer2013_private.npz`` (PrivateTest: evaluated once, never trained or tuned
on). ``.fer/`` is git-ignored: the research set never goes into the repository. It also writes the
PublicTest and PrivateTest files as class folders (``.fer/public/<class>/``, ``.fer/private/<class>/``),
the layout ``photocull models evaluate expression --data`` reads.

That copy's Training faces are blurred (Laplacian variance median 5.9, against 2,040 for its test
faces). A sharp copy of Training is in the GitHub repository RecepTahirGunlu/Duygu-Tanima
(``train/<class>/Training_*.jpg``: the same 28,709 file names under the same classes), prepared by
its authors with OpenCV: contrast ×1.2, grey, ``equalizeHist``, JPEG (its notebook
``data-augmentation_filtering.ipynb``; its extra ``*.jpg<k>.jpg`` disgust copies are left out).
``photocull.faces.crops.equalized`` is that preparation; applied to the other copy's sharp
PublicTest faces it gives that repository's PublicTest files within 1.3 grey levels (JPEG). With

    python scripts/prepare_fer.py --git <anudeepkaddala repo> --equalized-training-git <Duygu-Tanima repo>

it also writes ``.fer/fer2013_train_equalized.npz``, what scripts/train_expression.py fits on
(checked: its 28,709 files carry the other copy's names and classes).
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER-2013's label order


def blobs(git_dir: Path, folder: str = "archive/") -> list[tuple[str, str]]:
    """(path, blob id) of every image under ``folder``, sorted by path."""
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "HEAD", folder],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        if path.lower().endswith((".jpg", ".png")):
            rows.append((path, meta.split()[2]))
    return sorted(rows)


def read_all(git_dir: Path, rows: list[tuple[str, str]]) -> list[bytes]:
    """Blob contents in one ``git cat-file --batch`` process."""
    request = "".join(f"{sha}\n" for _, sha in rows).encode()
    raw = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"], input=request, capture_output=True, check=True
    ).stdout
    out, pos = [], 0
    for _ in rows:
        header_end = raw.index(b"\n", pos)
        size = int(raw[pos:header_end].split()[2])
        out.append(raw[header_end + 1 : header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return out


def equalized_training(git_dir: Path, wanted: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """The sharp, equalized Training faces of RecepTahirGunlu/Duygu-Tanima, checked to be the
    ``wanted`` ones (``<class>/<file name>``, from the other copy), sorted by that key."""
    rows = [
        (path.removeprefix("train/"), blob)
        for path, blob in blobs(git_dir, "train/")
        if path.split("/")[-1].startswith("Training_") and path.count(".jpg") == 1
    ]
    if {key for key, _ in rows} != wanted:
        raise SystemExit(f"{git_dir}: its Training files or classes differ from the other copy's")
    x = [np.asarray(Image.open(io.BytesIO(b)).convert("L").resize((48, 48))) for b in read_all(git_dir, rows)]
    y = [CLASSES.index(key.split("/")[0]) for key, _ in rows]
    return np.stack(x).astype(np.uint8), np.array(y, dtype=np.int8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--git", type=Path, required=True, help="git directory of the fetched repository")
    ap.add_argument("--equalized-training-git", type=Path, help="git directory of RecepTahirGunlu/Duygu-Tanima")
    ap.add_argument("--out", type=Path, default=REPO / ".fer")
    args = ap.parse_args()
    rows = blobs(args.git)
    data = read_all(args.git, rows)
    splits: dict[str, tuple[list[np.ndarray], list[int], list[bytes]]] = {
        "train": ([], [], []),
        "public": ([], [], []),
        "private": ([], [], []),
    }
    for (path, _), blob in zip(rows, data, strict=True):
        parts = path.split("/")
        split = "train" if parts[1] == "train" else "private" if "PrivateTest" in parts[-1] else "public"
        face = np.asarray(Image.open(io.BytesIO(blob)).convert("L").resize((48, 48)), dtype=np.uint8)
        splits[split][0].append(face)
        splits[split][1].append(CLASSES.index(parts[2]))
        splits[split][2].append(blob)
    args.out.mkdir(exist_ok=True)
    for name, (x, y, files) in splits.items():
        labels = np.array(y, dtype=np.int8)
        np.savez_compressed(args.out / f"fer2013_{name}.npz", x=np.stack(x), y=labels)
        # the original files' bytes, a third the size of the pixels: what travels to a GPU machine
        offsets = np.cumsum([0] + [len(b) for b in files])
        np.savez(
            args.out / f"fer2013_{name}_files.npz",
            data=np.frombuffer(b"".join(files), np.uint8),
            offsets=offsets,
            y=labels,
        )
        if name != "train":
            for k, (label, blob) in enumerate(zip(y, files, strict=True)):
                folder = args.out / name / CLASSES[label]
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}_{k:05d}.jpg").write_bytes(blob)
        print(name, len(y), np.bincount(y, minlength=7).tolist())
    if args.equalized_training_git:
        wanted = {path.removeprefix("archive/train/") for path, _ in rows if path.startswith("archive/train/")}
        x, y = equalized_training(args.equalized_training_git, wanted)
        np.savez_compressed(args.out / "fer2013_train_equalized.npz", x=x, y=y)
        print("train (equalized, sharp)", len(y), np.bincount(y, minlength=7).tolist())


if __name__ == "__main__":
    main()
