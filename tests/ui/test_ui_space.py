"""A public Space: cleanup of idle workspaces, the upload limit, the visitor cookie and file guard, slow login,
and the texts that state the limits."""

import asyncio
import json
import os
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bertstudio.jobs import QueuePlace
from bertstudio.limits import DEMO_LIMITS, NO_LIMITS, LimitExceeded, UsageLimits
from bertstudio.ui import login
from pathlib import Path

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


def test_past_the_disk_quota_workspaces_over_their_share_go_before_idle_ones(tmp_path):
    """The tester's eviction: fresh uploads from several cookies filled the quota, and the longest idle workspace, a
    visitor's run, was deleted while the uploads stayed. Workspaces over their share now go first, largest first."""
    store = SessionStore(tmp_path, UsageLimits(sessions_disk_mb=2.5, workspace_disk_mb=1.1))
    _age(store, "victims-visitor-0001", hours=5, size=1_000_000)  # within its share, idle longest
    _age(store, "filling-visitor-0002", hours=0, size=1_200_000)
    _age(store, "filling-visitor-0003", hours=0, size=1_300_000)
    assert store.sweep() == ["filling-visitor-0003"]  # 3.5 MB -> 2.2 MB: one is enough
    assert sorted(p.name for p in store.root.iterdir()) == ["filling-visitor-0002", "victims-visitor-0001"]


def test_uploads_in_gradios_cache_count_and_old_ones_go_first(tmp_path):
    """Raw uploads to Gradio's cache stayed on disk for good, outside the disk limit."""
    cache = tmp_path / "cache"
    store = SessionStore(tmp_path / "data", UsageLimits(sessions_disk_mb=2.5), cache_dir=cache)
    _age(store, "visitors-visitor-0001", hours=5, size=1_000_000)
    old, fresh = cache / "a1" / "junk.csv", cache / "b2" / "junk.csv"
    for file in (old, fresh):
        file.parent.mkdir(parents=True)
        file.write_bytes(b"x" * 1_000_000)
    then = time.time() - HOUR
    os.utime(old, (then, then))
    assert store.sweep() == []  # 3 MB -> 2 MB: the hour-old upload was enough
    assert not old.parent.exists() and fresh.is_file() and (store.root / "visitors-visitor-0001").is_dir()


def test_a_workspace_holding_its_share_takes_no_upload(tmp_path):
    workspace = SessionStore(tmp_path).open(None)
    (workspace.runs / "model.safetensors").write_bytes(b"w" * 1_000_000)
    upload = tmp_path / "data.csv"
    upload.write_bytes(b"text,label\n" + b"a,b\n" * 150_000)  # 0.6 MB
    with pytest.raises(LimitExceeded, match=r"take 1 MB, 2 MB with this file; each visitor may keep up to 1.5 MB"):
        save_upload(workspace, upload, limits=UsageLimits(workspace_disk_mb=1.5))
    assert list(workspace.uploads.iterdir()) == []
    assert save_upload(workspace, upload, limits=UsageLimits(workspace_disk_mb=2)).is_file()


def test_a_shared_app_sweeps_without_waiting_for_a_page_load(tmp_path):
    """Uploads need no page load: the sweep that only page loads ran never came after them."""
    store = SessionStore(tmp_path, UsageLimits(session_hours=24))
    _age(store, "expired-visitor-0001", hours=30)
    store.keep_clean(busy=set)
    store.keep_clean(busy=set)  # one sweeping thread, however often it is asked
    deadline = time.time() + 10
    while (store.root / "expired-visitor-0001").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not (store.root / "expired-visitor-0001").exists()
    assert [t.name for t in threading.enumerate()].count("bertstudio-cleanup") >= 1
    assert SessionStore(tmp_path / "own", NO_LIMITS).keep_clean(busy=set) is None  # nothing to sweep by


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


def _file_data(path) -> dict:
    """A file as the app's outputs hand it to the page."""
    return {"path": str(path), "url": f"/gradio_api/file={path}", "orig_name": "x", "meta": {"_type": "gradio.FileData"}}


