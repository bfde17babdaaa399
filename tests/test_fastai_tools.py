"fastai's own tools on a learner of every registered recipe: export/load_learner/predict, lr_find, fine_tune, interpretation, show_results, tta, CSVLogger"
import warnings
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest
import torch

from lt_fastai.recipes import list_recipes

SINGLE = list_recipes(multilabel=False)
MULTI = list_recipes(multilabel=True)

@pytest.fixture(scope='module')
def digits():
    from lt_fastai.datasets import digits_long_tail
    return digits_long_tail(imb_ratio=20, n_max=40, n_valid=6)

def _learner(d, recipe, path):
    from lt_fastai.data import in_memory_dls
    from lt_fastai.learner import lt_learner
    from lt_fastai.test_utils import small_cnn
    torch.manual_seed(0)
    dls = in_memory_dls(*d['train'], *d['valid'], bs=32, device='cpu')
    kw = dict(recipe_kwargs=dict(candidates=['ce', 'balanced_softmax'])) if recipe == 'auto' else {}
    return lt_learner(dls, small_cnn(10, width=8, seed=0), recipe=recipe, precision='fp32', path=path, **kw)

@pytest.mark.parametrize('recipe', SINGLE)
def test_fastai_tools_single_label(recipe, digits, tmp_path):
    from fastai.callback.progress import CSVLogger
    from fastai.interpret import ClassificationInterpretation
    from fastai.learner import load_learner
    from lt_fastai.report import LTReport
    from lt_fastai.posthoc import valid_preds, model_logits
    from lt_fastai.test_utils import quiet
    learn = _learner(digits, recipe, tmp_path)
    with quiet(learn), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        lrs = learn.lr_find(num_it=20, show_plot=False)                  # before any fit: its model is put back
        assert len(learn.recorder.losses) >= 10, f"lr_find stopped after {len(learn.recorder.losses)} steps"
        assert lrs.valley > 0
        learn.fit_lt(1, 1e-2, stage_epochs=1, cbs=CSVLogger(fname='history.csv'))
        p, _ = valid_preds(learn)                                        # probabilities at the loss's scale (issue 24)
        torch.testing.assert_close(p, torch.softmax(model_logits(learn)[0], 1), atol=1e-5, rtol=1e-4)
        learn.export('model.pkl')
        again = load_learner(tmp_path / 'model.pkl')
        cls, idx, probs = again.predict(digits['test'][0][0])
        assert 0 <= int(idx) < 10 and torch.isclose(probs.sum(), torch.tensor(1.))
        interp = ClassificationInterpretation.from_learner(learn)
        cm = interp.confusion_matrix()
        assert cm.shape == (10, 10) and cm.sum() == len(digits['valid'][1])
        rep = LTReport.from_interp(interp, embedding=None)                   # lt_fastai's report of the same predictions
        assert rep.meta['split'] == 'valid' and 0 <= rep.metrics['balanced_accuracy'] <= 1
        interp.plot_top_losses(3)
        learn.show_results(max_n=3)
        preds, targs = learn.tta(n=2)
        assert preds.shape == (len(digits['valid'][1]), 10)
    plt.close('all')
    assert (tmp_path / 'history.csv').read_text().count('\n') >= 2

@pytest.mark.parametrize('recipe', [r for r in SINGLE if r in ('ce', 'crt', 'ldam_drw')])
def test_fine_tune_runs_the_stages(recipe, digits, tmp_path):
    from lt_fastai.test_utils import quiet
    learn = _learner(digits, recipe, tmp_path)
    with quiet(learn): learn.fine_tune(1, 1e-2, stage_epochs=1)
    assert learn.lt.fit['epochs'] == 1 and [s['stage'] for s in learn.lt.stages] == [st.name for st in learn.plan.stages]

@pytest.mark.parametrize('recipe', MULTI)
def test_fastai_tools_multi_label(recipe, tmp_path):
    from fastai.learner import load_learner
    from lt_fastai.data import in_memory_dls
    from lt_fastai.learner import lt_learner
    from lt_fastai.posthoc import valid_preds, model_logits
    from lt_fastai.test_utils import quiet
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=g)
    y = torch.stack([x[:, 0] > -0.5, x[:, 1] > 0.8, x[:, 2] > 1.5], 1).float()
    dls = in_memory_dls(x[:72], y[:72], x[72:], y[72:], bs=16, device='cpu')
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    learn = lt_learner(dls, model, recipe=recipe, precision='fp32', path=tmp_path)
    with quiet(learn), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn.lr_find(num_it=20, show_plot=False)
        assert len(learn.recorder.losses) >= 10
        learn.fit_lt(1, 1e-2, stage_epochs=1)
        p, _ = valid_preds(learn)
        torch.testing.assert_close(p, torch.sigmoid(model_logits(learn)[0]), atol=1e-5, rtol=1e-4)
        learn.export('model.pkl')
        _, hot, probs = load_learner(tmp_path / 'model.pkl').predict(x[0])
        assert probs.shape == (3,) and hot.shape == (3,)
        learn.show_results(max_n=2)
        learn.tta(n=2)
    plt.close('all')
