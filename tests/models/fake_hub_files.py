"""A local stand-in for the Hugging Face Hub's download endpoints, serving one folder's files for any repo.

* ``GET /api/models/{repo}/revision/{rev}?blobs=true``: the metadata ``HfApi.model_info(files_metadata=True)``
  reads: the commit ``sha`` and ``siblings`` with ``size``, ``blobId`` (git blob SHA-1) and, for LFS files
  (``*.safetensors`` here), ``lfs: {sha256, size}``.
* ``GET /{repo}/resolve/{rev}/{file}``: the file, with ``Range`` support (206 + ``Content-Range``) and the
  ``X-Repo-Commit`` and ``ETag`` headers huggingface_hub expects (ETag: the LFS SHA-256, else the blob SHA-1).
* ``HEAD /``: the reachability probe.

``cut_once[name] = n`` closes the connection after ``n`` bytes of that file the first time it is asked for (an
interrupted download); ``corrupt`` holds files served with one byte changed (a damaged download).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from helpers import QuietJsonHandler, serve_locally

COMMIT = "1234567890abcdef1234567890abcdef12345678"


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(f"blob {len(content)}\0".encode() + content).hexdigest()


@dataclass
class FakeHubFiles:
    folder: Path
    url: str = ""
    cut_once: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)  # "GET path [Range]"

    def content(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def sibling(self, name: str) -> dict:
        data = self.content(name)
        entry = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
        if name.endswith(".safetensors"):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def metadata(self, repo: str) -> dict:
        names = sorted(p.name for p in self.folder.iterdir() if p.is_file())
        # A Hub repo also holds files BERT Studio never fetches: a pickle and a README.
        extra = [{"rfilename": "pytorch_model.bin", "size": 999, "blobId": "0" * 40},
                 {"rfilename": "README.md", "size": 10, "blobId": "1" * 40}]
        return {"id": repo, "sha": COMMIT, "siblings": [self.sibling(n) for n in names] + extra}


def serve_fake_hub_files(folder: Path) -> tuple[FakeHubFiles, ThreadingHTTPServer]:
    hub = FakeHubFiles(Path(folder))

    class Handler(QuietJsonHandler, BaseHTTPRequestHandler):
        def do_GET(self):
            hub.requests.append(f"GET {self.path} {self.headers.get('Range') or ''}".strip())
            if match := re.match(r"^/api/models/(.+)/revision/([^/?]+)", self.path):
                return self.reply_json(hub.metadata(match.group(1)))
            if match := re.match(r"^/(.+)/resolve/([^/]+)/([^/?]+)$", self.path):
                return self._file(match.group(3))
            return self.reply_json({"error": "not faked"}, 404)

        def _file(self, name: str) -> None:
            if not (hub.folder / name).is_file():
                return self.reply_json({"error": "Entry not found"}, 404)
            data = hub.content(name)
            entry = hub.sibling(name)
            if name in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            if match := re.match(r"bytes=(\d+)-", self.headers.get("Range") or ""):
                start = int(match.group(1))
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{(entry.get("lfs") or {}).get("sha256") or entry["blobId"]}"')
            self.end_headers()
            cut = hub.cut_once.pop(name, None)
            if cut is not None:
                self.wfile.write(data[start:start + cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data[start:])

    hub.url, server = serve_locally(Handler)
    return hub, server
