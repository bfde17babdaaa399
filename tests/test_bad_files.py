"""Bad files are found when the loaders are built, in every modality, each case as a new user met it: one message listing
every bad file with its problem, before the first batch; `check_files` chooses how deep; `bad_files='skip'` leaves
them out on request; an error in a worker reads as the library's own; nothing is accepted silently."""
import warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from lt_fastai.datasets import write_tones, write_images, write_signals, write_clips
from lt_fastai.audio import LTAudioDataLoaders
from lt_fastai.vision import LTImageDataLoaders
from lt_fastai.signal import LTSignalDataLoaders
from lt_fastai.video import LTVideoDataLoaders

KW = dict(valid_pct=0.25, seed=0, bs=4, device='cpu')

def tones(tmp_path, fmt='wav'):
    root = tmp_path / 'audio'
    df = write_tones([8, 4, 4], root, fmts=(fmt,))
    return root, df, sorted(root.rglob(f'*.{fmt}'))

# --- audio -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('case', ['corrupt', 'zero', 'header_only', 'text'])
def test_audio_bad_file_fails_at_build(tmp_path, case):
    root, _, files = tones(tmp_path, 'flac' if case == 'corrupt' else 'wav')
    f = files[-1]
    if case == 'corrupt':           # the header is intact, the compressed body is not
        b = bytearray(f.read_bytes()); k = len(b) // 2
        b[k:k + 200] = bytes(np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8)); f.write_bytes(bytes(b))
    if case == 'zero': f.write_bytes(b'')
    if case == 'header_only': f.write_bytes(f.read_bytes()[:44])
    if case == 'text': f.write_text('this is not audio\n' * 50)
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 16 recordings:\n  .*" + f.name):
        LTAudioDataLoaders.from_folder(root, **KW)

def test_audio_header_check_misses_a_corrupt_body(tmp_path):
    "The depth is the user's: headers only pass a corrupt body, the default full check does not"
    root, _, files = tones(tmp_path, 'flac')
    b = bytearray(files[-1].read_bytes()); k = len(b) // 2
    b[k:k + 200] = bytes(np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8)); files[-1].write_bytes(bytes(b))
    LTAudioDataLoaders._file_kwargs(files, {}, 'header')         # the headers read (the check alone; building reads a first item)
    with pytest.raises(ValueError, match='problem'): LTAudioDataLoaders._file_kwargs(files, {}, 0.99)
    with pytest.raises(ValueError, match="check_files must be True or 'full'"): LTAudioDataLoaders.from_folder(root, check_files='deep', **KW)

def test_audio_missing_file_in_dataframe(tmp_path):
    root, df, _ = tones(tmp_path)
    df = pd.concat([df, pd.DataFrame({df.columns[0]: ['nowhere/gone.wav'], df.columns[1]: [df.iloc[0, 1]]})], ignore_index=True)
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 17 recordings:\n  audio file .*gone.wav does not exist"):
        LTAudioDataLoaders.from_df(df, root, **KW)

# --- images ------------------------------------------------------------------------------------------------------------

def test_truncated_jpeg_with_intact_header(tmp_path):
    root = tmp_path / 'img'; write_images(root, [8, 4, 4])
    for p in list(root.rglob('*.png')): Image.open(p).convert('RGB').save(p.with_suffix('.jpg'), quality=95); p.unlink()
    j = sorted(root.rglob('*.jpg'))[0]; b = j.read_bytes(); j.write_bytes(b[:int(len(b) * 0.9)])
    with Image.open(j) as im: im.size                     # the header reads
    LTImageDataLoaders._file_kwargs(sorted(root.rglob('*.jpg')), {}, 'header')     # headers only: it passes
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 16 image files.*\n  .*000.jpg: cannot read image"):
        LTImageDataLoaders.from_folder(root, **KW)

# --- signals -----------------------------------------------------------------------------------------------------------

def test_signal_from_df_missing_file(tmp_path):
    root = tmp_path / 'sig'; write_signals(root, [8, 4, 4])
    files = sorted(root.rglob('*.npy'))
    df = pd.DataFrame({'f': [str(p.relative_to(root)) for p in files] + ['c0/missing.npy'], 'y': [p.parent.name for p in files] + ['c0']})
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 17 signal files:\n  signal file not found: .*missing.npy"):
        LTSignalDataLoaders.from_df(df, root, fn_col='f', label_col='y', **KW)

