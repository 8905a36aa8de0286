import json

import pytest

from bertstudio.config import (
    TrainConfig,
    config_from_preset,
    get_preset,
    list_presets,
    make_config,
)
from bertstudio.errors import ConfigError


def test_defaults_leave_data_driven_settings_to_auto():
    cfg = TrainConfig()
    assert cfg.model == "bundled-minilm" and cfg.preset == "balanced"
    assert cfg.lr is None and cfg.epochs is None and cfg.batch_size is None and cfg.max_length is None


@pytest.mark.parametrize("field,value,fragment", [
    ("lr", -1.0, "lr (--lr)"),
    ("max_length", 4096, "max_length (--max-length)"),
    ("batch_size", 0, "batch_size (--batch-size)"),
    ("precision", "fp8", "precision (--precision)"),
])
def test_invalid_values_name_the_field_and_flag(field, value, fragment):
    with pytest.raises(ConfigError) as err:
        make_config(**{field: value})
    assert fragment in str(err.value)


@pytest.mark.parametrize("field", ["lr", "head_lr", "epochs", "weight_decay", "warmup_ratio", "max_grad_norm"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinite_numbers_are_refused_as_what_they_are(field, value):
    """NaN passes every bound check (all comparisons are false), so the message must name the value."""
    with pytest.raises(ConfigError) as err:
        make_config(**{field: value})
    message = str(err.value)
    assert f"{value} is not a number that can be used" in message and "less than" not in message


def test_nan_on_the_command_line_is_refused(capsys):
    from bertstudio.cli import main

    assert main(["train", "data.csv", "--lr", "nan"]) == 2
    assert "lr (--lr): nan is not a number that can be used" in capsys.readouterr().err


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="learning_rate"):
        make_config(learning_rate=0.1)


def test_label_column_must_differ_from_text_column():
    with pytest.raises(ConfigError, match="label_column"):
        make_config(text_column="a", label_column="a")


def test_every_preset_file_is_valid_and_explains_itself():
    presets = list_presets()
    assert {"small-data", "balanced", "large-data", "low-latency", "imbalanced"} <= set(presets)
    for preset in presets.values():
        assert preset.use_when.startswith("Use ") and preset.use_when.endswith(".")
        config_from_preset(preset.name)  # builds a valid config


def test_preset_then_explicit_values_win():
    cfg = config_from_preset("imbalanced", epochs=3, lr=None)
    assert cfg.class_weighting == "balanced" and cfg.epochs == 3 and cfg.preset == "imbalanced"
    assert config_from_preset("low-latency").model == "distilbert-base-uncased"


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="balanced"):
        get_preset("turbo")


def test_config_json_round_trip(tmp_path):
    cfg = config_from_preset("small-data", data="x.csv", epochs=2.5, seed=7)
    cfg.save(tmp_path / "config.json", extra={"decisions": [{"field": "lr"}]})
    raw = json.loads((tmp_path / "config.json").read_text())
    assert raw["decisions"] == [{"field": "lr"}]
    assert TrainConfig.load(tmp_path / "config.json") == cfg


def test_a_strict_load_refuses_keys_that_are_no_setting_and_names_the_close_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"max_step": 3, "lr": 1e-4, "colour": "red"}))
    assert TrainConfig.load(path).lr == 1e-4  # a run's own file, read back: lenient as before
    with pytest.raises(ConfigError) as err:
        TrainConfig.load(path, strict=True)
    assert "'max_step' (and 1 more: 'colour'), which is not a setting. Did you mean 'max_steps'?" in err.value.message
    assert "config.json" in err.value.hint


def test_a_strict_load_keeps_what_a_run_saves_beside_its_settings(tmp_path):
    path = tmp_path / "config.json"
    TrainConfig(max_steps=3).save(path, extra={"decisions": [], "bertstudio_version": "0", "label_names": ["a"],
                                               "data_sizes": {}, "data_fingerprint": None})
    assert TrainConfig.load(path, strict=True).max_steps == 3


def test_a_settings_file_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="holds a JSON list, not settings"):
        TrainConfig.load(path, strict=True)


def test_the_python_api_names_the_close_setting_too():
    """RELIABILITY.md promised it; the Python API said pydantic's "Extra inputs are not permitted"."""
    with pytest.raises(ConfigError) as err:
        config_from_preset("balanced", data="x.csv", max_step=3)
    assert err.value.message == "Invalid setting: max_step is not a setting: did you mean 'max_steps'?"
    with pytest.raises(ConfigError) as err:
        config_from_preset("balanced", data="x.csv", colour="red")
    assert err.value.message == "Invalid setting: colour is not a setting."


def test_an_unknown_preset_is_refused_everywhere_with_the_list_of_presets(tmp_path):
    """Tester: `--preset nope` was refused, but TrainConfig(preset="nope") and a config file's "preset": "nope"
    trained with the defaults and saved the name."""
    for build in (lambda: TrainConfig(preset="nope"), lambda: make_config(preset="nope")):
        with pytest.raises(ConfigError) as err:
            build()
        assert err.value.message == "Unknown preset 'nope'." and "head-only" in err.value.hint
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "nope"}))
    with pytest.raises(ConfigError) as err:
        TrainConfig.load(path, strict=True)
    assert "names the preset 'nope', which does not exist" in err.value.message and "balanced" in err.value.hint
    assert TrainConfig(preset="head-only").preset == "head-only"


def test_a_settings_file_naming_a_preset_starts_from_its_settings(tmp_path):
    """Tester: {"preset": "head-only"} trained every layer and saved preset head-only."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "head-only"}))
    assert TrainConfig.load(path, strict=True) == config_from_preset("head-only")  # as --preset head-only
    path.write_text(json.dumps({"preset": "head-only", "early_stopping_patience": 9, "epochs": 2}))
    cfg = TrainConfig.load(path, strict=True, overrides={"epochs": 3})  # the file's keys, then the flags, win
    assert (cfg.freeze_encoder, cfg.early_stopping_patience, cfg.epochs) == (True, 9, 3)
    path.write_text(json.dumps({"epochs": 2}))  # no preset named: the default one, as the command line
    assert TrainConfig.load(path, strict=True) == config_from_preset(epochs=2)


def test_a_saved_config_reloads_its_own_settings_over_its_preset(tmp_path):
    """A run's config.json holds its preset and every setting: loading it gives those settings (a preset's file
    may have changed since), also for a preset saved in the app, which this computer may not have."""
    edited = config_from_preset("head-only", data="x.csv").model_copy(update={"freeze_encoder": False})
    edited.save(tmp_path / "config.json", extra={"decisions": []})
    assert TrainConfig.load(tmp_path / "config.json", strict=True) == edited
    saved = make_config(data="x.csv", epochs=2, preset="my-fast", saved_presets=["my-fast"])  # the app's own preset
    saved.save(tmp_path / "train_config.json")  # the app's "Train on a bigger machine" file: every setting
    assert TrainConfig.load(tmp_path / "train_config.json", strict=True) == saved
    with pytest.raises(ConfigError, match="Unknown preset 'my-fast'"):
        make_config(preset="my-fast")  # not saved here
