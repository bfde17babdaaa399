"""Signals: an epoch of `lt_signal_learner` against a hand-written PyTorch loop, and the throughput of the batch
augmentations against the same augmentations applied item by item -- measured side by side in one run.

    python benchmarks/signal_speed.py [--n 2048] [--length 512] [--bs 64] [--epochs 5] [--threads 1]

1. Epochs: the same in-memory I/Q signals (2 channels), the same 1-D backbone and linear head, the same optimiser
   (torch's Adam at lr 1e-3, no weight decay) and a validation pass in both; `lt_signal_learner(recipe='ce')` with its
   default long-tail metrics and per-item standardisation, the hand loop with the standardisation written inline.
   Epochs run in rounds (one of each configuration in turn) after a warm-up epoch; the median is printed.
2. Augmentation: items per second of `signal_augment(phase=True)` + `NormalizeSignal` on batches, against a per-item
   loop doing the same operations with NumPy (the way a Dataset's `__getitem__` usually augments).
"""
import argparse, copy, statistics, time, warnings
from functools import partial
import numpy as np, torch
from torch import nn
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
import fastai.callback.progress  # noqa: F401
from fastai.optimizer import OptimWrapper
from fastai.torch_core import set_seed
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from epoch_speed import FastaiRun, time_rounds            # times an epoch from before_epoch to after_epoch, shared with that benchmark
from lt_fastai.core import long_tail_counts
from lt_fastai.signal import (LTSignalDataLoaders, lt_signal_learner, signal_augment, NormalizeSignal, TensorSignal)

def make_iq(n, length, n_classes=8, seed=0, balanced=False):
    "Long-tailed I/Q captures: a class-dependent carrier offset and symbol rate, random phase, noise"
    rng = np.random.default_rng(seed)
    counts = np.full(n_classes, n // n_classes) if balanced else long_tail_counts(1000, n_classes, 20)
    counts = np.maximum(np.round(counts / counts.sum() * n).astype(int), 1)
    y = np.repeat(np.arange(n_classes), counts)
    t = np.arange(length)
    f = 0.01 + 0.02 * y[:, None]
    z = np.exp(1j * (2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (len(y), 1))))
    z = z * np.sign(np.sin(2 * np.pi * t / (8 + 4 * y[:, None])))
    z = z + 0.7 * (rng.normal(size=z.shape) + 1j * rng.normal(size=z.shape))
    return np.stack([z.real, z.imag], 1).astype(np.float32), y

class HandLoop:
    def __init__(self, model, x, y, xv, yv, bs):
        self.model, self.bs = model, bs
        norm = lambda a: (a - a.mean(-1, keepdim=True)) / (a.std(-1, keepdim=True) + 1e-6)
        self.x, self.y, self.xv, self.yv, self.norm = x, y, xv, yv, norm
        self.opt, self.loss = torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    def epoch(self):
        t0 = time.perf_counter()
        self.model.train()
        perm = torch.randperm(len(self.x))
        for i in range(0, len(perm) - self.bs + 1, self.bs):
            b = perm[i:i + self.bs]
            loss = self.loss(self.model(self.norm(self.x[b])), self.y[b])
            loss.backward(); self.opt.step(); self.opt.zero_grad()
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(self.xv), self.bs): self.loss(self.model(self.norm(self.xv[i:i + self.bs])), self.yv[i:i + self.bs])
        return time.perf_counter() - t0


def epochs(n, length, bs, rounds, arch):
    set_seed(0)
    x, y = make_iq(n, length); xv, yv = make_iq(n // 4, length, seed=1, balanced=True)
    dls = LTSignalDataLoaders.from_arrays(x, y, xv, yv, bs=bs, device='cpu')
    learn = lt_signal_learner(dls, arch, recipe='ce', opt_func=partial(OptimWrapper, opt=torch.optim.Adam), precision='fp32')
    model0 = copy.deepcopy(learn.model)
    runs = {'hand-written loop': HandLoop(model0, torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xv), torch.from_numpy(yv), bs),
            'lt_signal_learner': FastaiRun(learn)}
    times = time_rounds(runs, rounds)             # one warm-up epoch each, then rounds of one epoch of each in turn
    base = statistics.median(times['hand-written loop'])
    print(f"{len(x)} training signals (2 × {length}), {len(xv)} validation, batch size {bs}, arch {arch!r}, "
          f"{sum(p.numel() for p in learn.model.parameters())} parameters")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"  {k:<22} {m * 1000:9.1f} ms/epoch  {m / base:6.3f} × hand loop   (min-max {min(ts) * 1000:.1f}-{max(ts) * 1000:.1f})")

def per_item(a, rng):
    "The same augmentations, one item at a time, with NumPy"
    L = a.shape[-1]
    if rng.random() < 0.5: a = np.roll(a, rng.integers(-int(0.1 * L), int(0.1 * L) + 1), -1)
    if rng.random() < 0.5: a = a * np.exp(rng.uniform(np.log(0.5), np.log(2.)))
    if rng.random() < 0.5:
        p = (a ** 2).mean(); snr = 10 ** (rng.uniform(10, 30) / 10)
        a = a + rng.normal(size=a.shape) * np.sqrt(p / snr)
    if rng.random() < 0.5:
        th = rng.uniform(-np.pi, np.pi); i, q = a[0], a[1]
        a = np.stack([i * np.cos(th) - q * np.sin(th), i * np.sin(th) + q * np.cos(th)])
    return (a - a.mean(-1, keepdims=True)) / (a.std(-1, keepdims=True) + 1e-6)

def augmentation(n, length, bs, repeats=5):
    x, _ = make_iq(n, length)
    tfms = signal_augment(phase=True) + [NormalizeSignal()]
    xb = [TensorSignal(torch.from_numpy(x[i:i + bs])) for i in range(0, len(x) - bs + 1, bs)]
    def batched():
        for b in xb:
            for t in tfms: b = t(b, split_idx=0)
    rng = np.random.default_rng(0)
    def looped():
        for i in range(len(xb) * bs): per_item(x[i], rng)
    res = {}
    for name, f in (('batch transforms (torch)', batched), ('per-item loop (NumPy)', looped)):
        f(); ts = []
        for _ in range(repeats):
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
        res[name] = len(xb) * bs / statistics.median(ts)
    print(f"augmentation of {len(xb) * bs} signals (2 × {length}), batches of {bs}: shift, scale, noise at an SNR, phase rotation, standardisation")
    for k, v in res.items(): print(f"  {k:<26} {v:12,.0f} items/s  {v / res['per-item loop (NumPy)']:6.1f} ×")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=2048); p.add_argument('--length', type=int, default=512)
    p.add_argument('--bs', type=int, default=64); p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--threads', type=int, default=1); p.add_argument('--arch', default='resnet1d')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s)")
    epochs(a.n, a.length, a.bs, a.epochs, a.arch)
    augmentation(a.n, a.length, a.bs)