@pytest.mark.parametrize('DL, x', [(LTSignalDataLoaders, np.zeros((42, 2, 64), np.float32)),
                                   (LTImageDataLoaders, np.zeros((42, 3, 8, 8), np.float32)),
                                   (LTVideoDataLoaders, np.zeros((42, 2, 3, 8, 8), np.uint8))])
def test_from_arrays_length_mismatch(DL, x):
    with pytest.raises(ValueError, match=f"42 items but 41 labels"): DL.from_arrays(x, np.arange(41) % 3, **KW)
    with pytest.raises(ValueError, match=f"validation .*: 5 items but 4 labels"):
        DL.from_arrays(x, np.arange(42) % 3, x[:5], np.arange(4) % 3, bs=4, device='cpu')

def test_ragged_text_table(tmp_path):
    lines = [f"{i % 2}," + ','.join(str(v) for v in range(10 if i != 3 else 7)) for i in range(8)]
    (tmp_path / 't.csv').write_text('\n'.join(lines) + '\n')
    with pytest.raises(ValueError, match=r"t.csv: the lines have different lengths \(line 4: 7 samples, the longest: 10\)"):
        LTSignalDataLoaders.from_files(tmp_path / 't.csv', **KW)
    dls = LTSignalDataLoaders.from_files(tmp_path / 't.csv', ragged='zeros', **KW)
    assert dls.one_batch()[0].shape[-1] == 10

