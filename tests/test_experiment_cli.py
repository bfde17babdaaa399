"Config runs from the command line: train, predict, an interrupted run resumed, cross-validation, two workers sharing a search"
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / 'lt-fastai'   # the console script, installed beside the Python that runs the tests
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}
DEMO = dict(data=dict(imb_ratio=50, bs=32), schedule=dict(epochs=2, lr=1e-2), recipe=dict(name='balanced_softmax'), many=40, few=10)

def cli(*args, cwd, check=True, **kw):
    r = subprocess.run([str(EXE), *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, **kw)
    if check and r.returncode != 0: raise AssertionError(f"exit {r.returncode}: {r.stderr[-2000:]}")
    return r

def cli_in(monkeypatch, capsys, cwd, *args):
    "The command line in this process (no new interpreter to import torch into): (exit code, stdout, stderr)"
    from lt_fastai.cli import main
    monkeypatch.chdir(cwd)
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err

def write_config(path, **changes):
    cfg = json.loads(json.dumps(DEMO))
    for k, v in changes.items():
        sec, key = k.split('__') if '__' in k else (None, k)
        (cfg[sec] if sec else cfg)[key] = v
    path.write_text(yaml.safe_dump(cfg))
    return path

def test_train_then_predict(tmp_path):
    cfg = write_config(tmp_path / 'demo.yaml')
    cli('train', cfg, 'recipe.name=logit_adjusted', '--out', tmp_path / 'run', cwd=tmp_path)
    run = tmp_path / 'run'
    names = sorted(p.name for p in run.iterdir())
    assert names == ['config.yaml', 'learner.pkl', 'log.txt', 'metrics.json', 'per_class.csv', 'recall_vs_frequency.png', 'versions.json']
    m = json.loads((run / 'metrics.json').read_text())
    assert m['config']['recipe']['name'] == 'logit_adjusted' and len(m['history']) == 2 and 0 <= m['test']['balanced_accuracy'] <= 1
    # the saved config reads back as the config the run recorded (that a run repeats its numbers is the demo's test)
    from lt_fastai.config import load_config
    assert load_config(run / 'config.yaml').model_dump() == m['config']
    sys.path.insert(0, str(ROOT))
    from lt_fastai.datasets import digits_long_tail
    np.save(tmp_path / 'three.npy', digits_long_tail()['test'][0][:3].numpy())
    r = cli('predict', run, tmp_path / 'three.npy', cwd=tmp_path)
    assert r.stdout.count('three.npy[') == 3, r.stdout

def test_bad_configs_are_one_line(tmp_path):
    cfg = write_config(tmp_path / 'demo.yaml')
    for args, msg in [(('data.bz=8',), 'unknown key data.bz (did you mean data.bs?)'),
                      (('recipe.name=ldam',), "unknown recipe 'ldam' (did you mean ldam_drw"),
                      (('schedule.epochs=two',), 'schedule.epochs: Input should be a valid integer')]:
        r = cli('train', cfg, *args, '--out', tmp_path / 'bad', cwd=tmp_path, check=False)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (tmp_path / 'broken.yaml').write_text('data: [1, 2\n')
    r = cli('train', tmp_path / 'broken.yaml', cwd=tmp_path, check=False)
    assert r.returncode == 2 and 'broken.yaml:2: not valid YAML' in r.stderr, r.stderr
    assert not (tmp_path / 'bad').exists() and not (tmp_path / 'bad.partial').exists()

def test_interrupted_run_resumes_to_the_same_numbers(tmp_path):
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=4)
    cli('train', cfg, '--out', tmp_path / 'full', cwd=tmp_path)
    # the child gets SIGINT's default action even when this test runs under a shell that started it in the
    # background (such shells set SIGINT to 'ignore', the child would inherit that, and Ctrl-C would do nothing)
    p = subprocess.Popen([str(EXE), 'train', str(cfg), '--out', str(tmp_path / 'cut')],
                         cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / 'cut.partial' / 'log.txt'
    t0 = time.time()
    while not (log.exists() and 'epoch 2/' in log.read_text()):
        assert p.poll() is None and time.time() - t0 < 120, "the run ended before it could be interrupted"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    assert p.wait(60) == 130, p.stderr.read()
    assert 'interrupted' in p.stderr.read()
    assert (tmp_path / 'cut.partial' / 'checkpoint.pth').exists() and not (tmp_path / 'cut').exists()
    cli('train', cfg, '--out', tmp_path / 'cut', '--resume', cwd=tmp_path)
    full, cut = (json.loads((tmp_path / d / 'metrics.json').read_text()) for d in ('full', 'cut'))
    assert cut['resumed_at']['phase'] == 'fit' and cut['resumed_at']['epoch'] >= 2
    assert cut['valid'] == full['valid'] and cut['test'] == full['test'] and cut['history'] == full['history']
    assert 'resumed after epoch' in (tmp_path / 'cut' / 'log.txt').read_text()

def test_cross_validation(tmp_path):
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=1)
    r = cli('cv', cfg, '--folds', 3, '--out', tmp_path / 'cv', cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / 'cv').iterdir() if p.is_dir()) == ['fold0', 'fold1', 'fold2']
    assert 'valid_balanced_accuracy' in r.stdout and (tmp_path / 'cv' / 'summary.csv').exists()
    # each fold trains on the config's long tail: two thirds of the training items of a class, all of a class too rare to fold
    sys.path.insert(0, str(ROOT))
    from lt_fastai.datasets import digits_long_tail
    full = np.asarray(digits_long_tail(imb_ratio=50)['counts'])
    for k in range(3):
        fold = np.asarray(json.loads((tmp_path / 'cv' / f'fold{k}' / 'metrics.json').read_text())['counts'])
        assert (fold <= full).all() and (fold[full < 3] == full[full < 3]).all() and abs(fold[0] - full[0] * 2 / 3) <= 1, (fold, full)

