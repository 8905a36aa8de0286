"""bertstudio.limits: demo limits on a Space or with --demo, a settings file on top, and refusals that say
which limit and how to lift it."""

import json

import pytest

from bertstudio.errors import ConfigError
from bertstudio.limits import (
    DEMO_LIMITS,
    NO_LIMITS,
    LimitExceeded,
    UsageLimits,
    load_limits,
)


def test_nothing_is_limited_on_a_persons_own_computer():
    limits = load_limits(env={})
    assert limits == NO_LIMITS and not limits.limited
    limits.check_upload(10**10)
    limits.check_rows(10**7)
    limits.check_model("bert-large-uncased")
    assert limits.deadline() is None


def test_a_space_or_demo_flag_starts_from_the_demo_limits():
    assert load_limits(env={"SPACE_ID": "someone/bert-studio"}) == DEMO_LIMITS
    assert load_limits(demo=True, env={}) == DEMO_LIMITS
    assert DEMO_LIMITS.max_upload_mb == 50 and DEMO_LIMITS.max_rows == 20_000 and DEMO_LIMITS.max_train_minutes == 10
    assert DEMO_LIMITS.training_slots == 1 and DEMO_LIMITS.session_hours == 24


def test_a_settings_file_changes_or_lifts_single_limits(tmp_path):
    path = tmp_path / "limits.json"
    path.write_text(json.dumps({"max_rows": 50_000, "max_train_minutes": None, "training_slots": 2}))
    limits = load_limits(demo=True, settings_file=path, env={})
    assert limits.max_rows == 50_000 and limits.max_train_minutes is None and limits.training_slots == 2
    assert limits.max_upload_mb == DEMO_LIMITS.max_upload_mb  # the rest stays
    assert load_limits(env={"BERTSTUDIO_SETTINGS": str(path)}).max_rows == 50_000


@pytest.mark.parametrize("content, says", [("{not json", "could not be read"), ("[1]", "must hold a JSON object"),
                                          ('{"max_rows": -3}', "max_rows"), ('{"max_users": 3}', "max_users")])
def test_a_bad_settings_file_says_what_is_wrong(tmp_path, content, says):
    path = tmp_path / "limits.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=says):
        load_limits(settings_file=path, env={})


def test_a_misspelt_limit_is_named_with_the_one_it_likely_meant(tmp_path):
    """app.py --settings with {"max_row": 5} said pydantic's "max_row: Extra inputs are not permitted"."""
    path = tmp_path / "limits.json"
    path.write_text('{"max_row": 5}')
    with pytest.raises(ConfigError) as err:
        load_limits(settings_file=path, env={})
    assert f"The settings file {path} has 'max_row', which is not a limit. Did you mean 'max_rows'?" == \
        err.value.message
    assert "Extra inputs" not in str(err.value) and "max_rows, " in err.value.hint


def test_each_refusal_names_its_limit_and_how_to_lift_it():
    limits = DEMO_LIMITS
    with pytest.raises(LimitExceeded, match=r"60.0 MB.*up to 50 MB \(upload size limit\)") as upload:
        limits.check_upload(60_000_000)
    with pytest.raises(LimitExceeded, match=r"25,000 rows.*at most 20,000 \(row limit\)") as rows:
        limits.check_rows(25_000)
    with pytest.raises(LimitExceeded, match=r"BERT-large.*\(model limit") as model:
        limits.check_model("bert-large-uncased")
    with pytest.raises(LimitExceeded, match=r"only MiniLM-L6 and DistilBERT-base can \(model limit: a shared CPU"):
        limits.check_model("bert-base-uncased")
    for refusal in (upload, rows, model):
        assert "own computer" in refusal.value.hint and "duplicate the Space" in refusal.value.hint
    limits.check_upload(50_000_000)
    limits.check_rows(20_000)
    limits.check_model("bundled-minilm")
    limits.check_model("distilbert-base-uncased")
    assert "10 minutes per training (time limit)" in limits.time_cap_message()


def test_the_limits_are_validated():
    with pytest.raises(ValueError):
        UsageLimits(training_slots=0)
    with pytest.raises(ValueError):
        UsageLimits(max_upload_mb=0)


@pytest.mark.parametrize("model", ["/some/folder/of/mine", "../../../../etc", "someone/their-model"])
def test_a_model_of_ones_own_is_refused_with_what_the_demo_allows(model):
    with pytest.raises(LimitExceeded) as refused:
        DEMO_LIMITS.check_model(model)
    assert refused.value.message == ("Only MiniLM-L6 and DistilBERT-base can be trained in this demo, not a model "
                                     "from a folder or a Hugging Face id (model limit).")
    assert "busy" not in refused.value.message  # a small folder is not refused for its size
    assert model not in refused.value.message  # nor is the typed path echoed back
    with pytest.raises(LimitExceeded, match="can be timed in this demo"):
        DEMO_LIMITS.check_model(model, use="timed")
    assert not DEMO_LIMITS.own_models_allowed and NO_LIMITS.own_models_allowed
    assert UsageLimits(allowed_models=("bundled-minilm",)).allowed_model_names() == "MiniLM-L6"