def test_pickled_object_npy(tmp_path):
    root = tmp_path / 'obj'; write_signals(root, [4, 4])
    o = sorted(root.rglob('*.npy'))[0]
    np.save(o, np.array([np.zeros(64), np.zeros(32)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 8 signal files:\n  cannot read .*Object arrays cannot be loaded"):
        LTSignalDataLoaders.from_folder(root, **KW)

# --- video -------------------------------------------------------------------------------------------------------------

def frame_folders(tmp_path, n_frames=8):
    "Clips as folders of frame images: root/c{k}/{i}/{t:03d}.png"
    arrays = write_clips(tmp_path / 'npy', [4, 4], n_frames=n_frames)
    root = tmp_path / 'frames'
    for f in sorted(Path(arrays).rglob('*.npy')):
        d = root / f.parent.name / f.stem; d.mkdir(parents=True)
        for t, fr in enumerate(np.load(f)): Image.fromarray(fr).save(d / f'{t:03d}.png')
    return root

def test_video_corrupt_frame_image(tmp_path):
    root = frame_folders(tmp_path)
    bad = sorted(root.rglob('005.png'))[0]; b = bad.read_bytes(); bad.write_bytes(b[:len(b) // 2])
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 8 clips:\n  .*005.png: a frame that cannot be decoded"):
        LTVideoDataLoaders.from_folder(root, n_frames=4, **KW)

def test_video_clip_longer_than_its_video_is_stated(tmp_path):
    root = frame_folders(tmp_path, n_frames=6)
    with pytest.warns(UserWarning, match=r"8 of 8 clips have fewer frames than a window of 10 .*their last frame is repeated"):
        LTVideoDataLoaders.from_folder(root, n_frames=10, **KW)
    with pytest.raises(ValueError, match=r"8 clip\(s\) have fewer frames than a window of 10"):
        LTVideoDataLoaders.from_folder(root, n_frames=10, pad='error', **KW)

# --- going on despite bad files, and errors raised in workers -----------------------------------------------------------

def test_skip_bad_files_on_request(tmp_path):
    root, _, files = tones(tmp_path)
    files[-1].write_bytes(b'')
    with pytest.warns(UserWarning, match=r"left out, as bad_files='skip' asks: 1 problem\(s\) in 16 recordings"):
        dls = LTAudioDataLoaders.from_folder(root, bad_files='skip', **KW)
    img = tmp_path / 'img'; write_images(img, [8, 4, 4])
    odd = sorted(img.rglob('*.png'))[5]; Image.new('RGB', (9, 9)).save(odd)       # one image of another size
    with pytest.warns(UserWarning, match="left out"):
        di = LTImageDataLoaders.from_folder(img, bad_files='skip', **KW)
    assert di.bad_files == [str(odd)] and len(di.train_ds) + len(di.valid_ds) == 15
    assert dls.bad_files == [str(files[-1])] and len(dls.train_ds) + len(dls.valid_ds) == 15
    with pytest.raises(ValueError, match="bad_files must be 'raise' or 'skip'"): LTAudioDataLoaders.from_folder(root, bad_files='ignore', **KW)
    for f in files: f.write_bytes(b'')
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="all 16 recordings are bad"):
        LTAudioDataLoaders.from_folder(root, bad_files='skip', **KW)

def test_a_worker_error_reads_as_the_librarys_own(tmp_path):
    "A file that goes bad after the check (or with check_files=False) fails in a worker: the user reads the library's message"
    from lt_fastai.signal import lt_signal_learner
    from lt_fastai.test_utils import quiet
    root = tmp_path / 'sig'; write_signals(root, [8, 4, 4])
    dls = LTSignalDataLoaders.from_folder(root, check_files=False, num_workers=1, **KW)
    learn = lt_signal_learner(dls, 'se_cnn', precision='fp32')
    for f in root.rglob('*.npy'): f.write_bytes(b'')
    with pytest.raises(ValueError) as e:
        with quiet(learn): learn.fit(1)
    assert 'is empty (0 bytes)' in str(e.value) and 'DataLoader worker' not in str(e.value), str(e.value)

def test_config_run_writes_the_skipped_files(tmp_path):
    import yaml
    from lt_fastai.experiment import run_experiment
    root, _, files = tones(tmp_path)
    files[0].write_bytes(b'')
    cfg = dict(data=dict(modality='audio', source=str(root), dataset=None, bs=4, kwargs=dict(bad_files='skip', device='cpu')),
               model=dict(arch='small_cnn'), schedule=dict(epochs=1, precision='fp32'), many=6, few=3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        run_experiment(cfg, tmp_path / 'run')
    assert (tmp_path / 'run' / 'bad_files.txt').read_text().split() == [str(files[0])]

def test_a_large_check_shows_its_progress(tmp_path, monkeypatch):
    import lt_fastai.data.loaders
    from fastprogress.fastprogress import ConsoleProgressBar
    shown = []
    monkeypatch.setattr(ConsoleProgressBar, 'on_update', lambda self, val, text, interrupted=False: shown.append((val, self.comment)))
    monkeypatch.setattr(lt_fastai.data.loaders, '_PROGRESS_FROM', 4)       # as for 1,000 files or more
    root = tmp_path / 'sig'; write_signals(root, [8, 4, 4])
    LTSignalDataLoaders.from_folder(root, **KW)
    assert shown and shown[-1] == (16, 'checking signal files'), shown[-3:]

def test_lazy_signals_are_checked_too(tmp_path):
    "Lazy reading keeps the data on disk, not the check: a NaN in a memory-mapped file, or a bad file of a lazy list, fails at build"
    x = np.random.default_rng(0).normal(size=(24, 2, 32)).astype(np.float32); x[17, 1, 5] = np.nan
    np.save(tmp_path / 'many.npy', x)
    with pytest.raises(ValueError, match=r"many.npy.*17.* contains NaN or infinite values"):
        LTSignalDataLoaders.from_files(tmp_path / 'many.npy', labels=np.arange(24) % 3, lazy=True, **KW)
    LTSignalDataLoaders.from_files(tmp_path / 'many.npy', labels=np.arange(24) % 3, lazy=True, check_files=False, **KW)
    root = tmp_path / 'sig'; write_signals(root, [8, 4, 4])
    files = sorted(root.rglob('*.npy')); files[3].write_bytes(b'')
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 16 signal files"):
        LTSignalDataLoaders.from_files(files, labels=[f.parent.name for f in files], lazy=True, **KW)

def test_skip_that_empties_a_class_says_so(tmp_path):
    "bad_files='skip' that leaves out every file of a class names the class that is gone, and an empty class folder is named too"
    img = tmp_path / 'img'; write_images(img, [8, 4, 4])
    for f in sorted((img / 'c2').glob('*.png')): f.write_bytes(b'')
    (img / 'c3').mkdir()
    with pytest.warns(UserWarning) as rec:
        dls = LTImageDataLoaders.from_folder(img, bad_files='skip', **KW)
    said = [str(w.message) for w in rec]
    assert list(dls.vocab) == ['c0', 'c1'] and len(dls.bad_files) == 4
    assert any("class(es) ['c2']: all their training images are bad and were left out" in s for s in said), said
    assert any("sub-folder(s) ['c3'] hold no images, so no class is made of them" in s for s in said), said
    with pytest.warns(UserWarning, match=r"class\(es\) \['c2'\].*they stay in `vocab` without a training item"):
        LTImageDataLoaders.from_folder(img, bad_files='skip', vocab=['c0', 'c1', 'c2'], **KW)
