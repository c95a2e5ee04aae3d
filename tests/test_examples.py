"""Every script in examples/ runs to completion (exit code 0), at the small sizes.

The scripts are found by glob, so a new example is run without touching this file. Each runs
in a fresh interpreter (the one running the tests) with ``FUNCAD_EXAMPLE_SMALL=1``, which the
long examples read to shrink their problem sizes; run by hand, they use their full sizes.
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_examples_are_found():
    # an empty glob would turn the parametrized test below into a silent skip
    assert "quickstart" in [s.stem for s in EXAMPLES], EXAMPLES


@pytest.mark.parametrize("script", EXAMPLES, ids=[s.stem for s in EXAMPLES])
def test_example_runs(script, tmp_path):
    # The scripts import the funcad next to them (this checkout), whatever else is installed.
    path = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env = dict(os.environ, FUNCAD_EXAMPLE_SMALL="1", MPLBACKEND="Agg", PYTHONPATH=path)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (f"{script.name} exited with {res.returncode}; stderr:\n"
                                 f"{res.stderr[-5000:]}")
