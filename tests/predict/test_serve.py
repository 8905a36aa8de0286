"""The prediction server: answers, limits and plain JSON errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import LABELS, make_tiny_run, sample_texts

from bertstudio.data.io import MAX_TEXT_CHARS
from bertstudio.predict.predictor import load_predictor
from bertstudio.predict.serve import Limits, create_app, is_loopback

LIMITS = Limits(max_body_bytes=2_000, max_texts=4, max_text_chars=100)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return load_predictor(make_tiny_run(tmp_path_factory.mktemp("serve-run")))


@pytest.fixture(scope="module")
def client(predictor):
    return TestClient(create_app(predictor, LIMITS))


def test_health_and_info(client):
    assert client.get("/health").json() == {"status": "ok"}
    head = client.head("/health")  # uptime checkers ask with HEAD (it was 405)
    assert head.status_code == 200 and head.content == b""
    info = client.get("/info").json()
    assert info["labels"] == LABELS and info["backend"] == "torch" and info["max_length"] == 24
    assert info["limits"]["max_texts"] == 4


def test_docs_is_a_page_of_its_own_that_needs_no_internet(client):
    """FastAPI's /docs loaded Swagger UI from a CDN: a blank page offline."""
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http" not in page.text.replace("http://HOST:PORT", "")  # nothing fetched from elsewhere
    for endpoint in ("POST /predict", "GET /health", "GET /info"):
        assert endpoint in page.text
    assert "&quot;texts&quot;: [&quot;first text&quot;" in page.text and "&quot;probabilities&quot;" in page.text
    assert all(label in page.text for label in LABELS) and "At most 4 texts" in page.text
    assert client.get("/redoc").status_code == 404  # a CDN page too


def test_predict_returns_labels_confidences_and_probabilities(client, predictor):
    texts = sample_texts(3)
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200
    body = response.json()
    expected = predictor.predict(texts)
    assert [p["label"] for p in body["predictions"]] == expected.labels
    for row, probs in zip(body["predictions"], expected.probs):
        assert list(row["probabilities"]) == LABELS
        np.testing.assert_allclose(list(row["probabilities"].values()), probs, atol=1e-6)
        assert row["confidence"] == pytest.approx(max(probs))


@pytest.mark.parametrize("payload, status, words", [
    ({"texts": ["a"] * 5}, 413, "limit is 4"),
    ({"texts": ["a" * 101]}, 413, "101 characters"),
    ({"texts": ["x" * 1_900, "y" * 200]}, 413, "larger than 2,000 bytes"),
    ({"texts": []}, 422, "empty"),
    ({"texts": "just one string"}, 422, "valid list"),
    ({"text": ["wrong key"]}, 422, "Field required"),
    ({"texts": [1, 2]}, 422, "valid string"),
    ({"texts": ["a"], "text_pairs": ["b"]}, 422, "single texts"),
    ({"texts": ["fine", ""]}, 422, "texts[1] is empty"),
    ({"texts": ["   \n"]}, 422, "texts[0] is empty"),
    ({"texts": ["\u200b"]}, 422, "texts[0] is empty"),  # invisible only: refused as predict files leave it
    ({"texts": [["nested"]]}, 422, "valid string"),
    ({"texts": [None]}, 422, "valid string"),
    ({"texts": {"a": 1}}, 422, "valid list"),
    (["a", "b"], 422, "valid dictionary"),
])
def test_bad_requests_get_clear_json_errors(client, payload, status, words):
    response = client.post("/predict", json=payload)
    assert response.status_code == status
    body = response.json()
    assert words in body["error"] and body["hint"]


def run_keeping(root, strategy: str):
    """A tiny run that keeps ``strategy`` of long texts, as `train --long-texts STRATEGY` records it."""
    run = make_tiny_run(root)
    prep = run / "model" / "preprocessing.json"
    prep.write_text(json.dumps({**json.loads(prep.read_text()), "long_texts": strategy}))
    return run


def test_a_long_text_is_served_as_predict_reads_it(tmp_path):
    """Tester: a 27,753-character text was refused (limit 20,000, "send the start of the text") by a run that reads
    the end of long texts; predict and training read up to MAX_TEXT_CHARS characters of a text."""
    predictor = load_predictor(run_keeping(tmp_path, "tail"))
    text = " ".join(sample_texts(40)) * 40
    assert 20_000 < len(text) < MAX_TEXT_CHARS == Limits().max_text_chars
    response = TestClient(create_app(predictor, Limits(max_body_bytes=MAX_TEXT_CHARS * 2))).post(
        "/predict", json={"texts": [text]})
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == predictor.predict([text]).labels[0]


@pytest.mark.parametrize("strategy, words", [("head", "send the start"), ("tail", "send the end"),
                                             ("head_tail", "send the start and the end"),
                                             ("windows", "at most 8 windows of 24 tokens")])
def test_a_text_over_the_limit_is_told_what_the_model_reads_of_it(tmp_path, strategy, words):
    response = TestClient(create_app(load_predictor(run_keeping(tmp_path, strategy)), LIMITS)).post("/predict", json={"texts": ["a" * 101]})
    assert response.status_code == 413 and words in response.json()["hint"]


