"""A run killed anywhere resumes to the numbers of the run that never stopped: SIGINT and SIGKILL in the main fit and
in the stage of every recipe that has one, `metrics.json` (validation, test, the main fit's history, each stage's
record and history) compared with the uninterrupted run's.

Each interrupted run is a fork of this process (torch and lt_fastai already imported) that stops itself at a chosen
batch of a chosen phase, so where it stops never depends on timing; the resumes run here."""
import json, multiprocessing, os, signal, sys, warnings
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import torch
from fastai.callback.core import Callback
import lt_fastai.experiment as experiment
from lt_fastai.recipes import RECIPES, get_recipe

torch.set_num_threads(1)   # (and no thread pool for the forks to inherit)
CFG = dict(data=dict(imb_ratio=100, bs=64), model=dict(kwargs=dict(arch_kwargs=dict(width=4))),
           schedule=dict(epochs=2, lr=5e-2, stage_epochs=2, precision='fp32'), many=40, few=10)
STAGED = [n for n, r in RECIPES.items() if not r.multilabel and n != 'auto' and get_recipe(n).stages]
KEYS = ('valid', 'test', 'history', 'stages', 'fit')

class StopAt(Callback):
    "Send this process `sig` at the second batch of epoch `epoch` of phase `phase` (`epoch` None: a stage that does not train)"
    order = 90
    def __init__(self, phase, epoch, sig): self.at, self.sig, self.phase = (phase, epoch), sig, 0
    def before_lt_phase(self, i, name): self.phase = i
    def after_batch(self):
        phase, epoch = self.at
        if self.phase == phase and (self.training and self.epoch == epoch and self.iter == 1 or epoch is None and not self.training):
            os.kill(os.getpid(), self.sig)

def _child(cfg, out, resume, stop):
    signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C, whatever the test runner set
    try: experiment.run_experiment(cfg, out, resume=resume, cbs=[StopAt(*stop)])
    except KeyboardInterrupt: os._exit(130)
    os._exit(0)

def _stop(cfg, out, resume, stop):
    "Run (or resume) in a fork of this process that `stop` kills; the checkpoint it leaves: (phase, epoch)"
    p = multiprocessing.get_context('fork').Process(target=_child, args=(cfg, out, resume, stop))
    p.start(); p.join(120)
    assert p.exitcode == (130 if stop[2] == signal.SIGINT else -signal.SIGKILL), (stop, p.exitcode)
    assert not out.exists()
    ck = torch.load(out.with_name(out.name + '.partial') / 'checkpoint.pth', weights_only=False)
    return ck['phase'], ck['epoch']

def _plain_plot(report, counts, path, cfg): path.write_bytes(b'')   # (the plot is not what this test compares)

@pytest.mark.parametrize('recipe', STAGED)
def test_kill_and_resume(tmp_path, monkeypatch, recipe):
    "One run stopped four times — SIGINT, then SIGKILL in the main fit; SIGINT, then SIGKILL in the stage — each time resumed"
    monkeypatch.setattr(experiment, '_plot', _plain_plot)
    cfg = dict(CFG, recipe=dict(name=recipe))
    trains = get_recipe(recipe).stages[0].epochs != 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        experiment.run_experiment(cfg, tmp_path / 'full')
        full = json.loads((tmp_path / 'full' / 'metrics.json').read_text())
        assert len(full['history']) == 2 and [len(s['history']) for s in full['stages']] == [2 if trains else 0]
        # (phase, epoch, signal) -> the checkpoint the run resumes from: in the main fit; in the stage's first epoch (back
        # to where the stage starts) and in its second (part-way through it); a stage that does not train, in its predictions
        stops = [((0, 1, signal.SIGINT), (0, 1)), ((0, 1, signal.SIGKILL), (0, 1))] + (
                [((1, 0, signal.SIGINT), (1, 0)), ((1, 1, signal.SIGKILL), (1, 1))] if trains else
                [((1, None, signal.SIGINT), (1, 0)), ((1, None, signal.SIGKILL), (1, 0))])
        out = tmp_path / 'cut'
        for k, (stop, at) in enumerate(stops): assert _stop(cfg, out, k > 0, stop) == at, (recipe, stop)
        res = experiment.run_experiment(cfg, out, resume=True)
    saved = json.loads((out / 'metrics.json').read_text())
    for k in KEYS: assert saved[k] == full[k], (recipe, k)
    assert res['resumed_at'] == dict(phase=full['stages'][0]['stage'], epoch=stops[-1][1][1])

def test_an_average_resumes(tmp_path, monkeypatch):
    "A callback's state across epochs (here the running average of weight averaging) is in the checkpoint too"
    monkeypatch.setattr(experiment, '_plot', _plain_plot)
    cfg = dict(CFG, recipe=dict(name='bs_swa', params=dict(start=0)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        experiment.run_experiment(cfg, tmp_path / 'full')
        full = json.loads((tmp_path / 'full' / 'metrics.json').read_text())
        assert _stop(cfg, tmp_path / 'cut', False, (0, 1, signal.SIGKILL)) == (0, 1)
        experiment.run_experiment(cfg, tmp_path / 'cut', resume=True)
    saved = json.loads((tmp_path / 'cut' / 'metrics.json').read_text())
    for k in KEYS: assert saved[k] == full[k], k

@pytest.mark.parametrize('epoch', [1, 2])
def test_a_fit_that_unfreezes_resumes(tmp_path, monkeypatch, epoch):
    "A main fit that trains the head alone first, then the whole model: stopped before and after the unfreezing, resumed exactly"
    monkeypatch.setattr(experiment, '_plot', _plain_plot)
    cfg = dict(CFG, recipe=dict(name='crt'), schedule=dict(CFG['schedule'], epochs=3, unfreeze_epoch=1))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        experiment.run_experiment(cfg, tmp_path / 'full')
        full = json.loads((tmp_path / 'full' / 'metrics.json').read_text())
        assert _stop(cfg, tmp_path / 'cut', False, (0, epoch, signal.SIGKILL)) == (0, epoch)
        experiment.run_experiment(cfg, tmp_path / 'cut', resume=True)
    saved = json.loads((tmp_path / 'cut' / 'metrics.json').read_text())
    for k in KEYS: assert saved[k] == full[k], k
