"""The app's loaded models for the Predict tab: the last few, kept so the next text is quick.

The app owns one :class:`PredictorCache` and hands it to the tabs through ``AppContext``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from bertstudio.errors import ModelError
from bertstudio.predict.locate import choose_backend, locate_model
from bertstudio.predict.predictor import Predictor, load_predictor
from bertstudio.ui.views.formats import FORMAT_INFO

CACHED_MODELS = 4


def missing_export_error(backend: str) -> ModelError:
    title = FORMAT_INFO[backend].title
    return ModelError(f"There is no {title} export of this model yet.",
                      f"Open the Export tab and press “Download {title} (.zip)” (it exports it first, in a few "
                      "seconds), then come back, "
                      "or pick Automatic here.")


class PredictorCache:
    """The last few loaded models, keyed by the file they run, so a re-export is picked up."""

    def __init__(self, size: int = CACHED_MODELS):
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], Predictor] = OrderedDict()

    def get(self, run_dir: Path, backend: str) -> Predictor:
        location = locate_model(run_dir)
        if backend != "auto" and backend not in location.available_backends():
            raise missing_export_error(backend)
        _, file = choose_backend(location, backend)
        key = (str(file), file.stat().st_mtime_ns)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        predictor = load_predictor(run_dir, backend)
        with self._lock:
            self._items[key] = predictor
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return predictor