def test_two_workers_share_one_study(tmp_path):
    search = dict(metric='balanced_accuracy', pruner='median', params={
        'schedule.lr': dict(type='float', low=1e-3, high=3e-2, log=True),
        'recipe.name': dict(type='categorical', choices=['ce', 'balanced_softmax'])})
    cfg = write_config(tmp_path / 'search.yaml', search=search)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = [str(EXE), 'tune', str(cfg), '--trials', '2', '--storage', storage, '--out', str(tmp_path / 'tune')]
    workers = [subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-1500:] for o in outs]
    import optuna
    st = optuna.load_study(study_name='lt_fastai', storage=storage)
    assert len(st.trials) == 4 and len({t.number for t in st.trials}) == 4
    best = yaml.safe_load((tmp_path / 'tune' / 'best.yaml').read_text())
    assert best['search'] == {} and best['recipe']['name'] in ('ce', 'balanced_softmax')
    assert len([d for d in (tmp_path / 'tune').iterdir() if d.name.startswith('trial') and d.is_dir()]) >= 1
    # every finished trial is scored by its validation figure, never by the test split
    for t in st.trials:
        f = tmp_path / 'tune' / f'trial{t.number:04d}' / 'metrics.json'
        if t.state == optuna.trial.TrialState.COMPLETE and f.exists():
            m = json.loads(f.read_text())
            assert t.value == pytest.approx(m['valid']['balanced_accuracy'])

RUN_FILES = ['config.yaml', 'learner.pkl', 'log.txt', 'metrics.json', 'per_class.csv', 'recall_vs_frequency.png', 'versions.json']

@pytest.mark.parametrize('half', [0, 1])
def test_every_recipe_writes_a_complete_run(tmp_path, half):
    "The demo config with each single-label recipe (one epoch, one stage epoch): a finished folder, no `.partial` left"
    import warnings
    sys.path.insert(0, str(ROOT))
    from lt_fastai.experiment import run_experiment
    from lt_fastai.recipes import list_recipes, get_recipe
    cfg = dict(DEMO, data=dict(imb_ratio=100, bs=32), schedule=dict(epochs=1, lr=1e-2, stage_epochs=1, precision='fp32'))
    for recipe in list_recipes(multilabel=False)[half::2]:
        over = [f'recipe.name={recipe}'] + (['recipe.params={"candidates": ["ce", "balanced_softmax"]}'] if recipe == 'auto' else [])
        if get_recipe(recipe).pretrained: over.append('schedule.lr=1e-3')   # a fine-tuning rate (1e-2 diverges from random weights)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            m = run_experiment(cfg, tmp_path / recipe, overrides=over)
        assert sorted(p.name for p in (tmp_path / recipe).iterdir()) == RUN_FILES, recipe
        assert not (tmp_path / f'{recipe}.partial').exists(), recipe
        assert m['config']['recipe']['name'] == recipe and 0 <= m['test']['balanced_accuracy'] <= 1, recipe

