"""One shape for every modality: the same constructors and learner calls, driven by one parametrised test; the same
signatures; no private name imported across modules; fastai's `Learner` left as fastai defines it."""
import ast, inspect, subprocess, sys, warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
COUNTS = [12, 6, 4]   # a long tail of three classes

def _image_array(f):
    from PIL import Image
    return np.asarray(Image.open(f)).transpose(2, 0, 1)

def _audio_array(f):
    from lt_fastai.audio import load_audio
    return load_audio(f, 8000, 0.25)[0]

def _clip_array(f):
    from lt_fastai.video import read_clip
    return read_clip(f, np.arange(4) * 2).transpose(0, 3, 1, 2)

def _mel():
    from lt_fastai.audio import MelSpectrogram
    return MelSpectrogram(sr=8000, n_fft=256, hop_length=64, n_mels=32)

# what differs between the modalities: how their example folders are written, what an item is read as in memory, and
# the modality's own arguments (every other argument is the same)
CASES = {
    'vision': dict(write=lambda r: __import__('lt_fastai.datasets', fromlist=['x']).write_images(r, COUNTS),
                   array=_image_array, data={}, arrays={}, arch='small_cnn', arch_kwargs=dict(width=4)),
    'audio': dict(write=lambda r: (__import__('lt_fastai.datasets', fromlist=['x']).write_tones(COUNTS, r), r)[1],
                  array=_audio_array, data=dict(sr=8000, duration=0.25, mel=_mel), arrays=dict(sr=8000, mel=_mel),
                  arch='small_cnn', arch_kwargs=dict(width=4)),
    'signal': dict(write=lambda r: __import__('lt_fastai.datasets', fromlist=['x']).write_signals(r, COUNTS, length=32),
                   array=np.load, data={}, arrays={}, arch='resnet1d_10', arch_kwargs=dict(width=4)),
    'video': dict(write=lambda r: __import__('lt_fastai.datasets', fromlist=['x']).write_clips(r, COUNTS),
                  array=_clip_array, data=dict(n_frames=4, stride=2), arrays={}, arch='small_cnn', arch_kwargs=dict(width=4)),
}

def _kw(d): return {k: (v() if callable(v) else v) for k, v in d.items()}

@pytest.mark.parametrize('how', ['from_folder', 'from_df', 'from_arrays'])
@pytest.mark.parametrize('name', list(CASES))
def test_every_modality_through_the_same_calls(name, how, tmp_path):
    "from_folder / from_df / from_arrays -> learner -> fit_lt -> test_dl -> get_preds -> export / load_learner"
    from fastai.learner import load_learner
    from fastai.torch_core import set_seed
    from lt_fastai.modalities import get_modality
    from lt_fastai.test_utils import quiet
    c, m = CASES[name], get_modality(name)
    DL = m.dls_type
    root = Path(c['write'](tmp_path / 'data'))
    files = DL._get_files(root)
    labels = [f.parent.name for f in files]
    common = dict(valid_pct=0.25, seed=0, bs=4, device='cpu')
    set_seed(0)
    if how == 'from_folder': dls = DL.from_folder(root, **common, **_kw(c['data']))
    elif how == 'from_df':
        df = pd.DataFrame({'fname': [f.relative_to(root).as_posix() for f in files], 'label': labels})
        dls = DL.from_df(df, root, **common, **_kw(c['data']))
    else: dls = DL.from_arrays(np.stack([c['array'](f) for f in files]), labels, **common, **_kw(c['arrays']))
    assert type(dls) is DL and dls.vocab == ['c0', 'c1', 'c2'] or list(dls.vocab) == sorted(set(labels))
    learn = m.learner_fn(dls, c['arch'], recipe='balanced_softmax', arch_kwargs=c['arch_kwargs'], precision='fp32')
    assert (learn.modality, learn.arch, learn.n_out, learn.pretrained) == (name, c['arch'], 3, False)
    assert learn.recipe.name == 'balanced_softmax' and learn.metadata is False and learn.normalize is None
    from fastai.callback.tensorboard import TensorBoardCallback
    tb = TensorBoardCallback(tmp_path / 'tb', trace_model=False, log_preds=True, n_preds=2)   # logs show_results' figure
    with quiet(learn): learn.fit_lt(1, 1e-2, cbs=tb)
    assert np.isfinite(learn.recorder.values[-1][:2]).all() and list((tmp_path / 'tb').glob('events.out.tfevents.*'))
    _fastai_tools(learn, dls)
    items = np.stack([c['array'](f) for f in files[:3]]) if how == 'from_arrays' else files[:3]
    with quiet(learn): p, _ = learn.get_preds(dl=dls.test_dl(items))
    assert p.shape == (3, 3) and torch.allclose(p.sum(1), torch.ones(3), atol=1e-5)
    learn.export(tmp_path / 'learner.pkl')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')              # (a pickle: load only files you trust; this one is ours)
        loaded = load_learner(tmp_path / 'learner.pkl')
    with quiet(loaded): p2, _ = loaded.get_preds(dl=loaded.dls.test_dl(items))
    assert torch.allclose(p, p2, atol=1e-5)

