"""LIFT's own training setting against lt_fastai's `lift` and `lpft_la`, on the tasks and splits of `transfer.py`.

    python benchmarks/lift_setting.py cifar10 lift_paper,lift,lpft_la

`lift_paper` is `lift` as Shi et al. (ICML 2024) train it: a cosine classifier (logits × 25) set from the class means of
the features, SGD at 0.01 with momentum 0.9 and weight decay 5e-4. Every variant is also scored with test-time
ensembling of crops (`tte`: the mean probability over the image and the four corner crops of the image padded by 4
pixels, reflected). LIFT's default adapter, AdaptFormer, is a bottleneck beside a transformer's MLP block and has no
counterpart in the convolutional backbone used here; LIFT+'s growing crop scale is not measured. Seeds 0, 1, 2,
`fit_lt(11)`, two torch threads; results in `benchmarks/results/lift_setting.json`."""
import sys, time, json, warnings
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np, torch, torch.nn.functional as F
import transfer as T
from fastai.torch_core import set_seed
from fastai.optimizer import SGD
from functools import partial
from lt_fastai.test_utils import quiet
from lt_fastai.heads import NormedLinear, TemperatureScaledHead, replace_classifier
warnings.filterwarnings('ignore')
torch.set_num_threads(2)

def crops(x, pad=4):
    "the image and the four corner crops, at its size, of the image padded by `pad` (reflect); its centre crop is the image"
    n, c, h, w = x.shape
    xp = F.pad(x, (pad,) * 4, mode='reflect')
    offs = [(pad, pad), (0, 0), (0, 2 * pad), (2 * pad, 0), (2 * pad, 2 * pad)]
    return [x] + [xp[:, :, i:i + h, j:j + w] for i, j in offs[1:]]

def run(task, variant, seed, epochs=10, lr=4e-3):
    from lt_fastai.vision import lt_vision_learner
    dls = T._dls(task)
    kw = dict(pretrained=T.weights_file(), match='order', many=task.many, few=task.few)
    if variant == 'lift_paper':
        learn = lt_vision_learner(dls, T.ARCH, recipe='lift', recipe_kwargs=dict(init='class_means'),
                                  opt_func=partial(SGD, mom=0.9, wd=5e-4), **kw)
        replace_classifier(learn.model, lambda old: TemperatureScaledHead(NormedLinear(old.in_features, old.out_features), T=1 / 25))
        lr = 0.01
    else: learn = lt_vision_learner(dls, T.ARCH, recipe=variant, **kw)
    with quiet(learn): learn.fit_lt(epochs + 1, lr)
    x, y = T._test_x(task)
    out = {}
    ps = []
    for i, xc in enumerate(crops(x)):
        with quiet(learn): p, t = learn.get_preds(dl=dls.test_dl((xc, y)))
        ps.append(p)
        if i == 0: out['plain'] = T._scores(task, p, t)['balanced_accuracy']
    out['tte'] = T._scores(task, torch.stack(ps).mean(0), t)['balanced_accuracy']
    return out

if __name__ == '__main__':
    tasks, variants = sys.argv[1].split(','), sys.argv[2].split(',')
    res = []
    for tn in tasks:
        task = T.TASKS[tn](64)
        for seed in (0, 1, 2):
            for v in variants:
                set_seed(seed); t0 = time.perf_counter()
                o = run(task, v, seed)
                res.append(dict(task=tn, variant=v, seed=seed, seconds=time.perf_counter() - t0, **o))
                print(res[-1], flush=True)
                json.dump(res, open(Path(__file__).parent / 'results' / 'lift_setting.json', 'w'), indent=1)
    for tn in tasks:
        for v in variants:
            r = [x for x in res if x['task'] == tn and x['variant'] == v]
            print(f"{tn} {v}: plain {100*np.mean([x['plain'] for x in r]):.1f} ± {100*np.std([x['plain'] for x in r]):.1f}  "
                  f"tte {100*np.mean([x['tte'] for x in r]):.1f} ± {100*np.std([x['tte'] for x in r]):.1f}")
