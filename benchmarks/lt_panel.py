"""The long-tail panel: every single-label recipe, 3 seeds, on fixed long-tailed tasks of several modalities.

    python benchmarks/lt_panel.py [--tasks digits,fsdd,vowels,plaid,keyboard] [--recipes ce,glmc,...] [--seeds 0,1,2]
                                  [--out panel.json] [--threads 1] [--epochs N]
    python benchmarks/lt_panel.py --merge a.json b.json ... --out panel.json   # one table from several runs of the panel

Tasks (each with a fixed model, budget and data split; only the training seed changes between runs):

- digits: the demo's long-tailed scikit-learn digits (imbalance ratio 100, 100 → 1 training images), `small_cnn`,
  30 epochs at lr 1e-2, second stages 10 epochs (the `lt-fastai demo` setting).
- fsdd: the Free Spoken Digit Dataset (https://github.com/Jakobovski/free-spoken-digit-dataset), recordings folder
  given by $LT_FASTAI_FSDD; the split of the FSDD tutorial (imbalance ratio 50, 150 → 3; recordings 0-4 of every
  speaker are the test split). Log-mel spectrograms (40 bands, 8 kHz, 0.75 s) computed once and read as a
  40-channel signal by `resnet1d_10` (width 32), 30 epochs at lr 3e-3.
- vowels: Japanese Vowels (UCI; bundled with sktime), 12 LPC channels, 9 speakers; 10 test and 5 validation series
  per speaker, training set long-tailed at ratio 20 (40 → 2), `resnet1d_10` (width 32), 30 epochs at lr 3e-3.
- plaid: the signal tutorial's task: PLAID appliance currents (bundled with sktime), imbalance ratio 50 (100 → 2),
  `resnet1d_10` (width 32), 30 epochs at lr 3e-3, second stages 5 epochs.
- keyboard: the video tutorial's task: generated keyboard videos (written once under $LT_FASTAI_DATA/keyboard, or
  the temporary folder), 12 keys whose presses grow rarer from key 0 to key 11, one multi-hot row per frame; a
  `test_resnet` frame encoder with a temporal transformer, 15 epochs at lr 3e-3. Multi-label, so it runs the
  multi-label recipes and reports the macro F1 over test frames with per-key thresholds chosen on validation
  frames, mAP, few-shot mAP and the event F1 (onsets within 50 ms) instead of accuracies.

Every model is evaluated once, at its last epoch, on its task's balanced test split. τ (post-hoc adjustment,
τ-normalisation) is chosen on the validation split by the recipes themselves. Reported per recipe: balanced
accuracy (mean ± std over seeds), few-shot accuracy (mean recall of the few-shot classes), accuracy under the
training prior (Σ_c π_c·recall_c: the accuracy the model would have on test data as long-tailed as its training
data; on the balanced test split plain accuracy equals balanced accuracy) and the cost of a main-fit epoch relative
to cross-entropy's (median epoch time, divided by that of the `ce` runs of the same invocation, which ran side by
side with it in one process; a merged table keeps each run's own ratio).

A recipe given as `recipe@schedule` (e.g. `balanced_softmax@cosine`) runs on that schedule of `fit_lt` instead of its
own ('one_cycle' unless the recipe names one; 'cosine' warms up for one epoch, 'step' is Cao et al.'s). `auto` trains
its candidates for the task's epochs and averages their calibrated probabilities (`lt_fastai.auto`); its cost column
is its whole time (every candidate's fit) over the task's epochs, so it reads as "this many cross-entropy fits".

`--epochs N` runs every task's main fit for N epochs instead of its own budget (second stages keep theirs, capped
at N): the same panel at another budget. The mixing recipes converge more slowly than the loss-only ones, so the
results keep the panel at its own budgets and at 60 epochs side by side.

The JSON file holds every run and the summary; the last lines compare the best new recipe with the best
existing one on each task.
"""
import argparse, json, os, sys, time, warnings
from types import SimpleNamespace
from pathlib import Path
import numpy as np
import torch
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
warnings.filterwarnings('ignore', category=UserWarning)
from fastai.callback.core import Callback
from fastai.torch_core import set_seed
import fastai.callback.progress  # noqa: F401
from lt_fastai.core import class_counts, long_tail_subset, shot_groups
from lt_fastai.metrics import lt_metrics, multilabel_lt_metrics, event_f1, confusion_counts, recall_per_class
from lt_fastai.posthoc import tune_thresholds
from lt_fastai.recipes import list_recipes, get_recipe
from lt_fastai.learner import lt_learner, lt_schedule
from lt_fastai.test_utils import quiet

