"""runs/folders.py: run folders, their names and the writability check."""

import pytest

from fashion_resnet.runs import folders


def test_unwritable_output_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match=f"cannot write to the run folder {blocker}/run"):
        folders.check_writable(blocker / "run")
