"""A small prediction server: ``POST /predict``, ``GET /health``, ``GET /info``, ``GET /docs``.

``create_app(predictor)`` builds the FastAPI app (tests drive it with TestClient);
``serve`` runs it with uvicorn, on the loopback address unless told otherwise.
Requests are bounded (body size, number of texts, length of each text) and every
refusal is a JSON error with a message and a hint, never a stack trace.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from bertstudio.data.io import MAX_TEXT_CHARS
from bertstudio.data.labels import is_blank
from bertstudio.data.long_texts import LongTexts
from bertstudio.errors import UserError
from bertstudio.predict.predictor import Predictor

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_BODY_METHODS = (b"POST", b"PUT", b"PATCH")
_ENDPOINTS = "The server answers POST /predict, GET /health and GET /info (documentation at /docs)."
_EXAMPLE_REQUEST = 'Send JSON such as {"texts": ["first text", "second text"]}.'


class PredictRequest(BaseModel):
    texts: list[str] = Field(..., description="The texts to classify.")
    text_pairs: list[str] | None = Field(None, description="Second texts, for models trained on pairs.")


class Prediction(BaseModel):
    label: str
    confidence: float
    probabilities: dict[str, float]
    labels: list[str] | None = None  # multi-label models: the label set ("label" holds it joined by "; ")


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    backend: str


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    # The bound training and predict read a text to: a model that reads the end of a text, or windows across it,
    # needs all of it (20,000 refused a 27,753-character text that predict classified).
    max_text_chars: int = MAX_TEXT_CHARS


def error_body(message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": message, "hint": hint}


class BodySizeLimit:
    """ASGI middleware: refuse bodies above ``max_bytes`` with 413 before the app parses them.

    Both a declared Content-Length and the bytes actually received are checked (a chunked
    upload declares no length); the body read here is handed on to the app unchanged.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method", "").encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send) -> None:
        from starlette.responses import JSONResponse

        response = JSONResponse(error_body(f"The request is larger than {self.max_bytes:,} bytes.",
                                           "Send fewer or shorter texts per request."), status_code=413)
        await response(scope, receive, send)