def test_crt_run_from_the_command_line(tmp_path, monkeypatch, capsys):
    "A classifier re-training recipe through `lt-fastai train` exports its learner (it once ended in a traceback)"
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=1, schedule__stage_epochs=1)
    assert cli_in(monkeypatch, capsys, tmp_path, 'train', cfg, 'recipe.name=crt', '--out', tmp_path / 'run')[0] == 0
    assert sorted(p.name for p in (tmp_path / 'run').iterdir()) == RUN_FILES
    sys.path.insert(0, str(ROOT))
    from lt_fastai.experiment import run_experiment
    with pytest.raises(ValueError, match="recipe 'bce' is for multi-label data"):      # the CLI prints this one line
        run_experiment(cfg, tmp_path / 'multi', overrides=['recipe.name=bce'])
    assert not (tmp_path / 'multi').exists() and not (tmp_path / 'multi.partial').exists()

def test_a_folder_the_user_owns_survives(tmp_path, monkeypatch, capsys):
    "`--out` naming a folder with the user's files, a file, or the working directory: one line, nothing trained, nothing touched"
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=1)
    precious = tmp_path / 'precious'; precious.mkdir(); (precious / 'thesis.tex').write_text('years of work')
    (tmp_path / 'notes.txt').write_text('mine')
    for out, msg in [(precious, 'is not empty (it holds thesis.tex)'), (tmp_path / 'notes.txt', 'is a file, not a folder'),
                     ('.', 'is the working directory')]:
        rc, _, err = cli_in(monkeypatch, capsys, tmp_path, 'train', cfg, '--out', out)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    search = write_config(tmp_path / 'search.yaml', search=dict(params={'schedule.lr': dict(type='float', low=1e-3, high=3e-2, log=True)}))
    for cmd, c in (('cv', cfg), ('tune', search)):
        rc, _, err = cli_in(monkeypatch, capsys, tmp_path, cmd, c, '--out', precious)
        assert rc == 2 and 'holds files that are not this command' in err, err
    assert (precious / 'thesis.tex').read_text() == 'years of work' and (tmp_path / 'notes.txt').read_text() == 'mine'
    assert sorted(p.name for p in precious.iterdir()) == ['thesis.tex']
    (precious / 'ce').mkdir(); (precious / 'ce' / 'draft.txt').write_text('not a run')     # a folder named like a demo run
    rc, _, err = cli_in(monkeypatch, capsys, tmp_path, 'demo', '--out', precious, '--recipes', 'ce', '--epochs', '1', '--no-plot')
    assert rc == 2 and 'is not a run of the demo' in err, err
    assert (precious / 'ce' / 'draft.txt').read_text() == 'not a run' and (precious / 'thesis.tex').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demo.yaml', 'notes.txt', 'precious', 'search.yaml']

def test_image_folder_run_with_a_relative_out(tmp_path, monkeypatch, capsys):
    "A run of an image folder writes its folder where the shell user asked (relative to the working directory), learner included"
    sys.path.insert(0, str(ROOT))
    from lt_fastai.datasets import write_images
    write_images(tmp_path / 'imgs', [12, 6, 6])
    cfg = tmp_path / 'img.yaml'
    cfg.write_text(yaml.safe_dump(dict(data=dict(modality='vision', source='imgs', bs=4, valid_pct=0.25),
                                       model=dict(arch='small_cnn', kwargs=dict(arch_kwargs=dict(width=8))),
                                       schedule=dict(epochs=1, precision='fp32'), many=8, few=4)))
    rc, _, err = cli_in(monkeypatch, capsys, tmp_path, 'train', cfg, '--out', 'runs/img')
    assert rc == 0, err
    assert (tmp_path / 'runs' / 'img' / 'learner.pkl').exists() and not (tmp_path / 'imgs' / 'runs').exists()

