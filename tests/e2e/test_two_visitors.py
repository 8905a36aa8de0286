"""A public app: two visitors in isolated browser contexts and a cookie-less HTTP client.

Neither visitor nor the client can list, open or download the other visitor's uploads, runs or models
through any route the app exposes: every API endpoint the app lists is called with the other visitor's
run path, every file route is tried (direct paths, path traversal, encoded traversal, the Gradio cache),
and made-up and stolen ids (workspace id, session hash) are refused. ``/config`` holds no secret.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


# Whether a text is in the page or in one of its boxes (a dropdown shows its value in an input).
SHOWN_JS = ("t => document.body.innerText.includes(t) || "
            "[...document.querySelectorAll('input')].some(e => e.value.includes(t))")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from bertstudio.limits import DEMO_LIMITS
    from bertstudio.ui.app import build_app, launch_options

    data_dir = tmp_path_factory.mktemp("bertstudio-space")
    demo = build_app(data_dir, DEMO_LIMITS)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(data_dir, DEMO_LIMITS))
    yield f"http://127.0.0.1:{port}", data_dir.resolve()
    demo.close()


def _workspace_id(data_dir: Path, context) -> str:
    from bertstudio.ui.guard import COOKIE, VisitorKeys

    token = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    return VisitorKeys((data_dir / "browser-secret").read_text().strip().encode()).workspace_id(token)


@pytest.mark.timeout(600)
def test_two_visitors_and_a_cookieless_client_see_only_their_own(app, tiny_run):
    import httpx
    from playwright.sync_api import expect, sync_playwright

    url, data_dir = app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        uploads, hashes = [], []
        alice.on("response", lambda r: uploads.extend(r.json()) if "/gradio_api/upload?" in r.url else None)
        alice.on("request", lambda r: hashes.append(json.loads(r.post_data or "{}").get("session_hash"))
                 if "/gradio_api/queue/join" in r.url else None)

        # Alice: the demo's limits are stated up front; she loads a file and has a finished run.
        alice.goto(url)
        expect(alice.locator("#app-header")).to_contain_text("Your data stays in this Space")
        expect(alice.locator("#data-limits")).to_contain_text("50 MB")
        expect(alice.locator("#data-limits")).to_contain_text("24 hours")
        from bertstudio.data import SAMPLE_DATA_PATH
        alice.locator("#data-upload input[type=file]").set_input_files(str(SAMPLE_DATA_PATH))
        expect(alice.locator("#data-report")).to_contain_text("Your data looks good", timeout=120_000)
        alice_id = _workspace_id(data_dir, alice_ctx)
        alice_root = data_dir / "sessions" / alice_id
        run = alice_root / "runs" / "20260101-000000-alice-secret-run"
        shutil.copytree(tiny_run, run)
        upload = next((alice_root / "uploads").rglob("*.csv"))
        model_file = next((run / "model").glob("*.safetensors"))
        assert uploads, "the browser's upload went through /gradio_api/upload"
        cache_file = uploads[0]["path"] if isinstance(uploads[0], dict) else uploads[0]
        from bertstudio.ui.session import Workspace, list_workspace_runs
        shown_as = list_workspace_runs(Workspace(alice_id, alice_root))[0].label  # as the run picker names it
        alice.reload()
        alice.get_by_role("tab", name="4. Evaluate").click()
        alice.wait_for_function(SHOWN_JS, arg=shown_as, timeout=60_000)  # her run is in her run picker
        own = alice_ctx.request.get(f"{url}/gradio_api/file={model_file}")
        assert own.status == 200  # her own files are hers to download

        # Bob: a second visitor with his own cookie sees none of it, in the page or by asking for it.
        bob.goto(url)
        bob.get_by_role("tab", name="4. Evaluate").click()
        bob.wait_for_timeout(3_000)
        expect(bob.locator("body")).to_contain_text("Train a model in the Train tab", timeout=30_000)
        assert "alice-secret-run" not in bob.content() and not bob.evaluate(SHOWN_JS, "alice-secret-run")
        bob_id = _workspace_id(data_dir, bob_ctx)
        assert bob_id != alice_id
        traversal = f"{data_dir}/sessions/{bob_id}/../{alice_id}/runs/{run.name}/model/{model_file.name}"
        stolen = [str(model_file), str(upload), str(cache_file), traversal, f"{data_dir}/browser-secret"]
        for path in stolen:
            assert bob_ctx.request.get(f"{url}/gradio_api/file={path}").status == 404, path

        # The cookie-less client (and one with a made-up cookie): files, traversal, every API endpoint.
        secret = (data_dir / "browser-secret").read_text().strip()
        alice_token = next(c["value"] for c in alice_ctx.cookies())
        for client in (httpx.Client(), httpx.Client(cookies={"bertstudio-visitor": "A" * 43})):
            config = client.get(f"{url}/config").text
            assert secret not in config and alice_token not in config and alice_id not in config
            paths = [*stolen, quote(str(model_file)), str(model_file).replace(str(data_dir), f"{data_dir}/sessions/..")]
            for path in paths:
                for route in ("/gradio_api/file=", "/gradio_api/file/", "/file="):
                    response = client.get(f"{url}{route}{path}")
                    assert response.status_code in (403, 404), (route, path, response.status_code)
                    assert b"alice" not in response.content
            # Alice's page state by its stolen session hash: refused.
            assert hashes and hashes[0]
            join = client.post(f"{url}/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": hashes[0]})
            assert join.status_code == 403
            assert client.get(f"{url}/gradio_api/queue/data", params={"session_hash": hashes[0]}).status_code == 403
            # Every API endpoint the app lists, given Alice's run and file paths as its text inputs.
            info = client.get(f"{url}/gradio_api/info").json()
            assert info["named_endpoints"], "the app lists its endpoints"
            for name, endpoint in info["named_endpoints"].items():
                data = [str(run) if p.get("type", {}).get("type") == "string" else p.get("parameter_default")
                        for p in endpoint["parameters"]]
                started = client.post(f"{url}/gradio_api/call{name}", json={"data": data}, timeout=30)
                if started.status_code != 200:
                    continue
                event_id = started.json()["event_id"]
                # what the client sent may be echoed in an error; anything else of Alice's is a leak
                result = client.get(f"{url}/gradio_api/call{name}/{event_id}", timeout=120).text.replace(str(run), "")
                for leak in (alice_id, "alice-secret-run", alice_token, secret):
                    assert leak not in result, (name, result[:500])
        alice_ctx.close()
        bob_ctx.close()
        browser.close()
