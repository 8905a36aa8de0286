"""app.py: a bad flag or folder is one 'error:' line and exit 2 before Gradio starts, as the bertstudio command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("bertstudio_app_script", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refused(app, capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        app.main([str(a) for a in argv])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_port_out_of_range_is_refused_in_one_line(app, capsys):
    """--port 99999 ended in an OverflowError traceback from the server."""
    assert "a port is a number from 1 to 65535, got '99999'" in refused(app, capsys, "--port", "99999")


def test_a_file_given_as_the_data_folder_is_refused_in_one_line(app, capsys, tmp_path):
    """--data-dir texts.csv ended in a FileExistsError traceback."""
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nhello\n")
    err = refused(app, capsys, "--data-dir", texts)
    assert f"--data-dir {texts} cannot be used: {texts} is a file, not a folder." in err


def test_a_misspelt_limit_names_the_one_meant(app, capsys, tmp_path):
    settings = tmp_path / "limits.json"
    settings.write_text('{"max_row": 5}')
    assert "Did you mean 'max_rows'?" in refused(app, capsys, "--data-dir", tmp_path / "data", "--settings", settings)


def test_a_misspelt_flag_and_a_login_without_password(app, capsys, tmp_path):
    assert "has no option --prot; did you mean --port?" in refused(app, capsys, "--prot", "5")
    err = refused(app, capsys, "--auth", "secret", "--data-dir", tmp_path)
    assert "--auth needs a user name and a password" in err and "secret" not in err


def test_the_help_says_the_defaults(app, capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 7860, or $PORT when set)" in text and "(default: ~/.bertstudio)" in text
