"""Seconds per epoch of lt_fastai next to plain fastai and a hand-written PyTorch loop -- same model, data, batch
size and optimiser, measured side by side in one run.

    python benchmarks/epoch_speed.py [--case small|large|mixing|all] [--bs 32 64 128 256] [--epochs 7] [--threads 1]

Cases:
- small: 319 one-channel series of length 140 (5 long-tailed classes), a 1-D CNN of 21k parameters, 80
  validation items. Small data: a fixed cost per epoch shows.
- large: 915 spectrogram-sized items (1 × 64 × 96), a 2-D CNN, 229 validation items.
- mixing: the small case with MixUp-style callbacks, against plain cross-entropy.

Configurations (all with torch's Adam through fastai's OptimWrapper at lr 1e-3, no weight decay, and a validation
pass every epoch):
- hand loop: shuffle, index a batch, forward, backward, step; then the validation set;
- fastai: fastai's `Learner` and `DataLoaders` over a `TensorDataset`, `CrossEntropyLossFlat`, no metrics;
- fastai + accuracy: the same with fastai's `accuracy` metric;
- fastai + InMemoryDL: fastai's `Learner` on lt_fastai's in-memory loaders (isolates the loader);
- lt_learner, no metrics / lt_learner: `lt_learner(recipe='ce')` without metrics and with its default long-tail metrics.

An epoch is timed from `before_epoch` to the end of `after_epoch` (training, validation, metrics, recorder), in
rounds: each round runs one epoch of every configuration in turn, after one warm-up epoch each; the median over
rounds is printed with its ratio to the hand loop and to plain fastai. Run it on a quiet machine: on two cores a
second busy process changes the figures by much more than the differences measured here.
"""
import argparse, copy, statistics, time, warnings
from functools import partial
import numpy as np, torch
from torch import nn
from torch.utils.data import TensorDataset
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
from fastai.learner import Learner
from fastai.callback.core import Callback
from fastai.callback.mixup import MixUp
import fastai.callback.progress  # noqa: F401
from fastai.optimizer import OptimWrapper
from fastai.data.core import DataLoaders
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from lt_fastai.core import long_tail_counts
from lt_fastai.data import in_memory_dls
from lt_fastai.learner import lt_learner
from lt_fastai.callbacks import LTMixUp, LTCutMix

OPT = partial(OptimWrapper, opt=torch.optim.Adam)

def make_data(n, shape, n_classes=5, imb=10, seed=0, balanced=False):
    "Long-tailed noisy items whose class sets a frequency pattern along the last axis"
    rng = np.random.default_rng(seed)
    counts = np.full(n_classes, n // n_classes) if balanced else long_tail_counts(1000, n_classes, imb)
    counts = np.maximum(np.round(counts / counts.sum() * n).astype(int), 1)
    y = np.repeat(np.arange(n_classes), counts)[:n]
    t = np.arange(shape[-1])
    base = np.cos(0.1 * (y[:, None] + 1) * t)
    x = base.reshape(len(y), *([1] * (len(shape) - 1)), shape[-1]) + rng.normal(size=(len(y), *shape))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)

def model_1d(n_classes=5):
    return nn.Sequential(nn.Conv1d(1, 32, 9, padding=4), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Conv1d(32, 64, 7, stride=2, padding=3), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Conv1d(64, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, n_classes))

def model_2d(n_classes=5):
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes))

class HandLoop:
    "The baseline: shuffle, index a batch, forward, backward, step; then evaluate the validation set"
    def __init__(self, model, x, y, xv, yv, bs):
        self.model, self.bs, self.x, self.y, self.xv, self.yv = model, bs, x, y, xv, yv
        self.opt, self.loss = torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    def epoch(self):
        t0 = time.perf_counter()
        self.model.train()
        perm = torch.randperm(len(self.x))
        for i in range(0, len(perm) - self.bs + 1, self.bs):  # drop_last, as fastai's training loader
            b = perm[i:i + self.bs]
            loss = self.loss(self.model(self.x[b]), self.y[b])
            loss.backward(); self.opt.step(); self.opt.zero_grad()
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(self.xv), self.bs): self.loss(self.model(self.xv[i:i + self.bs]), self.yv[i:i + self.bs])
        return time.perf_counter() - t0

class EpochTimer(Callback):
    "Seconds from `before_epoch` to the end of `after_epoch` (after the recorder has computed the metrics)"
    order = 1000
    def before_epoch(self): self.t0 = time.perf_counter()
    def after_epoch(self): self.secs = time.perf_counter() - self.t0

class FastaiRun:
    def __init__(self, learn): self.learn, self.timer = learn, EpochTimer(); learn.add_cb(self.timer)
    def epoch(self):
        with self.learn.no_bar(), self.learn.no_logging(): self.learn.fit(1, 1e-3, wd=0.)
        return self.timer.secs

