"""Working through a table a batch at a time, and writing what comes out to a memory-mapped Arrow file.

A million-row file must not be held in memory twice over (issue 22): cleaning and checking read it in batches
of ``BATCH_ROWS`` rows, keep counters and a few examples, and write the kept rows beside the table's own Arrow
copy in the cache (:mod:`bertstudio.data.io`), from where ``datasets`` memory-maps them. A table that is
not backed by a file in the cache (an Excel sheet, a table made in a test) is small by nature and is collected
in memory instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertstudio.data.io import table_cache_folder
from bertstudio.runs import temp_prefix

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

# 10,000 rows of support-ticket texts (~250 characters) are ~3 MB of Python strings: big enough that pandas'
# per-call overhead vanishes (a million rows clean in about as long as in one piece), small enough to be flat.
BATCH_ROWS = 10_000
PREPARED_FOLDER = "prepared"


def frames(ds: datasets.Dataset, columns: list[str]) -> Iterator[pd.DataFrame]:
    """``columns`` of ``ds`` as pandas frames of at most ``BATCH_ROWS`` rows, in row order.

    Each batch converts exactly as ``ds.select_columns(columns).to_pandas()`` does for the whole table.
    """
    yield from ds.select_columns(columns).with_format("pandas").iter(batch_size=BATCH_ROWS)


def arrow_batches(ds: datasets.Dataset, columns: list[str]) -> Iterator[Any]:
    """``columns`` of ``ds`` as pyarrow tables of at most ``BATCH_ROWS`` rows, in row order."""
    yield from ds.select_columns(columns).with_format("arrow").iter(batch_size=BATCH_ROWS)


class DatasetWriter:
    """Rows written batch by batch, then opened as a Dataset: memory-mapped beside ``source``'s Arrow copy.

    ``key`` names what is written (the same source and key give the same rows), so later steps that cache
    by the dataset's fingerprint (tokenizing) find their cache again on the next run over the same file.
    Written under a temporary name and renamed into place: a reader of the previous copy keeps its pages.
    """

    def __init__(self, source: datasets.Dataset, features: datasets.Features, key: dict[str, Any]) -> None:
        from datasets.arrow_writer import ArrowWriter

        self.features = features
        self.path = _prepared_path(source, key)
        # Named as every atomic write is (``runs.temp_prefix``: hidden, with this process's id), so the next start
        # removes what a killed process left half-written (bertstudio.leftovers) and never what a live one writes.
        self._tmp = None if self.path is None else self.path.with_name(temp_prefix(self.path) + uuid.uuid4().hex)
        self._batches: list[Any] = []
        self._writer = None
        if self._tmp is not None:
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            self._writer = ArrowWriter(features=features, path=str(self._tmp))

    def write(self, columns: dict[str, Any]) -> None:
        import pyarrow as pa

        table = pa.Table.from_pydict(columns, schema=self.features.arrow_schema)
        if self._writer is not None:
            self._writer.write_table(table)
        else:
            self._batches.append(table)

    def finish(self) -> datasets.Dataset:
        import datasets
        import pyarrow as pa
        from datasets.table import MemoryMappedTable

        if self._writer is None:
            table = pa.concat_tables(self._batches) if self._batches else self.features.arrow_schema.empty_table()
            return datasets.Dataset(table, info=datasets.DatasetInfo(features=self.features))
        try:
            self._writer.finalize()
        finally:
            self._writer.close()
        os.replace(self._tmp, self.path)
        # Named by what it holds, not by when it was written (``from_file`` would hash the file's modification
        # time): the next run over the same file finds the tokenized copy that ``Dataset.map`` cached.
        return datasets.Dataset(MemoryMappedTable.from_file(str(self.path)),
                                info=datasets.DatasetInfo(features=self.features), fingerprint=self.path.stem)

    def abandon(self) -> None:
        """Remove the half-written file (an error stopped the writing)."""
        if self._writer is not None:
            self._writer.close()
            self._tmp.unlink(missing_ok=True)


def _prepared_path(source: datasets.Dataset, key: dict[str, Any]) -> Path | None:
    folder = table_cache_folder(source)
    if folder is None:
        return None
    digest = hashlib.sha256(json.dumps({"source": source._fingerprint, **key}, sort_keys=True).encode()).hexdigest()
    return folder / PREPARED_FOLDER / f"{digest[:24]}.arrow"



def column_values(ds: Any, name: str) -> list:
    """Column ``name`` of a split as a Python list, read in one query.

    Since datasets 4, ``ds[name]`` is a lazy ``Column`` that turns into a list or an array one row at a time:
    the labels of 100,000 training rows took 3.4 s that way (and the length, text and label columns together
    ~10 s before the first step), growing with the rows; one Arrow query takes a tenth of that. Anything else
    that reads like a split (a lazily tokenized one, a plain dict in a test) hands out its own column.
    """
    column = _arrow_column(ds, name)
    return list(ds[name]) if column is None else column.to_pylist()


def column_array(ds: Any, name: str) -> np.ndarray:
    """:func:`column_values` as an array (labels: one per row, or a 0/1 vector per row for multi-label)."""
    import numpy as np
    import pyarrow as pa

    column = _arrow_column(ds, name)
    if column is not None and (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        return np.array(column.to_numpy())  # a copy: Arrow's own buffers are read-only
    return np.asarray(column_values(ds, name))


def _arrow_column(ds: Any, name: str):
    if not hasattr(ds, "select_columns"):
        return None
    indices = getattr(ds, "_indices", None)  # a selection (every split is one): its rows of the table beneath
    if indices is None or not hasattr(ds, "data"):
        return ds.select_columns([name]).with_format("arrow")[:].column(name)
    # One Arrow take: ``ds[:]`` on a selection converted each of its row numbers to a Python int first
    # (1.2 s for 285,000 labels, against ~0.05 s here).
    return ds.data.column(name).take(indices.column(0))
