"""Isolation enforced by the server: which visitor a request comes from, and what it may read.

A visitor is an HttpOnly cookie holding a random token that no page ever shows (not ``/config``, not a
path): the workspace id is an HMAC of that token under the server's key, so knowing a workspace id (it
appears in file paths) does not let anyone act as that visitor. :class:`SessionGuard` is an ASGI
middleware in front of the whole Gradio app; for every request it:

- gives a visitor without a valid cookie a fresh one (a cookie-less client is a new, empty visitor each time);
- binds each Gradio ``session_hash`` (the key of the page's server-side state) to the first visitor that uses
  it, and refuses it to anyone else, so a stolen ``session_hash`` opens nothing;
- serves files (``/gradio_api/file=``) only to their owner: under the data folder, only the requester's own
  workspace; in Gradio's upload/cache folder, only files whose folder was handed to that visitor or to everyone
  (``/config``). A folder is handed over by the visitor's own upload (``/gradio_api/upload`` answers with its
  paths) or by a file the app returned to them (a ``gradio.FileData`` object in a JSON or event-stream reply);
  a path in any other text of a reply (a title the visitor typed, echoed back) hands over nothing;
- refuses a file named in a request's body (an event's input) that the visitor may not read: Gradio takes any
  path in its cache folder as an input, so another visitor's upload could otherwise be copied by its path;
- refuses a request body over a bound (``max_body_bytes``; uploads ``max_upload_bytes``) with 413 before
  reading it: the body of an event is read here whole, and a 200 MB one was read and parsed.

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
_UPLOAD_ROUTE = re.compile(r"/gradio_api/upload/?$")
# The routes whose replies carry the app's outputs (or its layout): only these are read for files handed over. A
# file the visitor downloads is never read (a JSON file they uploaded could hold any "FileData" they like).
_OUTPUT_ROUTES = re.compile(r"^/config/?$|/gradio_api/(queue/data|queue/join|call/|run/|api/|stream/|"
                            r"component_server|info/?$)")
_MAX_BOUND = 100_000  # session hashes remembered (oldest forgotten first); a page makes one per load
_MAX_GRANTS = 200_000  # cache folders remembered (oldest forgotten first); Gradio deletes old ones on a Space
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
FILE_DATA = "gradio.FileData"
# An event's body holds the inputs the page sends (texts, choices); the longest text the app reads is 100,000
# characters. Uploads go to their own route, bounded by the upload limit.
LOCAL_BODY_BYTES = 50_000_000
SHARED_BODY_BYTES = 5_000_000
UPLOAD_OVERHEAD_BYTES = 1_000_000  # a multipart upload's headers and boundaries beside the file itself

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
        self._files: OrderedDict[str, set[str]] = OrderedDict()
        self._sessions: OrderedDict[str, str] = OrderedDict()

    def grant(self, folder: str, owner: str) -> None:
        with self._lock:
            self._files.setdefault(folder, set()).add(owner)
            self._files.move_to_end(folder)
            while len(self._files) > _MAX_GRANTS:  # every upload makes a folder: the memory stays bounded
                self._files.popitem(last=False)

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
                 ownership: Ownership | None = None, max_body_bytes: int = LOCAL_BODY_BYTES,
                 max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes  # None: any size (a person's own app)
        self.sessions_root = Path(data_dir).expanduser().resolve() / "sessions"
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.upload_dir = Path(upload_dir).resolve()
        self.ownership = ownership or Ownership()
        # Inside the Hugging Face page the app runs in a cross-site iframe: only SameSite=None; Secure
        # cookies reach it there. Locally (plain http) a Secure cookie would never be sent back.
        same_site = "None; Secure" if secure_cookie else "Lax"
        self._cookie_attributes = f"Path=/; HttpOnly; SameSite={same_site}; Max-Age={cookie_max_age_s}"

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
        upload = bool(_UPLOAD_ROUTE.search(path))

        refusal = (self._size_refusal(headers, upload) or self._file_refusal(path, owner)
                   or self._session_refusal(path, scope, owner))
        if refusal is None and not upload and scope.get("method") in _BODY_METHODS:
            body, receive = await _read_body(receive, self.max_body_bytes)
            refusal = 413 if body is None else self._body_refusal(path, body, owner)
        if refusal is not None:
            await _respond(send, refusal, new_token and self._set_cookie(new_token))
            return
        public = scope.get("method") == "GET" and bool(_PUBLIC_PAGES.match(path))
        handed = _uploaded_paths if upload else _file_data_paths if _OUTPUT_ROUTES.search(path) else None
        await self.app(scope, receive, self._watching(send, PUBLIC if public else owner,
                                                      new_token and self._set_cookie(new_token), handed))

    # --- who the request is ----------------------------------------------------------------------
    def _with_cookie(self, scope: Scope, token: str) -> Scope:
        """The request as if it had carried the new cookie, so the app sees the same visitor as the reply."""
        kept = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"]
        return {**scope, "headers": [*kept, (b"cookie", f"{COOKIE}={token}".encode("latin-1"))]}

    def _set_cookie(self, token: str) -> bytes:
        return f"{COOKIE}={token}; {self._cookie_attributes}".encode("latin-1")

    # --- how much it may send ---------------------------------------------------------------------
    def _size_refusal(self, headers: dict[bytes, bytes], upload: bool) -> int | None:
        """413 for a body that says it is over its bound (before a byte of it is read); 411 for an upload that does
        not say its size where uploads are bounded (it could not be refused before it is written to disk)."""
        bound = self.max_upload_bytes if upload else self.max_body_bytes
        if bound is None:
            return None
        length = headers.get(b"content-length")
        if length is None:
            return 411 if upload and headers.get(b"transfer-encoding") else None
        try:
            return 413 if int(length) > bound else None
        except ValueError:
            return 400

    # --- what it may touch -----------------------------------------------------------------------
    def _file_refusal(self, path: str, owner: str) -> int | None:
        match = _FILE_ROUTE.search(path)
        if match is None:
            return None
        return self._path_refusal(unquote(match.group(2)), owner)

    def _path_refusal(self, wanted: str, owner: str) -> int | None:
        """404 for a server path the visitor may not read (another's workspace, a cache folder not handed to
        them, anything else in the data folder); None when it is theirs, or not this guard's to judge."""
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

    def _body_refusal(self, path: str, body: bytes, owner: str) -> int | None:
        """403 for another visitor's session hash; 404 for an input file the visitor may not read."""
        if not _BODY_WITH_SESSION.search(path):
            return None
        try:
            payload = json.loads(body) if body else None
        except (ValueError, RecursionError):
            return None  # not JSON (or nested past reading): Gradio answers it with its own error
        session_hash = payload.get("session_hash") if isinstance(payload, dict) else None
        if isinstance(session_hash, str) and not self.ownership.bind(session_hash, owner):
            return 403
        # Gradio's own test for a file among the inputs: any object with a "path" (older clients send no "meta").
        wanted = [obj["path"] for obj in _objects(payload) if isinstance(obj.get("path"), str)]
        return next((refusal for path in wanted if (refusal := self._path_refusal(path, owner))), None)

    def _watching(self, send: Send, owner: str, set_cookie: bytes | None,
                  handed: Callable[[Any], list[str]] | None = None) -> Send:
        """``send`` that adds the cookie and grants this visitor the cache folders of the files the reply hands
        them, as ``handed`` finds them in its JSON values (the paths an upload answers with, or the app's
        ``gradio.FileData`` objects; None: the reply hands over nothing). The reply is read as JSON (whole) or as
        an event stream (line by line); nothing else in it is taken for a path."""
        reading = _ReplyReader()

        async def watched(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                reading.begin({k.lower(): v for k, v in headers}.get(b"content-type", b"") if handed else b"")
                if set_cookie:
                    headers.append((b"set-cookie", set_cookie))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                for value in reading.feed(message.get("body", b""), more=message.get("more_body", False)):
                    for path in handed(value):
                        self._grant(path, owner)
            await send(message)

        return watched

    def _grant(self, path: str, owner: str) -> None:
        for candidate in (Path(path), Path(path).resolve()):
            if candidate.is_relative_to(self.upload_dir) and candidate != self.upload_dir:
                self.ownership.grant(candidate.relative_to(self.upload_dir).parts[0], owner)
                return


class _ReplyReader:
    """The JSON values of a reply, read as it is sent: a JSON reply once it is whole, each ``data:`` line of an
    event stream as it comes; other replies (pages, files) are not read."""

    def __init__(self) -> None:
        self.kind: str | None = None
        self._buffer = b""

    def begin(self, content_type: bytes) -> None:
        self._buffer = b""
        self.kind = ("json" if content_type.startswith(b"application/json") else
                     "events" if content_type.startswith(b"text/event-stream") else None)

    def feed(self, chunk: bytes, *, more: bool) -> list[Any]:
        if self.kind is None:
            return []
        self._buffer += chunk
        if self.kind == "json":
            if more:
                return []
            whole, self._buffer = self._buffer, b""
            return _json_values([whole])
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop() if more else b""
        return _json_values([line[5:] for line in lines if line.startswith(b"data:")])


def _json_values(texts: list[bytes]) -> list[Any]:
    values = []
    for text in texts:
        try:
            values.append(json.loads(text))
        except (ValueError, RecursionError):
            continue  # not JSON (a heartbeat, a plain message): no file in it
    return values


def _objects(value: Any) -> list[dict[str, Any]]:
    """Every JSON object within ``value``, nested ones included."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _file_data_paths(value: Any) -> list[str]:
    """The paths of the files the app returned in ``value``: its ``gradio.FileData`` objects, which only the app's
    own outputs make (a visitor's typed text reaches a reply as a string, never as such an object)."""
    return [obj["path"] for obj in _objects(value) if isinstance(obj.get("path"), str)
            and isinstance(obj.get("meta"), dict) and obj["meta"].get("_type") == FILE_DATA]


def _uploaded_paths(value: Any) -> list[str]:
    """What ``/gradio_api/upload`` answers: the list of the paths the visitor's files were saved at."""
    return [path for path in value if isinstance(path, str)] if isinstance(value, list) else []


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The whole request body (None past ``limit`` bytes: nothing more is read), and a ``receive`` that replays it
    to the app."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None, receive
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), [False]

    async def replay() -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


_REFUSALS = {
    400: b'{"detail": "The request says its size wrongly."}',
    403: b'{"detail": "This belongs to another visitor."}',
    404: b'{"detail": "Not found."}',
    411: b'{"detail": "An upload must say its size (a Content-Length header); send the file as a browser does."}',
    413: b'{"detail": "The request is too large for this app. Send a smaller file or text."}',
}


async def _respond(send: Send, status: int, set_cookie: bytes | None) -> None:
    text = _REFUSALS[status]
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(text)).encode())]
    if set_cookie:
        headers.append((b"set-cookie", set_cookie))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
