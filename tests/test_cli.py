"The `lt-fastai` console script: help, recipe listing, a short demo run, determinism and bad arguments"
import json, subprocess, sys
from pathlib import Path
import pytest

EXE = Path(sys.executable).parent / 'lt-fastai'   # installed beside the Python that runs the tests

def lt(*args):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600)

def test_console_script_installed():
    assert EXE.exists(), f"no lt-fastai console script at {EXE}: is the package installed (pip install -e .)?"

def test_help():
    r = lt('demo', '--help')
    assert r.returncode == 0, r.stderr
    assert '--recipes' in r.stdout and '--out' in r.stdout

def test_recipes_lists_every_registered_recipe():
    from lt_fastai.learner import RECIPES
    r = lt('recipes')
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    assert names == list(RECIPES)

def _demo(out, *extra):
    r = lt('demo', '--recipes', 'ce,balanced_softmax', '--epochs', '2', '--stage-epochs', '1', '--threads', '1',
           '--out', str(out), *extra)
    assert r.returncode == 0, r.stderr
    return r, json.loads((out / 'results.json').read_text())

@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
    "The same short demo run twice, the second without the plot"
    tmp = tmp_path_factory.mktemp('demo')
    return tmp, _demo(tmp / 'a'), _demo(tmp / 'b', '--no-plot')

def test_demo_writes_table_json_and_plot(two_runs):
    tmp_path, (r, res), _ = two_runs
    tmp_path = tmp_path / 'a'
    for col in ('accuracy', 'balanced_acc', 'macro_f1', 'many', 'medium', 'few'): assert col in r.stdout
    assert set(res['results']) == {'ce', 'balanced_softmax'}
    m = res['results']['ce']['metrics']
    assert 0 <= m['balanced_accuracy'] <= 1 and len(res['results']['ce']['recall']) == 10
    assert res['counts'] == [100, 59, 35, 21, 12, 7, 4, 2, 1, 1]
    assert (tmp_path / 'recall_vs_frequency.png').stat().st_size > 1000

def test_demo_is_deterministic(two_runs):
    tmp_path, (_, a), (_, b) = two_runs
    for k in a['results']: assert a['results'][k]['metrics'] == b['results'][k]['metrics']
    assert not (tmp_path / 'b' / 'recall_vs_frequency.png').exists()

@pytest.mark.parametrize('args,msg', [(('--recipes', 'ce,nope'), "unknown recipe 'nope'"),
                                      (('--epochs', '0'), '--epochs must be at least 1'),
                                      (('--epochs', 'many'), 'invalid int value'),
                                      (('--threads', '0'), '--threads must be at least 1'),
                                      (('--imb-ratio', '500'), '--imb-ratio must lie in')])
def test_demo_bad_arguments(tmp_path, args, msg):
    r = lt('demo', '--out', str(tmp_path), *args)
    assert r.returncode != 0
    assert msg in r.stderr
