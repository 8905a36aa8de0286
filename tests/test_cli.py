import io
import json
import os
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


TINY_TRAIN = ("--max-steps", "2", "--max-length", "32", "--precision", "fp32", "--quiet")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_resume_refuses_settings_it_would_ignore(tiny_run, small_csv, capsys):
    """A resumed run goes on with its own settings: `--resume RUN data.csv --lr 0.5` trained on as if the flags were
    not there.  (A training file is taken: where the run's file is now, when it was moved; tests/train.)"""
    assert main(["train", "--resume", str(tiny_run), str(small_csv), "--epochs", "1", "--lr", "0.5"]) == 2
    err = _one_error_line(capsys)
    assert f"a training file ({small_csv})" not in err and "--epochs" in err and "--lr" in err
    assert "its own settings and data" in err and f"--resume {tiny_run}` alone" in err
    for extra in (["--preset", "fast"], ["--runs-dir", "elsewhere"], ["--seeds", "2"], ["--config", "c.json"]):
        assert main(["train", "--resume", str(tiny_run), *extra]) == 2
        assert extra[0] in _one_error_line(capsys)


def test_a_misspelt_key_in_the_config_file_is_refused_with_the_likely_name(tmp_path, small_csv, capsys):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"max_step": 3}))
    out = tmp_path / "run"
    assert main(["train", str(small_csv), "--config", str(settings), "--out", str(out)]) == 2
    err = _one_error_line(capsys)
    assert "'max_step'" in err and "Did you mean 'max_steps'?" in err
    assert not out.exists()


def test_a_runs_config_json_is_accepted_as_a_settings_file(tmp_path, small_csv, tiny_bert_dir, capsys):
    """config.json holds the run's decisions, label names, data sizes ... beside its settings: none is refused."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", str(small_csv), "--model", str(tiny_bert_dir), "--out", str(first), *TINY_TRAIN]) == 0
    assert main(["train", "--config", str(first / "config.json"), "--out", str(second), "--quiet"]) == 0
    assert (second / "summary.json").is_file()


@pytest.mark.parametrize("make_args,fragment", [
    (lambda t, data: ["--out", data / "x"], "is a file, not a folder"),
    (lambda t, data: ["--out", data], "is a file, not a folder"),
    (lambda t, data: ["--runs-dir", data], "--runs-dir"),
    (lambda t, data: ["--out", "/proc/bertstudio-test/run"], "Cannot create or write into /proc/bertstudio-test/run"),
])
def test_an_out_folder_that_cannot_be_written_is_refused_before_the_data_is_read(tmp_path, small_csv, capsys,
                                                                                 make_args, fragment):
    if "/proc" in str(make_args(tmp_path, small_csv)[1]) and not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    assert main(["train", str(small_csv), *map(str, make_args(tmp_path, small_csv)), *TINY_TRAIN]) == 2
    captured = capsys.readouterr()
    assert "Read 60 rows" not in captured.err  # refused before reading the data
    err = captured.err.strip()
    assert err.startswith("error: ") and fragment in err and "Choose another" in err and len(err.splitlines()) == 1
    assert small_csv.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["small.csv"]


def test_an_out_folder_holding_a_run_is_refused_before_the_data_report(tiny_run, small_csv, capsys):
    assert main(["train", str(small_csv), "--out", str(tiny_run), *TINY_TRAIN]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: The folder") and "already holds a finished run" in captured.err
    assert "Read 60 rows" not in captured.err and "Strategy" not in captured.err


def test_an_out_folder_is_created_when_missing_and_the_check_leaves_nothing_on_refusal(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n" + "".join(f"row {i},only\n" for i in range(20)))
    out = tmp_path / "new" / "deeper" / "run"
    assert main(["train", str(bad), "--out", str(out), *TINY_TRAIN]) == 2  # one class: refused after the check
    assert "class" in _one_error_line(capsys)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command,value", [("train", "0"), ("train", "-1"), ("train-seeds", "0"), ("train", "two")])
def test_seeds_must_be_a_positive_whole_number(small_csv, capsys, command, value):
    with pytest.raises(SystemExit) as done:
        main([command, str(small_csv), "--seeds", value])
    assert done.value.code == 2
    assert "argument --seeds: expected a whole number" in capsys.readouterr().err


def test_train_says_which_columns_it_reads(tmp_path, tiny_bert_dir):
    path = tmp_path / "pairs.csv"
    path.write_text("question1,question2,label\n" + "".join(
        f"how old is item {i},what age is item {i},{'same' if i % 2 else 'different'}\n" for i in range(40)))
    result = run_cli("train", path, "--model", tiny_bert_dir, "--out", tmp_path / "run", *TINY_TRAIN)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[1] == "Text column: question1 + question2; label column: label."  # right after what was read


def test_a_closed_pipe_does_not_fail_the_training(small_csv, tmp_path, tiny_bert_dir):
    """`bertstudio train ... 2>&1 | head` used to mark the run failed ("unexpected error: BrokenPipeError")."""
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "bertstudio", "train", str(small_csv), "--model",
                                str(tiny_bert_dir), "--out", str(out), *TINY_TRAIN],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    process.stdout.close()  # the reader is gone before the first line: every print meets a closed pipe
    assert process.wait(timeout=300) == 1  # the headline could not be delivered
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    assert (out / "summary.json").is_file()


def test_a_closed_pipe_ends_a_short_command_quietly(tiny_run, tmp_path):
    """`bertstudio runs show X | head` printed a BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "bertstudio", "runs", "--root", str(tiny_run.parent), "show",
                                str(tiny_run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    assert process.wait(timeout=120) == 1
    assert process.stderr.read() == ""


def test_main_returns_1_when_stdout_is_a_closed_pipe(tiny_run, monkeypatch):
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["runs", "--root", str(tiny_run.parent), "show", str(tiny_run)]) == 1


