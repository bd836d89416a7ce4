"""The scan pipeline: discover → diff against the database → decode in workers → score → store → group.

Decoding runs in ``spawn``-started worker processes that never import TensorFlow; a scorer with a
``worker_factory`` (LiteRT) scores each photo there too, any other scorer scores each batch in the
main process (one batched call); each batch is written in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import sqlite_utils

from photocull.base.errors import PhotocullError
from photocull.base.files import algorithm, file_digest
from photocull.base.interrupts import terminate_as_interrupt
from photocull.base.names import shown
from photocull.base.progress import NoProgress, Progress
from photocull.decide.config import load_config
from photocull.decide.suggest import suggest_all
from photocull.groups.rebuild import regroup
from photocull.groups.rule import GroupingOptions
from photocull.scan.discover import FoundFile, discover
from photocull.scan.measure import MEASURE_VERSION
from photocull.scan.pool import MIN_TASKS, DecodingPool
from photocull.scan.worker import FaceAnalyser, PhotoScorer, Result, Task
from photocull.store import photos as store
from photocull.store.database import BUSY, is_busy


class ScoringStage(Protocol):
    """What scan needs from the models: a version, and batched scores for 224×224 RGB uint8 inputs.

    A scorer that also has ``worker_factory`` (a picklable function returning a scorer) is run inside
    the decoding processes instead: each scores its own photos as it decodes them, so no core waits on
    another and no image array crosses a process boundary.
    """

    version: str

    def score(self, images: np.ndarray) -> list[dict]: ...


class FaceStage(Protocol):
    """What scan needs from the face stage: a version, and a picklable function returning the
    analyser of a decoding process (faces are found where the photo is decoded)."""

    @property
    def version(self) -> str: ...

    @property
    def worker_factory(self) -> Callable[[], FaceAnalyser]: ...


def _worker_factory(scorer: ScoringStage | None) -> Callable[[], PhotoScorer] | None:
    return getattr(scorer, "worker_factory", None)


def _prepare(scorer: ScoringStage | None, plans: list[tuple[str, list[Task]]]) -> None:
    """Let a scorer that loads lazily start now, overlapping its start-up with decoding."""
    prepare = getattr(scorer, "prepare", None)  # optional: an already-loaded scorer has nothing to do
    needed = any(t.model_input and t.scorer is None for _, tasks in plans for t in tasks)
    if prepare is not None and needed:
        prepare()


@dataclass
class ScanSummary:
    """Counts a person reads after a scan (and ``--json`` prints)."""

    roots: list[str]
    counts: Counter = field(default_factory=Counter)
    groups: int = 0
    grouped_photos: int = 0
    suggestions: dict = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0
    first_result_seconds: float | None = None  # from the start until the first photos were stored
    cpu_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # per stage, all processes
    started: float = field(default_factory=time.perf_counter, repr=False)

    COUNTS = (
        "photos",
        "photos_found",
        "new",
        "changed",
        "read_again",
        "unchanged",
        "moved",
        "missing",
        "measured",
        "scored",
        "errors",
        "videos",
        "other_files",
        "skipped_hidden",
        "skipped_links",
        "skipped_loops",
        "other_names",
    )

    @property
    def photos(self) -> int:
        """Photo files found that could be read: ``photos_found`` counts the unreadable ones too."""
        return self.counts["photos_found"] - self.counts["errors"]

    def as_dict(self) -> dict:
        return {
            "roots": self.roots,
            **{key: self.photos if key == "photos" else self.counts[key] for key in self.COUNTS},
            **{key: n for key, n in sorted(self.counts.items()) if key not in self.COUNTS},
            "groups": self.groups,
            "grouped_photos": self.grouped_photos,
            "suggestions": self.suggestions,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "first_result_seconds": None if self.first_result_seconds is None else round(self.first_result_seconds, 3),
            "cpu_seconds": {stage: round(s, 3) for stage, s in sorted(self.cpu_seconds.items())},
        }


@dataclass
class ScanOptions:
    workers: int = 2
    batch_size: int = 64
    grouping: GroupingOptions = field(default_factory=GroupingOptions)
    config: dict | None = None  # suggestion weights; None reads the user's config file


def _plan_root(
    db: sqlite_utils.Database,
    root: str,
    scorer: ScoringStage | None,
    faces: FaceStage | None,
    summary: ScanSummary,
    seen_files: set[tuple[int, int]],
) -> list[Task]:
    """Decide per file: unchanged (skip), moved (re-point the row), new/changed/stale scores (decode).

    A row without a content digest, or measured by another version of the measures (scanned by an
    older photocull), is read once more: apply needs the digest, and grouping and suggestions
    compare measures of one version.
    """
    factory = _worker_factory(scorer)
    face_factory = None if faces is None else faces.worker_factory

    def task(
        f: FoundFile, measure: bool = True, score: bool = True, find_faces: bool = True, counted_as: str = ""
    ) -> Task:
        return Task(
            f.path,
            f.size,
            f.mtime_ns,
            measure=measure,
            model_input=scorer is not None and score,
            scorer=factory,
            faces=face_factory if find_faces else None,
            counted_as=counted_as,
        )

    found = discover(root, seen_files)
    summary.counts.update(found.counts)
    summary.counts["photos_found"] += len(found.photos)
    known = store.photos_under(db, root)
    known_errors = store.errors_under(db, root)
    seen = {f.path for f in found.photos}
    tasks: list[Task] = []
    new_files = []
    reappeared = []
    for f in found.photos:
        row = known.get(f.path)
        current = row is not None and bool(row["digest"]) and row["measure_version"] == MEASURE_VERSION
        if row is not None and current and row["size"] == f.size and row["mtime_ns"] == f.mtime_ns:
            if row["missing_since"]:
                reappeared.append(row["id"])
            summary.counts["unchanged"] += 1
            stale_scores = scorer is not None and row["model_version"] != scorer.version
            stale_faces = faces is not None and row["faces_version"] != faces.version
            if stale_scores or stale_faces:
                tasks.append(task(f, measure=False, score=stale_scores, find_faces=stale_faces, counted_as="unchanged"))
            continue
        err = known_errors.get(f.path)
        if err is not None and err["size"] == f.size and err["mtime_ns"] == f.mtime_ns:
            summary.counts["errors"] += 1
            continue
        if row is not None:
            same = row["size"] == f.size and row["mtime_ns"] == f.mtime_ns
            summary.counts["read_again" if same else "changed"] += 1
            tasks.append(task(f, counted_as="read_again" if same else "changed"))
        else:
            new_files.append(f)
    moves = _find_moves(db, seen, new_files)
    moved_ids = {pid for pid, _, _ in moves}
    store.record_moves(db, root, moves)
    store.mark_present(db, reappeared)
    summary.counts["reappeared"] += len(reappeared)
    summary.counts["moved"] += len(moves)
    moved_paths = {path for _, path, _ in moves}
    for f in new_files:
        if f.path not in moved_paths:
            summary.counts["new"] += 1
            tasks.append(task(f, counted_as="new"))
    gone = [r["id"] for p, r in known.items() if p not in seen and r["id"] not in moved_ids and not r["missing_since"]]
    store.mark_missing(db, gone)
    store.forget_errors(db, [p for p in known_errors if p not in seen])
    summary.counts["missing"] += len(gone)
    return tasks


def _find_moves(db: sqlite_utils.Database, seen: set[str], new_files: list) -> list[tuple[int, str, int]]:
    """New paths whose content (digest) is a known photo's that is no longer at its old path.

    Only files of the same size as such a photo are read, once per kind of digest their candidates
    hold (an older photocull's SHA-256 or today's BLAKE3); one that cannot be read is left to the
    decoding stage, which records why.
    """
    if not new_files:
        return []
    by_size: dict[int, list[dict]] = defaultdict(list)
    for row in store.digests_elsewhere(db, seen):
        by_size[row["size"]].append(row)
    moves = []
    for f in new_files:
        candidates = by_size.get(f.size)
        if not candidates:
            continue
        digests: dict[str, str | None] = {}  # the new file's digest, by hash algorithm
        for row in candidates:
            kind = algorithm(row["digest"])
            if kind not in digests:
                try:
                    digests[kind] = file_digest(f.path, like=row["digest"])
                except OSError:
                    digests[kind] = None
            if row["digest"] == digests[kind] and (row["missing_since"] or not os.path.exists(row["path"])):
                moves.append((row["id"], f.path, f.mtime_ns))
                candidates.remove(row)
                break
    return moves


def _results(tasks: list[Task], decoding: DecodingPool, in_flight: int) -> Iterator[Result]:
    """One folder's tasks decoded (a seam the tests use to change the finishing order)."""
    return decoding.results(tasks, in_flight)


