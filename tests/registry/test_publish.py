"""registry.errors.publish: a finished temporary file takes the mode open() would give it, then its name."""

from __future__ import annotations

import os
import tempfile

import pytest

from registry.errors import _umask, publish


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_published_file_has_the_mode_open_would_give_it(tmp_path, umask):
    previous = os.umask(umask)
    try:
        assert _umask() == umask  # read without changing it
        fd, tmp = tempfile.mkstemp(dir=tmp_path)  # private to its owner, as safetensors' save_file makes them
        os.close(fd)
        assert os.stat(tmp).st_mode & 0o777 == 0o600
        with open(tmp_path / "plain", "w"):  # what open() gives a new file under this umask
            pass
        publish(tmp, tmp_path / "weights.safetensors")
    finally:
        os.umask(previous)
    mode = (tmp_path / "weights.safetensors").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not os.path.exists(tmp)
