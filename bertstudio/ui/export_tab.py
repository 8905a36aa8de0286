"""Tab 5, Export: take the trained model away as one zip file."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..runs import load_summary
from .common import friendly, require_workspace
from .context import AppContext
from .session import export_zip, list_workspace_runs

INTRO = """### Step 5: export
Download the trained model as a zip: the weights (`model.safetensors`), the tokenizer, the class names and
`preprocessing.json` (how texts must be prepared, exactly as in training)."""

USAGE = """**Using it in Python** (after unzipping into a folder `my-model`):

```python
from transformers import pipeline
classify = pipeline("text-classification", model="my-model")
print(classify("Where is my parcel?"))
```

*More formats are coming here: ONNX for fast CPU serving and a smaller quantized model. A **Predict** tab (try
the model on your own sentences or a whole file) and a **Benchmark** tab (speed and accuracy side by side) will
join the tabs above.*"""


def run_summary_markdown(run_dir: Path, zip_path: Path) -> str:
    summary = load_summary(run_dir)
    size_mb = zip_path.stat().st_size / 1e6
    return (f"Model from the run of {summary.get('finished_at', run_dir.name)}: **{summary.get('model', '')}**, "
            f"macro-F1 {summary.get('macro_f1', float('nan')):.3f} on the test texts. Zip size: {size_mb:.0f} MB.")


def build(ctx: AppContext) -> None:
    with gr.Tab("5. Export", id="export") as tab:
        gr.Markdown(INTRO)
        what_md = gr.Markdown("Train a model first (Train tab); the download appears here.", elem_id="export-run")
        download = gr.DownloadButton("Download the model (.zip)", variant="primary", interactive=False,
                                     elem_id="download-model")
        gr.Markdown(USAGE)

        @friendly
        def prepare(workspace, run_dir: str | None) -> tuple:
            ws = require_workspace(workspace)
            if not run_dir:  # nothing chosen in this page yet: offer the newest finished run
                runs = list_workspace_runs(ws)
                if not runs:
                    return gr.skip(), gr.skip()
                run_dir = str(runs[0].path)
            zip_path = export_zip(ws, run_dir)
            return run_summary_markdown(Path(run_dir), zip_path), gr.DownloadButton(value=str(zip_path),
                                                                                   interactive=True)

        gr.on([tab.select, ctx.run_dir.change], prepare, [ctx.workspace, ctx.run_dir], [what_md, download],
              trigger_mode="always_last")
