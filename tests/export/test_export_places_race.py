"""Two exports of one run to different ``--out`` folders at the same time: each records where its formats went in
the run's export_places.json, and neither loses the other's entries (the read-modify-write holds a lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from bertstudio.results import read_export_places, record_export_place

ROUNDS = 40


def test_two_threads_recording_at_once_lose_no_entry(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    start = threading.Barrier(2)

    def export(tag: str) -> None:
        start.wait()
        for i in range(ROUNDS):
            record_export_place(run, f"{tag}{i}", tmp_path / tag)

    threads = [threading.Thread(target=export, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folders = read_export_places(run).folders
    assert len(folders) == 2 * ROUNDS
    assert folders["a7"] == str((tmp_path / "a").resolve()) and folders["b7"] == str((tmp_path / "b").resolve())


def test_two_processes_recording_at_once_lose_no_entry(tmp_path):
    """What two `bertstudio export RUN --out ...` commands do when their formats finish together."""
    run = tmp_path / "run"
    run.mkdir()
    go = tmp_path / "go"
    script = ("import pathlib, sys, time\n"
              "from bertstudio.results import record_export_place\n"
              "run, tag, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])\n"
              "while not go.exists(): time.sleep(0.01)\n"  # both start recording at the same moment
              f"for i in range({ROUNDS}): record_export_place(run, f'{{tag}}{{i}}', pathlib.Path(run).parent / tag)\n")
    exports = [subprocess.Popen([sys.executable, "-c", script, str(run), tag, str(go)], env=dict(os.environ))
               for tag in ("onnx-out", "hf-out")]
    go.touch()
    assert [p.wait(timeout=120) for p in exports] == [0, 0]
    folders = read_export_places(run).folders
    assert len(folders) == 2 * ROUNDS
    assert {f"onnx-out{i}" for i in range(ROUNDS)} | {f"hf-out{i}" for i in range(ROUNDS)} == set(folders)
