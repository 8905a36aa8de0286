"""Push to the Hub against a local fake Hub: every file of the export arrives, privately, with the typed token,
which is never written anywhere."""

from __future__ import annotations

import logging

import pytest
from fake_hub import serve_fake_hub

from bertstudio.errors import ConfigError, ModelError
from bertstudio.export.hf import push_to_hub

TOKEN = "hf_fake_token_that_must_not_leak"


@pytest.fixture
def fake_hub(monkeypatch):
    hub, server = serve_fake_hub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    import huggingface_hub.constants

    # The test session runs offline (conftest); huggingface_hub read that once, at import.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield hub
    server.shutdown()


@pytest.fixture
def export_folder(tmp_path):
    folder = tmp_path / "exports" / "hf"
    (folder / "sub").mkdir(parents=True)
    files = {"model.safetensors": b"\x00weights" * 50, "config.json": b"{}", "README.md": b"# card",
             "sub/tokenizer.json": b'{"t": 1}'}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder, files


def test_push_uploads_every_file_privately_with_the_typed_token(fake_hub, export_folder, tmp_path, caplog):
    folder, files = export_folder
    with caplog.at_level(logging.DEBUG):
        url = push_to_hub(folder, "ann/shop-feedback", token=TOKEN)
    assert url.endswith("/ann/shop-feedback")
    assert fake_hub.repos["ann/shop-feedback"]["private"] is True or \
        fake_hub.repos["ann/shop-feedback"]["visibility"] == "private"
    assert fake_hub.files["ann/shop-feedback"] == files
    assert fake_hub.tokens == {TOKEN}
    assert TOKEN not in caplog.text
    assert not any(TOKEN.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_push_needs_a_token_and_a_repository_name(fake_hub, export_folder):
    folder, _ = export_folder
    with pytest.raises(ConfigError, match="token"):
        push_to_hub(folder, "ann/model")
    with pytest.raises(ConfigError, match="repository name"):
        push_to_hub(folder, "not a repo", token=TOKEN)


def test_a_refused_upload_names_the_repository_and_never_the_token(fake_hub, export_folder, monkeypatch):
    folder, _ = export_folder
    from huggingface_hub import HfApi

    def refuse(self, *args, **kwargs):
        raise RuntimeError(f"401 Unauthorized for token {TOKEN}")

    monkeypatch.setattr(HfApi, "upload_folder", refuse)
    with pytest.raises(ModelError) as err:
        push_to_hub(folder, "ann/model", token=TOKEN)
    assert "ann/model" in str(err.value) and TOKEN not in str(err.value)
