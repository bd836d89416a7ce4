"""`photocull serve`: the pages, the JSON API, and the guard around them (Host, token, Origin,
uploads, paths). Requests go through Starlette's test client to the whole app, guard included."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
from click.testing import CliRunner
from PIL import Image
from starlette.testclient import TestClient

from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.serve.app import create_app
from photocull.store.database import open_db
from photocull.store.export import photo_records

HOST = "127.0.0.1:8765"
TOKEN = "test-token"
HOSTILE = '<img src=x onerror=alert(1)>"&.jpg'


@pytest.fixture
def served(library, tmp_path):
    """A scanned library (with a hostile file name in a group) and a client for its app."""
    shutil.copy(library.root / "DCIM" / "Camera" / "IMG_0001.jpg", library.root / "DCIM" / "Camera" / HOSTILE)
    db_path = tmp_path / "serve.db"
    db = open_db(db_path)
    scan(db, [library.root], options=ScanOptions(workers=1))
    client = TestClient(create_app(db_path, "127.0.0.1", 8765, token=TOKEN), base_url=f"http://{HOST}")
    return client, db, library


def write(client: TestClient, method: str, url: str, **kwargs):
    headers = {"X-Photocull-Token": TOKEN, **kwargs.pop("headers", {})}
    return client.request(method, url, headers=headers, **kwargs)


def _hostile(db) -> dict:
    return next(r for r in photo_records(db) if r["path"].endswith(HOSTILE))


def test_api_speaks_the_export_schema(served):
    client, db, _ = served
    doc = client.get("/api/groups").json()
    assert doc["schema_version"] == 1 and doc["total"] == len(doc["groups"]) > 0 and doc["decided"] == 0
    assert [g["size"] for g in doc["groups"]] == sorted((g["size"] for g in doc["groups"]), reverse=True)
    records = {r["id"]: r for r in photo_records(db)}
    group = client.get(f"/api/groups/{doc['groups'][0]['id']}").json()
    assert set(group) >= {"id", "size", "decided", "photos"}
    assert all(p == records[p["id"]] for p in group["photos"])
    some = next(iter(records.values()))
    assert client.get(f"/api/photos/{some['id']}").json() == some
    assert client.get("/api/photos/999999").status_code == 404
    assert client.get("/api/photos/999999").json()["error"].startswith("no photo 999999")


def test_pages_render_and_escape_a_hostile_name_everywhere(served):
    client, db, _ = served
    bad = _hostile(db)
    urls = ["/", f"/groups/{bad['group']}", f"/photos/{bad['id']}", "/apply"]
    for url in urls:
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<img src=x onerror" not in page.text, url
        assert 'name="photocull-token" content="test-token"' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    group_page = client.get(f"/groups/{bad['group']}").text
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&amp;.jpg" in group_page
    assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")


def test_decisions_are_stored_survive_a_rescan_and_clear(served):
    client, db, library = served
    group = client.get("/api/groups").json()["groups"][0]
    photos = client.get(f"/api/groups/{group['id']}").json()["photos"]
    first = photos[0]["id"]
    answer = write(client, "PUT", f"/api/photos/{first}/decision", json={"decision": "discard"})
    assert answer.status_code == 200 and answer.json()["decision"] == "discard"
    everything = {str(p["id"]): "keep" for p in photos}
    assert write(client, "PUT", f"/api/groups/{group['id']}/decisions", json={"decisions": everything}).json()[
        "decided"
    ]
    assert client.get("/api/groups").json()["decided"] == 1
    scan(db, [library.root], options=ScanOptions(workers=1))
    assert client.get(f"/api/photos/{first}").json()["decision"] == "keep"  # survives the rescan
    assert write(client, "PUT", f"/api/photos/{first}/decision", json={"decision": None}).json()["decision"] is None
    assert write(client, "PUT", f"/api/photos/{first}/decision", json={"decision": "maybe"}).status_code == 400
    assert write(client, "PUT", f"/api/photos/{first}/decision", content=b"not json").status_code == 400
    stranger = {"1" if photos[0]["id"] != 1 else "2": "keep", "999999": "keep"}
    assert write(client, "PUT", f"/api/groups/{group['id']}/decisions", json={"decisions": stranger}).status_code == 400


def test_a_decision_while_another_process_holds_the_database_is_a_503_not_a_500(
    served, tmp_path, monkeypatch, hold_write_lock
):
    client, _, _ = served
    monkeypatch.setattr("photocull.store.database.BUSY_TIMEOUT_S", 1)  # before the app opens its connection
    first = client.get("/api/groups").json()["groups"][0]["id"]
    photo = client.get(f"/api/groups/{first}").json()["photos"][0]["id"]
    holder = hold_write_lock(tmp_path / "serve.db", 4.0)
    answer = write(client, "PUT", f"/api/photos/{photo}/decision", json={"decision": "discard"})
    holder.kill()
    holder.wait()
    assert answer.status_code == 503 and "database is busy" in answer.json()["error"]
    assert write(client, "PUT", f"/api/photos/{photo}/decision", json={"decision": "discard"}).status_code == 200


def test_guard_host_token_and_origin(served):
    client, _, _ = served
    photo = client.get("/api/groups").json()["groups"][0]["cover"]
    url = f"/api/photos/{photo}/decision"
    assert client.get("/api/groups", headers={"Host": "evil.example:8765"}).status_code == 421  # DNS rebinding
    assert client.get("/api/groups", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/api/groups", headers={"Host": "127.0.0.1:9999"}).status_code == 421
    missing = client.put(url, json={"decision": "keep"})
    assert missing.status_code == 403 and "X-Photocull-Token" in missing.json()["error"]
    wrong = client.put(url, json={"decision": "keep"}, headers={"X-Photocull-Token": "guess"})
    assert wrong.status_code == 403
    cross = write(client, "PUT", url, json={"decision": "keep"}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "cross-origin" in cross.json()["error"]
    same = write(client, "PUT", url, json={"decision": "keep"}, headers={"Origin": f"http://{HOST}"})
    assert same.status_code == 200
    assert write(client, "PUT", url, json={"decision": "keep"}).status_code == 200  # a script: token, no Origin
    assert client.post("/api/predict", files={"file": ("a.jpg", b"x")}).status_code == 403  # POSTs need it too
    huge = write(client, "PUT", url, content=b"{" + b" " * 100_000 + b"}", headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


def test_paths_never_come_from_the_request(served, tmp_path):
    client, db, _ = served
    for url in (
        "/api/photos/..%2F..%2Fetc%2Fpasswd/image",
        "/static/..%2Fapp.py",
        "/static/../serve/app.py",
        "/api/photos/1%2F..%2F2/image",
        "/api/photos/-1/image",
    ):
        assert client.get(url).status_code == 404, url
    record = next(r for r in photo_records(db) if r["path"].endswith("IMG_0002.jpg"))
    assert client.get(f"/api/photos/{record['id']}/image").status_code == 200
    # the file swapped for a link that leaves the scanned folder is not followed
    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    os.remove(record["path"])
    os.symlink(outside, record["path"])
    answer = client.get(f"/api/photos/{record['id']}/image")
    assert answer.status_code == 410 and "outside the scanned folder" in answer.json()["error"]
    assert client.get(f"/api/photos/{record['id']}/thumbnail").status_code == 410


def test_thumbnails_and_images(served):
    client, db, _ = served
    heic = next(r for r in photo_records(db) if r["path"].endswith(".heic"))
    thumb = client.get(f"/api/photos/{heic['id']}/thumbnail?size=200")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == min(320, max(heic["width"], heic["height"]))
    full = client.get(f"/api/photos/{heic['id']}/image")  # HEIC becomes a JPEG a browser can show
    assert full.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(full.content)).size == (heic["width"], heic["height"])
    assert client.get(f"/api/photos/{heic['id']}/thumbnail?size=big").status_code == 400


def test_predict_scores_an_upload_and_refuses_bad_ones(served):
    client, _, library = served
    with open(library.root / "DCIM" / "Camera" / "IMG_0001.jpg", "rb") as f:
        good = write(client, "POST", "/api/predict", files={"file": ("portrait.jpg", f.read(), "image/jpeg")})
    assert good.status_code == 200, good.text
    result = good.json()
    assert set(result) >= {"happy", "top_emotion", "emotions", "faces"} and 0 <= result["happy"] <= 1
    assert len(result["emotions"]) == 8 and isinstance(result["faces"], list)
    notes = write(client, "POST", "/api/predict", files={"file": ("notes.jpg", b"just some text", "image/jpeg")})
    assert notes.status_code == 415 and "not a photo" in notes.json()["error"]
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, "PNG")  # 900 megapixels of nothing, 100 KB on disk
    refused = write(client, "POST", "/api/predict", files={"file": ("bomb.png", bomb.getvalue(), "image/png")})
    assert refused.status_code == 415 and "megapixels" in refused.json()["error"]
    oversized = write(client, "POST", "/api/predict", files={"file": ("big.jpg", b"\xff" * (31 * 2**20), "image/jpeg")})
    assert oversized.status_code == 413
    assert write(client, "POST", "/api/predict", data={"nothing": "here"}).status_code == 400


def test_feedback_is_stored_and_checked(served):
    client, db, _ = served
    photo = next(photo_records(db))["id"]
    saved = write(client, "POST", "/api/feedback", json={"photo": photo, "model": "happy-sad", "label": "sad"})
    assert saved.status_code == 201
    assert [(r["photo_id"], r["model"], r["label"]) for r in db["feedback"].rows] == [(photo, "happy-sad", "sad")]
    for bad in (
        {"photo": photo, "model": "happy-sad", "label": "ecstatic"},
        {"photo": photo, "model": "nope", "label": "sad"},
        {"photo": "1", "model": "happy-sad", "label": "sad"},
    ):
        assert write(client, "POST", "/api/feedback", json=bad).status_code == 400
    assert (
        write(client, "POST", "/api/feedback", json={"photo": 999999, "model": "smile", "label": "smile"}).status_code
        == 404
    )


def test_decide_from_the_command_line(served, tmp_path):
    _, db, library = served
    path = library.root / "DCIM" / "Camera" / "IMG_0002.jpg"
    runner = CliRunner()
    db_path = str(tmp_path / "serve.db")
    assert runner.invoke(cli, ["--db", db_path, "decide", "discard", str(path)]).exit_code == 0
    record = next(r for r in photo_records(db) if r["path"] == str(path))
    assert record["decision"] == "discard"
    missing = runner.invoke(cli, ["--db", db_path, "decide", "keep", str(path), str(tmp_path / "never.jpg")])
    assert missing.exit_code == 1 and "never.jpg" in missing.output
    assert next(r for r in photo_records(db) if r["path"] == str(path))["decision"] == "keep"
    assert runner.invoke(cli, ["--db", db_path, "decide", "clear", str(path)]).exit_code == 0
    assert next(r for r in photo_records(db) if r["path"] == str(path))["decision"] is None


def test_explain_overlay_is_a_png(served):
    client, db, _ = served
    photo = next(r for r in photo_records(db) if r["path"].endswith("IMG_0001.jpg"))
    png = client.get(f"/api/photos/{photo['id']}/explain?model=happy-sad&class=happy")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    assert client.get(f"/api/photos/{photo['id']}/explain?model=nope").status_code == 400
    assert json.loads(client.get(f"/api/photos/{photo['id']}/explain?model=emotion&class=joy").text)["error"]


def test_serve_command_warns_off_loopback_and_names_a_busy_port(tmp_path, monkeypatch):
    import socket

    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    db = str(tmp_path / "s.db")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.listen()
        busy = CliRunner().invoke(cli, ["--db", db, "serve", "--port", str(port)])
    assert busy.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.output and not started
    wide = CliRunner().invoke(cli, ["--db", db, "serve", "--host", "0.0.0.0", "--port", str(port)])
    assert wide.exit_code == 0, wide.output
    assert "warning: serving on 0.0.0.0" in wide.output and started == [
        {"host": "0.0.0.0", "port": port, "log_level": "warning", "access_log": False}
    ]
    local = CliRunner().invoke(cli, ["--db", db, "serve", "--port", str(port)])
    assert "warning" not in local.output and f"http://127.0.0.1:{port}/" in local.output
