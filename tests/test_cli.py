import json
import subprocess
import sys

import pytest

from bertstudio.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bertstudio", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("make_args,fragment", [
    (lambda t: ["train", t / "nope.csv"], "nope.csv"),
    (lambda t: ["train", "SAMPLE", "--label", "stars"], "stars"),
    (lambda t: ["train", "SAMPLE", "--preset", "turbo"], "turbo"),
    (lambda t: ["train", "SAMPLE", "--model", t / "no-such-folder"], "no-such-folder"),
    (lambda t: ["train", "SAMPLE", "--max-length", "5000"], "max_length"),
    (lambda t: ["train", "SINGLE"], "class"),
])
def test_user_errors_exit_2_with_one_line_and_no_traceback(tmp_path, sample_csv, capsys, make_args, fragment):
    single = tmp_path / "single.csv"
    single.write_text("text,label\n" + "".join(f"row {i},only\n" for i in range(20)))
    args = [{"SAMPLE": sample_csv, "SINGLE": single}.get(a, a) for a in make_args(tmp_path)]
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_inspect_prints_the_report(sample_csv, capsys):
    assert main(["inspect", str(sample_csv)]) == 0
    out = capsys.readouterr().out
    assert "400 rows" in out and "billing" in out and "Token lengths" in out


def test_inspect_lists_at_most_30_classes_and_says_how_many_more(tmp_path, capsys):
    path = tmp_path / "many.csv"
    path.write_text("text,label\n" + "".join(f"text {i},class {i % 40}\n" for i in range(200)))
    assert main(["inspect", str(path)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Classes")]
    assert line.startswith("Classes (40): class 0: 5,") and "class 29: 5 and 10 more" in line


def test_train_bundled_model_end_to_end_and_reload(sample_csv, tmp_path):
    """The real default model, a few steps, through the real command; then the saved model loads."""
    out = tmp_path / "run"
    result = run_cli("train", sample_csv, "--max-steps", "6", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    headline = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("accuracy", "macro_f1", "train_seconds", "best_epoch", "run_dir"):
        assert key in headline
    assert headline["run_dir"] == str(out)
    assert "learning rate" in result.stderr  # the reasons for automatic settings are printed

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    # The bundled model classifies from the mean of its token vectors: the folder carries the class that does,
    # which transformers runs only when asked to (plain loading refuses the folder rather than pool otherwise).
    model = AutoModelForSequenceClassification.from_pretrained(out / "model", trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.num_labels == 4 and tok("hello")["input_ids"][0] == 101
    assert model.config.bertstudio_pooling == "mean" and type(model).__name__ == "PooledBertForSequenceClassification"


def test_presets_command_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "small-data" in out and "imbalanced" in out and "Use when" in out


def test_pair_columns_are_guessed_unless_explicitly_turned_off(tmp_path):
    from bertstudio.data.inspect import inspect_file

    path = tmp_path / "pairs.csv"
    path.write_text("question1,question2,label\n" + "".join(
        f"how old is item {i},what age is item {i},{'same' if i % 2 else 'different'}\n" for i in range(30)))
    assert inspect_file(str(path)).columns.text_pair == "question2"
    assert inspect_file(str(path), text_pair_column="").columns.text_pair is None


def test_train_with_several_seeds_reports_mean_and_spread(small_csv, tmp_path, tiny_bert_dir, capsys):
    assert main(["train", str(small_csv), "--model", str(tiny_bert_dir), "--seeds", "2", "--max-steps", "2",
                 "--max-length", "32", "--precision", "fp32", "--runs-dir", str(tmp_path), "--quiet"]) == 0
    headline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert headline["seeds"] == [42, 43]
    assert headline["std_macro_f1"] >= 0 and 0 <= headline["mean_macro_f1"] <= 1


@pytest.mark.parametrize("command", ["train", "train-seeds", "inspect", "evaluate", "export", "predict", "serve",
                                     "bench", "label-noise", "presets"])
def test_every_command_prints_its_help(command, capsys):
    """Each config field's description becomes a flag's help text; one with a "%" once broke --help."""
    from bertstudio.config import TrainConfig

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    if command == "train":
        flags = [f.json_schema_extra["cli"] for n, f in TrainConfig.model_fields.items()
                 if isinstance(f.json_schema_extra, dict) and "cli" in f.json_schema_extra and n != "preset"]
        assert flags and all(flag in text for flag in flags)
