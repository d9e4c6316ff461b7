"""The shared atomic writer: complete files, umask permissions, nothing left on failure."""

import os

import pytest

from diagnostics.atomic import write_atomically


def test_writes_text_and_pieces_and_creates_folders(tmp_path):
    target = tmp_path / "new" / "report.html"
    assert write_atomically(target, "<p>one</p>") == target
    assert target.read_text() == "<p>one</p>"
    write_atomically(target, (f"{i}\n" for i in range(3)))
    assert target.read_text() == "0\n1\n2\n"


def test_permissions_follow_the_umask_like_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_atomically(tmp_path / "atomic.txt", "x")
    assert os.stat(atomic).st_mode & 0o777 == os.stat(plain).st_mode & 0o777


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_atomically(tmp_path / "records.jsonl", "old\n")

    def pieces():
        yield "new partial line"
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        write_atomically(target, pieces())
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["records.jsonl"]
