"""The web app's guard: it serves someone's private photos, so every request proves where it comes from.

* ``Host`` must name the bound address (or ``localhost``) with the port: a page on another site
  whose DNS name was rebound to 127.0.0.1 sends its own name and is refused.
* A state-changing request (anything but GET/HEAD) needs the per-process token, which only pages
  served by this process carry (``<meta name="photocull-token">``), in ``X-Photocull-Token``; one
  whose ``Origin`` is present and not this server's is refused even with the token. Scripts send
  the token without an ``Origin``.
* A body longer than the route allows is refused before it is read whole.

Refusals are JSON ``{"error": ...}`` with their status code, like every other error.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_HEADER = "x-photocull-token"
SAFE_METHODS = {"GET", "HEAD"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values this server answers: its address, and localhost when on loopback."""
    shown = f"[{host}]" if ":" in host else host
    hosts = {f"{shown}:{port}"}
    if is_loopback(host):
        hosts |= {f"localhost:{port}", f"127.0.0.1:{port}"}
    return hosts


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised inside a request's ``receive`` when the body passes its limit."""


class Guard:
    """ASGI middleware doing the checks above before the app sees a request."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, token: str, max_body: int, limits: dict[str, int] | None = None
    ) -> None:
        self.app, self.token, self.max_body = app, token, max_body
        self.hosts = allowed_hosts(host, port)
        self.origins = {f"http://{h}" for h in self.hosts}
        self.limits = limits or {}  # path → a larger body limit (uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host", "") not in self.hosts:
            await _refuse(send, 421, "wrong Host header: open the app at the address `photocull serve` printed")
            return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins:
                await _refuse(send, 403, f"cross-origin request from {origin} refused")
                return
            if not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), self.token):
                await _refuse(send, 403, "missing or wrong X-Photocull-Token: reload the page")
                return
        limit = self.limits.get(scope["path"], self.max_body)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, f"request body over {limit // 2**20 or 1} MB")
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
            return message

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, tracking)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, f"request body over {limit // 2**20 or 1} MB")
