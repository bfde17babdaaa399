"""The command line's contract: every subcommand answers bad input with exactly one line on stderr — never a
traceback — and the exit status `EXIT_CODES` documents for it.

`main(argv)` runs in this process (the console script calls it, so this is the same code path, without a new
interpreter to import PyTorch into), with stdout and stderr captured, argparse's `SystemExit` turned into its status,
and the warning filters of a fresh interpreter, so a warning printed before the error would show here as it would in
a terminal. One real process (an error answered before PyTorch is imported, so it is quick) proves the console
script itself."""
import argparse, io, json, subprocess, sys, warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
import numpy as np
import pytest
import yaml
from lt_fastai.cli import main, _parser, DEMO_CONFIG, EXIT_CODES

EXE = Path(sys.executable).parent / 'lt-fastai'   # the console script, installed beside the Python that runs the tests

def run_main(*argv, cwd=None):
    "(exit status, stdout, stderr) of `lt-fastai ARGV`, run in this process as the console script runs it"
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(out), redirect_stderr(err):
        warnings.resetwarnings()   # a fresh interpreter's filters: every warning but the deprecations is printed
        for c in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning): warnings.simplefilter('ignore', c)
        try: code = main([str(a) for a in argv])
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()

def one_line(err:str) -> str:
    "The one line an error must be"
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and 'Traceback' not in err, f"not one line on stderr:\n{err[-3000:]}"
    return lines[0]

@pytest.fixture(scope='module')
def ws(tmp_path_factory):
    "A folder with a one-epoch config, a finished in-memory run (for predict and compare), and bad files"
    d = tmp_path_factory.mktemp('contract')
    cfg = json.loads(json.dumps(DEMO_CONFIG))
    cfg['recipe']['name'] = 'ce'
    cfg['schedule'].update(epochs=1, stage_epochs=1)
    (d / 'ok.yaml').write_text(yaml.safe_dump(cfg))
    (d / 'search.yaml').write_text(yaml.safe_dump({**cfg, 'search': {'params': {}}}))
    code, _, err = run_main('train', d / 'ok.yaml', '--out', d / 'run')
    assert code == 0, err
    (d / 'junk.pth').write_text('not weights\n')
    import torch
    torch.save({'a': torch.zeros(3)}, d / 'other.pth')                   # weights of another model
    np.save(d / 'flat.npy', np.zeros(64, dtype=np.float32))              # an item of the wrong shape (the run's are 1×8×8)
    (d / 'image.png').write_bytes(b'\x89PNG')
    (d / 'user' / 'ce').mkdir(parents=True)                              # a folder of the user's where the demo would write
    (d / 'afile').write_text('x')
    return d