def _flush(
    db: sqlite_utils.Database,
    root: str,
    results: list[Result],
    scorer: ScoringStage | None,
    faces: FaceStage | None,
    summary: ScanSummary,
) -> None:
    records = [r.record for r in results if r.record is not None]
    errors = [
        {"path": r.task.path, "error": r.error, "size": r.task.size, "mtime_ns": r.task.mtime_ns}
        for r in results
        if r.error
    ]
    for r in results:
        for stage, seconds in r.cpu.items():
            summary.cpu_seconds[stage] += seconds
    clock = time.process_time()
    to_score = [(r.task.path, r.model_input) for r in results if r.model_input is not None]
    scores = [
        {**r.scores, "path": r.task.path, "model_version": scorer.version} for r in results if r.scores and scorer
    ]
    if scorer is not None and to_score:
        for (path, _), s in zip(to_score, scorer.score(np.stack([x for _, x in to_score]))):
            scores.append({**s, "path": path, "model_version": scorer.version})
        summary.cpu_seconds["inference"] += time.process_time() - clock
        clock = time.process_time()
    found = [(r.task.path, r.faces) for r in results if r.faces is not None]
    store.write_batch(db, root, records, errors, scores, found, None if faces is None else faces.version)
    summary.cpu_seconds["store"] += time.process_time() - clock
    if results and summary.first_result_seconds is None:
        summary.first_result_seconds = time.perf_counter() - summary.started
    summary.counts["measured"] += len(records)
    summary.counts["scored"] += len(scores)
    summary.counts["faces"] += sum(len(f) for _, f in found)
    summary.counts["errors"] += len(errors)
    for r in results:
        if r.error and r.task.counted_as:
            summary.counts[r.task.counted_as] -= 1


