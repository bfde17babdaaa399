"""Seconds per training epoch on in-memory data: a hand-written PyTorch loop, a plain fastai Learner,
and lt_fastai's `InMemoryDL` with and without a sampling rule -- same model, same tensors, one run.

    python benchmarks/dataloader_speed.py [--n 20000] [--bs 256] [--epochs 3] [--device cpu]

Each configuration trains from the same initial weights with the same optimiser (torch's Adam, lr 1e-3, no weight decay); epochs are run
round-robin across configurations after one warm-up epoch each, and the median epoch time is printed. Every
epoch includes a pass over a small validation set, in the hand-written loop as in fastai.
"""
import argparse, copy, statistics, time, warnings
import numpy as np, torch
from torch import nn
from torch.utils.data import TensorDataset
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from fastai.learner import Learner
import fastai.callback.progress  # the default progress bar (and `no_bar`), as `fastai.*.all` users have it
from fastai.optimizer import OptimWrapper
from fastai.data.core import DataLoaders
from fastai.torch_core import set_seed
from functools import partial
from lt_fastai.core import long_tail_counts
from lt_fastai.data import in_memory_dls

def make_data(n, length=256, n_classes=10, seed=0):
    "Long-tailed I/Q-like signals: 2 channels, class-dependent tone plus noise"
    rng = np.random.default_rng(seed)
    counts = long_tail_counts(n, n_classes, 50); counts = np.maximum((counts / counts.sum() * n).astype(int), 1)
    y = np.repeat(np.arange(n_classes), counts)
    t = np.arange(length)
    x = np.stack([np.cos(0.05 * (y[:, None] + 1) * t), np.sin(0.05 * (y[:, None] + 1) * t)], 1)
    x = (x + rng.normal(scale=1.0, size=x.shape)).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)

def make_model(n_classes=10):
    return nn.Sequential(
        nn.Conv1d(2, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
        nn.Conv1d(32, 64, 5, stride=2, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, n_classes))

class HandLoop:
    "The baseline: shuffle, index a batch, forward, backward, step; then evaluate the validation set"
    def __init__(self, model, x, y, xv, yv, bs, device):
        self.model, self.bs, self.device = model.to(device), bs, device
        self.x, self.y, self.xv, self.yv = x, y, xv, yv
        self.opt, self.loss = torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    def epoch(self):
        self.model.train()
        perm = torch.randperm(len(self.x))
        for i in range(0, len(perm) - self.bs + 1, self.bs):  # drop_last, as fastai's training loader
            b = perm[i:i + self.bs]
            xb, yb = self.x[b].to(self.device), self.y[b].to(self.device)
            loss = self.loss(self.model(xb), yb)
            loss.backward(); self.opt.step(); self.opt.zero_grad()
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(self.xv), self.bs):
                self.loss(self.model(self.xv[i:i + self.bs].to(self.device)), self.yv[i:i + self.bs].to(self.device))

class FastaiRun:
    def __init__(self, dls, model, device):
        self.learn = Learner(dls, model.to(device), loss_func=nn.CrossEntropyLoss(), opt_func=partial(OptimWrapper, opt=torch.optim.Adam))
    def epoch(self):
        with self.learn.no_bar(), self.learn.no_logging(): self.learn.fit(1, 1e-3, wd=0.)  # no weight decay, as in the hand loop

def main(n=20000, bs=256, epochs=3, device='cpu', threads=None):
    if threads: torch.set_num_threads(threads)
    set_seed(0)
    x, y = make_data(n); xv, yv = make_data(1024, seed=1)
    model0 = make_model()
    runs = {
        'hand-written PyTorch loop': lambda: HandLoop(copy.deepcopy(model0), x, y, xv, yv, bs, device),
        'plain fastai (TfmdDL)': lambda: FastaiRun(DataLoaders.from_dsets(TensorDataset(x, y), TensorDataset(xv, yv), bs=bs, device=device, num_workers=0), copy.deepcopy(model0), device),
        'lt_fastai InMemoryDL': lambda: FastaiRun(in_memory_dls(x, y, xv, yv, bs=bs, device=device), copy.deepcopy(model0), device),
        "lt_fastai InMemoryDL, sampler='sqrt'": lambda: FastaiRun(in_memory_dls(x, y, xv, yv, bs=bs, sampler='sqrt', device=device), copy.deepcopy(model0), device),
    }
    runs = {k: f() for k, f in runs.items()}
    times = time_round_robin({k: r.epoch for k, r in runs.items()}, epochs, device)
    print_table(times, 'hand-written PyTorch loop', 'configuration', 'hand loop', n, bs, device)

def time_round_robin(epoch_fns, epochs, device):
    "Seconds of each epoch of each configuration: one warm-up epoch each, then `epochs` rounds in turn"
    times = {k: [] for k in epoch_fns}
    for f in epoch_fns.values(): f()
    for _ in range(epochs):
        for k, f in epoch_fns.items():
            if device != 'cpu': torch.cuda.synchronize()
            t0 = time.perf_counter(); f()
            if device != 'cpu': torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    return times

def print_table(times, base_key, what, base_name, n, bs, device):
    base = statistics.median(times[base_key])
    print(f"{n} items, batch size {bs}, {n // bs} batches per epoch, device {device}, torch threads {torch.get_num_threads()}")
    print(f"{what:<40}{'s/epoch (median)':>18}{'× ' + base_name:>13}   all epochs")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"{k:<40}{m:>18.3f}{m / base:>13.3f}   {' '.join(f'{t:.3f}' for t in ts)}")
    return base

def parse_args(doc, n=20000):
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--n', type=int, default=n); p.add_argument('--bs', type=int, default=256)
    p.add_argument('--epochs', type=int, default=3); p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None)
    return p.parse_args()

if __name__ == '__main__':
    a = parse_args(__doc__)
    main(a.n, a.bs, a.epochs, a.device, a.threads)
