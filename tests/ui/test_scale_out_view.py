"""The text the "Train on a bigger machine" section shows with the files it wrote."""

from __future__ import annotations

from bertstudio.config import config_from_preset
from bertstudio.train.scale_out import Machines, write_scale_out
from bertstudio.ui.views.scale_out import scale_out_markdown


def test_several_machines_say_how_to_start_each(tmp_path):
    where = Machines(machines=2, gpus_per_machine=4)
    files = write_scale_out(config_from_preset(data="tickets.csv"), tmp_path, where)
    text = scale_out_markdown(files, where)
    assert "2 machines with 4 GPUs each (8 training processes)" in text
    assert files.command in text and "THIS_MACHINE_RANK 0" in text and "MAIN_MACHINE_IP" in text


def test_one_gpu_needs_no_ranks(tmp_path):
    files = write_scale_out(config_from_preset(data="tickets.csv"), tmp_path, Machines())
    text = scale_out_markdown(files, Machines())
    assert "one machine with 1 GPU (1 training process)" in text and "RANK" not in text
