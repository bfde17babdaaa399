"""CIFAR-10-LT at imbalance ratio 100 with ResNet-32 and the papers' schedule, for a GPU.

    LT_FASTAI_CIFAR10=/path/to/cifar-10-batches-py python benchmarks/cifar10_lt.py \
        [--recipes ldam_drw,balanced_softmax] [--epochs 200] [--seeds 0] [--out cifar10_lt.json]

The data is the python version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html: `data_batch_1` ... `_5`
and `test_batch`), read from the folder in $LT_FASTAI_CIFAR10 (or `--data`); nothing is downloaded. The setting
is Cao et al. 2019 (LDAM-DRW, arXiv 1906.07413), which later long-tail papers reuse:

- training set: an exponential profile from the head class down to 1/100 of it (n_max 5000 in the paper; here 4980,
  because 20 images per class are held out first as a balanced validation split, which the post-hoc recipes need
  to choose τ); test set: the balanced 10,000 CIFAR-10 test images;
- ResNet-32 for CIFAR (He et al. 2016: 3 stages of 5 basic blocks, 16/32/64 channels, parameter-free shortcuts);
- random crop (padding 4) and horizontal flip, per-channel normalisation;
- SGD, momentum 0.9, weight decay 2e-4 (coupled, as in the paper), batch 128, lr 0.1 with a linear warm-up over
  the first 5 epochs, × 0.01 from epoch 160 and × 0.0001 from epoch 180 (of 200; scaled for `--epochs`); the
  deferred re-weighting of `ldam_drw` starts at 80% of training, epoch 160, as in the paper;
- mixed precision through `lt_learner(precision='auto')` on a GPU.

Published top-1 for reference (ratio 100, ResNet-32): CE about 70.4 and LDAM-DRW 77.0 (Cao et al. 2019), MiSLAS
82.5 (Zhong et al. 2021), GLMC 87.75 (Du et al. 2023, with its own longer recipe). Shot groups are those of the
literature: many > 100 training images, few < 20 (CIFAR-10-LT has no few-shot class at ratio 100).
"""
import argparse, json, os, pickle, sys, time, warnings
from functools import partial
from pathlib import Path
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from fastai.callback.core import Callback
from fastai.optimizer import SGD
from fastai.torch_core import set_seed
import fastai.callback.progress  # noqa: F401
from lt_fastai.core import long_tail_subset, class_counts
from lt_fastai.data import in_memory_dls
from lt_fastai.learner import lt_learner
from lt_fastai.metrics import lt_metrics
from lt_fastai.recipes import get_recipe

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)   # CIFAR-10 training-set channel statistics

def load_cifar10(root):
    "(x_train, y_train, x_test, y_test) as uint8 (N, 3, 32, 32) and int64 arrays, from the python-version batches in `root`"
    root = Path(root)
    if not root.is_dir(): raise FileNotFoundError(f"CIFAR-10 folder {root} does not exist (expected the python version's cifar-10-batches-py)")
    def read(name):
        f = root / name
        if not f.exists(): raise FileNotFoundError(f"{f} is missing: {root} must hold data_batch_1 ... data_batch_5 and test_batch")
        try:
            with open(f, 'rb') as fh: d = pickle.load(fh, encoding='bytes')
            x = np.asarray(d[b'data'], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(d[b'labels'], dtype=np.int64)
        except Exception as e: raise ValueError(f"{f} is not a CIFAR-10 python batch: {e}") from e
        if len(x) != len(y): raise ValueError(f"{f}: {len(x)} images but {len(y)} labels")
        return x, y
    tr = [read(f'data_batch_{i}') for i in range(1, 6)]
    xt, yt = read('test_batch')
    return np.concatenate([x for x, _ in tr]), np.concatenate([y for _, y in tr]), xt, yt

def cifar_lt_split(y, imb_ratio=100., n_max=4980, n_valid=20, seed=0):
    "Indices of a balanced validation split (`n_valid` per class, drawn first) and of the long-tailed training set"
    rng = np.random.default_rng(seed)
    valid = np.concatenate([rng.choice(np.flatnonzero(y == c), n_valid, replace=False) for c in np.unique(y)])
    rest = np.setdiff1d(np.arange(len(y)), valid)
    return rest[long_tail_subset(y[rest], imb_ratio=imb_ratio, n_max=n_max, seed=seed)], valid

class _Block(nn.Module):
    "Basic residual block; the shortcut subsamples and pads channels with zeros when the shape changes (He et al.'s option A)"
    def __init__(self, ni, nf, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(ni, nf, 3, stride, 1, bias=False), nn.BatchNorm2d(nf)
        self.c2, self.b2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf)
        self.stride, self.pad = stride, nf - ni
    def forward(self, x):
        out = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        sc = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad: sc = F.pad(sc, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + sc)

def resnet32(n_classes=10, n=5):
    "ResNet-32 for 32×32 images: a 3×3 stem and 3 stages of `n` basic blocks (16, 32, 64 channels), global pooling, linear classifier"
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    ni = 16
    for nf, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n): layers.append(_Block(ni, nf, stride if i == 0 else 1)); ni = nf
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)): nn.init.kaiming_normal_(m.weight)
    return model

