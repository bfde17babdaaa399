"""Two CPU processes (gloo), started by `torchrun` as the docs say: lt_fastai's distributed loader and metrics, alone and
inside fastai's `learn.distrib_ctx()`, against one process doing the same work.

The processes run this file as a script (`_rank_job` at the bottom) and pickle what they saw; the tests compare it with
single-process runs here."""
import os, sys, pickle, subprocess
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn as nn

Y = np.array([0] * 400 + [1] * 100 + [2] * 20)   # a long-tailed training set: 400 / 100 / 20
X = np.arange(len(Y), dtype=np.float32)[:, None]  # each item is its own index, so batches show what was drawn
EPOCHS = 3                                         # epochs drawn by each loader of the sampling test
N_VALID = 11                                       # an odd validation set: rank 1's share ends with padding

# ---- the data and models, built the same way in the processes and here ----

def _mem_dls():
    from lt_fastai.data import in_memory_dls
    return in_memory_dls(X, Y, X[:7], Y[:7], bs=16, sampler='class_uniform', device='cpu')

def _tfmd_dls():
    from fastcore.basics import noop
    from fastai.data.core import Datasets
    dss = Datasets(list(range(len(Y))), [[noop], [lambda i: int(Y[i])]], splits=[list(range(len(Y))), list(range(7))])
    return dss.lt_dataloaders(sampler='sqrt', bs=16, device='cpu')

def _torch_dl():
    from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler
    from lt_fastai.data import sampling_weights
    return DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=16,
                      sampler=WeightedRandomSampler(sampling_weights(Y, 'class_uniform'), len(Y)))

def _single_learner():
    from lt_fastai.learner import LTLearner   # what lt_fastai builds: its `distrib_ctx()` is lt_fastai's
    from lt_fastai.metrics import lt_metric_list
    from lt_fastai.test_utils import tiny_dls, signal_cnn
    return LTLearner(tiny_dls(valid=(4, 4, 3), bs=4), signal_cnn(seed=0), loss_func=nn.CrossEntropyLoss(),
                   metrics=lt_metric_list(ks=(2,)))

def _multi_learner(frames:bool):
    "Multi-label (N, 4) targets, or frame-level (N, 5, 3) clips, on random signals"
    from lt_fastai.learner import LTLearner
    from lt_fastai.data import in_memory_dls
    from lt_fastai.metrics import multilabel_metric_list, frame_metric_list
    g = torch.Generator().manual_seed(0)
    shape = (5, 3) if frames else (4,)
    x, y = torch.randn(40 + N_VALID, 2, 32, generator=g), (torch.rand(40 + N_VALID, *shape, generator=g) < 0.3).long()
    dls = in_memory_dls(x[:40], y[:40].numpy(), x[40:], y[40:].numpy(), bs=4, device='cpu')
    torch.manual_seed(0)
    head = [nn.Flatten(), nn.Linear(64, int(np.prod(shape)))] + ([nn.Unflatten(1, shape)] if frames else [])
    metrics = frame_metric_list(fps=10) if frames else multilabel_metric_list()
    return LTLearner(dls, nn.Sequential(*head), loss_func=nn.BCEWithLogitsLoss(), metrics=metrics)

def _fit_learner():
    from lt_fastai.learner import lt_learner
    from lt_fastai.callbacks import ProgressiveSampling
    from lt_fastai.test_utils import tiny_dls, signal_cnn
    return lt_learner(tiny_dls(valid=(4, 4, 3), bs=4, sampler='class_uniform'), signal_cnn(seed=0), recipe='crt',
                      cbs=ProgressiveSampling())

def _nums(values): return [float(v) for v in values]

# ---- what each process does ----

