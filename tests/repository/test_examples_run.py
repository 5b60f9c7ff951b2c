"""Every script in examples/ runs and saves its picture (slow: about a
minute each on a CPU)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_saves_a_png(script, tmp_path):
    env = dict(os.environ, SKREMIX_EXAMPLES_OUT=str(tmp_path), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = list(tmp_path.glob("*.png"))
    assert pngs, f"{script.name} saved no PNG under SKREMIX_EXAMPLES_OUT"
    assert (tmp_path / f"{script.stem}.png").is_file()
    assert all(p.stat().st_size > 5000 for p in pngs)
