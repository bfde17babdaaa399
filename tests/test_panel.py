"The benchmark panel as a user first meets it: a quick run writes its JSON and table; a bad task or recipe is refused before anything trains (benchmarks/lt_panel.py)."
import json, warnings
import pytest
from conftest import load_benchmark
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')

@pytest.fixture(scope='module')
def panel(): return load_benchmark('lt_panel')

def test_quick_run_writes_json(panel, tmp_path, capsys):
    out = tmp_path / 'p.json'
    res = panel.main(['--tasks', 'digits', '--recipes', 'ce,glmc', '--seeds', '0', '--epochs', '1', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert saved['tasks']['digits']['summary'].keys() == {'ce', 'glmc'}
    s = saved['tasks']['digits']['summary']['glmc']
    assert s['new'] and s['n'] == 1 and 0 <= s['balanced_accuracy'][0] <= 1 and s['epoch_cost'] > 0
    assert saved['tasks']['digits']['verdict']['best_new'] == 'glmc'
    assert not list(tmp_path.glob('*.partial'))                      # written whole
    assert '| glmc |' in capsys.readouterr().out
    assert res['tasks']['digits']['runs'][0]['recipe'] == 'ce'

def test_bad_arguments(panel, tmp_path):
    with pytest.raises(SystemExit) as e: panel.main(['--tasks', 'cifar', '--out', str(tmp_path / 'x.json')])
    assert e.value.code == 2
    with pytest.raises(ValueError, match="unknown recipe 'glmcc'"): panel.main(['--tasks', 'digits', '--recipes', 'glmcc'])
    assert not (tmp_path / 'x.json').exists()

def test_schedules_and_auto(panel, tmp_path):
    "A recipe on another schedule is a row of its own; `auto` records its choice and counts its whole time"
    out = tmp_path / 'p.json'
    res = panel.main(['--tasks', 'digits', '--recipes', 'ce,balanced_softmax@cosine,auto', '--seeds', '0', '--epochs', '2',
                      '--out', str(out)])
    runs = {r['recipe']: r for r in res['tasks']['digits']['runs']}
    assert set(runs) == {'ce', 'balanced_softmax@cosine', 'auto'}
    from lt_fastai.auto import AUTO_SCRATCH
    from lt_fastai.recipes import get_recipe
    assert runs['auto']['auto']['combine'] == 'ensemble'
    every = [f"{r}@{s or get_recipe(r).schedule or 'one_cycle'}" for r, s in AUTO_SCRATCH]
    members = runs['auto']['auto']['members']
    assert members and members == [m for m in every if m in members]     # the candidates it kept, in their order
    assert len(runs['auto']['auto']['candidates']) == len(AUTO_SCRATCH)
    summ = json.loads(out.read_text())['tasks']['digits']['summary']
    assert summ['balanced_softmax@cosine']['new'] and not summ['ce']['new']
    assert summ['auto']['epoch_cost'] > 1                          # all its fits, per epoch of the final one
    with pytest.raises(ValueError, match="unknown schedule 'cosin'"):
        panel.main(['--tasks', 'digits', '--recipes', 'ce@cosin', '--seeds', '0', '--epochs', '1', '--out', str(tmp_path / 'y.json')])
