"""`photocull models ...`: list, train and evaluate the mood heads; list and evaluate the face heads.

TensorFlow is imported inside the commands only, so loading the CLI stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from photocull.base.heads import FACE_HEADS, HEADS, VALENCE
from photocull.base.modelfiles import models_dir
from photocull.mood.tfquiet import import_tensorflow_quietly

console = Console()


def _fmt(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


@contextmanager
def _embedding_progress(total: int) -> Iterator:
    """A progress bar fed by the embedding loop (cached variants finish instantly)."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("embedding photos", total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn expected failures (missing files, bad labels) into one-line CLI errors."""
    try:
        yield
    except (FileNotFoundError, ValueError, KeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(name="models")
def models() -> None:
    """Inspect, train and evaluate the mood models."""


@models.command(name="list")
def list_models() -> None:
    """Installed heads with their classes and the test metrics from their cards."""
    folder = models_dir()
    table = Table(title=f"models in {folder}")
    for column in ("name", "version", "test n", "accuracy", "bal. acc.", "macro-F1", "ROC-AUC", "ECE"):
        table.add_column(column)
    classes = []
    for spec in HEADS.values():
        card_path, head_path = folder / spec.card_file, folder / spec.head_file
        if not (card_path.exists() and head_path.exists()):
            table.add_row(spec.name, "not installed", *["–"] * 6)
            continue
        card = json.loads(card_path.read_text(encoding="utf-8"))
        t = card.get("test_metrics", {})
        table.add_row(
            spec.name,
            card.get("version", "?"),
            str(t.get("n", "–")),
            _fmt(t.get("accuracy")),
            _fmt(t.get("balanced_accuracy")),
            _fmt(t.get("macro_f1")),
            _fmt(t.get("roc_auc")),
            _fmt(t.get("ece")),
        )
        classes.append(f"{spec.name} classes (output order): {', '.join(card.get('classes', []))}")
    console.print(table)
    for line in classes:
        console.print(line)
    backbone = folder / "mobilenet_v2_imagenet.weights.h5"
    state = "installed" if backbone.exists() else "MISSING"
    console.print(f"backbone: MobileNetV2 (torchvision ImageNet weights, BSD-3), {state}: {backbone}")
    from photocull.faces.detect import FULL_RANGE, SHORT_RANGE  # here: LiteRT need not load for --help

    for file in (FULL_RANGE, SHORT_RANGE):
        state = "installed" if (folder / file).exists() else "MISSING"
        console.print(f"face detector: {file} (MediaPipe BlazeFace, Apache-2.0; face_detector.md), {state}")
    faces = Table(title="face heads (LiteRT)")
    for column in ("name", "version", "test set", "test n", "accuracy", "bal. acc.", "macro-F1"):
        faces.add_column(column)
    for face_spec in FACE_HEADS.values():
        card_path = folder / face_spec.card_file
        if not ((folder / face_spec.litert_file).exists() and card_path.exists()):
            missing = f"MISSING: {face_spec.litert_file} or {face_spec.card_file}"
            faces.add_row(face_spec.name, "–", missing, *["–"] * 4)
            continue
        card = json.loads(card_path.read_text(encoding="utf-8"))
        t = card.get("test_metrics", {})
        faces.add_row(
            face_spec.name,
            str(card.get("version", "–")),
            str(card.get("test_set", "–")),
            str(t.get("n", "–")),
            _fmt(t.get("accuracy")),
            _fmt(t.get("balanced_accuracy")),
            _fmt(t.get("macro_f1")),
        )
    console.print(faces)
    from photocull.mood.adapt import user_head_path

    for name, spec in HEADS.items():
        path = user_head_path(spec)
        if path.exists():
            console.print(
                f"{name}: adapted to your corrections ({path}); scans use it instead of the shipped head. "
                "Delete the file to go back."
            )


def _default_cache() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("photocull") / "embeddings"


@models.command(name="train")
@click.argument("name", type=click.Choice(sorted(HEADS)))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder with one subfolder per class (and optionally MANIFEST.csv)",
)
@click.option(
    "--from-feedback",
    is_flag=True,
    help="adapt the installed head to your corrected labels (serve, review -i) instead of training on --data",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("photocull-models"),
    show_default=True,
    help="where the head and its card are written",
)
@click.option(
    "--split-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="train/val/test split JSON; created if missing [default: OUT/splits/<data folder>.json]",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="embedding cache folder [default: the user cache folder]",
)
@click.pass_context
def train(
    ctx: click.Context,
    name: str,
    data_dir: Path | None,
    from_feedback: bool,
    out_dir: Path,
    split_file: Path | None,
    cache_dir: Path | None,
) -> None:
    """Train head NAME on a labelled folder; selects and calibrates on validation, reports test.

    With --from-feedback, adapt the installed head to your own corrected labels instead: it
    reports accuracy on a held-out 30% of the corrections before and after, and the next scan
    uses the adapted head (at least 20 corrections are needed).
    """
    if from_feedback == (data_dir is not None):
        raise click.UsageError("give either --data FOLDER or --from-feedback")
    if from_feedback:
        _train_from_feedback(ctx, name)
        return
    assert data_dir is not None  # checked above
    import_tensorflow_quietly()
    from photocull.mood.training import read_dataset, train_head, write_card

    spec = HEADS[name]
    split_file = split_file or out_dir / "splits" / f"{data_dir.name}.json"
    with _clear_errors():
        samples = read_dataset(data_dir)
        if not samples:
            raise click.ClickException(f"no images found in class subfolders of {data_dir}")
        missing = sorted(set(spec.classes) - {s.label for s in samples})
        if missing:
            raise click.ClickException(f"{data_dir} has no images for classes {', '.join(missing)} of {name}")
        total = len(samples) + 0.7 * len(samples) * spec.augment_copies
        with _embedding_progress(int(total)) as advance:
            report = train_head(
                spec, data_dir, split_file, cache_dir or _default_cache(), progress=advance, log=console.print
            )
        card = write_card(
            spec,
            report,
            data_dir,
            split_file,
            out_dir,
            [f"photocull models train {name} --data {data_dir} --out {out_dir}"],
        )
    _print_metrics(f"{name}: test split ({report.test['n']} photos)", report.test, spec.classes)
    console.print(f"wrote {out_dir / spec.head_file} and {card}; use it with PHOTOCULL_MODELS={out_dir}")


