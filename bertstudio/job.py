"""Kept for scripts written against 0.1: ``from bertstudio.job import TrainingJob``. New code imports from
:mod:`bertstudio.train.job`."""

from bertstudio.train.job import TrainingJob

__all__ = ["TrainingJob"]