NEW = ('weight_balancing', 'sam', 'imbsam', 'glmc', 'la_glmc', 'la_mixup_crt', 'la_sam', 'la_imbsam', 'bs_swa', 'ldam_drw_la', 'auto')

def split_name(name):
    "'recipe@schedule' → ('recipe', 'schedule'); a plain name → (name, None): the recipe on its own schedule"
    r, _, s = name.partition('@')
    return r, s or None

def is_new(name):
    "New: the recipes added since the panel began, and any recipe on a schedule other than its own"
    r, s = split_name(name)
    return r in NEW or s is not None

class EpochTimer(Callback):
    "Seconds of each epoch of the first fit (the main fit; the recipes' stages are later fits)"
    order = 100
    def __init__(self): self.times, self.fits = [], 0
    def before_fit(self): self.fits += 1
    def before_epoch(self):
        if self.fits == 1: self.t0 = time.perf_counter()
    def after_epoch(self):
        if self.fits == 1: self.times.append(time.perf_counter() - self.t0)

class Task:
    "A long-tailed task: fixed data split, model and budget; `loaders()`, `model(dls, recipe)` and `test(dls)`"
    multilabel = False
    def __init__(self, name, title, epochs, lr, stage_epochs, many, few):
        self.name, self.title, self.epochs, self.lr, self.stage_epochs, self.many, self.few = name, title, epochs, lr, stage_epochs, many, few

# ---------------------------------------------------------------- tasks
def digits_task():
    from lt_fastai.datasets import digits_long_tail
    from lt_fastai.test_utils import small_cnn
    from lt_fastai.vision import LTImageDataLoaders
    t = Task('digits', 'long-tailed digits (scikit-learn), ratio 100, small_cnn', 30, 1e-2, 10, 40, 10)
    d = digits_long_tail(imb_ratio=100, seed=0)
    t.counts = d['counts']
    t.loaders = lambda: LTImageDataLoaders.from_arrays(*d['train'], *d['valid'], bs=32, device='cpu')
    t.model = lambda dls, recipe: lt_learner(dls, small_cnn(), recipe=recipe, many=t.many, few=t.few, precision='fp32')
    t.test = lambda dls: dls.test_dl(d['test'])
    return t

def _signal_task(t, xs, ys, idx_train, idx_valid, idx_test, length, augment=None):
    from lt_fastai.signal import LTSignalDataLoaders, lt_signal_learner
    take = lambda idx: [xs[i] for i in idx]
    t.counts = class_counts(ys[idx_train], n_classes=int(ys.max()) + 1)
    t.loaders = lambda: LTSignalDataLoaders.from_arrays(take(idx_train), ys[idx_train], take(idx_valid), ys[idx_valid],
                                                        length=length, augment=augment, bs=32, device='cpu')
    x_test = LTSignalDataLoaders.from_arrays(take(idx_test), ys[idx_test], take(idx_test), ys[idx_test], length=length,
                                             normalize=False, bs=32, device='cpu').train_ds.tensors[0]
    t.model = lambda dls, recipe: lt_signal_learner(dls, 'resnet1d_10', recipe=recipe, arch_kwargs=dict(width=32),
                                                    many=t.many, few=t.few)
    t.test = lambda dls: dls.test_dl((x_test, ys[idx_test]))
    return t

def _held_out(labels, n_test, n_valid, seed=0):
    rng = np.random.default_rng(seed)
    held = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    return (np.concatenate([h[:n_test] for h in held.values()]), np.concatenate([h[n_test:n_test + n_valid] for h in held.values()]),
            np.concatenate([h[n_test + n_valid:] for h in held.values()]))

