"""``photocull serve``: a local web app over the scan's database, and the JSON API its pages use.

Starlette (ASGI) with uvicorn: a small, well-kept toolkit that needs no Pydantic and no build step;
pages are rendered on the server (photocull.serve.pages) and one static script adds the keys.
Handlers that touch SQLite or decode images run in worker threads, each with its own connection.
Security (Host, token, Origin, body limits) is photocull.serve.security's ``Guard`` around it all.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import sqlite_utils
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS, HEADS
from photocull.base.names import json_text
from photocull.scan.read import UnreadablePhoto
from photocull.serve import pages
from photocull.serve.images import (
    UPLOAD_LIMIT,
    NotServed,
    Predictor,
    ThumbnailCache,
    checked_file,
    full_image,
    thumb_size,
)
from photocull.serve.security import BodyTooLarge, Guard
from photocull.store.database import BUSY, is_busy, open_db
from photocull.store.decisions import DECISIONS, clear_decisions, record_feedback, set_decisions
from photocull.store.groups import Group, load_groups, load_review_singles, pending_group_ids
from photocull.store.records import SCHEMA_VERSION, record_by_id

JSON_LIMIT = 64 * 1024  # any request body but an upload
STATIC = {"review.js": "text/javascript", "review.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class ApiError(HTTPException):
    """An error the client caused or should know about: JSON ``{"error": ...}`` with the status."""


class _State:
    """What the handlers share: the database path, one connection per worker thread, caches."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self.local = threading.local()
        self.thumbnails = ThumbnailCache()
        self.predictor = Predictor()
        self.explain_lock = threading.Lock()  # saliency maps (LiteRT or TensorFlow), one at a time
        self.explain_dir = Path(tempfile.mkdtemp(prefix="photocull-explain-"))

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self.local, "db", None)
        if db is None:
            db = self.local.db = open_db(self.db_path)
        return db


def _json(data: Any, status: int = 200) -> Response:
    return Response(json_text(data), status_code=status, media_type="application/json")


def _photo(state: _State, photo_id: int) -> dict:
    record = record_by_id(state.db, photo_id)
    if record is None:
        raise ApiError(404, f"no photo {photo_id}: it was never scanned, or its file is missing")
    return record


def _file(state: _State, photo_id: int) -> tuple[str, str, str | None]:
    """(checked file path, content digest, format) of a present photo: one query, no record."""
    row = state.db.execute(
        "select path, root, digest, format from photos where id = ? and missing_since is null", [photo_id]
    ).fetchone()
    if row is None:
        raise ApiError(404, f"no photo {photo_id}: it was never scanned, or its file is missing")
    try:
        return checked_file(row[0], row[1]), row[2] or "", row[3]
    except NotServed as exc:
        raise ApiError(410, str(exc)) from None


def _group(state: _State, group_id: int) -> Group:
    groups = load_groups(state.db, group_id)
    if not groups:
        raise ApiError(404, f"no group {group_id}: it never existed or a rescan dissolved it")
    return groups[0]


def _group_summary(g: Group) -> dict:
    marks = g.marks
    return {
        "id": g.id,
        "size": len(g.members),
        "decided": g.decided,
        "keep": marks["keep"],
        "discard": marks["discard"],
        "cover": g.cover["id"],
    }