def test_predict_float64_items_and_compare_by_validation(tmp_path, monkeypatch, capsys):
    "numpy's default float64 items predict as float32 ones do; `compare` ranks by validation figures unless asked for test"
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=1)
    assert cli_in(monkeypatch, capsys, tmp_path, 'train', cfg, '--out', tmp_path / 'run')[0] == 0
    sys.path.insert(0, str(ROOT))
    from lt_fastai.datasets import digits_long_tail
    np.save(tmp_path / 'f64.npy', digits_long_tail()['test'][0][:3].numpy().astype(np.float64))
    rc, out, err = cli_in(monkeypatch, capsys, tmp_path, 'predict', tmp_path / 'run', tmp_path / 'f64.npy')
    assert rc == 0 and out.count('f64.npy[') == 3, out + err
    from lt_fastai.report import compare_runs
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert compare_runs([tmp_path / 'run']).iloc[0]['balanced_accuracy'] == pytest.approx(m['valid']['balanced_accuracy'])

def test_log_and_record_of_a_staged_run_and_digits_refuse_valid_pct(tmp_path, monkeypatch, capsys):
    "A staged run: a log line per training epoch, the main fit's history apart from the stage's, and its config answering for it"
    cfg = write_config(tmp_path / 'demo.yaml', schedule__epochs=2)
    args = ['train', cfg, 'recipe.name=crt', 'schedule.stage_epochs=1']
    assert cli_in(monkeypatch, capsys, tmp_path, *args, '--out', tmp_path / 'run')[0] == 0
    lines = (tmp_path / 'run' / 'log.txt').read_text().splitlines()
    assert [l.split()[1] for l in lines if l.startswith('epoch')] == ['1/2', '2/2', '1/1'], lines    # the fit, then cRT's stage
    assert lines[2] == 'stage crt', lines
    before = (tmp_path / 'run' / 'metrics.json').read_bytes()
    m = json.loads(before)
    assert len(m['history']) == 2 and m['fit']['epochs'] == 2, m['history']          # the main fit's epochs only
    assert [(s['stage'], s['epochs'], len(s['history'])) for s in m['stages']] == [('crt', 1, 1)], m['stages']
    # resuming the finished run with another config is refused as for an unfinished one: one line, exit 2, nothing written
    rc, out, err = cli_in(monkeypatch, capsys, tmp_path, *args, 'schedule.lr=0.5', '--out', tmp_path / 'run', '--resume')
    assert rc == 2 and 'schedule.lr is 0.01 there, 0.5 here' in err and len(err.strip().splitlines()) == 1, err
    assert 'Wrote' not in out and (tmp_path / 'run' / 'metrics.json').read_bytes() == before
    rc, _, err = cli_in(monkeypatch, capsys, tmp_path, 'train', cfg, 'data.valid_pct=0.3', '--out', tmp_path / 'bad')
    assert rc == 2 and 'data.valid_pct does not apply to the example data set' in err, err

def test_the_users_split_is_used(tmp_path):
    "An image source with train/ and valid/ folders keeps that split (valid_pct: null is allowed too)"
    sys.path.insert(0, str(ROOT))
    from lt_fastai.datasets import write_images
    from lt_fastai.experiment import build_dls
    from lt_fastai.config import load_config
    write_images(tmp_path / 'imgs' / 'train', [12, 6, 6]); write_images(tmp_path / 'imgs' / 'valid', [3, 3, 3], seed=1)
    for valid_pct in (0.2, None):
        cfg = load_config(dict(data=dict(modality='vision', source=str(tmp_path / 'imgs'), bs=4, valid_pct=valid_pct)))
        dls = build_dls(cfg)
        assert {Path(f).parent.parent.name for f in dls.valid_ds.items} == {'valid'} and len(dls.valid_ds) == 9
        assert {Path(f).parent.parent.name for f in dls.train_ds.items} == {'train'}
    with pytest.warns(UserWarning, match="valid_pct=0.3 is ignored: .* has train/ and valid/ folders"):
        build_dls(load_config(dict(data=dict(modality='vision', source=str(tmp_path / 'imgs'), bs=4, valid_pct=0.3))))
