"""Train on a bigger machine: the settings file, the accelerate config, the command, and --config reading it."""

from __future__ import annotations

import argparse
import json

import pytest

from bertstudio.config import config_from_preset
from bertstudio.errors import ConfigError
from bertstudio.train.cli import _add_train, train_config
from bertstudio.train.scale_out import ACCELERATE_FILE, SETTINGS_FILE, Machines, write_scale_out


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _add_train(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def settings(tmp_path):
    return config_from_preset(data=str(tmp_path / "data" / "tickets.csv"), lr=3e-5, epochs=2,
                              output_dir=str(tmp_path / "runs" / "old"), precision="bf16")


def test_two_machines_of_eight_gpus(settings, tmp_path):
    files = write_scale_out(settings, tmp_path / "out", Machines(machines=2, gpus_per_machine=8))
    assert files.settings.name == SETTINGS_FILE and files.accelerate_config.name == ACCELERATE_FILE
    text = files.accelerate_config.read_text()
    for line in ("distributed_type: MULTI_GPU", "num_machines: 2", "num_processes: 16", "mixed_precision: 'bf16'",
                 "main_process_ip: MAIN_MACHINE_IP", "main_process_port: 29500"):
        assert line in text.splitlines()
    assert files.command == ("accelerate launch --config_file accelerate_config.yaml --machine_rank "
                             "THIS_MACHINE_RANK -m bertstudio train --config train_config.json")
    saved = json.loads(files.settings.read_text())
    assert saved["data"] == "tickets.csv" and saved["output_dir"] is None and saved["lr"] == 3e-5


def test_one_gpu_needs_no_distributed_setup(settings, tmp_path):
    files = write_scale_out(settings, tmp_path, Machines())
    lines = files.accelerate_config.read_text().splitlines()
    assert "distributed_type: NO" in lines and "num_processes: 1" in lines
    assert not any(line.startswith("main_process_ip") for line in lines)
    assert "--machine_rank" not in files.command


@pytest.mark.parametrize("precision", ["fp32", "bf16", "auto"])
@pytest.mark.parametrize("machines", [Machines(), Machines(machines=1, gpus_per_machine=2),
                                      Machines(machines=2, gpus_per_machine=8)])
def test_accelerate_reads_the_config_file_as_it_launches_it(settings, tmp_path, precision, machines):
    """A tester ran the command the app gives: `mixed_precision: no` reads as False in YAML, and accelerate launch
    failed before training on 'bool' object has no attribute 'lower'."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import PrecisionType

    files = write_scale_out(settings.model_copy(update={"precision": precision}), tmp_path, machines)
    loaded = load_config_from_file(str(files.accelerate_config))
    assert PrecisionType(loaded.mixed_precision.lower()) == ("bf16" if precision == "bf16" else "no")
    assert loaded.num_processes == machines.processes and loaded.num_machines == machines.machines


def test_the_folder_may_be_a_str_as_docs_scale_md_writes_it(settings, tmp_path, monkeypatch):
    """write_scale_out(cfg, "bigger", Machines(...)) raised AttributeError: 'str' object has no attribute 'mkdir'."""
    monkeypatch.chdir(tmp_path)
    files = write_scale_out(settings, "bigger", Machines())
    assert files.settings.resolve() == (tmp_path / "bigger" / SETTINGS_FILE).resolve()
    assert files.settings.is_file() and files.accelerate_config.is_file()


def test_settings_without_data_or_machines_are_refused(settings, tmp_path):
    with pytest.raises(ConfigError, match="no training file"):
        write_scale_out(settings.model_copy(update={"data": None}), tmp_path, Machines())
    with pytest.raises(ConfigError, match="at least 1"):
        Machines(machines=0)


def test_train_config_reads_the_file_and_flags_override_it(settings, tmp_path):
    files = write_scale_out(settings, tmp_path, Machines())
    cfg = train_config(_parse("--config", str(files.settings)))
    assert cfg.data == "tickets.csv" and cfg.lr == 3e-5 and cfg.epochs == 2 and cfg.output_dir is None
    cfg = train_config(_parse("other.csv", "--config", str(files.settings), "--epochs", "5"))
    assert cfg.data == "other.csv" and cfg.epochs == 5 and cfg.lr == 3e-5
    # a run's own config.json names its folder: a new run started from it gets a new one
    settings.save(tmp_path / "config.json")
    assert train_config(_parse("--config", str(tmp_path / "config.json"))).output_dir is None


def test_a_missing_or_broken_settings_file_says_what_to_pass(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        train_config(_parse("--config", str(tmp_path / "nope.json")))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a settings file"):
        train_config(_parse("--config", str(broken)))


def test_a_settings_file_names_its_preset_and_the_flags_override_it(tmp_path):
    """Tester: `train data.csv --config c.json` with {"preset": "head-only"} trained every layer."""
    path = tmp_path / "c.json"
    path.write_text('{"preset": "head-only"}')
    cfg = train_config(_parse("data.csv", "--config", str(path), "--patience", "9"))
    assert (cfg.preset, cfg.freeze_encoder, cfg.early_stopping_patience, cfg.data) == ("head-only", True, 9, "data.csv")
    with pytest.raises(ConfigError, match="--preset and --config"):
        train_config(_parse("data.csv", "--config", str(path), "--preset", "lora"))
    path.write_text('{"preset": "nope"}')
    with pytest.raises(ConfigError) as err:
        train_config(_parse("data.csv", "--config", str(path)))
    assert "'nope'" in err.value.message and "head-only" in err.value.hint