def create_app(db_path: str | Path, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> Guard:
    """The whole app, guarded; ``token`` defaults to a fresh random one (tests pass their own)."""
    state = _State(db_path)
    token = token or secrets.token_urlsafe(32)

    def threaded(fn: Callable[..., Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(fn, request)

        return endpoint

    # pages

    def index(request: Request) -> Response:
        html = pages.index_page(load_groups(state.db), load_review_singles(state.db), token)
        return HTMLResponse(html)

    def group_page(request: Request) -> Response:
        g = _group(state, request.path_params["id"])
        pending = pending_group_ids(state.db)
        # this group's place among those to decide (0: decided), and the next one to decide
        k = pending.index(g.id) + 1 if g.id in pending else 0
        later = pending[k:] if k else pending
        return HTMLResponse(pages.group_page(g, (k, len(pending)), later[0] if later else None, token))

    def photo_page(request: Request) -> Response:
        return HTMLResponse(pages.photo_page(_photo(state, request.path_params["id"]), token))

    def apply_page(request: Request) -> Response:
        from photocull.decide.apply import plan

        return HTMLResponse(pages.apply_page(plan(state.db), token))

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            raise ApiError(404, "no such file")
        text = resources.files("photocull.serve").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=STATIC[name])

    # JSON API

    def api_groups(request: Request) -> Response:
        groups = load_groups(state.db)
        return _json(
            {
                "schema_version": SCHEMA_VERSION,
                "total": len(groups),
                "decided": sum(g.decided for g in groups),
                "groups": [_group_summary(g) for g in groups],
            }
        )

    async def api_group(request: Request) -> Response:
        """On the event loop: two indexed queries for a handful of rows take about a millisecond,
        less than the trip to a worker thread (measured: scripts/bench_serve.py)."""
        return _json(_group(state, request.path_params["id"]).as_dict())

    def api_photo(request: Request) -> Response:
        return _json(_photo(state, request.path_params["id"]))

    async def api_thumbnail(request: Request) -> Response:
        """On the event loop while the thumbnail is in memory (one indexed query, a dict lookup);
        decoding a photo goes to a worker thread."""
        try:
            size = thumb_size(int(request.query_params.get("size", "320")))
        except ValueError:
            raise ApiError(400, "size must be a whole number of pixels") from None
        photo_id = request.path_params["id"]
        path, digest, _ = _file(state, photo_id)
        data = state.thumbnails.cached(photo_id, digest, size)
        if data is None:
            try:
                data = await run_in_threadpool(state.thumbnails.get, photo_id, digest, path, size)
            except NotServed as exc:
                raise ApiError(422, str(exc)) from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    def api_image(request: Request) -> Response:
        path, _, fmt = _file(state, request.path_params["id"])
        try:
            image = full_image(path, fmt)
        except NotServed as exc:
            raise ApiError(422, str(exc)) from None
        if image.path is not None:
            return FileResponse(image.path, media_type=image.media_type)
        return Response(image.data, media_type=image.media_type)

    def api_explain(request: Request) -> Response:
        from photocull.report.explain import explain_to_file

        record = _photo(state, request.path_params["id"])
        model = request.query_params.get("model", "happy-sad")
        class_name = request.query_params.get("class") or None
        if model not in HEADS and model not in FACE_HEADS:
            raise ApiError(400, f"unknown model {model!r}: one of {', '.join((*HEADS, *FACE_HEADS))}")
        try:
            face = int(request.query_params.get("face", "0"))
        except ValueError:
            raise ApiError(400, "face must be a whole number (0: the largest face)") from None
        path, _, _ = _file(state, record["id"])
        out = state.explain_dir / f"{record['id']}-{model}-{face}-{secrets.token_hex(4)}.png"
        with state.explain_lock:
            try:
                explain_to_file(path, out, model=model, class_name=class_name, face=face)
            except PhotocullError as exc:
                raise ApiError(400, str(exc)) from None
        data = out.read_bytes()
        out.unlink()
        return Response(data, media_type="image/png")

    async def api_decision(request: Request) -> Response:
        body = await _body(request)
        decision = body.get("decision")
        if decision is not None and decision not in DECISIONS:
            raise ApiError(400, f"decision must be one of {', '.join(DECISIONS)} or null")
        photo_id = request.path_params["id"]

        def save() -> Response:
            _photo(state, photo_id)
            if decision is None:
                clear_decisions(state.db, [photo_id])
            else:
                set_decisions(state.db, {photo_id: decision})
            return _json(_photo(state, photo_id))

        return await run_in_threadpool(save)

    async def api_group_decisions(request: Request) -> Response:
        body = await _body(request)
        wanted = body.get("decisions")
        if not isinstance(wanted, dict) or any(d is not None and d not in DECISIONS for d in wanted.values()):
            raise ApiError(400, 'send {"decisions": {"<photo id>": "keep" | "discard" | null, ...}}')

        def save() -> Response:
            g = _group(state, request.path_params["id"])
            members = {str(m["id"]) for m in g.members}
            if not set(wanted) <= members:
                raise ApiError(400, f"photos {sorted(set(wanted) - members)} are not in group {g.id}")
            set_decisions(state.db, {int(k): v for k, v in wanted.items() if v is not None})
            cleared = [int(k) for k, v in wanted.items() if v is None]
            if cleared:
                clear_decisions(state.db, cleared)
            return _json(_group(state, g.id).as_dict())

        return await run_in_threadpool(save)

    async def api_predict(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=2)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "send the image as a multipart form field named 'file'")
        data = await upload.read()
        try:
            result = await run_in_threadpool(state.predictor.predict, data, upload.filename or "")
        except UnreadablePhoto as exc:
            raise ApiError(415, f"not a photo photocull can read: {exc}") from None
        return _json(result)

    async def api_feedback(request: Request) -> Response:
        body = await _body(request)
        photo, model, label = body.get("photo"), body.get("model"), body.get("label")
        spec = (HEADS.get(model) or FACE_HEADS.get(model)) if isinstance(model, str) else None
        if not isinstance(photo, int) or not isinstance(model, str) or spec is None or label not in spec.classes:
            models = ", ".join((*HEADS, *FACE_HEADS))
            raise ApiError(400, f'send {{"photo": <id>, "model": one of {models}, "label": one of its classes}}')

        def save() -> Response:
            _photo(state, photo)
            return _json({"id": record_feedback(state.db, photo, model, label)}, 201)

        return await run_in_threadpool(save)

    def api_apply(request: Request) -> Response:
        from photocull.decide.apply import plan

        moves = plan(state.db)
        return _json(
            {
                "dry_run": True,
                "moves": [{"photo": m.photo_id, "src": m.src, "dst": m.dst, "because": m.because} for m in moves],
            }
        )

    async def _body(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, BodyTooLarge):
            status, text = 413, "request body too large"
        elif isinstance(exc, HTTPException):
            status, text = exc.status_code, str(exc.detail)
        elif is_busy(exc):
            status, text = 503, BUSY
        else:
            status, text = 500, "internal error; nothing was changed"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": text}, status_code=status)
        return HTMLResponse(
            pages.page("error", token, f"<main><h1>{status}</h1><p>{pages.escape(text)}</p></main>"), status
        )

    def on_database_error(request: Request, exc: Exception) -> Response:
        """Another photocull holding the database past the busy timeout is an answer (503: try
        again), handled here so the server does not log it as a crash; anything else is one."""
        if not is_busy(exc):
            raise exc
        return on_error(request, exc)

    routes = [
        Route("/", threaded(index)),
        Route("/groups/{id:int}", threaded(group_page)),
        Route("/photos/{id:int}", threaded(photo_page)),
        Route("/apply", threaded(apply_page)),
        Route("/static/{name}", threaded(static)),
        Route("/api/groups", threaded(api_groups)),
        Route("/api/groups/{id:int}", api_group),
        Route("/api/groups/{id:int}/decisions", api_group_decisions, methods=["PUT"]),
        Route("/api/photos/{id:int}", threaded(api_photo)),
        Route("/api/photos/{id:int}/thumbnail", api_thumbnail),
        Route("/api/photos/{id:int}/image", threaded(api_image)),
        Route("/api/photos/{id:int}/explain", threaded(api_explain)),
        Route("/api/photos/{id:int}/decision", api_decision, methods=["PUT"]),
        Route("/api/predict", api_predict, methods=["POST"]),
        Route("/api/feedback", api_feedback, methods=["POST"]),
        Route("/api/apply", threaded(api_apply)),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: on_error,
            BodyTooLarge: on_error,
            sqlite3.OperationalError: on_database_error,
            Exception: on_error,
        },
    )

    async def with_headers(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.lower().encode() not in present
                ]
            await send(message)

        await app(scope, receive, send_with_headers)

    return Guard(with_headers, host, port, token, JSON_LIMIT, {"/api/predict": UPLOAD_LIMIT + 64 * 1024})