def plaid_task():
    from sktime.datasets import load_plaid
    from lt_fastai.signal import signal_augment
    t = Task('plaid', 'PLAID appliance currents (sktime), ratio 50, resnet1d_10', 30, 3e-3, 5, 40, 10)
    parts = [load_plaid(split=s, return_X_y=True) for s in ('train', 'test')]
    xs = [np.asarray(s, dtype=np.float32) for X, _ in parts for s in X.iloc[:, 0]]
    ys = np.concatenate([np.asarray(y).astype(int) for _, y in parts])
    test, valid, rest = _held_out(ys, 10, 5)
    order = np.argsort(-class_counts(ys[rest]), kind='stable')
    train = rest[long_tail_subset(ys[rest], imb_ratio=50, n_max=100, order=order, seed=0)]
    return _signal_task(t, xs, ys, train, valid, test, 512, signal_augment(shift=0.1, scale=(0.7, 1.4), snr_db=None, p=0.5))

def vowels_task():
    from sktime.datasets import load_japanese_vowels
    t = Task('vowels', 'Japanese Vowels (sktime), ratio 20, resnet1d_10', 30, 3e-3, 5, 20, 5)
    X, y = load_japanese_vowels(return_X_y=True)
    xs = [np.stack([np.asarray(X.iloc[i, c], dtype=np.float32) for c in range(X.shape[1])]) for i in range(len(X))]
    ys = np.asarray(y).astype(int) - 1
    test, valid, rest = _held_out(ys, 10, 5)
    train = rest[long_tail_subset(ys[rest], imb_ratio=20, n_max=40, seed=0)]
    return _signal_task(t, xs, ys, train, valid, test, 32)

def fsdd_spectrograms(what='the fsdd task'):
    "The FSDD recordings of $LT_FASTAI_FSDD: a table of digit, speaker and index, and log-mel spectrograms (N, 40, 61)"
    import pandas as pd
    from lt_fastai.audio import load_audio, MelSpectrogram, TensorAudio
    root = os.environ.get('LT_FASTAI_FSDD')
    if not root: raise SystemExit(f"{what} needs LT_FASTAI_FSDD: the folder of the FSDD recordings (*.wav)")
    root = Path(root)
    files = sorted(root.glob('*.wav')) or sorted((root / 'recordings').glob('*.wav'))
    if not files: raise SystemExit(f"no .wav files in LT_FASTAI_FSDD={root} (nor in its recordings/ folder)")
    df = pd.DataFrame(dict(fname=[str(f) for f in files]))
    df[['digit', 'speaker', 'index']] = [f.stem.split('_') for f in files]
    df['index'], df['digit'] = df['index'].astype(int), df['digit'].astype(int)
    wav = torch.from_numpy(np.stack([load_audio(f, sr=8000, duration=0.75) for f in df.fname]))
    spec = MelSpectrogram(sr=8000, n_fft=256, hop_length=100, n_mels=40)(TensorAudio(wav))[:, 0]
    return df, spec.as_subclass(torch.Tensor).numpy().astype(np.float32)

def fsdd_split(ys, index, n_valid, imb_ratio, n_max, shuffle_classes=False):
    "Recordings 0-4 of every speaker for test, `n_valid` others per class for validation, the rest long-tailed for training (largest class first, or in a random order)"
    test, pool = np.flatnonzero(index < 5), np.flatnonzero(index >= 5)
    rng, n = np.random.default_rng(0), int(ys.max()) + 1
    valid = np.concatenate([rng.choice(pool[ys[pool] == c], n_valid, replace=False) for c in range(n)])
    rest = np.setdiff1d(pool, valid)
    order = rng.permutation(n) if shuffle_classes else None
    return rest[long_tail_subset(ys[rest], imb_ratio=imb_ratio, n_max=n_max, order=order, seed=0)], valid, test

def fsdd_task():
    t = Task('fsdd', 'FSDD spoken digits, ratio 50, log-mel + resnet1d_10', 30, 3e-3, 5, 50, 15)
    df, spec = fsdd_spectrograms()
    ys = df.digit.to_numpy()
    train, valid, test = fsdd_split(ys, df['index'].to_numpy(), 10, 50, 150)
    return _signal_task(t, list(spec), ys, train, valid, test, 61)

