"""A local stand-in for the few Hugging Face Hub endpoints ``HfApi.create_repo`` + ``upload_folder`` use.

Every file comes in the commit request (the preupload answer asks for "regular" uploads, never LFS), so the
server sees the whole upload; the token it was sent is recorded to check the client used it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeHub:
    url: str = ""
    repos: dict[str, dict] = field(default_factory=dict)  # repo id -> {"private": bool}
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo id -> path -> content
    tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


def serve_fake_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    hub = FakeHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, payload: dict, status: int = 200) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            hub.requests.append(f"GET {self.path}")
            self._reply({}, 404)

        def do_POST(self):
            hub.requests.append(f"POST {self.path}")
            auth = self.headers.get("Authorization", "")
            hub.tokens.add(auth.removeprefix("Bearer "))
            body = self._body()
            if self.path == "/api/validate-yaml":  # the model card's metadata, checked before the commit
                return self._reply({"errors": [], "warnings": []})
            if self.path == "/api/repos/create":
                data = json.loads(body)
                repo = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                hub.repos[repo] = {"private": data.get("private"), "visibility": data.get("visibility")}
                return self._reply({"url": f"{hub.url}/{repo}", "name": repo})
            if match := re.match(r"^/api/models/(.+)/preupload/([^/]+)$", self.path):
                files = json.loads(body)["files"]
                return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
            if match := re.match(r"^/api/models/(.+)/commit/([^/]+)$", self.path):
                repo = match.group(1)
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item.get("key") == "file":
                        value = item["value"]
                        hub.files.setdefault(repo, {})[value["path"]] = base64.b64decode(value["content"])
                return self._reply({"commitOid": "0" * 40, "commitUrl": f"{hub.url}/{repo}/commit/{'0' * 40}"})
            return self._reply({"error": f"not faked: {self.path}"}, 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hub, server