# (subcommand, arguments — '{d}' is the workspace —, exit status, what the line says)
CASES = [
    ('demo', ['--epochs', '0'], 2, '--epochs must be at least 1'),
    ('demo', ['--epochs', 'many'], 2, "invalid int value: 'many'"),
    ('demo', ['--recipes', 'ce,ldam'], 2, "unknown recipe 'ldam' (did you mean ldam_drw"),
    ('demo', ['--out', '{d}/afile'], 2, 'is a file, not a folder'),
    ('demo', ['--recipes', 'ce', '--out', '{d}/user'], 2, 'is not a run of the demo'),
    ('recipes', ['extra'], 2, 'unrecognized arguments: extra'),
    ('list', ['extra'], 2, 'unrecognized arguments: extra'),
    ('init', ['{d}/ok.yaml'], 2, 'nothing is overwritten'),
    ('train', [], 2, 'the following arguments are required: config'),
    ('train', ['{d}/missing.yaml'], 2, 'no such config file'),
    ('train', ['{d}/ok.yaml', 'data.bz=8'], 2, 'unknown key data.bz (did you mean data.bs?)'),
    ('train', ['{d}/ok.yaml', 'schedule.lr=-1'], 2, 'schedule.lr: Input should be greater than 0'),
    ('train', ['{d}/ok.yaml', '--threads', '0'], 2, '--threads must be at least 1'),
    ('train', ['{d}/ok.yaml', '--out', '{d}/run'], 2, 'holds a finished run'),
    ('train', ['{d}/ok.yaml', 'model.pretrained={d}/missing.pth'], 2, 'pretrained weights file not found'),
    ('train', ['{d}/ok.yaml', 'model.pretrained={d}/junk.pth'], 1, 'cannot read weights from'),
    ('train', ['{d}/ok.yaml', 'model.pretrained={d}/other.pth'], 1, 'do not fit SmallCNN'),
    ('train', ['{d}/ok.yaml', 'model.arch=resnet18x'], 1, "similar names: ['resnet18'"),
    ('train', ['{d}/ok.yaml', 'model.kwargs.nope=3'], 2, "model.kwargs.nope: lt_vision_learner has no argument 'nope'"),
    ('train', ['{d}/ok.yaml', '--out', '{d}/r', 'x.yaml'], 2, 'unrecognized arguments: x.yaml'),
    ('train', ['{d}/ok.yaml', '--out', '{d}/r', 'schedule.epochs=1', '--bad=1'], 2, 'key=value overrides are taken by train, cv and tune'),
    ('train', ['{d}/ok.yaml', 'schedule.lr=10', 'schedule.epochs=3'], 3, 'training diverged at epoch 1'),
    ('cv', ['{d}/missing.yaml'], 2, 'no such config file'),
    ('cv', ['{d}/ok.yaml', '--folds', '1'], 2, '--folds must be at least 2'),
    ('cv', ['{d}/ok.yaml', 'data.bz=8'], 2, 'unknown key data.bz'),
    ('tune', ['{d}/missing.yaml'], 2, 'no such config file'),
    ('tune', ['{d}/ok.yaml', '--trials', '0'], 2, '--trials must be at least 1'),
    ('tune', ['{d}/search.yaml'], 2, 'search.params is empty'),
    ('predict', ['{d}/nowhere', '{d}/flat.npy'], 2, 'no learner.pkl'),
    ('predict', ['{d}/run', '{d}/missing.npy'], 2, 'no such item(s)'),
    ('predict', ['{d}/run', '{d}/flat.npy'], 1, '(64,)'),
    ('predict', ['{d}/run', '{d}/image.png'], 1, 'trained on arrays in memory'),
    ('compare', ['{d}/nowhere'], 2, 'no such file'),
    ('compare', ['{d}/run', '--metric', 'nope'], 1, "unknown metric 'nope'"),
    ('compare', ['{d}/run', '--split', 'train'], 2, "invalid choice: 'train'"),
]

