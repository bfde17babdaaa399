"""Probabilities at the scale each loss trains on: for every recipe, `get_preds` gives the softmax (or sigmoid) of the
model's output times the loss's `logit_scale`, and post-hoc steps read logits at that scale; an LDAM model that is
right most of the time is confident, and calibrated about as well as cross-entropy."""
import warnings
import numpy as np
import pytest
import torch

@pytest.fixture(scope='module')
def digits():
    from lt_fastai.datasets import digits_long_tail
    return digits_long_tail(imb_ratio=10, n_max=60, n_valid=20)

def _fit(d, recipe, epochs=4):
    from lt_fastai.data import in_memory_dls
    from lt_fastai.learner import lt_learner
    from lt_fastai.test_utils import small_cnn, quiet
    torch.manual_seed(0)
    dls = in_memory_dls(*d['train'], *d['valid'], bs=32, device='cpu')
    kw = dict(recipe_kwargs=dict(candidates=['ce', 'balanced_softmax'])) if recipe == 'auto' else {}
    learn = lt_learner(dls, small_cnn(10, width=16, seed=0), recipe=recipe, precision='fp32', **kw)
    with quiet(learn), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.fit_lt(epochs, 1e-2, stage_epochs=1)
    return learn

# `get_preds` against softmax/sigmoid of `model_logits` for every recipe: in tests/test_fastai_tools.py, on the fits
# it makes of every recipe anyway

def test_model_logits_are_the_output_times_the_scale(digits):
    from lt_fastai.posthoc import valid_preds, model_logits
    learn = _fit(digits, 'ldam_drw', epochs=1)
    raw, _ = valid_preds(learn, act=lambda x: x)
    torch.testing.assert_close(model_logits(learn)[0], raw * 30.)
    torch.testing.assert_close(valid_preds(learn)[0], torch.softmax(raw * 30., 1), atol=1e-5, rtol=1e-4)

def test_a_confident_ldam_model_is_confident(digits):
    "The reported case: right most of the time, yet a largest probability of 0.15 and an ECE of 0.68, from softmax(cos)"
    from lt_fastai.posthoc import valid_preds
    from lt_fastai.calibrate import calibration_errors
    out = {}
    for recipe in ('ce', 'ldam_drw'):
        learn = _fit(digits, recipe, epochs=8)
        p, t = valid_preds(learn)
        out[recipe] = dict(acc=(p.argmax(1) == t).float().mean().item(), conf=p.max(1).values.mean().item(),
                           ece=calibration_errors(p, t)['ece'])
    ldam, ce = out['ldam_drw'], out['ce']
    assert ldam['acc'] > 0.7, out
    assert ldam['conf'] > 0.5, out                         # was about 1/C: the softmax of cosines in [-1, 1]
    assert ldam['ece'] < max(2 * ce['ece'], ce['ece'] + 0.1), out

def test_posthoc_logit_adjustment_at_the_loss_scale(digits):
    "τ·log π is added at the scale the loss trains on: on LDAM's output that is (τ/s)·log π, and τ = 1 means what it means for CE"
    from lt_fastai.posthoc import tune_logit_adjustment, model_logits, logit_adjust, LogitAdjustedHead
    learn = _fit(digits, 'ldam_drw', epochs=3)
    z, _ = model_logits(learn)
    tune_logit_adjustment(learn, taus=[1.], min_per_class=0)
    z_adj, _ = model_logits(learn)
    torch.testing.assert_close(z_adj, logit_adjust(z, learn.lt.counts, 1.), atol=1e-4, rtol=1e-4)
    head = [m for m in learn.model.modules() if isinstance(m, LogitAdjustedHead)][0]
    assert head.scale == 30. and 'scale=30' in repr(head)

def test_callbacks_must_be_callbacks(digits):
    from lt_fastai.data import in_memory_dls
    from lt_fastai.learner import lt_learner
    from lt_fastai.test_utils import small_cnn
    dls = in_memory_dls(*digits['train'], *digits['valid'], bs=32, device='cpu')
    with pytest.raises(TypeError, match=r"cbs takes fastai Callbacks \(instances or classes\); item 0 is <function"):
        lt_learner(dls, small_cnn(10, width=8), cbs=[lambda learn: None])

def test_from_arrays_refuses_unknown_arguments():
    from lt_fastai.data import LTDataLoaders
    from lt_fastai.signal import LTSignalDataLoaders
    x, y = np.zeros((40, 2, 16), np.float32), np.arange(40) % 2
    with pytest.raises(TypeError, match="unknown argument\\(s\\) \\['num_wokers'\\] for the loaders; did you mean 'num_workers'"):
        LTDataLoaders.from_arrays(x, y, bs=4, device='cpu', num_wokers=0)
    with pytest.raises(TypeError, match="did you mean 'length' for 'lenght'"):
        LTSignalDataLoaders.from_arrays(x, y, bs=4, device='cpu', lenght=16)