def _rank_job(out:Path):
    import warnings; warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    import torch.distributed as dist
    from fastai.distributed import DistributedDL, DistributedTrainer
    from lt_fastai import distributed as D
    from lt_fastai.test_utils import quiet
    dist.init_process_group('gloo')           # from torchrun's environment (accelerate would do the same with cpu=True)
    rank, res = dist.get_rank(), {}

    class CPUBroadcastDL(DistributedDL):      # fastai's wrapper, with a broadcast gloo can send (fastai sends from a GPU)
        def _broadcast(self, t, rank):
            t = torch.tensor(list(t), dtype=torch.long); dist.broadcast(t, rank); return t.tolist()

    # (a) sampling: our wrapper (rank, world size from the environment; the seed agreed by one broadcast)
    dls = _mem_dls()
    w = D.DistributedWeightedDL(dls.train)
    res['mem'] = [w.get_idxs() for _ in range(EPOCHS)]
    res['mem_batches'] = [int(v) for xb, _ in w for v in xb.flatten()]   # epoch EPOCHS, iterated
    res['seed'], res['n_padded'] = w._seed, w.n_padded
    wt = D.DistributedWeightedDL(_tfmd_dls().train)
    res['tfmd'], res['tfmd_seed'] = [wt.get_idxs() for _ in range(EPOCHS)], wt._seed
    res['torch'] = D.DistributedWeightedDL(_torch_dl(), seed=0).get_idxs()
    from fastai.callback.data import WeightedDL       # draws from NumPy's global generator: rank 0's list is sent
    np.random.seed(rank)
    fw = D.DistributedWeightedDL(WeightedDL(list(range(len(Y))), bs=16, wgts=1 / np.bincount(Y)[Y], shuffle=True))
    res['fastai_wdl'] = fw.get_idxs()
    # ... and fastai's own wrapper on the same loaders
    try: DistributedDL(dls.train).get_idxs(); res['fastai_error'] = None
    except Exception as e: res['fastai_error'] = f"{type(e).__name__}: {e}"
    f = CPUBroadcastDL(dls.train)
    res['fastai_mem'] = [f.get_idxs() for _ in range(EPOCHS)]
    res['fastai_torch'] = CPUBroadcastDL(_torch_dl()).get_idxs()
    try: f.set_sampling('natural'); res['fastai_set_sampling'] = None
    except AttributeError as e: res['fastai_set_sampling'] = str(e)

    # (b) metrics of a validation inside distrib_ctx, and with fastai's trainer (its wrapper made to run on CPUs)
    class FastaiTrainer(DistributedTrainer):
        def _wrap_dl(self, dl): return dl if isinstance(dl, DistributedDL) else CPUBroadcastDL(dl, device='cpu')
    for name, make in (('single', _single_learner), ('multi', lambda: _multi_learner(False)),
                       ('frames', lambda: _multi_learner(True))):
        learn = make()
        with quiet(learn):
            with learn.distrib_ctx(cpu=True): res[name] = _nums(learn.validate())
            learn.add_cb(FastaiTrainer(sync_bn=False, cpu=True))
            res[f'{name}_fastai'] = _nums(learn.validate())
            learn.remove_cb(FastaiTrainer)

    # (c) lt_learner's fit_lt (a main fit with progressive sampling, then a cRT stage) inside distrib_ctx
    learn = _fit_learner()
    with quiet(learn), learn.distrib_ctx(cpu=True): learn.fit_lt(2, 5e-2, stage_epochs=1)
    res['fit'] = _nums(learn.recorder.values[-1])
    res['alphas'] = [c for c in learn.cbs if type(c).__name__ == 'ProgressiveSampling'][0].alphas
    res['after'] = (type(learn.dls.train).__name__, type(learn.model).__name__,
                    [type(c).__name__ for c in learn.cbs if isinstance(c, DistributedTrainer)])
    res['state'] = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with open(out / f'{rank}.pkl', 'wb') as fh: pickle.dump(res, fh)
    dist.destroy_process_group()

# ---- the tests ----

def _launch(out:Path):
    "The documented CPU launch: torchrun, two processes, this file as the script"
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', __file__, str(out)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    (out / 'log.txt').write_text(f"exit status {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}")

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    # under pytest-xdist the two processes run once for all workers (a file lock in the shared temporary folder)
    from filelock import FileLock
    shared = os.environ.get('PYTEST_XDIST_WORKER') is not None
    out = tmp_path_factory.getbasetemp().parent / 'lt_fastai_ddp' if shared else tmp_path_factory.mktemp('ddp')
    out.mkdir(exist_ok=True)
    with FileLock(str(out / 'run.lock')):
        if not (out / 'log.txt').exists(): _launch(out)
    files = [out / f'{k}.pkl' for k in range(2)]
    assert all(f.exists() for f in files), f"torchrun failed:\n{(out / 'log.txt').read_text()}"
    res = []
    for f in files:
        with open(f, 'rb') as fh: res.append(pickle.load(fh))
    return res

def _freq(idxs): return np.bincount(Y[idxs], minlength=3) / len(idxs)

def _one_process(make_dl, seed, epochs):
    "The epochs one process draws with the same seed"
    from lt_fastai.distributed import DistributedWeightedDL
    d = DistributedWeightedDL(make_dl(), rank=0, world_size=1, seed=seed)
    return [d.get_idxs() for _ in range(epochs)]