def test_invalid_json_is_400(client):
    response = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


@pytest.mark.parametrize("body, words", [
    (b'{"texts": ["caf\xe9"]}', "UTF-8"),  # Latin-1 bytes: not JSON text
    # Past the parser's depth: valid UTF-8, so not called "not UTF-8" (it was)
    (b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "could not be read as JSON: it is nested too deeply"),
])
def test_unreadable_bodies_are_400_json(predictor, body, words):
    roomy = TestClient(create_app(predictor, Limits(max_body_bytes=1_000_000)))
    response = roomy.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and words in response.json()["error"] and response.json()["hint"]


@pytest.mark.parametrize("escaped", ["\\ud800", "x\\udfffy", "\\udc00\\ud800"])
def test_lone_surrogates_are_422_json_not_500(client, escaped):
    """JSON's \\u escapes can carry half a surrogate pair; the tokenizer would crash on it."""
    body = ('{"texts": ["' + escaped + '"]}').encode("ascii")
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "broken character" in response.json()["error"] and "both halves" in response.json()["hint"]


def test_a_whole_surrogate_pair_is_an_ordinary_character(client):
    body = b'{"texts": ["nice \\ud83d\\ude00"]}'
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize("method, path, status", [("get", "/nope", 404), ("get", "/predict", 405),
                                                  ("post", "/info", 405)])
def test_unknown_paths_and_methods_answer_in_the_same_json_shape(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert "POST /predict" in response.json()["hint"] and response.json()["error"]


def test_a_failure_inside_the_server_is_json_too(predictor, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(predictor, "predict", broken)
    quiet = TestClient(create_app(predictor, LIMITS), raise_server_exceptions=False)
    response = quiet.post("/predict", json={"texts": ["fine"]})
    assert response.status_code == 500 and response.headers["content-type"] == "application/json"
    assert "bug" in response.json()["hint"] and "boom" not in response.text


def test_body_limit_holds_without_content_length(client):
    """A chunked upload declares no size; the bytes received are counted instead."""
    def chunks():
        for _ in range(10):
            yield b"x" * 500

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_pair_model_requires_text_pairs(tmp_path):
    pair_client = TestClient(create_app(load_predictor(make_tiny_run(tmp_path, text_pair=True)), LIMITS))
    missing = pair_client.post("/predict", json={"texts": ["a", "b"]})
    assert missing.status_code == 422 and "text_pairs" in missing.json()["error"]
    uneven = pair_client.post("/predict", json={"texts": ["a"], "text_pairs": ["b", "c"]})
    assert uneven.status_code == 422 and "1 texts but 2" in uneven.json()["error"]
    broken = pair_client.post("/predict", content=b'{"texts": ["a"], "text_pairs": ["\\ud800"]}',
                              headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "text_pairs[0]" in broken.json()["error"]
    ok = pair_client.post("/predict", json={"texts": ["a", "b"], "text_pairs": ["c", "d"]})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_a_port_out_of_range_is_refused_by_the_command_line(capsys):
    from bertstudio.cli import main

    with pytest.raises(SystemExit) as done:
        main(["serve", "runs/x", "--port", "99999"])
    assert done.value.code == 2
    assert "argument --port: a port is a number from 1 to 65535, got '99999'" in capsys.readouterr().err


def test_a_port_in_use_is_refused_before_serving_with_another_to_pick():
    import socket

    from bertstudio.errors import UserError
    from bertstudio.predict.serve import check_port_free

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError) as err:
            check_port_free("127.0.0.1", port)
    assert err.value.message == f"Port {port} on 127.0.0.1 is already in use by another program."
    assert f"--port {port + 1}" in err.value.hint
    check_port_free("127.0.0.1", port)  # free again once the other program let go
    with pytest.raises(UserError, match="cannot be found"):
        check_port_free("no-such-host.invalid", port)


def test_serve_says_the_port_is_taken_instead_of_serving(tmp_path, capsys, monkeypatch):
    """It printed "Serving on ..." then uvicorn's errno 98 and exited 3 with no error line."""
    import socket

    from bertstudio.cli import main

    run = make_tiny_run(tmp_path / "run")
    monkeypatch.setattr("bertstudio.predict.cli.serve", lambda *a, **k: pytest.fail("served"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", str(run), "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert "Serving on" not in err and err.splitlines()[-1].startswith("error: Port ")


def test_a_server_uvicorn_cannot_start_ends_in_an_error_line(predictor, monkeypatch):
    import uvicorn

    from bertstudio.errors import UserError
    from bertstudio.predict.serve import serve

    def fails_to_listen(*args, **kwargs):
        raise SystemExit(3)  # what uvicorn does when another program took the port after our check

    monkeypatch.setattr(uvicorn, "run", fails_to_listen)
    with pytest.raises(UserError, match="could not start on 127.0.0.1:8000"):
        serve(predictor, "127.0.0.1", 8000)
