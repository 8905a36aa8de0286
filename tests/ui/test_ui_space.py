"""A public Space: cleanup of idle workspaces, the upload limit, the visitor cookie and file guard, slow login,
and the texts that state the limits."""

import asyncio
import os
import time

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bertstudio.jobs import QueuePlace
from bertstudio.limits import DEMO_LIMITS, NO_LIMITS, LimitExceeded, UsageLimits
from bertstudio.ui import login
from bertstudio.ui.guard import COOKIE, SessionGuard, VisitorKeys
from bertstudio.ui.login import SlowLogin
from bertstudio.ui.session import LAST_SEEN, SessionStore, save_upload
from bertstudio.ui.views import limits as limit_views

HOUR = 3600


def _age(store: SessionStore, session_id: str, hours: float, size: int = 0) -> None:
    workspace = store.open(session_id)
    if size:
        (workspace.uploads / "data.csv").write_bytes(b"x" * size)
    then = time.time() - hours * HOUR
    os.utime(workspace.root / LAST_SEEN, (then, then))


def test_an_expired_session_disappears_and_a_live_one_stays(tmp_path):
    store = SessionStore(tmp_path, UsageLimits(session_hours=24))
    _age(store, "expired-visitor-0001", hours=30)
    _age(store, "working-visitor-0002", hours=30)  # idle too long, but its training runs
    _age(store, "recent-visitor-00003", hours=2)
    assert store.sweep(busy={"working-visitor-0002"}) == ["expired-visitor-0001"]
    assert not (store.root / "expired-visitor-0001").exists()
    assert (store.root / "working-visitor-0002").is_dir() and (store.root / "recent-visitor-00003").is_dir()
    _age(store, "expired-visitor-0004", hours=30)
    assert store.clean_up(busy={"working-visitor-0002"}) == ["expired-visitor-0004"]
    _age(store, "expired-visitor-0005", hours=30)
    assert store.clean_up() == []  # called on every page load, it sweeps at most once per ten minutes


def test_past_the_disk_quota_the_longest_idle_go_first(tmp_path):
    store = SessionStore(tmp_path, UsageLimits(sessions_disk_mb=2.5))
    for name, hours in (("oldest-visitor-0001", 5), ("middle-visitor-0002", 3), ("newest-visitor-0003", 1)):
        _age(store, name, hours, size=1_000_000)
    assert store.sweep() == ["oldest-visitor-0001"]
    assert sorted(p.name for p in store.root.iterdir()) == ["middle-visitor-0002", "newest-visitor-0003"]


def test_nothing_is_deleted_without_limits(tmp_path):
    store = SessionStore(tmp_path, NO_LIMITS)
    _age(store, "ancient-visitor-0001", hours=10_000)
    assert store.sweep() == [] and (store.root / "ancient-visitor-0001").is_dir()


def test_a_too_large_upload_is_refused_and_not_copied(tmp_path):
    workspace = SessionStore(tmp_path).open(None)
    big = tmp_path / "big.csv"
    big.write_bytes(b"text,label\n" + b"a,b\n" * 300_000)  # 1.2 MB
    with pytest.raises(LimitExceeded, match=r"up to 1 MB \(upload size limit\)"):
        save_upload(workspace, big, limits=UsageLimits(max_upload_mb=1))
    assert list(workspace.uploads.iterdir()) == []
    assert save_upload(workspace, big, limits=UsageLimits(max_upload_mb=2)).is_file()


def test_a_workspace_id_comes_only_from_the_secret_token():
    keys = VisitorKeys(b"server-key")
    token = keys.new_token()
    assert keys.workspace_id(token) == keys.workspace_id(token) and len(keys.workspace_id(token)) == 32
    assert keys.workspace_id(token) != VisitorKeys(b"other-key").workspace_id(token)
    for bad in (None, "", "AAAAAAAAAAAAAAAA", "../../etc/passwd" * 3, token + "!"):
        assert keys.workspace_id(bad) is None


