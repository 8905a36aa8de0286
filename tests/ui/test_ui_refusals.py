"""A refusal (a UserError: no trained model yet, a deleted run, an empty text) on any tab is a warning that leaves
the page as it was, as on the Train tab: never red "Error" badges on the outputs."""

from __future__ import annotations

import gradio as gr
import pytest

from bertstudio.errors import UserError
from bertstudio.ui.common import friendly, list_runs


def test_a_refusal_warns_and_leaves_every_output_as_it_was():
    @friendly
    def handler(run_dir):
        raise UserError("No trained model is selected.", "Train a model in the Train tab, or pick an earlier run.")

    with pytest.warns(UserWarning, match="No trained model is selected. Train a model"):
        assert handler(None) == gr.skip()


def test_a_bug_is_still_an_apology_and_an_answer_passes_through():
    @friendly
    def broken():
        raise ZeroDivisionError("oops")

    @friendly
    def fine(value, *, twice=False):
        return value * 2 if twice else value

    with pytest.raises(gr.Error, match="Something unexpected went wrong"):
        broken()
    assert fine(3, twice=True) == 6


def test_the_run_picker_before_the_page_has_its_workspace_is_a_warning():
    with pytest.warns(UserWarning, match="still starting up"):
        assert list_runs(None, None, None) == gr.skip()