class PadCropFlip(Callback):
    "Training batches: random 32×32 crops of the images padded by `pad` with zeros, and horizontal flips, one draw per image"
    order, run_valid = 5, False
    def __init__(self, pad=4): self.pad = pad
    def before_batch(self):
        x = self.xb[0]
        n, _, h, w = x.shape
        p = F.pad(x, (self.pad,) * 4)
        dy, dx = (torch.randint(0, 2 * self.pad + 1, (n,), device=x.device) for _ in range(2))
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        out = p[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(x.shape[1], device=x.device)[None, :, None, None], rows, cols]
        flip = torch.rand(n, device=x.device) < 0.5
        self.learn.xb = (torch.where(flip[:, None, None, None], out.flip(3), out), *self.xb[1:])

def to_float(x, device):
    x = torch.as_tensor(x, device=device).float().div_(255)
    return (x - torch.tensor(MEAN, device=device).view(1, 3, 1, 1)) / torch.tensor(STD, device=device).view(1, 3, 1, 1)

def run(recipe, data, seed, epochs, bs, lr, device, many=100, few=20):
    (xtr, ytr), (xva, yva), (xte, yte), counts = data
    set_seed(seed)
    dls = in_memory_dls(xtr, ytr, xva, yva, bs=bs, device=device)
    learn = lt_learner(dls, resnet32().to(device), recipe=recipe, opt_func=partial(SGD, mom=0.9, decouple_wd=False),
                       many=many, few=few, precision='auto' if device.type == 'cuda' else 'fp32', cbs=PadCropFlip())
    t0 = time.perf_counter()
    with learn.no_bar(), learn.no_logging():   # the paper's schedule (warm-up from lr/5 over 5 of 200 epochs), then the recipe's stages
        learn.fit_lt(epochs, lr, stage_lr=lr * 0.01, schedule='step', warmup=5 * epochs / 200, div=5, wd=2e-4)
        preds, targs = learn.get_preds(dl=dls.test_dl((xte, yte)))
    m = lt_metrics(preds.float(), targs, counts=counts, many=many, few=few, ks=())
    return dict(recipe=recipe, seed=seed, top1=float(m['accuracy']), many_acc=float(m['many_acc']), medium_acc=float(m['medium_acc']),
                minutes=(time.perf_counter() - t0) / 60, stages=learn.lt.stages)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=os.environ.get('LT_FASTAI_CIFAR10'), help='the cifar-10-batches-py folder (default: $LT_FASTAI_CIFAR10)')
    p.add_argument('--recipes', default='ldam_drw,balanced_softmax')
    p.add_argument('--seeds', default='0')
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--imb-ratio', type=float, default=100.)
    p.add_argument('--n-max', type=int, default=4980)
    p.add_argument('--n-valid', type=int, default=20, help='validation images per class, held out before the long tail is drawn')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out', default='cifar10_lt.json')
    a = p.parse_args(argv)
    if not a.data: p.error("give the CIFAR-10 folder with --data or $LT_FASTAI_CIFAR10 (nothing is downloaded)")
    recipes = a.recipes.split(',')
    for r in recipes: get_recipe(r)
    xtr, ytr, xte, yte = load_cifar10(a.data)
    tr, va = cifar_lt_split(ytr, a.imb_ratio, a.n_max, a.n_valid)
    counts = class_counts(ytr[tr], n_classes=10)
    dev = torch.device(a.device)
    data = ((to_float(xtr[tr], dev), torch.as_tensor(ytr[tr], device=dev)), (to_float(xtr[va], dev), torch.as_tensor(ytr[va], device=dev)),
            (to_float(xte, dev), torch.as_tensor(yte, device=dev)), counts)
    print(f"CIFAR-10-LT: {len(tr)} training images, counts {counts.tolist()}; {len(va)} validation, {len(yte)} test; {a.device}",
          file=sys.stderr)
    runs = []
    for r in recipes:
        for s in (int(x) for x in a.seeds.split(',')):
            runs.append(run(r, data, s, a.epochs, a.bs, a.lr, dev))
            print(f"{r} seed {s}: top-1 {100 * runs[-1]['top1']:.2f} ({runs[-1]['minutes']:.1f} min)", file=sys.stderr, flush=True)
    res = dict(config=dict(vars(a), torch=torch.__version__, gpu=torch.cuda.get_device_name() if dev.type == 'cuda' else None,
                           counts=counts.tolist()), runs=runs)
    tmp = Path(a.out + '.partial'); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, a.out)
    print("| recipe | top-1 (balanced test) | many | medium |\n|---|---|---|---|")
    for r in recipes:
        rs = [x for x in runs if x['recipe'] == r]
        f = lambda k: f"{100 * np.mean([x[k] for x in rs]):.2f}" + (f" ± {100 * np.std([x[k] for x in rs]):.2f}" if len(rs) > 1 else '')
        print(f"| {r} | {f('top1')} | {f('many_acc')} | {f('medium_acc')} |")
    return res

if __name__ == '__main__': main()
