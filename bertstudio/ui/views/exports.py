"""Where the Export tab says an export lives, and how to serve it (pure: tested without a browser).

A shared app (a public demo, a Space) names no folder at all: a visitor can open none of the server's folders,
and a path would only show the server's layout and the workspace id that the visitor's cookie stands for. What a
visitor needs is on the card already: what was made, its size, its check and its download button. On a person's
own computer the folder helps (a file manager opens it), named within the app's data folder so that the line stays
short.
"""

from __future__ import annotations

from pathlib import Path

# What the Export tab's "Using an export" text calls the folder a download was unzipped into.
UNZIPPED = "my-model"


def data_folder_text(data_dir: Path, home: Path | None = None) -> str:
    """The data folder as a person types it: '~/.bertstudio' under the home folder, the full path elsewhere."""
    home = Path.home() if home is None else home
    return f"~/{data_dir.relative_to(home).as_posix()}" if data_dir.is_relative_to(home) else data_dir.as_posix()


def saved_in_markdown(folder: Path, data_dir: Path | None, home: Path | None = None) -> str:
    """'Saved in your data folder (`~/.bertstudio`): `sessions/…/exports/onnx`' on a local app; '' on a shared one
    (``data_dir`` None), and '' for a folder outside the data folder (nothing of the server's layout is shown)."""
    if data_dir is None or not folder.is_relative_to(data_dir):
        return ""
    return (f"Saved in your data folder (`{data_folder_text(data_dir, home)}`): "
            f"`{folder.relative_to(data_dir).as_posix()}`")


def serve_command(run_dir: str, backend: str, *, shared: bool) -> str:
    """How to serve the model the way the speed advice says: the run folder on a local app; on a shared one, the
    download unzipped into ``UNZIPPED`` (the run folder is on the server, out of the visitor's reach)."""
    if shared:
        return f"`bertstudio serve {UNZIPPED} --backend {backend}` on its unzipped download (see **Using an export**)"
    return f"`bertstudio serve {run_dir} --backend {backend}`"
