"""Long texts in the app: the settings form offers the choice with a line per option, and the plan explains the
automatic choice and the windows' extra steps (pure builders, no browser)."""

from __future__ import annotations

import argparse

import numpy as np
from helpers import write_long_text_csv

from bertstudio.config import make_config
from bertstudio.data.lengths import LengthStats
from bertstudio.train.auto import Hardware
from bertstudio.train.estimate import plan_run
from bertstudio.train.plan import length_in_use
from bertstudio.ui.views import advice as views_advice
from bertstudio.ui.views import settings

GRID = [int(v) for v in np.linspace(40, 1400, 101)]


def long_stats() -> LengthStats:
    return LengthStats(n=2000, sampled=False, percentiles={50: 720, 90: 1264, 95: 1332, 99: 1386}, max=1400,
                       mean=720.0, percentile_grid=GRID)


def test_the_settings_form_offers_what_to_keep_with_a_line_per_option():
    specs = {spec.name: spec for spec in settings.advanced_specs()}
    kept = specs["long_texts"]
    assert kept.kind == "choice" and kept.choices == ("auto", "head", "tail", "head_tail", "windows")
    for option in ("head:", "tail:", "head_tail:", "windows:", "auto:"):
        assert option in kept.help
    assert specs["window_stride"].maximum == 511 and specs["window_aggregation"].choices == ("auto", "mean", "max")
    assert settings.from_widget(kept, "windows") == "windows"


def test_the_plan_says_why_and_counts_windows(monkeypatch):
    hardware = Hardware("cpu")
    planned = plan_run(make_config(model="bundled-minilm", max_length=256), 3_000, {"a": 1_500, "b": 1_500},
                       long_stats(), 256, hardware)
    reasons = views_advice.decisions_markdown(planned.plan.decisions)
    assert "of your texts are longer than 256 tokens; keeping the first 64 and last 190 tokens" in reasons
    windows = plan_run(make_config(model="bundled-minilm", max_length=256, long_texts="windows"), 3_000,
                       {"a": 1_500, "b": 1_500}, long_stats(), 256, hardware).plan
    assert windows.examples_per_text > 3
    text = views_advice.plan_markdown(windows, None, "CPU")
    assert "Long texts in windows" in text and f"{windows.examples_per_text:.1f} windows" in text