def test_a_benchmark_estimated_past_its_cap_is_refused():
    assert DEMO_LIMITS.max_benchmark_minutes == 5
    DEMO_LIMITS.check_benchmark(5 * 60)
    with pytest.raises(LimitExceeded, match=r"about 52 minutes.*at most 5 minutes \(time limit\)") as refused:
        DEMO_LIMITS.check_benchmark(52 * 60)
    assert "Tick fewer" in refused.value.hint and "duplicate the Space" in refused.value.hint
    NO_LIMITS.check_benchmark(10**6)
    assert NO_LIMITS.benchmark_deadline() is None and DEMO_LIMITS.benchmark_deadline(start=0) == 300
    assert "5 minutes per benchmark (time limit)" in DEMO_LIMITS.benchmark_cap_message()
    assert "benchmarks of up to 5 minutes" in DEMO_LIMITS.summary_lines()
    # the banner named the models by their registry keys ("bundled-minilm, distilbert-base-uncased")
    models = next(line for line in DEMO_LIMITS.summary_lines() if line.startswith("models: "))
    assert models == f"models: {DEMO_LIMITS.allowed_model_names()}" and "bundled-minilm" not in models


def test_a_training_step_past_the_token_limit_is_refused_naming_what_fits():
    """A visitor's batch of 2,048 texts of 512 tokens took 5.7 GB in 30 s and kept growing: on a Space the system then
    stops the whole app. The demo allows what its automatic settings pick at most (32 texts of 512 tokens)."""
    assert DEMO_LIMITS.max_batch_tokens == 16_384
    with pytest.raises(LimitExceeded) as refused:
        DEMO_LIMITS.check_batch(2048, 512)
    assert refused.value.message == ("Batches of 2,048 texts of up to 512 tokens hold 1,048,576 tokens per training "
                                     "step; this demo allows at most 16,384, such as 32 texts of 512 tokens or 64 of "
                                     "256 (memory limit).")
    assert refused.value.hint.startswith("Set the batch size to 32 or less in the Model tab, or lower the maximum "
                                         "length in the Data tab.") and "duplicate the Space" in refused.value.hint
    with pytest.raises(LimitExceeded, match="Set the batch size to 64 or less"):
        DEMO_LIMITS.check_batch(128, 256)
    for batch, length in ((32, 512), (64, 256), (32, 256), (None, 512), (2048, None)):
        DEMO_LIMITS.check_batch(batch, length)  # within the limit, or decided from the data later (checked then)
    NO_LIMITS.check_batch(2048, 512)
    assert "training steps of at most 16,384 tokens" in " ".join(DEMO_LIMITS.summary_lines())


def test_a_workspace_holding_its_share_of_the_disk_takes_no_more_files():
    limits = UsageLimits(workspace_disk_mb=100)
    limits.check_disk_share(60_000_000, 40_000_000)
    with pytest.raises(LimitExceeded) as refused:
        limits.check_disk_share(90_000_000, 20_000_000)
    assert refused.value.message == ("Your files in this demo take 90 MB, 110 MB with this file; each visitor may "
                                     "keep up to 100 MB (disk limit).")
    assert "Delete runs you no longer need in the Runs tab" in refused.value.hint
    with pytest.raises(LimitExceeded, match="take 101 MB; each visitor"):
        limits.check_disk_share(101_000_000)
    assert limits.over_disk_share(101_000_000) and not limits.over_disk_share(100_000_000)
    NO_LIMITS.check_disk_share(10**13, 10**12)
    assert DEMO_LIMITS.workspace_disk_mb == 2_000 and not NO_LIMITS.over_disk_share(10**13)


def test_labelling_a_file_has_a_row_and_a_time_limit():
    DEMO_LIMITS.check_label_rows(20_000)
    with pytest.raises(LimitExceeded, match=r"more than 20,000 rows; this demo labels at most 20,000 rows per file "
                                            r"\(row limit\)"):
        DEMO_LIMITS.check_label_rows(21_000)
    NO_LIMITS.check_label_rows(10**8)
    assert DEMO_LIMITS.predict_deadline(start=0) == 600 and NO_LIMITS.predict_deadline() is None
    assert "10 minutes per file (time limit)" in DEMO_LIMITS.predict_cap_message()