@pytest.fixture
def guarded(tmp_path):
    """A stand-in app behind the guard: files from the data folder and a fake upload cache."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    keys = VisitorKeys(b"k")

    async def whoami(request):
        return PlainTextResponse(keys.workspace_id(request.cookies.get(COOKIE)) or "")

    async def file(request):
        return PlainTextResponse("the file")

    async def upload(request):
        return JSONResponse([str(cache / "abc123" / "mine.csv")])

    async def join(request):
        return JSONResponse({"ok": (await request.json())["session_hash"]})

    app = Starlette(routes=[Route("/whoami", whoami), Route("/gradio_api/file={path:path}", file),
                            Route("/gradio_api/upload", upload, methods=["POST"]),
                            Route("/gradio_api/queue/join", join, methods=["POST"])],
                    middleware=[Middleware(SessionGuard, keys=keys, data_dir=data, upload_dir=cache)])
    return TestClient(app), keys, data, cache


def test_the_guard_gives_each_visitor_a_cookie_and_serves_files_only_to_their_owner(guarded):
    client, _, data, cache = guarded
    alice = client.get("/whoami")
    assert "httponly" in alice.headers["set-cookie"].lower()
    alice_id = alice.text
    assert client.get("/whoami").text == alice_id  # the cookie came back: the same visitor
    bob = TestClient(client.app)
    bob_id = bob.get("/whoami").text
    assert bob_id and bob_id != alice_id
    own = data / "sessions" / alice_id / "runs" / "model.safetensors"
    assert client.get(f"/gradio_api/file={own}").status_code == 200
    assert bob.get(f"/gradio_api/file={own}").status_code == 404
    assert bob.get(f"/gradio_api/file={data}/sessions/{bob_id}/../{alice_id}/runs/model.safetensors").status_code == 404
    assert bob.get(f"/gradio_api/file={data}/browser-secret").status_code == 404
    # a cache folder is readable by the visitor whose reply named it, by nobody else
    assert client.post("/gradio_api/upload").status_code == 200
    assert client.get(f"/gradio_api/file={cache}/abc123/mine.csv").status_code == 200
    assert bob.get(f"/gradio_api/file={cache}/abc123/mine.csv").status_code == 404
    assert client.get(f"/gradio_api/file={cache}/zzz/other.csv").status_code == 404


def test_a_session_hash_belongs_to_the_visitor_that_used_it_first(guarded):
    client, *_ = guarded
    assert client.post("/gradio_api/queue/join", json={"session_hash": "page1"}).status_code == 200
    thief = TestClient(client.app)
    assert thief.post("/gradio_api/queue/join", json={"session_hash": "page1"}).status_code == 403
    assert thief.get("/gradio_api/queue/data?session_hash=page1").status_code == 403
    assert thief.post("/gradio_api/queue/join", json={"session_hash": "page2"}).status_code == 200


def test_wrong_passwords_wait_longer_each_time(monkeypatch):
    waits = []

    async def fake_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(login.asyncio, "sleep", fake_sleep)
    gate = SlowLogin({"ada": "secret"}, base_delay_s=1.0)
    check = gate.auth()
    assert asyncio.iscoroutinefunction(check)  # Gradio awaits auth only when it is a coroutine function
    results = [asyncio.run(check("ada", guess)) for guess in ("a", "b", "c", "d", "e", "f", "g")]
    assert results == [False] * 7 and waits == [1, 2, 4, 8, 16, 30, 30]
    assert asyncio.run(check("nobody", "secret")) is False
    assert asyncio.run(check("ada", "secret")) is True and gate.delay_s() == 0


def test_the_limits_are_stated_before_anyone_hits_them():
    assert "50 MB" in limit_views.data_note(DEMO_LIMITS) and "20,000 rows" in limit_views.data_note(DEMO_LIMITS)
    assert "24 hours" in limit_views.data_note(DEMO_LIMITS)
    assert "10 minutes" in limit_views.model_note(DEMO_LIMITS) and "MiniLM" in limit_views.model_note(DEMO_LIMITS)
    assert limit_views.data_note(NO_LIMITS) == "" and limit_views.model_note(NO_LIMITS) == ""
    assert not limit_views.model_allowed(DEMO_LIMITS, "bert-large-uncased")
    assert limit_views.model_allowed(NO_LIMITS, "bert-large-uncased")
    text = limit_views.queue_markdown(QueuePlace(place=2, waiting=3, expected_wait_s=900))
    assert "number 2 in line" in text and "15 min" in text and "Stop" in text
    assert "You are next" in limit_views.queue_markdown(QueuePlace(place=1, waiting=1, expected_wait_s=30))


def test_a_demo_pages_texts_follow_its_limits():
    assert "any size works" in limit_views.predict_file_note(NO_LIMITS)
    demo_note = limit_views.predict_file_note(DEMO_LIMITS)
    assert "any size" not in demo_note and "files up to **50 MB** (upload size limit)" in demo_note
    suggested = ("distilbert-base-uncased", "bert-base-uncased", "bundled-minilm")
    assert limit_views.other_models(NO_LIMITS, ["bundled-minilm"], suggested) == ["DistilBERT-base", "BERT-base"]
    assert limit_views.other_models(DEMO_LIMITS, ["bundled-minilm"], suggested) == ["DistilBERT-base"]
    assert limit_views.other_models(DEMO_LIMITS, ["distilbert-base-uncased"], suggested) == ["MiniLM-L6"]


def test_a_demo_refuses_a_model_of_ones_own_before_reading_it(monkeypatch):
    from bertstudio.ui import model_tab

    def read(*_args, **_kwargs):
        raise AssertionError("the folder or id was read")

    monkeypatch.setattr(model_tab, "resolve_model_source", read)
    monkeypatch.setattr(model_tab, "availability", read)
    for typed in ("/etc", "../../../../etc", "/data/sessions/someone-else/runs/r/model"):
        with pytest.raises(LimitExceeded, match="Only MiniLM-L6 and DistilBERT-base can be trained in this demo"):
            model_tab.chosen_model(DEMO_LIMITS, "bundled-minilm", typed)
    with pytest.raises(LimitExceeded, match="BERT-large"):
        model_tab.chosen_model(DEMO_LIMITS, "bert-large-uncased", "")  # a listed key sent past the radio's choices
    assert model_tab.chosen_model(DEMO_LIMITS, "distilbert-base-uncased", " ") == "distilbert-base-uncased"
    assert model_tab.chosen_model(NO_LIMITS, "bundled-minilm", " /my/model ") == "/my/model"


def test_a_demo_app_offers_no_box_for_a_model_of_ones_own(tmp_path):
    from bertstudio.ui.app import build_app

    def custom_box(limits):
        demo = build_app(tmp_path / "data", limits, warm=False)
        return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "custom-model")

    assert not custom_box(DEMO_LIMITS).visible
    assert custom_box(NO_LIMITS).visible
