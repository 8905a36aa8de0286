"""Get this model: size first, progress, resumable, verified, into the Hugging Face cache; offline said at once.

Against a local fake Hub (fake_hub_files.py) serving a tiny BERT's files under a registry model's Hub id.
"""

from __future__ import annotations

import time

import pytest
from fake_hub_files import COMMIT, serve_fake_hub_files

from bertstudio.errors import ModelError
from bertstudio.events import Working
from bertstudio.jobs import Completed, JobRegistry
from bertstudio.models import download as D
from bertstudio.models.sources import availability

MODEL = "distilbert-base-uncased"
REPO = "distilbert/distilbert-base-uncased"


@pytest.fixture
def hub(tiny_bert_dir, tmp_path, monkeypatch):
    fake, server = serve_fake_hub_files(tiny_bert_dir)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(D, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(D, "CHUNK_BYTES", 64 * 1024)
    yield fake
    server.shutdown()


def test_plan_lists_only_what_from_pretrained_needs_with_sizes(hub, tiny_bert_dir):
    plan = D.plan_download(MODEL)
    names = {f.name for f in plan.files}
    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"} <= names
    assert "pytorch_model.bin" not in names and "README.md" not in names  # never a pickle
    weights = next(f for f in plan.files if f.name == "model.safetensors")
    assert weights.size == (tiny_bert_dir / "model.safetensors").stat().st_size and weights.sha256
    assert plan.commit == COMMIT and plan.needed_bytes == plan.total_bytes > weights.size
    assert D.local_status(MODEL).state == "needed" and D.local_status(MODEL).text() == "needs 268 MB"


def test_download_fills_the_hf_cache_so_transformers_finds_it(hub):
    from transformers import AutoConfig, AutoTokenizer

    seen: list[int] = []
    snapshot = D.download(D.plan_download(MODEL), lambda done, name: seen.append(done))
    assert seen == sorted(seen) and seen[-1] == D.plan_download(MODEL).total_bytes
    assert (snapshot / "model.safetensors").is_symlink()
    assert availability(MODEL) == "cached" and D.local_status(MODEL).text() == "downloaded"
    cache = D._hf_cache_dir()
    assert AutoConfig.from_pretrained(REPO, cache_dir=cache, local_files_only=True).hidden_size == 32
    assert AutoTokenizer.from_pretrained(REPO, cache_dir=cache, local_files_only=True)("hello")["input_ids"]
    before = len(hub.requests)
    D.download(D.plan_download(MODEL))  # nothing left to fetch: only the metadata is asked again
    assert all("/resolve/" not in r for r in hub.requests[before:])


def test_an_interrupted_download_resumes_where_it_stopped(hub):
    hub.cut_once["model.safetensors"] = 100_000
    plan = D.plan_download(MODEL)
    with pytest.raises(ModelError, match="interrupted|ended early") as err:
        D.download(plan)
    assert "continues where it stopped" in err.value.hint
    assert D.local_status(MODEL).state == "partial" and "resumes" in D.local_status(MODEL).text()
    fetched_before = sum(f.size for f in plan.files if f.name < "model.safetensors")  # config.json
    assert D.plan_download(MODEL).needed_bytes == plan.total_bytes - fetched_before - 100_000
    D.download(D.plan_download(MODEL))
    assert "GET /distilbert/distilbert-base-uncased/resolve/%s/model.safetensors bytes=100000-" % COMMIT \
        in hub.requests
    assert availability(MODEL) == "cached"


def test_a_corrupted_file_is_detected_and_never_cached(hub):
    hub.corrupt.add("model.safetensors")
    with pytest.raises(ModelError, match="damaged") as err:
        D.download(D.plan_download(MODEL))
    assert "again" in err.value.hint
    assert availability(MODEL) == "download" and D.local_status(MODEL).state == "needed"
    assert not list((D.plan_download(MODEL).repo_folder / "blobs").glob("*.incomplete"))
    hub.corrupt.clear()
    D.download(D.plan_download(MODEL))
    assert availability(MODEL) == "cached"


def test_offline_is_said_at_once(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelError, match="offline mode is switched on") as err:
        D.plan_download(MODEL)
    assert time.monotonic() - start < 1 and "bundled-minilm" in err.value.hint
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ModelError, match="cannot be reached"):
        D.plan_download(MODEL)
    with pytest.raises(ModelError, match="nothing to download"):
        D.plan_download("bundled-minilm")


def test_download_job_reports_progress_and_completes_with_the_snapshot(hub):
    job = JobRegistry().start("ws", D.DownloadJob(MODEL))
    assert job.wait(timeout=60)
    working = [e for e in job.history if isinstance(e, Working)]
    assert working[0].phase.startswith("Asking the Hub") and working[-1].done == working[-1].total > 0
    assert [e.done for e in working[1:]] == sorted(e.done for e in working[1:])
    ending = job.history[-1]
    assert isinstance(ending, Completed) and (ending.value / "config.json").is_file()


def test_stop_is_honoured_between_chunks_and_keeps_what_arrived(hub):
    from bertstudio.jobs import JobStopped

    plan = D.plan_download(MODEL)
    asked: list[int] = []

    def progress(done: int, name: str) -> None:
        if name == "model.safetensors":
            asked.append(done)

    with pytest.raises(JobStopped):
        D.download(plan, progress, should_stop=lambda: bool(asked))
    assert availability(MODEL) == "download" and D.local_status(MODEL).state == "partial"
    assert 0 < plan.total_bytes - D.plan_download(MODEL).needed_bytes < plan.total_bytes
    job = D.DownloadJob(MODEL)
    job.stop()
    job.start()
    assert job.wait(timeout=30) and job.history[-1].kind == "stopped"
