"The `lt-fastai` console script: help, recipe listing, a short demo run, determinism, bad arguments, earlier and interrupted runs"
import json, signal, subprocess, sys, time
from pathlib import Path
import pytest

EXE = Path(sys.executable).parent / 'lt-fastai'   # installed beside the Python that runs the tests

def lt(*args, **kwargs):
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600, **kwargs)

def test_console_script_installed():
    assert EXE.exists(), f"no lt-fastai console script at {EXE}: is the package installed (pip install -e .)?"

def test_help():
    r = lt('demo', '--help')
    assert r.returncode == 0, r.stderr
    assert '--recipes' in r.stdout and '--out' in r.stdout

def test_recipes_lists_every_registered_recipe():
    from lt_fastai.recipes import RECIPES
    r = lt('recipes')
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    assert names == list(RECIPES)

def _demo(out, *extra):
    r = lt('demo', '--recipes', 'ce,balanced_softmax', '--epochs', '2', '--stage-epochs', '1', '--threads', '1',
           '--out', str(out), *extra)
    assert r.returncode == 0, r.stderr
    return r, json.loads((out / 'results.json').read_text())

def test_demo_writes_table_json_and_plot_and_repeats(tmp_path):
    "A short demo writes its table, JSON and plot; run again (without the plot), it gives the same numbers"
    (r, res), (_, again) = _demo(tmp_path / 'a'), _demo(tmp_path / 'b', '--no-plot')   # one test: the two runs are its cost
    for col in ('accuracy', 'balanced_acc', 'macro_f1', 'many', 'medium', 'few'): assert col in r.stdout
    assert set(res['results']) == {'ce', 'balanced_softmax'}
    m = res['results']['ce']['metrics']
    assert 0 <= m['balanced_accuracy'] <= 1 and len(res['results']['ce']['recall']) == 10
    assert res['counts'] == [100, 59, 35, 21, 12, 7, 4, 2, 1, 1]
    assert (tmp_path / 'a' / 'recall_vs_frequency.png').stat().st_size > 1000
    assert res['status'] == 'complete' and res['run']['seed'] == 0 and res['run']['versions']['fastai']
    assert res['run']['arguments']['recipes'] == ['ce', 'balanced_softmax']
    assert not list((tmp_path / 'a').glob('.*.tmp'))                    # no temporary file left behind
    for k in res['results']: assert res['results'][k]['metrics'] == again['results'][k]['metrics']
    assert not (tmp_path / 'b' / 'recall_vs_frequency.png').exists()

def test_earlier_results_are_set_aside(tmp_path):
    (tmp_path / 'results.json').write_text('{"status": "complete", "results": {"old": {}}}')
    r = lt('demo', '--recipes', 'ce', '--epochs', '1', '--out', str(tmp_path), '--no-plot')
    assert r.returncode == 0, r.stderr
    assert 'renamed' in r.stderr
    assert json.loads((tmp_path / 'results.previous.json').read_text())['results'] == {'old': {}}
    assert list(json.loads((tmp_path / 'results.json').read_text())['results']) == ['ce']

@pytest.mark.parametrize('args,msg', [(('--recipes', 'ce,nope'), "unknown recipe 'nope'"),
                                      (('--epochs', '0'), '--epochs must be at least 1'),
                                      (('--epochs', 'many'), 'invalid int value'),
                                      (('--threads', '0'), '--threads must be at least 1'),
                                      (('--imb-ratio', '500'), '--imb-ratio must lie in'),
                                      (('--bs', '0'), '--bs must be at least 1'),
                                      (('--seed', '-1'), '--seed must lie in'),
                                      (('--lr', 'nan'), '--lr must be a positive number'),
                                      (('--lr', '-1'), '--lr must be a positive number'),
                                      (('--stage-epochs', '-5'), '--stage-epochs must be at least 0'),
                                      (('--recipes', 'bce'), "recipe 'bce' is multi-label"),
                                      (('--recipes', ''), '--recipes names no recipe')])
def test_demo_bad_arguments(tmp_path, args, msg):
    r = lt('demo', '--out', str(tmp_path / 'out'), *args)
    assert r.returncode != 0
    assert msg in r.stderr
    assert 'Traceback' not in r.stderr and msg in r.stderr.strip().splitlines()[-1]   # one line (argparse prints its usage first)
    assert not (tmp_path / 'out' / 'results.json').exists()

def test_demo_bad_out(tmp_path):
    f = tmp_path / 'afile'; f.write_text('x')
    r = lt('demo', '--out', str(f))
    assert r.returncode == 2 and 'is a file, not a folder' in r.stderr and 'Traceback' not in r.stderr
    r = lt('demo', '--out', '/proc/lt_fastai_cannot_write_here')
    assert r.returncode == 2 and 'cannot create the folder' in r.stderr

def test_batch_larger_than_the_training_set(tmp_path):
    r = lt('demo', '--recipes', 'ce', '--epochs', '1', '--bs', '100000', '--out', str(tmp_path))
    assert r.returncode == 1 and 'the training loader yields no batches' in r.stderr and 'Traceback' not in r.stderr
    assert json.loads((tmp_path / 'results.json').read_text())['status'] == 'failed'

def test_interrupted_run_says_so(tmp_path):
    "Ctrl-C after the first recipe: results.json keeps what finished and says 'interrupted'"
    p = subprocess.Popen([str(EXE), 'demo', '--recipes', 'ce,focal,cb_focal,balanced_softmax', '--epochs', '30',
                          '--out', str(tmp_path), '--no-plot'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # (a background shell ignores Ctrl-C)
    res_file, t0 = tmp_path / 'results.json', time.time()
    try:
        while time.time() - t0 < 300:
            if res_file.exists() and json.loads(res_file.read_text())['results']: break
            if p.poll() is not None: break
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None: p.kill()
    res = json.loads(res_file.read_text())
    assert p.returncode == 130, err
    assert res['status'] == 'interrupted' and 1 <= len(res['results']) < 4
    assert 'interrupted' in err

def test_init_writes_a_starter_config(tmp_path, monkeypatch, capsys):
    "A user of the installed wheel (no configs/ folder) gets the demo's config to edit; an existing file is left alone"
    from lt_fastai.cli import main, DEMO_CONFIG
    from lt_fastai.config import load_config
    monkeypatch.chdir(tmp_path)
    assert main(['init']) == 0
    cfg = load_config(tmp_path / 'lt_fastai.yaml')
    assert cfg == load_config(DEMO_CONFIG, {'recipe.name': 'balanced_softmax'})
    (tmp_path / 'mine.yaml').write_text('precious: true\n')
    assert main(['init', 'mine.yaml']) == 2 and (tmp_path / 'mine.yaml').read_text() == 'precious: true\n'
    assert 'nothing is overwritten' in capsys.readouterr().err
