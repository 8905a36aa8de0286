"""Kept for scripts written against 0.1: ``from bertstudio.pipeline import train``. New code imports from
:mod:`bertstudio.train.pipeline`."""

from bertstudio.train.pipeline import load_inputs, run_training, train

__all__ = ["load_inputs", "run_training", "train"]