def _train_from_feedback(ctx: click.Context, name: str) -> None:
    import_tensorflow_quietly()
    from photocull.mood.adapt import train_from_feedback
    from photocull.store.database import open_db

    with console.status("adapting to your corrections…"):
        report = train_from_feedback(open_db(ctx.find_root().obj["db_path"]), HEADS[name])
    console.print(f"{name}: {report.corrections} corrections, {report.usable} with scores")
    if report.before is not None and report.after is not None:
        console.print(
            f"accuracy on {report.held_out} held-out corrections: shipped head {report.before:.0%}, "
            f"adapted on the others {report.after:.0%}"
        )
    if report.changed_elsewhere is not None:
        console.print(f"the adapted head changes the top class of {report.changed_elsewhere:.1%} of your other photos")
    console.print(report.note)
    if report.path is None:
        raise SystemExit(1)


@models.command(name="evaluate")
@click.argument("name", type=click.Choice(sorted(HEADS) + sorted(FACE_HEADS)))
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="labelled folder (one subfolder per class); FI-style emotion folders are folded for happy-sad; "
    "for a face head each image is one face crop",
)
@click.option(
    "--split-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="evaluate only the test files listed in this split JSON (default: every image)",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="embedding cache folder [default: the user cache folder]",
)
@click.option("--json", "as_json", is_flag=True, help="print only one JSON object with the metrics on stdout")
def evaluate_cmd(name: str, data_dir: Path, split_file: Path | None, cache_dir: Path | None, as_json: bool) -> None:
    """Measure installed head NAME on any labelled folder.

    \b
    Face heads read one face crop per image, in subfolders named by class:
      expression  angry/ disgust/ fear/ happy/ sad/ surprise/ neutral/  (the whole image is the face)
      smile       smile/ non_smile/   (the face is cut where the detector finds it, as in a scan)
      eyes        closed/ open/       (eye patches at the detector's eye keypoints)
    """
    if name in FACE_HEADS:
        _evaluate_face_head(name, data_dir, split_file, cache_dir, as_json)
        return
    import_tensorflow_quietly()
    import keras

    from photocull.base.metrics import evaluate
    from photocull.base.modelfiles import model_path
    from photocull.mood.backbone import load_backbone
    from photocull.mood.training import embed_samples, load_split, read_dataset

    spec = HEADS[name]
    with _clear_errors():
        samples = read_dataset(data_dir)
        if split_file:
            samples = load_split(split_file, samples)["test"]
        if not samples:
            raise click.ClickException(f"no labelled images found in {data_dir}")
        labels = {s.label for s in samples}
        label_map = VALENCE if name == "happy-sad" and labels <= set(VALENCE) else None
        head = keras.models.load_model(model_path(spec.head_file), compile=False)
        with _embedding_progress(len(samples)) as advance:
            data = embed_samples(
                load_backbone(), data_dir, samples, spec.classes, 1, cache_dir or _default_cache(), label_map, advance
            )
        probs = head.predict(data.x[0], batch_size=256, verbose=0)
        metrics = evaluate(data.y, probs, spec.classes, data.sources)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    scope = f"test files of {split_file.name}" if split_file else "all images"
    folded = " (FI emotions folded to valence)" if label_map else ""
    _print_metrics(f"{name} on {data_dir} ({scope}, {metrics['n']} photos){folded}", metrics, spec.classes)


