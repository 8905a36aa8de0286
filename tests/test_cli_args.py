"""What the commands share: the number types of their flags and the check of an output folder."""

import argparse
import os

import pytest

from bertstudio.cli_args import check_writable_folder, non_negative_int, port_number, positive_int
from bertstudio.errors import UserError


@pytest.mark.parametrize("parse,text,words", [
    (positive_int, "0", "at least 1, got '0'"),
    (positive_int, "-1", "at least 1, got '-1'"),
    (positive_int, "2.5", "a whole number, got '2.5'"),
    (non_negative_int, "-1", "at least 0, got '-1'"),
    (port_number, "99999", "from 1 to 65535, got '99999'"),
    (port_number, "0", "from 1 to 65535"),
    (port_number, "http", "expected a port number"),
])
def test_numbers_out_of_range_are_refused_with_what_was_typed(parse, text, words):
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        parse(text)


def test_numbers_in_range_are_read():
    assert (positive_int("3"), non_negative_int("0"), port_number("65535")) == (3, 0, 65535)


def test_a_missing_folder_is_checked_by_creating_it_and_removed_again(tmp_path):
    check_writable_folder(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    check_writable_folder(tmp_path / "kept", "--out")
    assert [p.name for p in tmp_path.iterdir()] == ["kept"] and list((tmp_path / "kept").iterdir()) == []


def test_a_file_in_the_way_is_named(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n")
    with pytest.raises(UserError) as err:
        check_writable_folder(data / "x", "--out", given="data.csv/x")
    assert str(err.value) == (f"--out data.csv/x cannot be used: {data} is a file, not a folder. "
                              "Choose another --out; missing folders are created.")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_a_folder_the_system_refuses_is_said_not_raised():
    with pytest.raises(UserError, match=r"Cannot create or write into /proc/nothing-here \(--out /proc/nothing-here\)"):
        check_writable_folder("/proc/nothing-here", "--out")


def test_an_output_file_that_names_a_folder_is_refused_with_a_file_inside_it(tmp_path):
    from bertstudio.cli_args import check_writable_file

    with pytest.raises(UserError) as err:
        check_writable_file(tmp_path, "--out", "bench.json")
    assert str(err.value) == (f"--out {tmp_path} names a folder; a file is written there. "
                              f"Name a file inside it, for example --out {tmp_path / 'bench.json'}.")
    check_writable_file(tmp_path / "new" / "bench.json", "--out", "bench.json")
    assert list(tmp_path.iterdir()) == []
