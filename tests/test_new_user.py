"Defects found by using lt_fastai as a new user would, each reproduced as it was reported: right result or clear error."
import warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
import numpy as np
import pytest
import torch
from torch import nn
from lt_fastai.data import stratified_split, in_memory_dls, LTDataLoaders
from lt_fastai.losses import ClassBalancedLoss
from lt_fastai.learner import lt_learner
from lt_fastai.heads import NormedLinear, LearnableWeightScaling, find_classifier
from lt_fastai.posthoc import tune_tau_norm, tune_thresholds, tune_logit_adjustment, crt_stage
from lt_fastai.test_utils import quiet
from lt_fastai.datasets import write_images

class Net(nn.Module):
    "The classifier is declared before the hidden layers it follows"
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 10)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
    def forward(self, x): return self.fc(self.body(x))

@pytest.fixture(scope='module')
def dls():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(torch.tensor([30, 20, 15, 10, 8, 6, 5, 4, 3, 3]))
    x = torch.randn(len(y), 64, generator=g) + y[:, None].float()
    yv = torch.arange(10).repeat(3)
    xv = torch.randn(len(yv), 64, generator=g) + yv[:, None].float()
    return in_memory_dls(x, y, xv, yv, bs=16, device='cpu')

def test_1_classifier_is_the_layer_that_produces_the_output(dls):
    torch.manual_seed(0); net = Net()
    lt_learner(dls, net, recipe='ldam_drw')
    assert isinstance(net.fc, NormedLinear) and type(net.body[1]) is nn.Linear
    torch.manual_seed(0); net = Net()
    learn = lt_learner(dls, net, recipe='crt')
    with quiet(learn): learn.fit_one_cycle(1, 1e-2)
    hidden = net.body[1].weight.detach().clone()
    with quiet(learn): crt_stage(learn, 1, 1e-2)
    assert torch.equal(net.body[1].weight, hidden)
    with pytest.raises(ValueError, match="cannot tell which of the linear layers"): find_classifier(Net())

def test_2_runs_that_cannot_train_stop_before_training(dls):
    big = in_memory_dls(dls.train_ds.tensors[0], dls.train_ds.tensors[1], dls.valid_ds.tensors[0], dls.valid_ds.tensors[1],
                        bs=100000, device='cpu')
    with pytest.raises(ValueError, match="the training loader yields no batches"): lt_learner(big, Net())
    learn = lt_learner(dls, Net(), recipe='crt')
    with pytest.raises(ValueError, match="lr must be a positive finite number"): learn.fit_lt(1, -1)
    with pytest.raises(ValueError, match="stage_epochs must be an int >= 0"): learn.fit_lt(1, 1e-2, stage_epochs=-5)
    assert getattr(learn.recorder, 'values', None) is None or len(learn.recorder.values) == 0

def test_3_labels():
    with pytest.raises(ValueError, match=r"missing \(None or NaN\) at position\(s\) \[2\]"): stratified_split(['a', 'b', np.nan, 'a'])
    with pytest.raises(ValueError, match=r"position\(s\) \[1\]"): stratified_split(['a', None, 'b', 'a'])
    x = np.zeros((6, 2), np.float32)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] occur in the validation labels but never in training"):
        in_memory_dls(x, [0, 0, 1, 1, 0, 1], x[:3], [0, 1, 2], bs=2, device='cpu')   # class 2 only in validation
    assert in_memory_dls(x, [0, 0, 1, 1, 0, 1], x[:3], [0, 1, 1], bs=2, device='cpu', n_classes=4).c == 4
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\); found 2"):
        in_memory_dls(x, [0, 0, 1, 1, 0, 1], x[:3], [0, 1, 2], bs=2, n_classes=2)

def test_4_one_class_folder(tmp_path):
    from lt_fastai.vision import LTImageDataLoaders
    root = write_images(tmp_path / 'one', [8])
    with pytest.raises(ValueError, match="found 1 class"): LTImageDataLoaders.from_folder(root, valid_pct=0.25)
    flat = tmp_path / 'flat'; flat.mkdir()
    for f in (root / 'c0').glob('*.png'): (flat / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ValueError, match="lie directly in the folder"): LTImageDataLoaders.from_folder(flat, valid_pct=0.25)
    x = np.zeros((8, 64), np.float32)
    one = LTDataLoaders.from_arrays(x, [0] * 8, x[:2], [0, 0], bs=4, device='cpu')
    with pytest.raises(ValueError, match="a classifier needs at least two"): lt_learner(one, nn.Linear(64, 1))

def test_6_tuning_before_any_fit(dls):
    learn = lt_learner(dls, Net())                     # never trained
    tau, tab = tune_tau_norm(learn)
    assert np.isfinite(tau) and len(tab) == 21
    tau_la, _ = tune_logit_adjustment(learn)
    assert np.isfinite(tau_la)
    with pytest.raises(TypeError, match="tune_thresholds chooses per-label thresholds for multi-label models"):
        tune_thresholds(learn)

def test_8_class_balanced_gamma():
    with pytest.raises(ValueError, match="gamma must be a non-negative number, got -1"):
        ClassBalancedLoss([10, 3], base='focal', gamma=-1)

def test_9_pretrained_offline_fails_at_once(tmp_path, monkeypatch):
    import huggingface_hub.constants as hc
    from lt_fastai import backbones as models
    monkeypatch.setattr(hc, 'HF_HUB_CACHE', str(tmp_path))       # an empty cache
    monkeypatch.setattr(models, '_hub_reachable', lambda timeout=3.: False)
    with pytest.raises(models.PretrainedWeightsError, match="the hub cannot be reached"):
        models.lt_timm_model('test_resnet', 3, pretrained=True)

def test_loss_hyper_parameters_are_numbers():
    "NaN, zero scales and strings are refused where the loss is built, before any training"
    from lt_fastai.losses import FocalLoss, LogitAdjustedLoss, LDAMLoss
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0, got nan"): FocalLoss(gamma=float('nan'))
    with pytest.raises(ValueError, match="tau must be a finite number, got nan"): LogitAdjustedLoss([3, 1], tau=float('nan'))
    with pytest.raises(ValueError, match="s must be a finite number > 0, got 0"): LDAMLoss([3, 1], s=0)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0, got 'high'"): FocalLoss(gamma='high')

def test_files_are_written_with_the_users_permissions(tmp_path):
    import os, stat
    from lt_fastai.records import write_atomic
    old = os.umask(0o022)
    try: p = write_atomic(tmp_path / 'metrics.json', '{}')
    finally: os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644

def test_temperature_of_an_untrained_learner_is_flagged(dls):
    from lt_fastai.calibrate import fit_temperature
    learn = lt_learner(dls, Net(), precision='fp32')
    with pytest.warns(UserWarning, match="fit_temperature: the learner has no record of training"):
        fit_temperature(learn, apply=False)