@pytest.mark.parametrize('cmd,args,code,msg', CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_and_a_documented_status(ws, cmd, args, code, msg, monkeypatch):
    monkeypatch.chdir(ws)   # (a default --out lands in the workspace)
    got, _, err = run_main(cmd, *[a.format(d=ws) for a in args])
    line = one_line(err)
    assert got == code and code in EXIT_CODES, (got, line)
    assert msg in line and line.startswith('lt-fastai'), line
    assert 'Exception occured in' not in line   # fastai's prefix on an error raised in a callback is dropped

def test_every_subcommand_is_checked():
    "A new subcommand needs its bad inputs here"
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {c[0] for c in CASES}

def test_exit_codes_are_in_the_help():
    code, out, _ = run_main('--help')
    assert code == 0 and all(f"{k} " in ' '.join(out.split('exit status:')[1].split()) for k in EXIT_CODES), out

def test_list_without_the_extras(monkeypatch):
    "A plain `pip install lt_fastai`: the modalities it can run are listed, the others name the extra to install"
    for m in ('soundfile', 'av'): monkeypatch.setitem(sys.modules, m, None)   # import fails, as when not installed
    for m in [m for m in sys.modules if m.startswith(('lt_fastai.audio', 'lt_fastai.video'))]: monkeypatch.delitem(sys.modules, m)
    code, out, err = run_main('list')
    assert code == 0 and err == '', err
    assert "audio" in out and "pip install 'lt_fastai[audio]'" in out and "pip install 'lt_fastai[video]'" in out
    assert 'small_cnn' in out and 'resnet1d' in out                      # vision and signal need no extra
    assert "extras (pip install 'lt_fastai[NAME]'): audio (librosa, soundfile)" in out

def test_an_unexpected_error_is_one_line_with_its_class(ws, monkeypatch):
    "A bug's error too (LT_FASTAI_TRACEBACK=1 shows its traceback)"
    import lt_fastai.experiment
    def boom(*a, **k): raise RuntimeError("something broke\n  on two lines")
    monkeypatch.setattr(lt_fastai.experiment, 'predict_run', boom)
    code, _, err = run_main('predict', ws / 'run', ws / 'flat.npy')
    assert code == 1 and one_line(err) == ("lt-fastai predict: RuntimeError: something broke on two lines "
                                            "(LT_FASTAI_TRACEBACK=1 shows where)")
    monkeypatch.setenv('LT_FASTAI_TRACEBACK', '1')
    with pytest.raises(RuntimeError, match='something broke'): main(['predict', str(ws / 'run'), str(ws / 'flat.npy')])

def test_the_console_script_keeps_the_contract(ws):
    "The installed `lt-fastai` (the entry point, its exit status, its stderr) answers as `main` does in this process"
    r = subprocess.run([str(EXE), 'train', str(ws / 'missing.yaml')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and one_line(r.stderr) == f"lt-fastai train: {ws / 'missing.yaml'}: no such config file", r.stderr

def test_predict_one_item_a_batch_and_several_files(ws):
    "One item shaped like the inputs is one item, a batch a batch, and several files several items"
    from lt_fastai.datasets import example_dataset
    x = example_dataset('digits', imb_ratio=100, seed=0)['test'][0][:3].numpy()
    np.save(ws / 'one.npy', x[0]); np.save(ws / 'two.npy', x[1:])
    code, out, err = run_main('predict', ws / 'run', ws / 'one.npy', ws / 'one.npy', ws / 'two.npy')
    assert code == 0, err
    assert [l.split()[0] for l in out.splitlines()[1:]] == ['one.npy', 'one.npy', 'two.npy[0]', 'two.npy[1]'], out

def test_overrides_may_follow_the_options(ws):
    "`train CONFIG --out R key=value` takes the override (argparse alone calls it unrecognized)"
    code, _, err = run_main('train', ws / 'ok.yaml', '--out', ws / 'run', 'seed=7')
    assert code == 2 and 'holds a finished run' in one_line(err)            # parsed, then refused for the folder, not the override
    code, _, err = run_main('train', ws / 'ok.yaml', '--out', ws / 'run', 'data.bz=8')
    assert code == 2 and 'unknown key data.bz' in one_line(err)             # the late override is read and checked

def test_resume_of_a_finished_run_says_so(ws):
    "`--resume` of a finished run leaves its files alone, says it was finished, and prints its metrics"
    before = {p.name: p.stat().st_mtime_ns for p in (ws / 'run').iterdir()}
    code, out, err = run_main('train', ws / 'ok.yaml', '--out', ws / 'run', '--resume')
    assert code == 0, err
    assert 'already finished' in out and 'Wrote' not in out and 'metrics:' in out, out
    assert {p.name: p.stat().st_mtime_ns for p in (ws / 'run').iterdir()} == before

def test_predict_channels_last_items(ws):
    "An item or a batch stored channels last, (8, 8, 1) for items (1, 8, 8), is taken as `test_dl` takes it"
    from lt_fastai.datasets import example_dataset
    x = example_dataset('digits', imb_ratio=100, seed=0)['test'][0][:3].numpy()
    np.save(ws / 'first.npy', x[0]); np.save(ws / 'last.npy', x[0].transpose(1, 2, 0)); np.save(ws / 'lastb.npy', x[1:].transpose(0, 2, 3, 1))
    code, out, err = run_main('predict', ws / 'run', ws / 'first.npy', ws / 'last.npy', ws / 'lastb.npy')
    assert code == 0, err
    rows = [l.split() for l in out.splitlines()[1:]]
    assert [r[0] for r in rows] == ['first.npy', 'last.npy', 'lastb.npy[0]', 'lastb.npy[1]'], out
    assert rows[0][1:] == rows[1][1:], out
