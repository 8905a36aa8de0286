"""A local stand-in for the few Hugging Face Hub endpoints ``HfApi.create_repo`` + ``upload_folder`` use.

Every file comes in the commit request (the preupload answer asks for "regular" uploads, never LFS), so the
server sees the whole upload; the token it was sent is recorded to check the client used it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers import QuietJsonHandler, serve_locally


@dataclass
class FakeHub:
    url: str = ""
    repos: dict[str, dict] = field(default_factory=dict)  # repo id -> {"private": bool}
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo id -> path -> content
    tokens: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


def serve_fake_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    hub = FakeHub()

    class Handler(QuietJsonHandler, BaseHTTPRequestHandler):
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):
            hub.requests.append(f"GET {self.path}")
            self.reply_json({}, 404)

        def do_POST(self):
            hub.requests.append(f"POST {self.path}")
            auth = self.headers.get("Authorization", "")
            hub.tokens.add(auth.removeprefix("Bearer "))
            body = self._body()
            if self.path == "/api/validate-yaml":  # the model card's metadata, checked before the commit
                return self.reply_json({"errors": [], "warnings": []})
            if self.path == "/api/repos/create":
                data = json.loads(body)
                repo = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                hub.repos[repo] = {"private": data.get("private"), "visibility": data.get("visibility")}
                return self.reply_json({"url": f"{hub.url}/{repo}", "name": repo})
            if match := re.match(r"^/api/models/(.+)/preupload/([^/]+)$", self.path):
                files = json.loads(body)["files"]
                return self.reply_json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
            if match := re.match(r"^/api/models/(.+)/commit/([^/]+)$", self.path):
                repo = match.group(1)
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item.get("key") == "file":
                        value = item["value"]
                        hub.files.setdefault(repo, {})[value["path"]] = base64.b64decode(value["content"])
                return self.reply_json({"commitOid": "0" * 40, "commitUrl": f"{hub.url}/{repo}/commit/{'0' * 40}"})
            return self.reply_json({"error": f"not faked: {self.path}"}, 404)

    hub.url, server = serve_locally(Handler)
    return hub, server