def configurations(x, y, xv, yv, bs, make_model, mixing=False):
    set_seed(0)
    m0 = make_model()
    M = lambda: copy.deepcopy(m0)
    mem = lambda: in_memory_dls(x, y, xv, yv, bs=bs, device='cpu')
    fa = lambda: DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(xv, yv), bs=bs, device='cpu', num_workers=0)
    lt = lambda **kw: FastaiRun(lt_learner(mem(), M(), opt_func=OPT, precision='fp32', **kw))
    if mixing:
        return {'lt_learner (cross-entropy)': lambda: lt(),
                'lt_learner + LTMixUp': lambda: lt(cbs=LTMixUp(0.4)),
                "lt_learner, recipe 'remix'": lambda: lt(recipe='remix'),
                'lt_learner + LTCutMix': lambda: lt(cbs=LTCutMix(1.)),
                'fastai (cross-entropy)': lambda: FastaiRun(Learner(fa(), M(), loss_func=CrossEntropyLossFlat(), opt_func=OPT)),
                'fastai + fastai MixUp': lambda: FastaiRun(Learner(fa(), M(), loss_func=CrossEntropyLossFlat(), opt_func=OPT, cbs=MixUp(0.4)))}
    return {'hand loop': lambda: HandLoop(M(), x, y, xv, yv, bs),
            'fastai': lambda: FastaiRun(Learner(fa(), M(), loss_func=CrossEntropyLossFlat(), opt_func=OPT)),
            'fastai + accuracy': lambda: FastaiRun(Learner(fa(), M(), loss_func=CrossEntropyLossFlat(), opt_func=OPT, metrics=accuracy)),
            'fastai + InMemoryDL': lambda: FastaiRun(Learner(mem(), M(), loss_func=CrossEntropyLossFlat(), opt_func=OPT)),
            'lt_learner, no metrics': lambda: lt(metrics=[]),
            'lt_learner': lambda: lt()}

def time_rounds(runs, epochs):
    times = {k: [] for k in runs}
    for r in runs.values(): r.epoch()                                   # warm-up
    for _ in range(epochs):
        for k, r in runs.items(): times[k].append(r.epoch())
    return times

def report(title, times, bases):
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{title}")
    bases = [b for b in bases if b in med]
    w = [max(16, len(b) + 4) for b in bases]
    head = ''.join(f"{'× ' + b:>{wi}}" for b, wi in zip(bases, w))
    print(f"{'configuration':<30}{'ms/epoch':>10}{head}   spread (min-max, ms)")
    for k, m in med.items():
        ratios = ''.join(f"{m / med[b]:>{wi}.3f}" for b, wi in zip(bases, w))
        print(f"{k:<30}{1000 * m:>10.1f}{ratios}   {1000 * min(times[k]):.1f}-{1000 * max(times[k]):.1f}")

def main(case='all', bss=(32, 64, 128, 256), epochs=7, threads=1):
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s); median of {epochs} rounds after one warm-up epoch")
    if case in ('small', 'all', 'mixing'):
        x, y = make_data(319, (1, 140)); xv, yv = make_data(80, (1, 140), seed=1, balanced=True)
        print(f"small: {len(x)} training items {tuple(x.shape[1:])}, {len(xv)} validation, "
              f"{sum(p.numel() for p in model_1d().parameters())} parameters")
        if case != 'mixing':
            for bs in bss:
                report(f"small, batch size {bs} ({len(x) // bs} batches per epoch)",
                       time_rounds({k: f() for k, f in configurations(x, y, xv, yv, bs, model_1d).items()}, epochs),
                       ('hand loop', 'fastai'))
        if case in ('mixing', 'all'):
            report("mixing, small, batch size 32",
                   time_rounds({k: f() for k, f in configurations(x, y, xv, yv, 32, model_1d, mixing=True).items()}, epochs),
                   ('lt_learner (cross-entropy)', 'fastai (cross-entropy)'))
    if case in ('large', 'all'):
        x, y = make_data(915, (1, 64, 96)); xv, yv = make_data(229, (1, 64, 96), seed=1, balanced=True)
        print(f"\nlarge: {len(x)} training items {tuple(x.shape[1:])}, {len(xv)} validation, "
              f"{sum(p.numel() for p in model_2d().parameters())} parameters")
        for bs in bss:
            report(f"large, batch size {bs} ({len(x) // bs} batches per epoch)",
                   time_rounds({k: f() for k, f in configurations(x, y, xv, yv, bs, model_2d).items()}, epochs),
                   ('hand loop', 'fastai'))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--case', default='all', choices=['small', 'large', 'mixing', 'all'])
    p.add_argument('--bs', type=int, nargs='+', default=[32, 64, 128, 256])
    p.add_argument('--epochs', type=int, default=7)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    main(a.case, tuple(a.bs), a.epochs, a.threads)