def keyboard_task():
    import tempfile
    from lt_fastai.core import dataset_labels
    from lt_fastai.video import LTVideoDataLoaders, lt_video_learner
    from lt_fastai.datasets import write_keyboard
    root = Path(os.environ.get('LT_FASTAI_DATA', tempfile.gettempdir())) / 'keyboard'
    if not (root / 'test').exists():   # the video tutorial's clips: 12 keys, pressed ever more rarely from key 0 to key 11
        write_keyboard(root / 'train', n_clips=96, n_frames=100, n_keys=12, fps=25, rate=2.5, alpha=2.0, lit=28., seed=0)
        write_keyboard(root / 'test', n_clips=24, n_frames=100, n_keys=12, fps=25, rate=0.6, alpha=0., lit=28., seed=1000)
    t = Task('keyboard', 'keyboard videos (generated), frame-level keys, test_resnet + transformer', 15, 3e-3, 0, 1000, 200)
    t.multilabel = True
    t.loaders = lambda: LTVideoDataLoaders.from_folder(root / 'train', frame_level=True, n_frames=32, stride=1, bs=8, seed=0,
                                                       valid_pct=0.25)
    t.counts = class_counts(dataset_labels(t.loaders().train_ds))
    test_files = sorted((root / 'test').glob('*.mkv'))
    t.model = lambda dls, recipe: lt_video_learner(dls, 'test_resnet', recipe=recipe, temporal='transformer', many=t.many, few=t.few)
    t.test = lambda dls: dls.test_dl(test_files, with_labels=True)
    return t

TASKS = dict(digits=digits_task, fsdd=fsdd_task, vowels=vowels_task, plaid=plaid_task, keyboard=keyboard_task)

# ---------------------------------------------------------------- runs
def run_one(task, recipe, seed):
    set_seed(seed)
    dls = task.loaders()
    timer = EpochTimer()
    base, schedule = split_name(recipe)
    learn = task.model(dls, base)
    learn.add_cb(timer)
    t0 = time.perf_counter()
    with quiet(learn):
        learn.fit_lt(task.epochs, task.lr, stage_epochs=task.stage_epochs, **({'schedule': schedule} if schedule else {}))
        if task.multilabel: thr = torch.as_tensor(tune_thresholds(learn)[0], dtype=torch.float32)   # on validation frames
        preds, targs = learn.get_preds(dl=task.test(dls))
    secs = time.perf_counter() - t0
    if getattr(getattr(learn, 'lt', None), 'auto', None): timer.times = [secs / task.epochs]   # auto: all its fits, per epoch of the final one
    if task.multilabel:
        k = preds.shape[-1]
        m = multilabel_lt_metrics(preds.reshape(-1, k), targs.reshape(-1, k), counts=task.counts, thresh=thr, many=task.many, few=task.few)
        return dict(recipe=recipe, seed=seed, macro_f1=float(m['macro_f1']), mAP=float(m['mAP']), mAP_few=float(m['mAP_few']),
                    event_f1=float(event_f1(preds, targs, fps=dls.fps, onset_tol=0.05, thresh=thr)['event_f1']),
                    epoch_s=float(np.median(timer.times)), seconds=secs, stages=[])
    m = lt_metrics(preds, targs, counts=task.counts, many=task.many, few=task.few, ks=())
    rec = recall_per_class(confusion_counts(preds.argmax(1), targs, n_classes=len(task.counts)))
    prior = task.counts / task.counts.sum()
    return dict(recipe=recipe, seed=seed, balanced_accuracy=float(m['balanced_accuracy']), accuracy=float(m['accuracy']),
                prior_accuracy=float((prior * rec).sum()), few_acc=float(m['few_acc']), many_acc=float(m['many_acc']),
                epoch_s=float(np.median(timer.times)), seconds=secs,
                stages=[{k: v for k, v in s.items() if isinstance(v, (int, float, str))} for s in learn.lt.stages],
                **({'auto': {k: v for k, v in learn.lt.auto.items()}} if getattr(getattr(learn, 'lt', None), 'auto', None) else {}))