def _close(a, b): np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)

def test_ranks_split_one_weighted_epoch(runs):
    from lt_fastai.data import class_sampling_probs
    r0, r1 = runs
    assert r0['seed'] == r1['seed'], "the ranks must agree on the seed"
    whole = _one_process(lambda: _mem_dls().train, r0['seed'], EPOCHS + 1)
    for e in range(EPOCHS):
        assert len(r0['mem'][e]) == len(r1['mem'][e]) == r0['n_padded'] // 2 == 260
        # disjoint consecutive slices of one epoch, together exactly the single process's epoch
        assert r0['mem'][e] + r1['mem'][e] == whole[e]
    assert r0['mem'][0] != r0['mem'][1], "every epoch is a new draw"
    union = sum(r0['mem'] + r1['mem'], [])
    np.testing.assert_allclose(_freq(union), class_sampling_probs([400, 100, 20], 'class_uniform'), atol=0.05)
    # the batches of an iterated epoch are the rank's slice (whole batches only: drop_last)
    for k, r in enumerate(runs): assert r['mem_batches'] == whole[EPOCHS][260 * k:260 * k + 256]

def test_weighted_tfmd_loader(runs):
    from lt_fastai.data import class_sampling_probs
    r0, r1 = runs
    whole = _one_process(lambda: _tfmd_dls().train, r0['tfmd_seed'], EPOCHS)
    for e in range(EPOCHS): assert r0['tfmd'][e] + r1['tfmd'][e] == whole[e]
    np.testing.assert_allclose(_freq(sum(r0['tfmd'] + r1['tfmd'], [])), class_sampling_probs([400, 100, 20], 'sqrt'), atol=0.05)

def test_other_weighted_loaders(runs):
    r0, r1 = runs
    # a torch loader with a WeightedRandomSampler keeps its weights (fastai's wrapper plays it in order)
    np.testing.assert_allclose(_freq(r0['torch'] + r1['torch']), [1 / 3] * 3, atol=0.06)
    assert sorted(r0['fastai_torch'] + r1['fastai_torch']) == list(range(len(Y)))
    # fastai's WeightedDL draws from NumPy's global generator (seeded differently on each rank): rank 0's draw is sent
    np.testing.assert_allclose(_freq(r0['fastai_wdl'] + r1['fastai_wdl']), [1 / 3] * 3, atol=0.06)

def test_what_fastai_does(runs):
    "fastai 2.8.12's wrapper: fails on a CPU group, honours the weights once it can broadcast (#2637 is fixed), hides `set_sampling`"
    from lt_fastai.data import class_sampling_probs
    r0, r1 = runs
    if not torch.cuda.is_available():
        assert r0['fastai_error'] is not None and r0['fastai_error'].startswith(('RuntimeError', 'AssertionError')), r0['fastai_error']
    union = sum(r0['fastai_mem'] + r1['fastai_mem'], [])
    np.testing.assert_allclose(_freq(union), class_sampling_probs([400, 100, 20], 'class_uniform'), atol=0.05)
    assert "has no attribute 'set_sampling'" in r0['fastai_set_sampling']

@pytest.mark.parametrize('name', ['single', 'multi', 'frames'])
def test_metrics_equal_one_process(runs, name):
    from lt_fastai.test_utils import quiet
    learn = {'single': _single_learner, 'multi': lambda: _multi_learner(False), 'frames': lambda: _multi_learner(True)}[name]()
    with quiet(learn): one = _nums(learn.validate())
    for r in runs:
        _close(r[name][1:], one[1:])               # the metrics (fastai's validation loss is not exact under DDP)
    # without the reduction, a rank reports the metrics of its own share only
    assert any(not np.allclose(r[f'{name}_fastai'][1:], one[1:], equal_nan=True) for r in runs)

def test_fit_in_distrib_ctx(runs):
    from lt_fastai.test_utils import quiet
    r0, r1 = runs
    for k in r0['state']: assert torch.equal(r0['state'][k], r1['state'][k]), k    # DDP kept the ranks in step
    _close(r0['fit'], r1['fit'])
    learn = _fit_learner()
    learn.model.load_state_dict(r0['state'])
    with quiet(learn): one = _nums(learn.validate())
    _close(r0['fit'][2:], one[1:])                 # the recorded metrics are those of one process
    assert r0['alphas'] == [1.0, 0.0]              # `set_sampling` reached the loader through the wrapper
    assert r0['after'] == ('InMemoryDL', 'Sequential', [])

if __name__ == '__main__': _rank_job(Path(sys.argv[1]))
