"""Isolation enforced by the server: which visitor a request comes from, and what it may read.

A visitor is an HttpOnly cookie holding a random token that no page ever shows (not ``/config``, not a
path): the workspace id is an HMAC of that token under the server's key, so knowing a workspace id (it
appears in file paths) does not let anyone act as that visitor. :class:`SessionGuard` is an ASGI
middleware in front of the whole Gradio app; for every request it:

- gives a visitor without a valid cookie a fresh one (a cookie-less client is a new, empty visitor each time);
- binds each Gradio ``session_hash`` (the key of the page's server-side state) to the first visitor that uses
  it, and refuses it to anyone else, so a stolen ``session_hash`` opens nothing;
- serves files (``/gradio_api/file=``) only to their owner: under the data folder, only the requester's own
  workspace; in Gradio's upload/cache folder, only files whose folder was handed to that visitor (found in
  the visitor's own responses) or to everyone (in ``/config``, the first page).

Everything else (the API's own checks that a run belongs to the caller) stays where it was
(``session.checked_run_dir``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

COOKIE = "bertstudio-visitor"
PUBLIC = "*"  # owner of files every visitor may read (those in /config)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# Routes whose JSON body names a session_hash (the state of one page); bodies are small.
_BODY_WITH_SESSION = re.compile(r"/gradio_api/(queue/join|run/|api/|call/|cancel|component_server|reset)")
_PATH_WITH_SESSION = re.compile(r"/gradio_api/(heartbeat|stream)/([^/]+)")
_FILE_ROUTE = re.compile(r"/gradio_api/file(=|/)(.*)$", re.DOTALL)
_PUBLIC_PAGES = re.compile(r"^/(config/?|gradio_api/info/?|)$")
_MAX_BOUND = 100_000  # session hashes remembered (oldest forgotten first); a page makes one per load

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class VisitorKeys:
    """Turns a browser's secret token into its workspace id."""

    secret: bytes

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)

    def workspace_id(self, token: str | None) -> str | None:
        """The workspace id of a well-formed token; None otherwise (the visitor gets a new token)."""
        if not token or not _TOKEN.match(token):
            return None
        digest = hmac.new(self.secret, token.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def visitor_token(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


class Ownership:
    """Which visitors may read which of Gradio's cache folders, and which page state belongs to whom."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, set[str]] = {}
        self._sessions: OrderedDict[str, str] = OrderedDict()

    def grant(self, folder: str, owner: str) -> None:
        with self._lock:
            self._files.setdefault(folder, set()).add(owner)

    def may_read(self, folder: str, owner: str) -> bool:
        with self._lock:
            owners = self._files.get(folder, set())
            return owner in owners or PUBLIC in owners

    def bind(self, session_hash: str, owner: str) -> bool:
        """True when ``session_hash`` is (now) this visitor's; False when another visitor holds it."""
        with self._lock:
            holder = self._sessions.setdefault(session_hash, owner)
            self._sessions.move_to_end(session_hash)
            while len(self._sessions) > _MAX_BOUND:
                self._sessions.popitem(last=False)
            return holder == owner


class SessionGuard:
    """ASGI middleware: the visitor cookie, session-hash binding and the file checks (see the module doc)."""

    def __init__(self, app: Callable, *, keys: VisitorKeys, data_dir: str | Path, upload_dir: str | Path,
                 secure_cookie: bool = False, cookie_max_age_s: int = 365 * 24 * 3600,
                 ownership: Ownership | None = None) -> None:
        self.app = app
        self.keys = keys
        self.sessions_root = Path(data_dir).expanduser().resolve() / "sessions"
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.upload_dir = Path(upload_dir).resolve()
        self.ownership = ownership or Ownership()
        # Inside the Hugging Face page the app runs in a cross-site iframe: only SameSite=None; Secure
        # cookies reach it there. Locally (plain http) a Secure cookie would never be sent back.
        same_site = "None; Secure" if secure_cookie else "Lax"
        self._cookie_attributes = f"Path=/; HttpOnly; SameSite={same_site}; Max-Age={cookie_max_age_s}"
        self._cache_path = re.compile(re.escape(str(self.upload_dir)).encode() + rb"/([^/\"\\]+)/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        token = visitor_token(headers.get(b"cookie", b"").decode("latin-1"))
        owner = self.keys.workspace_id(token)
        new_token = None
        if owner is None:  # no cookie, a made-up one, or a broken one: a new visitor
            new_token = self.keys.new_token()
            owner = self.keys.workspace_id(new_token)
            scope = self._with_cookie(scope, new_token)
        path = scope.get("path", "")

        refusal = self._file_refusal(path, owner) or self._session_refusal(path, scope, owner)
        if refusal is None and _BODY_WITH_SESSION.search(path) and scope.get("method") == "POST":
            body, receive = await _read_body(receive)
            refusal = self._body_refusal(body, owner)
        if refusal is not None:
            await _respond(send, refusal, new_token and self._set_cookie(new_token))
            return
        public = scope.get("method") == "GET" and bool(_PUBLIC_PAGES.match(path))
        await self.app(scope, receive, self._watching(send, PUBLIC if public else owner,
                                                      new_token and self._set_cookie(new_token)))

    # --- who the request is ----------------------------------------------------------------------
    def _with_cookie(self, scope: Scope, token: str) -> Scope:
        """The request as if it had carried the new cookie, so the app sees the same visitor as the reply."""
        kept = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"]
        return {**scope, "headers": [*kept, (b"cookie", f"{COOKIE}={token}".encode("latin-1"))]}

    def _set_cookie(self, token: str) -> bytes:
        return f"{COOKIE}={token}; {self._cookie_attributes}".encode("latin-1")

    # --- what it may touch -----------------------------------------------------------------------
    def _file_refusal(self, path: str, owner: str) -> int | None:
        match = _FILE_ROUTE.search(path)
        if match is None:
            return None
        wanted = unquote(match.group(2))
        if wanted.startswith(("http://", "https://")):
            return None  # Gradio's own guard handles remote URLs
        try:
            target = Path(wanted).expanduser()
            target = (target if target.is_absolute() else Path.cwd() / target).resolve()
        except (OSError, ValueError, RuntimeError):
            return 404
        if target.is_relative_to(self.data_dir):
            return None if target.is_relative_to(self.sessions_root / owner) else 404
        if target.is_relative_to(self.upload_dir):
            relative = target.relative_to(self.upload_dir).parts
            return None if relative and self.ownership.may_read(relative[0], owner) else 404
        return None

    def _session_refusal(self, path: str, scope: Scope, owner: str) -> int | None:
        hashes = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [])
        match = _PATH_WITH_SESSION.search(path)
        if match:
            hashes.append(match.group(2))
        return 403 if any(not self.ownership.bind(h, owner) for h in hashes) else None

    def _body_refusal(self, body: bytes, owner: str) -> int | None:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return None  # not JSON: Gradio answers it with its own error
        session_hash = payload.get("session_hash") if isinstance(payload, dict) else None
        if isinstance(session_hash, str) and not self.ownership.bind(session_hash, owner):
            return 403
        return None

    def _watching(self, send: Send, owner: str, set_cookie: bytes | None) -> Send:
        """``send`` that adds the cookie and notes every cache folder the reply hands to this visitor."""
        scan = [False]

        async def watched(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = {k.lower(): v for k, v in headers}.get(b"content-type", b"")
                scan[0] = kind.startswith((b"application/json", b"text/event-stream", b"text/html"))
                if set_cookie:
                    headers.append((b"set-cookie", set_cookie))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and scan[0]:
                for folder in self._cache_path.findall(message.get("body", b"")):
                    self.ownership.grant(folder.decode("utf-8", "replace"), owner)
            await send(message)

        return watched


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that replays it to the app."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), [False]

    async def replay() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _respond(send: Send, status: int, set_cookie: bytes | None) -> None:
    text = b'{"detail": "Not found."}' if status == 404 else b'{"detail": "This belongs to another visitor."}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(text)).encode())]
    if set_cookie:
        headers.append((b"set-cookie", set_cookie))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