def summarise(runs, recipes):
    out = {}
    for r in recipes:
        rs = [x for x in runs if x['recipe'] == r]
        if not rs: continue
        s = {k: (float(np.mean([x[k] for x in rs])), float(np.std([x[k] for x in rs])))
             for k in ('balanced_accuracy', 'few_acc', 'prior_accuracy', 'macro_f1', 'mAP', 'mAP_few', 'event_f1', 'epoch_s', 'seconds')
             if k in rs[0]}
        out[r] = dict(s, new=is_new(r), n=len(rs))
        costs = [x['epoch_cost'] for x in rs if 'epoch_cost' in x]   # a merged panel may time a recipe beside `ce` for some seeds only
        if costs: out[r]['epoch_cost'] = float(np.mean(costs))
    return out

def _set_costs(runs):
    "Each run's main-fit epoch time over the median of the `ce` runs beside it (same invocation)"
    ce = [x['epoch_s'] for x in runs if x['recipe'] in ('ce', 'bce')]
    if ce:
        for x in runs: x['epoch_cost'] = x['epoch_s'] / float(np.median(ce))
    return runs

def merge(files, out):
    "One panel result from several; a run of a (task, recipe, seed) in a later file replaces the earlier one, recipes no longer registered are left out"
    res, known = None, set(list_recipes())
    for f in files:
        r = json.loads(Path(f).read_text())
        if res is None: res = dict(config=dict(r['config'], merged=[str(f) for f in files]), tasks={})
        for n, t in r['tasks'].items():
            if n not in res['tasks']: res['tasks'][n] = dict({k: v for k, v in t.items() if k not in ('summary', 'verdict', 'runs')}, runs={})
            for x in _set_costs(t['runs']):
                if split_name(x['recipe'])[0] in known: res['tasks'][n]['runs'][(x['recipe'], x['seed'])] = x
    for n, t in res['tasks'].items():
        t['runs'] = list(t['runs'].values())
        recipes = list(dict.fromkeys(x['recipe'] for x in t['runs']))
        t['summary'] = summarise(t['runs'], recipes)
        cs, seeds = common_seed_summary(t['runs'])
        t['verdict'] = verdict(cs)
        if t['verdict']: t['verdict']['seeds'] = seeds
        print_table(SimpleNamespace(title=t['title'], counts=np.asarray(t['counts']), many=t['many'], few=t['few']), t['summary'])
        _print_verdict(t['verdict'])
    _write(out, res)
    return res

def _print_verdict(v):
    if v: print(f"\nseeds {v.get('seeds', 'all')}: best new {v['best_new']} vs best existing {v['best_existing']}: {v['gain_pts']:+.1f} pts balanced accuracy, "
                f"{v['prior_acc_change_pts']:+.1f} pts accuracy under the training prior")

COLUMNS = dict(balanced_accuracy='balanced acc', few_acc='few-shot acc', prior_accuracy='acc (train prior)',
               macro_f1='macro F1 (tuned thresholds)', mAP='mAP', mAP_few='few-shot mAP', event_f1='event F1')

def print_table(task, summ):
    print(f"\n## {task.title}\ntraining counts {np.asarray(task.counts).tolist()}; many > {task.many}, few < {task.few}\n")
    if not summ: return
    keys = [k for k in COLUMNS if k in next(iter(summ.values()))]
    print('| recipe | ' + ' | '.join(COLUMNS[k] for k in keys) + ' | epoch × ' + ('ce' if 'balanced_accuracy' in keys else 'bce')
          + ' | new |\n' + '|---' * (len(keys) + 3) + '|')
    for r, s in sorted(summ.items(), key=lambda kv: -kv[1][keys[0]][0]):
        cells = ' | '.join(f"{100*s[k][0]:.1f} ± {100*s[k][1]:.1f}" for k in keys)
        print(f"| {r} | {cells} | {s.get('epoch_cost', float('nan')):.2f} | {'yes' if s['new'] else ''} |")