def _fastai_tools(learn, dls):
    "fastai's interpretation, show_batch, show_results and tta on this loader kind"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from fastai.interpret import ClassificationInterpretation
    from lt_fastai.test_utils import quiet
    with quiet(learn), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        interp = ClassificationInterpretation.from_learner(learn)
        assert interp.confusion_matrix().shape == (3, 3)
        interp.plot_top_losses(2)
        dls.show_batch(max_n=2)
        learn.show_results(max_n=2)
        p, t = learn.tta(n=1)
        assert p.shape[1] == 3
        try: from fastai.callback.wandb import wandb_process     # W&B is not a dependency: checked where it is installed
        except ImportError: wandb_process = None
        if wandb_process is not None:
            b = dls.valid.one_batch()
            _, _, dec = learn.get_preds(dl=[b], with_decoded=True)
            x, y, its, outs = dls.valid.show_results(b, dec, max_n=2, show=False)
            assert len(wandb_process(x, y, its, outs, None)['Prediction_Samples'].data) == 2
    plt.close('all')

def _params(f): return {n: p.default for n, p in inspect.signature(f).parameters.items() if p.kind != p.VAR_KEYWORD}

def test_the_constructors_share_their_signatures():
    "Every modality's from_folder / from_df / from_arrays takes the shared arguments, with the same defaults"
    from lt_fastai.data import LTDataLoaders
    from lt_fastai.modalities import MODALITIES
    for meth in ('from_folder', 'from_df', 'from_arrays'):
        shared = _params(getattr(LTDataLoaders, meth))
        for m in MODALITIES.values():
            own = _params(getattr(m.dls_type, meth))
            missing = {k for k in shared if k not in own or own[k] != shared[k]}
            assert not missing, f"{m.dls_type.__name__}.{meth} differs from the shared shape in {sorted(missing)}"
            assert own.get('bs') == 64 and own.get('sampler', None) is None

def test_the_learners_share_their_signatures():
    from lt_fastai.learner import backbone_learner
    from lt_fastai.modalities import MODALITIES
    shared = {k: v for k, v in _params(backbone_learner).items()
              if k not in ('dls', 'arch', 'build', 'ndim', 'what', 'channel_dim', 'modality')}
    for m in MODALITIES.values():
        own = _params(m.learner_fn)
        assert list(own)[:2] == ['dls', 'arch'] and isinstance(own['arch'], str), m.learner
        missing = {k for k in shared if k not in own or own[k] != shared[k]}
        assert not missing, f"{m.learner} differs from the shared shape in {sorted(missing)}"

def test_the_blocks_and_builders_follow_the_pattern():
    from lt_fastai.modalities import MODALITIES
    from lt_fastai.data import lt_datablock
    shared = {k: v for k, v in _params(lt_datablock).items() if k not in ('x_block', 'y_block')}
    for m in MODALITIES.values():
        mod = m.load()
        builder, own = getattr(mod, m.datablock), _params(getattr(mod, m.datablock))
        assert all(k in own and own[k] == v for k, v in shared.items()), m.datablock
        assert callable(getattr(mod, m.block)) and getattr(mod, m.dataloaders)._datablock is builder

def test_no_module_imports_a_private_name_from_another():
    bad = []
    for f in sorted((ROOT / 'lt_fastai').rglob('*.py')):
        if f.name == '_modidx.py': continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or '').startswith('lt_fastai')):
                bad += [f"{f.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names if a.name.startswith('_')]
    assert not bad, f"private names imported across modules: {bad}"

def test_importing_lt_fastai_leaves_fastai_learner_alone():
    "fastai's Learner.to_distributed stays fastai's after every lt_fastai module is imported; LTLearner has its own"
    code = ("import warnings; warnings.filterwarnings('ignore')\n"
            "import fastai.distributed, fastai.learner\n"
            "orig = fastai.learner.Learner.to_distributed\n"
            "import lt_fastai.learner, lt_fastai.distributed, lt_fastai.vision, lt_fastai.audio, lt_fastai.signal, lt_fastai.video\n"
            "import lt_fastai.experiment, lt_fastai.cli\n"
            "from lt_fastai.learner import LTLearner\n"
            "assert fastai.learner.Learner.to_distributed is orig and orig.__module__ == 'fastai.distributed'\n"
            "assert LTLearner.to_distributed is not orig\n"
            "print('ok')")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr[-2000:]