def guarded_app(tmp_path, **guard) -> tuple[TestClient, VisitorKeys, Path, Path]:
    """A stand-in app behind the guard: files from the data folder and a fake upload cache; an event that echoes
    what the visitor typed (as the saved settings' title is echoed) and one whose output is a file."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    keys = VisitorKeys(b"k")

    async def whoami(request):
        return PlainTextResponse(keys.workspace_id(request.cookies.get(COOKIE)) or "")

    async def file(request):
        return PlainTextResponse("the file")

    async def upload(request):
        await request.body()
        return JSONResponse([str(cache / "abc123" / "mine.csv")])

    async def join(request):
        return JSONResponse({"ok": (await request.json())["session_hash"]})

    async def echo(request):
        return JSONResponse({"data": [f"Saved as **{(await request.json())['data'][0]}**."]})

    async def events(request):
        output = {"msg": "process_completed", "output": {"data": [_file_data(cache / "out456" / "model.zip")]}}
        lines = [b"data: " + json.dumps({"msg": "heartbeat"}).encode() + b"\n\n"]
        encoded = b"data: " + json.dumps(output).encode() + b"\n\n"
        lines += [encoded[:40], encoded[40:]]  # an event split over two chunks is still read whole
        return StreamingResponse(iter(lines), media_type="text/event-stream")

    app = Starlette(routes=[Route("/whoami", whoami), Route("/gradio_api/file={path:path}", file),
                            Route("/gradio_api/upload", upload, methods=["POST"]),
                            Route("/gradio_api/queue/join", join, methods=["POST"]),
                            Route("/gradio_api/run/echo", echo, methods=["POST"]),
                            Route("/gradio_api/queue/data", events)],
                    middleware=[Middleware(SessionGuard, keys=keys, data_dir=data, upload_dir=cache, **guard)])
    return TestClient(app), keys, data, cache


@pytest.fixture
def guarded(tmp_path):
    return guarded_app(tmp_path)


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


def test_only_files_the_app_hands_out_open_their_cache_folder_never_echoed_text(guarded):
    """A path typed into a text box and echoed back ("Saved as **<path>**") gave its folder to whoever typed it: a
    leaked cache path then opened another visitor's model zip."""
    client, _, _, cache = guarded
    zip_path = cache / "out456" / "model.zip"
    thief = TestClient(client.app)
    echoed = thief.post("/gradio_api/run/echo", json={"data": [f"{zip_path.parent}/"], "session_hash": "t1"})
    assert str(zip_path.parent) in echoed.text
    assert thief.get(f"/gradio_api/file={zip_path}").status_code == 404
    assert client.get("/gradio_api/queue/data?session_hash=a1").status_code == 200  # the app's output: a FileData
    assert client.get(f"/gradio_api/file={zip_path}").status_code == 200
    assert thief.get(f"/gradio_api/file={zip_path}").status_code == 404


def test_a_file_among_an_events_inputs_must_be_the_visitors_own(guarded):
    """Gradio takes any path in its cache as an input file: another visitor's upload could be copied by its path."""
    client, _, data, cache = guarded
    theirs = {"path": str(cache / "abc123" / "mine.csv"), "meta": {"_type": "gradio.FileData"}}
    thief = TestClient(client.app)
    assert thief.post("/gradio_api/queue/join", json={"data": [theirs], "session_hash": "t2"}).status_code == 404
    client.post("/gradio_api/upload", files={"files": ("mine.csv", b"text,label\n")})
    assert client.post("/gradio_api/queue/join", json={"data": [theirs], "session_hash": "a2"}).status_code == 200
    plain = {"path": str(cache / "abc123" / "mine.csv")}  # an older client's file, without "meta"
    assert thief.post("/gradio_api/queue/join", json={"data": [[plain]], "session_hash": "t3"}).status_code == 404


def test_a_request_body_past_its_bound_is_refused_before_it_is_read(tmp_path):
    """A 200 MB JSON body was read whole and parsed; a chunked upload could not be refused before it reached disk."""
    client, *_ = guarded_app(tmp_path, max_body_bytes=1_000, max_upload_bytes=2_000)
    big = {"data": ["x" * 5_000], "session_hash": "s1"}
    refused = client.post("/gradio_api/queue/join", json=big)
    assert refused.status_code == 413 and "too large" in refused.json()["detail"]
    streamed = client.post("/gradio_api/queue/join", content=iter([b'{"data": ["' + b"x" * 600, b"x" * 600 + b'"]}']))
    assert streamed.status_code == 413  # no Content-Length: reading stops past the bound
    assert client.post("/gradio_api/queue/join", json={"data": ["x"], "session_hash": "s1"}).status_code == 200
    assert client.post("/gradio_api/upload", files={"files": ("a.csv", b"x" * 3_000)}).status_code == 413
    assert client.post("/gradio_api/upload", files={"files": ("a.csv", b"x" * 1_000)}).status_code == 200
    assert client.post("/gradio_api/upload", content=iter([b"x" * 10])).status_code == 411


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


def test_a_demo_app_cleans_gradios_cache_bounds_requests_and_stops_a_closed_pages_work(tmp_path):
    from bertstudio.jobs import BackgroundJob, JobRegistry
    from bertstudio.ui.app import build_app, launch_options, stop_page_work

    demo = build_app(tmp_path / "data", DEMO_LIMITS, warm=False)
    assert demo.delete_cache == (600, 3600)  # Gradio deletes its cached uploads an hour old, every ten minutes
    assert any(target[1] == "unload" for fn in demo.fns.values() for target in fn.targets)
    guard = launch_options(tmp_path / "data", DEMO_LIMITS)["app_kwargs"]["middleware"][0].kwargs
    assert guard["max_body_bytes"] == 5_000_000 and guard["max_upload_bytes"] == 51_000_000
    own = launch_options(tmp_path / "own", NO_LIMITS)["app_kwargs"]["middleware"][0].kwargs
    assert own["max_body_bytes"] == 50_000_000 and own["max_upload_bytes"] is None

    class PageWork(BackgroundJob):
        kind, ends_with_page = "predict-file", True

        def work(self, emit, should_stop):
            while not should_stop():
                time.sleep(0.01)

    class Closed:  # the request Gradio hands an unload listener
        def __init__(self, token, page):
            self.cookies, self.session_hash = {COOKIE: token}, page

    keys, jobs = VisitorKeys(b"k"), JobRegistry()
    token = keys.new_token()
    job = PageWork()
    job.page = "page-1"
    jobs.start(keys.workspace_id(token), job)
    stop_page_work(jobs, keys, Closed(keys.new_token(), "page-1"))  # another visitor's page of that name
    stop_page_work(jobs, keys, Closed(token, "page-2"))  # another page of the same visitor
    assert job.running
    stop_page_work(jobs, keys, Closed(token, "page-1"))
    assert job.wait(5)
