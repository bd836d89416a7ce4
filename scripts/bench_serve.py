"""Load-test `photocull serve` on loopback: concurrent thumbnail and group requests, latency and memory.

Builds a library of --photos generated photos (scikit-image samples, 1600×1200 JPEG bursts of 4
frames with EXIF times), scans it hash-only into a fresh database, starts ``photocull serve`` as a
process, then sends --requests requests from --concurrency threads at once: per request a
thumbnail (random photo, size 320) or, one in five, a group (``GET /api/groups/{id}``). Reports
errors, latency percentiles, CPU seconds of server and load generator, and the server's RSS sampled
after every 500 requests (flat = no leak); --passes repeats the requests (the first pass makes
every thumbnail, later ones find them in memory).

    python scripts/bench_serve.py --photos 1000 --concurrency 200 --requests 5000
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from synthetic import sample_photos, save_photo, variant  # noqa: E402


def build(root: Path, photos: int) -> None:
    rng = np.random.default_rng(0)
    bases = [img.convert("RGB").resize((1600, 1200)) for img in sample_photos().values()]
    t0 = dt.datetime(2024, 1, 1, 9)
    for k in range(photos):
        burst, frame = divmod(k, 4)
        base = bases[burst % len(bases)]
        when = t0 + dt.timedelta(hours=burst, milliseconds=300 * frame)
        save_photo(variant(base, rng), root / f"b{burst:04d}" / f"IMG_{k:05d}.jpg", when)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--port", type=int, default=8790)
    ap.add_argument(
        "--passes", type=int, default=2, help="the same requests again: the first pass makes the thumbnails"
    )
    ap.add_argument("--workdir", type=Path, help="keep the library and database here (reused when present)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    root, db = work / "library", work / "serve.db"
    exe = [sys.executable, "-m", "photocull", "--db", str(db)]
    if not db.exists():
        build(root, args.photos)
        subprocess.run([*exe, "scan", str(root), "--no-models"], check=True, capture_output=True)
    server = subprocess.Popen([*exe, "serve", "--port", str(args.port)], stderr=subprocess.PIPE, text=True)
    try:
        host = f"127.0.0.1:{args.port}"
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection(host, timeout=5)
                conn.request("GET", "/api/groups")
                groups = json.loads(conn.getresponse().read())["groups"]
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start: " + (server.stderr.read() if server.stderr else ""))
        ids = [g["id"] for g in groups]
        with sqlite3.connect(db) as conn_db:
            photo_ids = [row[0] for row in conn_db.execute("select id from photos where missing_since is null")]
        rng = random.Random(0)
        plan = [
            (
                f"/api/groups/{rng.choice(ids)}"
                if k % 5 == 0
                else f"/api/photos/{rng.choice(photo_ids)}/thumbnail?size=320"
            )
            for k in range(args.requests)
        ]
        local = threading.local()
        proc = psutil.Process(server.pid)
        lock = threading.Lock()

        def run_pass() -> dict:
            latencies: list[float] = []
            errors: list[str] = []
            rss: list[float] = []

            def get(url: str) -> None:
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(host, timeout=60)
                start = time.perf_counter()
                problem = None
                try:
                    conn.request("GET", url)
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        problem = f"{url}: HTTP {response.status}"
                except (OSError, http.client.HTTPException) as exc:
                    local.conn, problem = None, f"{url}: {exc}"
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    if problem:
                        errors.append(problem)
                    if len(latencies) % 500 == 0:
                        rss.append(proc.memory_info().rss / 2**20)

            server_cpu, own_cpu = sum(proc.cpu_times()[:2]), time.process_time()
            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(get, plan))
            seconds = time.perf_counter() - start
            server_cpu, own_cpu = sum(proc.cpu_times()[:2]) - server_cpu, time.process_time() - own_cpu
            ms = sorted(x * 1000 for x in latencies)
            return {
                "requests": len(ms),
                "errors": len(errors),
                "error_examples": errors[:5],
                "seconds": round(seconds, 2),
                "requests_per_s": round(len(ms) / seconds, 1),
                "latency_ms": {
                    "p50": round(statistics.median(ms), 1),
                    "p95": round(ms[int(0.95 * len(ms)) - 1], 1),
                    "p99": round(ms[int(0.99 * len(ms)) - 1], 1),
                    "max": round(ms[-1], 1),
                },
                "server_rss_mb_every_500": [round(x) for x in rss],
                # both share the machine's cores: the load generator's CPU is time the server did not get
                "cpu_seconds": {"server": round(server_cpu, 2), "load_generator": round(own_cpu, 2)},
            }

        passes = {}
        for k in range(args.passes):
            label = "cold (every thumbnail made once)" if k == 0 else f"warm {k}"
            passes[label] = run_pass()
        print(json.dumps({"photos": len(photo_ids), "concurrency": args.concurrency, "passes": passes}, indent=1))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