def common_seed_summary(runs):
    "`summarise` of the seeds every recipe ran (a merged panel may have more seeds for some recipes than for others)"
    recipes = list(dict.fromkeys(x['recipe'] for x in runs))
    common = set.intersection(*[{x['seed'] for x in runs if x['recipe'] == r} for r in recipes]) if recipes else set()
    return summarise([x for x in runs if x['seed'] in common], recipes), sorted(common)

def verdict(summ):
    "Best new against best existing recipe by mean balanced accuracy (pass a summary of common seeds)"
    new = {r: s for r, s in summ.items() if s['new']}
    old = {r: s for r, s in summ.items() if not s['new']}
    if not new or not old or 'balanced_accuracy' not in next(iter(summ.values())): return None
    bn = max(new, key=lambda r: new[r]['balanced_accuracy'][0]); bo = max(old, key=lambda r: old[r]['balanced_accuracy'][0])
    gain = 100 * (new[bn]['balanced_accuracy'][0] - old[bo]['balanced_accuracy'][0])
    acc = 100 * (new[bn]['prior_accuracy'][0] - old[bo]['prior_accuracy'][0])
    return dict(best_new=bn, best_existing=bo, gain_pts=gain, prior_acc_change_pts=acc, met=bool(gain >= 2 and acc >= -2))

def _write(path, obj):
    tmp = Path(str(path) + '.partial')
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tasks', default='digits,fsdd,vowels,plaid,keyboard')
    p.add_argument('--recipes', default=None, help="comma-separated; 'recipe@schedule' runs a recipe on another of fit_lt's schedules (default: every single-label recipe)")
    p.add_argument('--seeds', default='0,1,2')
    p.add_argument('--out', default='lt_panel.json')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None, help='every task\'s main-fit epochs instead of its own budget (the panel at another budget)')
    p.add_argument('--merge', nargs='+', default=None, help='panel JSON files to merge into --out (nothing is trained)')
    a = p.parse_args(argv)
    if a.merge:
        missing = [f for f in a.merge if not Path(f).is_file()]
        if missing: p.error(f"no such panel file(s): {missing}")
        return merge(a.merge, a.out)
    if a.threads: torch.set_num_threads(a.threads)
    names = a.tasks.split(',')
    bad = [n for n in names if n not in TASKS]
    if bad: p.error(f"unknown task(s) {bad}; tasks: {list(TASKS)}")
    chosen = a.recipes.split(',') if a.recipes else None
    for r in chosen or ():
        base, schedule = split_name(r)
        get_recipe(base)
        if schedule: lt_schedule(schedule, 1., 10)   # an unknown schedule is refused before anything trains
    seeds = [int(s) for s in a.seeds.split(',')]
    res = dict(config=dict(tasks=names, recipes=chosen or 'all', seeds=seeds, epochs=a.epochs, threads=torch.get_num_threads(),
                           torch=torch.__version__), tasks={})
    for n in names:
        task = TASKS[n]()
        recipes = [r for r in chosen if get_recipe(split_name(r)[0]).multilabel == task.multilabel] if chosen else list_recipes(multilabel=task.multilabel)
        if not recipes: print(f"{n}: none of the chosen recipes is {'multi' if task.multilabel else 'single'}-label; skipped", file=sys.stderr); continue
        if a.epochs: task.epochs, task.stage_epochs = a.epochs, min(task.stage_epochs, a.epochs)
        runs, t0 = [], time.perf_counter()
        for r in recipes:
            for s in seeds:
                runs.append(run_one(task, r, s))
                k = 'macro_f1' if task.multilabel else 'balanced_accuracy'
                print(f"{n} {r} seed {s}: {COLUMNS[k]} {runs[-1][k]:.3f} ({runs[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
        summ = summarise(_set_costs(runs), recipes)
        res['tasks'][n] = dict(title=task.title, counts=np.asarray(task.counts).tolist(), multilabel=task.multilabel, many=task.many, few=task.few,
                               epochs=task.epochs, lr=task.lr, stage_epochs=task.stage_epochs, runs=runs, summary=summ,
                               verdict=verdict(summ), minutes=(time.perf_counter() - t0) / 60)
        _write(a.out, res)
        print_table(task, summ)
        _print_verdict(res['tasks'][n]['verdict'])
    return res

if __name__ == '__main__': main()
