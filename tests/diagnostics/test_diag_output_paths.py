"""require_output_path: one-line errors, before any work, naming the option and the path."""

import pytest

from diagnostics.atomic import OutputPathError, require_output_path


def test_a_writable_path_with_missing_folders_is_accepted_and_nothing_is_created(tmp_path):
    path = tmp_path / "a" / "b.html"
    assert require_output_path(path, option="--out", suffixes=(".html",)) == path
    assert not (tmp_path / "a").exists()


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(OutputPathError, match=r"^--out: cannot write .*: it is a directory"):
        require_output_path(tmp_path, option="--out")


def test_a_wrong_suffix_is_refused_with_the_accepted_ones(tmp_path):
    with pytest.raises(OutputPathError, match=r"suffix must be .csv or .parquet, not '.txt'"):
        require_output_path(tmp_path / "run.txt", option="--records",
                            suffixes=(".csv", ".parquet"))


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        require_output_path(blocker / "sub" / "r.html", option="--gradcheck-report")
