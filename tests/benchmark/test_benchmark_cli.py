"""`bertstudio bench` on the command line: a bad --out or --threads is refused before anything is measured."""

from __future__ import annotations

import pytest

from bertstudio.cli import main


def test_an_out_it_cannot_write_is_refused_before_measuring(tmp_path, capsys, monkeypatch):
    """`bench --out /sys/b.json` measured for minutes, then ended in a PermissionError traceback."""
    monkeypatch.setattr("bertstudio.benchmark.cli.run_benchmark", lambda *a, **k: pytest.fail("measured"))
    data = tmp_path / "data.csv"
    data.write_text("x\n")
    assert main(["bench", "--models", "bundled-minilm", "--out", str(data / "b.json")]) == 2
    assert capsys.readouterr().err.strip() == (f"error: --out {data / 'b.json'} cannot be used: {data} is a file, "
                                               "not a folder. Choose another --out; missing folders are created.")
    assert main(["bench", "--models", "bundled-minilm", "--out", str(tmp_path)]) == 2
    assert f"for example --out {tmp_path / 'bench.json'}" in capsys.readouterr().err


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_threads_must_be_at_least_one(capsys, threads):
    with pytest.raises(SystemExit) as done:
        main(["bench", "--threads", threads])
    assert done.value.code == 2
    assert f"argument --threads: expected a whole number of at least 1, got '{threads}'" in capsys.readouterr().err


class _Planned(Exception):
    """Raised in place of measuring: the test reads the plan the command made."""


def test_torch_as_predict_names_it_is_the_full_precision_backend(monkeypatch):
    """`bench --backends torch` was refused ('Unknown backend'), though predict and serve call it torch."""
    def planned(plan, **kwargs):
        raise _Planned(plan)

    monkeypatch.setattr("bertstudio.benchmark.cli.run_benchmark", planned)
    with pytest.raises(_Planned) as made:
        main(["bench", "--models", "bundled-minilm", "--backends", "torch,onnx", "--quiet"])
    assert tuple(made.value.args[0].backends) == ("torch-fp32", "onnx")


def test_a_benchmark_that_measured_nothing_is_an_error(capsys, monkeypatch):
    """`bench --seq-lens 1000` skipped every cell and ended with exit 0 and 'No measurements yet'."""
    from bertstudio.benchmark.records import BenchmarkResult

    monkeypatch.setattr("bertstudio.benchmark.cli.run_benchmark", lambda plan, **k: BenchmarkResult(
        records=[], skipped=["MiniLM-L6 reads at most 512 tokens; sequence length 1000 was skipped."]))
    assert main(["bench", "--models", "bundled-minilm", "--seq-lens", "1000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Nothing was measured: MiniLM-L6 reads at most 512 tokens" in err
