"""The data layer: read a table, guess its columns, clean and validate it, split it,
and measure token lengths.

Importing this package is cheap: `datasets`, `pandas` and `transformers` load inside
the functions that need them.
"""

from pathlib import Path

from bertstudio.data.columns import ColumnGuess, guess_columns
from bertstudio.data.io import SUPPORTED_EXTENSIONS, TableInfo, cache_dir, read_table
from bertstudio.data.labels import normalise_label, sort_labels
from bertstudio.data.lengths import LengthStats, suggest_max_length, token_length_stats
from bertstudio.data.prepare import Finding, PreparedData, ValidationReport, prepare
from bertstudio.data.split import SplitData, split, split_fractions

# A small labelled dataset (online-shop feedback, 4 classes) to try the app without data.
SAMPLE_DATA_PATH: Path = Path(__file__).resolve().parents[2] / "assets" / "sample_feedback.csv"

__all__ = [
    "SAMPLE_DATA_PATH",
    "SUPPORTED_EXTENSIONS",
    "ColumnGuess",
    "Finding",
    "LengthStats",
    "PreparedData",
    "SplitData",
    "TableInfo",
    "ValidationReport",
    "cache_dir",
    "guess_columns",
    "normalise_label",
    "prepare",
    "read_table",
    "sort_labels",
    "split",
    "split_fractions",
    "suggest_max_length",
    "token_length_stats",
]
