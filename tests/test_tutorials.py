"""Every tutorial runs as a plain script (fast settings), as a reader would run it."""
import os
import pathlib
import subprocess
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path):
    env = dict(os.environ, NUMPYUQ_FAST="1", OUT_DIR=str(tmp_path), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(path)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
