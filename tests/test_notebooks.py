"Run each notebook's tests with nbdev-test (skipping cells flagged notest, slow or cuda)."
import subprocess
import pytest
from conftest import ROOT, nbdev_cmd

NOTEBOOKS = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb'))

def test_there_are_notebooks(): assert 'index.ipynb' in NOTEBOOKS and len(NOTEBOOKS) > 1

@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook(nb):
    r = subprocess.run([nbdev_cmd('nbdev-test'), str(ROOT / 'nbs' / nb)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and 'Success' in r.stdout, f"nbdev-test failed for {nb}:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"