@pytest.mark.parametrize("argv,said", [
    (["train", "data.csv", "--modle", "x"], "bertstudio train has no option --modle; did you mean --model?"),
    (["train", "data.csv", "--max-step", "20"], "bertstudio train has no option --max-step; did you mean --max-steps?"),
    (["train", "data.csv", "--task", "multilabel"],
     "argument --task: invalid choice: 'multilabel' (choose from auto, single_label, multi_label); did you mean "
     "'multi_label'?"),
    (["train", "data.csv", "--batch-size", "abc"], "argument --batch-size: expected a whole number, got 'abc'."),
    (["train", "data.csv", "--lr", "fast"], "argument --lr: expected a number such as 0.01 or 2e-5, got 'fast'."),
    (["trian", "data.csv"], "'trian' is not a command of bertstudio (the commands: inspect, train,"),
    (["runs", "lst"], "did you mean 'list'?"),
    (["predict", "RUN", "--data", "a.csv", "--out", "p.csv", "--chunk-row", "5"], "did you mean --chunk-rows?"),
    (["inspect", "data.csv", "--label-seperator", ";"], "did you mean --label-separator?"),
])
def test_a_bad_flag_or_choice_is_one_line_with_the_one_meant(capsys, argv, said):
    """argparse printed the ~30-line usage above the error, named an unknown flag under the top-level usage with
    no suggestion, and read --max-step as --max-steps."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "usage:" not in err, err
    assert said in err and err.endswith(f"See bertstudio {argv[0] if argv[0] != 'trian' else ''}".rstrip() + " --help.")
    assert captured.out == ""


def test_the_generated_flags_say_their_defaults_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # lines broken after a hyphen
    for flag, default in (("--weight-decay", "0.01"), ("--warmup-ratio", "0.1"), ("--patience", "2"),
                          ("--seed", "42"), ("--grad-accum", "1"), ("--max-grad-norm", "1"), ("--tune", "no")):
        help_text = text.split(f" {flag} ", 1)[1].split(" --", 1)[0]
        assert help_text.count("Default:") == 1 and f"Default: {default}." in help_text, (flag, help_text)
    assert "runs/20261206-201919-MiniLM-L6-bundled-all-MiniLM-L6-v2" in text


@pytest.mark.parametrize("command,words", [
    ("predict", ["Texts per model call (default: 32).", "default: 2,000)."]),
    ("serve", ["Most texts per request (default: 256).", "(default: 1,000,000)."]),
    ("label-noise", ["(default: 10; all of them are saved)."]),
    ("evaluate", ["with --data NAME.csv: eval-NAME.json and predictions-NAME.csv"]),
])
def test_the_other_commands_say_their_defaults_and_what_they_write(capsys, command, words):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # a line broken after "eval-"
    assert all(word in text for word in words), text


def test_a_folder_given_as_the_settings_file_is_said_as_such(tmp_path, small_csv, capsys):
    """`train --config assets` (a folder) said "The settings file assets does not exist"."""
    assert main(["train", str(small_csv), "--config", str(tmp_path)]) == 2
    err = _one_error_line(capsys)
    assert "is a folder, not a settings file" in err and "does not exist" not in err
    (tmp_path / "config.json").write_text("{}")
    assert main(["train", str(small_csv), "--config", str(tmp_path)]) == 2
    assert f"such as {tmp_path / 'config.json'}" in _one_error_line(capsys)


def test_resuming_removes_the_report_made_of_the_run_before(tmp_path, small_csv, tiny_bert_dir, capsys):
    """A report of the interrupted run stayed after the resumed run finished, saying 'interrupted' beside it."""
    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = RunFolder(tmp_path / "run")
    assert main(["train", str(small_csv), "--model", str(tiny_bert_dir), "--out", str(run.path), *TINY_TRAIN]) == 0
    RunStatus(state="interrupted", message="Interrupted.").write(run.status)  # before its first checkpoint
    run.report.write_text("<html>interrupted</html>", encoding="utf-8")
    assert main(["train", "--resume", str(run.path), "--quiet"]) == 0
    assert not run.report.exists() and RunStatus.read(run.status).state == "done"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the refusal is for a machine without a GPU")
def test_a_missing_gpu_is_told_with_advice_every_command_takes(capsys, tmp_path):
    """`bench --device cuda` said "Use --device auto or --device cpu", and bench refuses --device auto."""
    assert main(["bench", "--device", "cuda", "--models", "bundled-minilm", "--out", str(tmp_path / "b.json")]) == 2
    err = _one_error_line(capsys)
    assert "No CUDA GPU" in err and "--device auto" not in err and "Leave --device out, or use --device cpu" in err