def _evaluate_face_head(
    name: str, data_dir: Path, split_file: Path | None, cache_dir: Path | None, as_json: bool
) -> None:
    """A face head on LiteRT, as the scan runs it (no TensorFlow)."""
    from photocull.base.errors import PhotocullError
    from photocull.faces.evaluate import evaluate_face_head, labelled_images

    if split_file or cache_dir:
        raise click.UsageError("--split-file and --cache apply to the mood heads only")
    spec = FACE_HEADS[name]
    try:
        total = len(labelled_images(data_dir, spec.classes))
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"reading faces with {name}", total=total)
            metrics = evaluate_face_head(name, data_dir, lambda n: progress.advance(task, n))
    except PhotocullError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(metrics))
        return
    _print_metrics(f"{name} on {data_dir} ({metrics['n']} faces)", metrics, spec.classes)
    if metrics["without_landmarks"]:
        console.print(f"{metrics['without_landmarks']} images without a detected face were read whole")
    for line in metrics["unreadable"]:  # type: ignore[attr-defined]
        console.print(f"[yellow]skipped[/yellow] {line}")


def _print_metrics(title: str, m: dict, classes: tuple[str, ...]) -> None:
    """Summary, per-class, confusion matrix and per-source tables."""
    summary = Table(title=title)
    keys = ["n", "accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "ece"]
    keys = [k for k in keys if k in m]
    for k in keys:
        summary.add_column(k.replace("_", " "))
    summary.add_row(*[str(m[k]) if k == "n" else _fmt(m[k]) for k in keys])
    console.print(summary)

    per_class = Table(title="per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column)
    for c in classes:
        pc = m["per_class"][c]
        per_class.add_row(c, _fmt(pc["precision"]), _fmt(pc["recall"]), _fmt(pc["f1"]), str(pc["support"]))
    console.print(per_class)

    cm = Table(title="confusion matrix (rows: true, columns: predicted)")
    cm.add_column("")
    for c in classes:
        cm.add_column(c[:8])
    for c, row in zip(classes, m["confusion_matrix"]["counts"]):
        cm.add_row(c, *[str(v) for v in row])
    console.print(cm)

    if len(m.get("per_source", {})) > 1:
        sources = Table(title="per source")
        for column in ("source", *keys):
            sources.add_column(column.replace("_", " "))
        for src, sm in m["per_source"].items():
            sources.add_row(src, *[str(sm[k]) if k == "n" else _fmt(sm.get(k)) for k in keys])
        console.print(sources)