def test_short_texts_plan_exactly_as_before():
    short = LengthStats(n=2000, sampled=False, percentiles={50: 20, 90: 30, 95: 31, 99: 40}, max=50, mean=21.0,
                        percentile_grid=[5 + i // 3 for i in range(101)])  # at most 38 tokens
    config = make_config(model="bundled-minilm", max_length=64)
    now = plan_run(config, 3_000, {"a": 1_500, "b": 1_500}, short, 64, Hardware("cpu")).plan
    before = plan_run(config.model_copy(update={"long_texts": "head"}), 3_000, {"a": 1_500, "b": 1_500},
                      LengthStats(**{**short.__dict__, "percentile_grid": []}), 64, Hardware("cpu")).plan
    assert now.decisions == before.decisions and now.total_steps == before.total_steps
    assert "Long texts" not in views_advice.plan_markdown(now, None, "CPU")


def test_the_predict_tab_says_what_is_kept_of_long_texts():
    from bertstudio.ui import predict_tab

    info = {"labels": ["a", "b"], "backend": "onnx", "max_length": 256, "text_pair": False,
            "long_texts": "head_tail", "kept": "long texts keep their first 64 and last 190 tokens"}
    assert "Long texts keep their first 64 and last 190 tokens, as in training." in predict_tab.model_markdown(info)
    old = {**info, "long_texts": "head"}
    assert "Texts longer than 256 tokens are cut, as in training." in predict_tab.model_markdown(old)


def test_the_app_plans_and_trains_a_long_text_file_as_the_cli_does(tmp_path):
    """Issue 20: the length the Data tab suggests stays automatic until the person changes it, so on a CPU the app
    lowers it to 256 for long texts (with the reason in the plan) exactly as `bertstudio train` does."""
    from bertstudio.cli_args import config_from_args
    from bertstudio.train.cli import COMMANDS
    from bertstudio.train.pipeline import load_inputs
    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.data_tab import analyse
    from bertstudio.ui.state import ModelChoice, build_config

    data = write_long_text_csv(tmp_path / "long.csv")
    selection = analyse(TokenizerCache(), str(data), "bundled-minilm")
    assert selection.max_length > 256 and not selection.max_length_set  # the suggestion, shown in the Data tab
    app_config = build_config(selection, ModelChoice(model="bundled-minilm"))
    planned = plan_run(app_config, selection.rows, selection.class_counts, selection.lengths, selection.max_length,
                       Hardware("cpu")).plan

    train = next(c for c in COMMANDS if c.name == "train")
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args([str(data), "--model", "bundled-minilm", "--device", "cpu"])
    cli = load_inputs(config_from_args(args, data=args.data)).config
    app = load_inputs(app_config.model_copy(update={"device": "cpu"})).config
    assert cli.max_length == 256 and any(d.field == "max_length" and "on this CPU" in d.reason
                                         for d in planned.decisions)
    assert app.model_dump(exclude={"decisions"}) == cli.model_dump(exclude={"decisions"})  # trains as the CLI does
    for field in ("max_length", "long_texts", "batch_size", "epochs", "lr"):
        assert getattr(planned.config, field) == getattr(cli, field), field  # and the plan shows what it trains

    # The Data tab says what training will read, from the same plan: the suggestion, the 256 and why.
    from bertstudio.ui.data_tab import length_in_use_text
    on_cpu = ModelChoice(model="bundled-minilm", settings={"device": "cpu"})
    said = length_in_use_text(selection, on_cpu)
    assert said.startswith(f"**Suggested {selection.max_length}; on this computer training reads at most 256 tokens")
    kept = "the first 64 and last 190 tokens" if planned.config.long_texts == "head_tail" else "every token"
    assert kept in said and "on this CPU" in said and "beginning" not in said

    # A length the person typed is theirs: kept as it is, even above 256 on a CPU.
    from dataclasses import replace
    typed = build_config(replace(selection, max_length=384, max_length_set=True), ModelChoice(model="bundled-minilm"))
    assert typed.max_length == 384 and load_inputs(typed).config.max_length == 384
    assert length_in_use_text(replace(selection, max_length=384, max_length_set=True), on_cpu).startswith(
        f"**Suggested {selection.max_length}, you chose 384: training reads at most 384 tokens")
    assert length_in_use_text(None, on_cpu) == ""


def _length_in_use(config, hardware: Hardware, stats: LengthStats | None = None):
    stats = stats or LengthStats(**{**long_stats().__dict__, "suggested_max_length": 512})
    plan = plan_run(config, 3_000, {"a": 1_500, "b": 1_500}, stats, stats.suggested_max_length, hardware).plan
    return length_in_use(plan, stats)


def test_the_length_in_use_is_the_plans_own():
    """Issue 20 left-over: a CPU lowers an automatic 512 to 256 (the Data tab must say so); a GPU keeps it; a
    length the person set is kept; each says what is kept of the longer texts."""
    auto = make_config(model="bundled-minilm")
    cpu = _length_in_use(auto, Hardware("cpu"))
    assert (cpu.suggested, cpu.used, cpu.lowered, cpu.chosen) == (512, 256, True, False) and cpu.longer_share > 0.5
    assert cpu.kept.strategy in ("head_tail", "windows") and cpu.kept.max_length == 256
    assert any("on this CPU" in reason for reason in cpu.reasons) and len(cpu.reasons) == 2
    gpu = _length_in_use(auto, Hardware("cuda", bf16=True))
    assert (gpu.used, gpu.lowered) == (512, False) and not any("on this CPU" in r for r in gpu.reasons)
    tail = _length_in_use(make_config(model="bundled-minilm", max_length=384, long_texts="tail"), Hardware("cpu"))
    assert (tail.used, tail.lowered, tail.chosen, tail.reasons) == (384, False, True, ())  # the person's own choice
    assert tail.kept.kept() == "the last 382 tokens"


def test_the_data_tab_says_what_each_strategy_keeps():
    from bertstudio.data.long_texts import LongTexts
    from bertstudio.train.plan import LengthInUse

    def said(strategy: str, **changes) -> str:
        values = dict(suggested=512, used=256, kept=LongTexts(strategy, 256), longer_share=0.4,
                      reasons=("Because.",))
        return views_advice.length_in_use_markdown(LengthInUse(**{**values, **changes}))

    assert said("head_tail") == ("**Suggested 512; on this computer training reads at most 256 tokens of each text**; "
                                 "of the 40% of texts that are longer, it keeps the first 64 and last 190 tokens. "
                                 "Because.")
    assert "it keeps the first 254 tokens." in said("head", suggested=256)
    assert said("head", suggested=256).startswith("**Training reads at most 256 tokens")
    assert said("head", chosen=True).startswith("**Suggested 512, you chose 256: training reads at most 256 tokens")
    assert "it keeps the last 254 tokens." in said("tail")
    assert "reads each text in pieces of at most 256 tokens**" in said("windows")
    windows = said("windows")
    assert ("it keeps up to 8 overlapping windows of 256 tokens, 127 tokens apart: texts of up to 2,034 tokens "
            "whole, longer ones only in part") in windows  # never "every token": 8 windows stop somewhere
    assert "the longer text of each pair is trimmed" in said("head", pair=True)
    assert said("head", longer_share=0.0) == "**Training reads every text whole**: none is longer than 256 tokens."
    assert "of the 0.2% of texts" in said("head", longer_share=0.002)  # as the length chart says it