def create_app(predictor: Predictor, limits: Limits = Limits()):
    """The FastAPI app for ``predictor``; one prediction runs at a time (the model uses every core)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    # FastAPI's own /docs and /redoc load their scripts from a CDN and are blank offline, where this server is meant
    # to work: /docs is a page of its own instead (the OpenAPI schema stays at /openapi.json).
    app = FastAPI(title="BERT Studio classifier", description=predictor.describe(), docs_url=None, redoc_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    lock = threading.Lock()

    def refuse(status: int, message: str, hint: str | None = None) -> JSONResponse:
        return JSONResponse(error_body(message, hint), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return refuse(400, "The request body is not valid JSON.", _EXAMPLE_REQUEST)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return refuse(422, f"Invalid request at '{where}': {first.get('msg', 'wrong shape')}.", _EXAMPLE_REQUEST)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        return refuse(422, exc.message, exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """FastAPI's own refusals (unknown path, wrong method, unreadable body) in the same JSON shape."""
        if exc.status_code == 404:
            return refuse(404, f"There is nothing at {request.url.path}.", _ENDPOINTS)
        if exc.status_code == 405:
            return refuse(405, f"{request.method} is not accepted at {request.url.path}.", _ENDPOINTS)
        if exc.status_code == 400:
            return refuse(400, unreadable_body(exc.__cause__), _EXAMPLE_REQUEST)
        return refuse(exc.status_code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        """A bug, not bad input (inputs are checked first): still JSON, never a bare "Internal Server Error"."""
        return refuse(500, "The server failed on this request.",
                      "This is a bug in BERT Studio, not a problem with the request; the server log has details.")

    # HEAD too: uptime checkers and load balancers often ask with HEAD (it was refused with 405); it is answered
    # as GET, and the server leaves out the body. Left out of the schema, which would list the function twice.
    @app.get("/health")
    @app.head("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/docs", response_class=HTMLResponse)
    def docs() -> str:
        return docs_page(predictor, limits)

    @app.get("/info")
    def info() -> dict[str, Any]:
        return {**predictor.info(), "limits": {"max_body_bytes": limits.max_body_bytes,
                                               "max_texts": limits.max_texts,
                                               "max_text_chars": limits.max_text_chars}}

    @app.post("/predict", response_model=PredictResponse,
              responses={400: {"description": "Not JSON"}, 413: {"description": "Too large"},
                         422: {"description": "Wrong shape"}})
    def predict(request: PredictRequest):  # sync: FastAPI runs it in a worker thread, off the event loop
        problem = check_request(request.texts, request.text_pairs, predictor, limits)
        if problem is not None:
            return refuse(*problem)
        with lock:
            batch = predictor.predict(request.texts, request.text_pairs)
        return {"predictions": batch.to_records(), "backend": predictor.backend.name}

    return app


def unreadable_body(cause: BaseException | None) -> str:
    """Why FastAPI could not read a JSON body (it says only "There was an error parsing the body")."""
    if isinstance(cause, RecursionError):  # json.loads gives up on lists or objects nested thousands deep
        return ("The request body could not be read as JSON: it is nested too deeply (lists or objects inside each "
                "other, thousands of levels).")
    return "The request body could not be read: it must be JSON text in UTF-8."


def docs_page(predictor: Predictor, limits: Limits) -> str:
    """/docs: the endpoints with an example of each, on one page that needs nothing from the internet."""
    texts = ["first text", "second text"]
    request: dict[str, Any] = {"texts": texts}
    if predictor.prep.text_pair:
        request["text_pairs"] = ["second text of the first pair", "second text of the second pair"]
    names = predictor.label_names
    probabilities = {name: 0.9 if i == 0 else round(0.1 / (len(names) - 1), 3) for i, name in enumerate(names)}
    first = {"label": names[0], "confidence": 0.9, "probabilities": probabilities}
    if predictor.prep.multi_label:
        first["labels"] = [names[0]]
    answer = {"predictions": [first, "..."], "backend": predictor.backend.name}
    sections = [
        ("POST /predict", "Labels for a list of texts, in the order sent, each with its confidence and every "
                          "label's probability" + (" (several labels per text: <code>labels</code> holds the set)"
                                                   if predictor.prep.multi_label else "") + ".",
         f"curl -X POST http://HOST:PORT/predict -H 'Content-Type: application/json' -d '{json.dumps(request)}'",
         json.dumps(answer, indent=2)),
        ("GET /health", "Whether the server is up (HEAD works too).", "curl http://HOST:PORT/health",
         json.dumps({"status": "ok"})),
        ("GET /info", "The model: its labels, the backend, what is kept of long texts, and these limits.",
         "curl http://HOST:PORT/info", None),
    ]
    body = "".join(_docs_section(*section) for section in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>BERT Studio classifier</title></head>"
            f"<body style='font-family:sans-serif;max-width:50em;margin:2em auto'><h1>BERT Studio classifier</h1>"
            f"<p>{html.escape(predictor.describe())}</p>{body}"
            f"<h2>Limits</h2><p>At most {limits.max_texts:,} texts and {limits.max_body_bytes:,} bytes per request, "
            f"{limits.max_text_chars:,} characters per text. A refused request gets JSON "
            "<code>{\"error\": ..., \"hint\": ...}</code> saying why.</p>"
            "<p>The machine-readable description (OpenAPI) is at <a href='/openapi.json'>/openapi.json</a>.</p>"
            "</body></html>")


def _docs_section(title: str, what: str, example: str, answer: str | None) -> str:
    reply = f"<p>Answer:</p><pre>{html.escape(answer)}</pre>" if answer else ""
    return f"<h2>{html.escape(title)}</h2><p>{what}</p><pre>{html.escape(example)}</pre>{reply}"


def check_request(texts: list[str], pairs: list[str] | None, predictor: Predictor,
                  limits: Limits) -> tuple[int, str, str] | None:
    """(status, message, hint) for a request the server refuses, else None."""
    if not texts:
        return 422, "'texts' is empty.", "Send at least one text."
    if len(texts) > limits.max_texts:
        return (413, f"{len(texts):,} texts in one request; the limit is {limits.max_texts}.",
                "Split them over several requests.")
    if predictor.prep.text_pair and pairs is None:
        return (422, "This model reads pairs of texts: 'text_pairs' is missing.",
                "Send one second text per text in 'text_pairs'.")
    if not predictor.prep.text_pair and pairs is not None:
        return (422, "This model reads single texts, but 'text_pairs' was sent.",
                "Leave 'text_pairs' out: this model was trained on single texts.")
    if pairs is not None and len(pairs) != len(texts):
        return 422, f"{len(texts)} texts but {len(pairs)} text_pairs.", "Send one second text per text."
    for field, values in (("texts", texts), ("text_pairs", pairs or [])):
        problem = _check_texts(field, values, predictor, limits)
        if problem is not None:
            return problem
    return None


def _check_texts(field: str, values: list[str], predictor: Predictor, limits: Limits) -> tuple[int, str, str] | None:
    """The first text of ``field`` that is too long, blank, or not valid Unicode."""
    longest = max(range(len(values)), key=lambda i: len(values[i]), default=None)
    if longest is not None and len(values[longest]) > limits.max_text_chars:
        return (413, (f"{field}[{longest}] has {len(values[longest]):,} characters; the limit is "
                      f"{limits.max_text_chars:,}."),
                LongTexts.of(predictor.prep).send_hint())
    for i, text in enumerate(values):
        if is_blank(text):
            return (422, f"{field}[{i}] is empty.",
                    "Send a text to classify; a label predicted for nothing would mean nothing.")
        if not _is_valid_unicode(text):
            return (422, (f"{field}[{i}] holds a broken character (half of a UTF-16 surrogate pair, like "
                          "\\ud800 alone)."),
                    ("Send valid Unicode: an emoji written as a \\u escape needs both halves, "
                     "e.g. \\ud83d\\ude00."))
    return None


def _is_valid_unicode(text: str) -> bool:
    """False for text holding lone surrogates, which JSON's \\u escapes can carry but no encoder accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def serve(predictor: Predictor, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          limits: Limits = Limits()) -> None:
    """Run the server until stopped (Ctrl+C)."""
    import uvicorn

    try:
        uvicorn.run(create_app(predictor, limits), host=host, port=port, log_level="warning")
    except SystemExit as stop:
        # uvicorn logs why it could not listen, then exits 3; check_port_free said it first, unless another program
        # took the port in between.
        if stop.code in (0, None):
            raise
        raise UserError(f"The server could not start on {host}:{port} (uvicorn's reason is on the line above).",
                        "Pick another port with --port, or stop the program that uses this one.") from None


def check_port_free(host: str, port: int) -> None:
    """Refuse, before the server says it is serving, a port another program holds or an address this computer
    does not have: binds each address uvicorn would listen on for a moment, as it binds them (SO_REUSEADDR, so a
    port a stopped server left waiting is free).  Without it uvicorn printed its own error after "Serving on" and
    exited 3 with no error line."""
    import socket

    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise _listen_error(err, host, port) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as err:
                raise _listen_error(err, host, port) from None


def _listen_error(err: OSError, host: str, port: int) -> UserError:
    """Why the server cannot listen on ``host:port``, and what to do about it."""
    import errno
    import socket

    other_port = f"--port {port + 1}" if port < 65535 else "--port 8000"
    if err.errno == errno.EADDRINUSE:
        return UserError(f"Port {port} on {host} is already in use by another program.",
                         f"Pick another port with --port (for example {other_port}), or stop the program using it.")
    if err.errno == errno.EACCES:
        return UserError(f"Listening on port {port} is not allowed here (ports below 1024 need administrator "
                         "rights).", "Pick a port from 1024 up with --port, for example --port 8000.")
    if isinstance(err, socket.gaierror):
        return UserError(f"The address '{host}' (--host) cannot be found ({err.strerror or err}).",
                         "Use --host 127.0.0.1 (this computer only) or --host 0.0.0.0 (every network it is on).")
    if err.errno == errno.EADDRNOTAVAIL:
        return UserError(f"The address '{host}' (--host) is not one of this computer's.",
                         "Use --host 127.0.0.1 (this computer only) or --host 0.0.0.0 (every network it is on).")
    return UserError(f"Cannot listen on {host}:{port} ({err.strerror or err}).", "Pick another --port or --host.")
