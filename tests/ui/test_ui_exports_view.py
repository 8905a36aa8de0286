"""Where the Export tab says an export lives (pure)."""

from __future__ import annotations

from pathlib import Path

from bertstudio.ui.views.exports import data_folder_text, saved_in_markdown, serve_command

DATA = Path("/home/ana/.bertstudio")
FOLDER = DATA / "sessions" / "xVHcT9wRabcdefghijkl" / "runs" / "20261206-1200-minilm" / "exports" / "onnx"


def test_a_shared_app_names_no_folder():
    """A tester saw 'Folder: /tmp/.../app/sessions/xVHcT9wR…/exports/onnx' on the Export tab: a path no visitor can
    open, showing the server's layout and the workspace id."""
    assert saved_in_markdown(FOLDER, None) == ""
    assert saved_in_markdown(Path("/elsewhere/exports/onnx"), DATA) == ""  # outside the data folder: nothing either


def test_a_local_app_names_the_folder_within_its_data_folder():
    line = saved_in_markdown(FOLDER, DATA, home=Path("/home/ana"))
    assert line == ("Saved in your data folder (`~/.bertstudio`): "
                    "`sessions/xVHcT9wRabcdefghijkl/runs/20261206-1200-minilm/exports/onnx`")
    assert data_folder_text(Path("/srv/bertstudio"), home=Path("/home/ana")) == "/srv/bertstudio"


def test_the_serve_command_names_the_run_only_on_a_local_app():
    assert serve_command("/home/ana/.bertstudio/sessions/x/runs/a", "onnx", shared=False) == \
        "`bertstudio serve /home/ana/.bertstudio/sessions/x/runs/a --backend onnx`"
    shared = serve_command("/tmp/app/sessions/x/runs/a", "onnx", shared=True)
    assert "sessions" not in shared and shared.startswith("`bertstudio serve my-model --backend onnx`")
