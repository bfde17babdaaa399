"""Seconds per training epoch of each long-tail recipe next to plain cross-entropy -- same model, same tensors, one run.

    python benchmarks/recipe_speed.py [--n 10000] [--bs 256] [--epochs 3] [--device cpu] [--threads 2]

Every recipe is built by `lt_learner` on its own copy of the same in-memory loaders, from the same initial weights,
with the same optimiser (fastai's Adam, lr 1e-3, no weight decay) and the same long-tail metrics, so the difference
to 'ce' is what the recipe's loss, sampler and callbacks cost. The deferred re-weighting of 'ldam_drw' and
'remix_drw' is switched on from the first epoch (its more expensive half). Epochs run round-robin across recipes
after one warm-up epoch each; the median is printed. The recipes' second stages (cRT, LWS, post-hoc τ searches)
are timed once each, separately, since they replace rather than slow down training epochs.
"""
import copy, sys, time, warnings
from pathlib import Path
import torch
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
from fastai.torch_core import set_seed
import fastai.callback.progress  # noqa: F401
sys.path.insert(0, str(Path(__file__).parent))
from dataloader_speed import make_data, make_model, time_round_robin, print_table, parse_args  # shared with that benchmark
from lt_fastai.data import in_memory_dls
from lt_fastai.losses import FocalLoss
from lt_fastai.learner import lt_learner
from lt_fastai.recipes import get_recipe

RECIPES_TIMED = ('ce', 'sqrt_sampling', 'cb_sampling', 'focal', 'cb_focal', 'ldam_drw', 'balanced_softmax',
                 'logit_adjusted', 'remix', 'remix_drw', 'mislas', 'sam', 'imbsam', 'glmc', 'la_glmc', 'la_mixup_crt', 'la_sam', 'la_imbsam', 'bs_swa')
STAGED = ('posthoc_la', 'crt', 'lws', 'tau_norm', 'mislas', 'weight_balancing', 'la_mixup_crt', 'ldam_drw_la')

def build(name, x, y, xv, yv, bs, device, model0):
    kw = dict(recipe_kwargs=dict(drw_start=0)) if name in ('ldam_drw', 'remix_drw') else {}
    extra = {}
    if name == 'focal, check_inputs=False': name, extra = 'focal', dict(loss_func=FocalLoss(gamma=2., check_inputs=False))
    dls = in_memory_dls(x, y, xv, yv, bs=bs, device=device)
    return lt_learner(dls, copy.deepcopy(model0).to(device), recipe=name, precision='fp32', **kw, **extra)

def main(n=10000, bs=256, epochs=3, device='cpu', threads=None):
    if threads: torch.set_num_threads(threads)
    set_seed(0)
    x, y = make_data(n); xv, yv = make_data(1024, seed=1)
    model0 = make_model()
    names = list(RECIPES_TIMED) + ['focal, check_inputs=False']
    learners = {k: build(k, x, y, xv, yv, bs, device, model0) for k in names}
    def epoch(learn):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, wd=0.)
    times = time_round_robin({k: (lambda l=l: epoch(l)) for k, l in learners.items()}, epochs, device)
    base = print_table(times, 'ce', 'recipe (main fit)', 'ce', n, bs, device)
    print(f"\n{'second stage (1 epoch / τ search)':<32}{'seconds':>18}{'× ce epoch':>12}")
    for k in STAGED:
        learn = build(k, x, y, xv, yv, bs, device, model0)
        epoch(learn)
        t0 = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            for st in learn.plan.stages: st.fn(learn, 1, 1e-3)
        s = time.perf_counter() - t0
        print(f"{k:<32}{s:>18.3f}{s / base:>12.3f}")

if __name__ == '__main__':
    a = parse_args(__doc__, n=10000)
    main(a.n, a.bs, a.epochs, a.device, a.threads)
