"""The notebooks run, and each .ipynb is in sync with its paired .py (jupytext percent)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SCRIPTS = sorted(NB_DIR.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_notebook_runs(script, tmp_path):
    # The notebooks import the funcad of this checkout, whatever else is installed.
    path = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=path)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_notebook_is_paired(script):
    import jupytext  # the notebooks extra: a missing package fails this test, never skips it
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run jupytext --sync {script.name}"
    from_py = jupytext.read(script)
    from_nb = jupytext.read(ipynb)
    src = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert src(from_py) == src(from_nb), f"{ipynb.name} and {script.name} differ: run jupytext --sync"