def real_roots(roots: Iterable[str | os.PathLike]) -> list[str]:
    """Each folder once, by its real path; a root inside another root is already covered by it.

    Scanning one folder through two paths (a symlink, ``.``, a bind) must never store its photos twice.
    """
    found = []
    for r in roots:
        path = os.path.realpath(os.fspath(r))
        if not os.path.isdir(path):
            raise PhotocullError(f"{shown(os.fspath(r))} is not a folder: give the folder that holds your photos")
        found.append(path)
    unique = sorted(set(found))
    return [r for r in unique if not any(store.under(r, other) for other in unique if other != r)]


def scan(
    db: sqlite_utils.Database,
    roots: Iterable[str | os.PathLike],
    *,
    scorer: ScoringStage | None = None,
    faces: FaceStage | None = None,
    options: ScanOptions | None = None,
    progress: Progress | None = None,
) -> ScanSummary:
    """Scan ``roots`` into ``db`` and regroup.

    Ctrl-C or SIGTERM saves finished batches and returns early (``interrupted``). A database write
    that fails (disk full, I/O error) stops the scan with a PhotocullError; every batch written
    before it stays, and the next scan resumes from there.
    """
    options = options or ScanOptions()
    progress = progress or NoProgress()
    config = options.config if options.config is not None else load_config()  # a bad config stops us before any work
    abs_roots = real_roots(roots)
    summary = ScanSummary(abs_roots)
    scan_id = store.start_scan(db, abs_roots)
    try:
        with terminate_as_interrupt():
            try:
                seen_files: set[tuple[int, int]] = set()
                plans = [(root, _plan_root(db, root, scorer, faces, summary, seen_files)) for root in abs_roots]
                _prepare(scorer, plans)
                total = sum(len(t) for _, t in plans)
                progress.start(total)
                # one set of decoding processes for every folder of the scan
                with DecodingPool(options.workers if total >= MIN_TASKS else 1) as pool:
                    for root, tasks in plans:
                        pending: list[Result] = []
                        for result in _results(tasks, pool, in_flight=4 * options.batch_size):
                            pending.append(result)
                            if len(pending) >= options.batch_size:
                                _flush(db, root, pending, scorer, faces, summary)
                                progress.advance(len(pending))
                                pending = []
                        _flush(db, root, pending, scorer, faces, summary)
                        progress.advance(len(pending))
            except KeyboardInterrupt:
                summary.interrupted = True
            settings = json.dumps({"grouping": options.grouping.as_dict(), "config": config}, sort_keys=True)
            # every new, changed or re-read file is a task; moves, disappearances and returns are not
            changed = any(tasks for _, tasks in plans) or any(
                summary.counts[k] for k in ("moved", "missing", "reappeared")
            )
            if changed or store.last_settings(db) != settings:
                groups = regroup(db, options.grouping)
                summary.groups = len(groups)
                summary.grouped_photos = sum(len(m) for m in groups.values())
                summary.suggestions = suggest_all(db, config)
            else:  # nothing moved, appeared or changed, and the same settings: groups and suggestions stand
                summary.groups, summary.grouped_photos, summary.suggestions = store.current_outcome(db)
            summary.seconds = time.perf_counter() - summary.started
            status = "interrupted" if summary.interrupted else "done"
            store.finish_scan(db, scan_id, status, summary.as_dict(), settings)
    except sqlite3.DatabaseError as exc:
        _mark_failed(db, scan_id, summary)
        if is_busy(exc):
            raise PhotocullError(f"{BUSY} The next scan resumes from the last batch saved.") from None
        raise PhotocullError(
            f"could not write to the database {shown(store.db_file(db))}: {exc}. Every batch saved before "
            "this is intact; free some disk space (or fix the disk) and run the same scan again to resume."
        ) from None
    except BaseException:
        _mark_failed(db, scan_id, summary)
        raise
    return summary


def _mark_failed(db: sqlite_utils.Database, scan_id: int, summary: ScanSummary) -> None:
    """Best effort: the storage that just failed may refuse this too, and the next scan tidies up anyway."""
    with contextlib.suppress(sqlite3.Error):
        store.finish_scan(db, scan_id, "failed", summary.as_dict())
