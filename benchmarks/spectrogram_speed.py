"""Items per second of log-mel spectrograms: lt_fastai's torch batch transform against librosa per item, on the same
waveforms in one run, and how far apart the outputs are.

    python benchmarks/spectrogram_speed.py [--n 512] [--sr 16000] [--seconds 1] [--bs 64] [--repeats 3] [--threads N]

Configurations (all produce power mel spectrograms in dB relative to each item's maximum, top_db=80):
  - librosa per item: `librosa.feature.melspectrogram` then `librosa.power_to_db(ref=np.max)`, one item at a time,
    as a per-item transform in a data loader computes it;
  - librosa per item, cached filterbank: `librosa.stft`, the mel filterbank built once, `power_to_db` (librosa's
    `melspectrogram` rebuilds the filterbank on every call);
  - torch batch (CPU, and CUDA when available): `lt_fastai.audio.mel_spectrogram` + `power_to_db` on batches of
    `--bs` items, as the `MelSpectrogram` batch transform computes them.
Each configuration runs once to warm up, then `--repeats` times; the median time is reported.
"""
import argparse, statistics, time, warnings
import numpy as np, torch, librosa
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from lt_fastai.audio import mel_spectrogram, power_to_db

def make_waves(n, sr, seconds, seed=0):
    "Tones of random pitch in noise, float32 (n, samples)"
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f = rng.uniform(100, sr / 4, size=(n, 1))
    return (0.5 * np.sin(2 * np.pi * f * t) + 0.1 * rng.normal(size=(n, len(t)))).astype(np.float32)

def librosa_items(waves, kw):
    return np.stack([librosa.power_to_db(librosa.feature.melspectrogram(y=w, **kw), ref=np.max) for w in waves])

def librosa_items_cached(waves, kw):
    fb = librosa.filters.mel(sr=kw['sr'], n_fft=kw['n_fft'], n_mels=kw['n_mels'])
    out = []
    for w in waves:
        S = np.abs(librosa.stft(w, n_fft=kw['n_fft'], hop_length=kw['hop_length'])) ** 2
        out.append(librosa.power_to_db(fb @ S, ref=np.max))
    return np.stack(out)

def torch_batches(waves, kw, bs, device):
    out = []
    for i in range(0, len(waves), bs):
        x = waves[i:i + bs].to(device, non_blocking=True)
        out.append(power_to_db(mel_spectrogram(x, **kw)))
    if device.type == 'cuda': torch.cuda.synchronize()
    return torch.cat(out)

def timed(f, repeats):
    out = f()                                   # warm-up (and the output compared below)
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return statistics.median(times), out

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=512, help='number of items')
    p.add_argument('--sr', type=int, default=16000, help='sample rate')
    p.add_argument('--seconds', type=float, default=1.0, help='duration of each item')
    p.add_argument('--n_fft', type=int, default=512)
    p.add_argument('--hop', type=int, default=160)
    p.add_argument('--n_mels', type=int, default=64)
    p.add_argument('--bs', type=int, default=64, help='batch size of the torch transform')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s own choice)')
    a = p.parse_args()
    if a.threads is not None: torch.set_num_threads(a.threads)
    kw = dict(sr=a.sr, n_fft=a.n_fft, hop_length=a.hop, n_mels=a.n_mels)
    waves = make_waves(a.n, a.sr, a.seconds)
    print(f"{a.n} items of {a.seconds:g} s at {a.sr} Hz; n_fft={a.n_fft}, hop={a.hop}, n_mels={a.n_mels}; "
          f"torch {torch.__version__} ({torch.get_num_threads()} CPU threads), librosa {librosa.__version__}")
    rows, ref = [], None
    t, ref = timed(lambda: librosa_items(waves, kw), a.repeats)
    rows.append(('librosa, per item (melspectrogram + power_to_db)', t, ref))
    t, out = timed(lambda: librosa_items_cached(waves, kw), a.repeats)
    rows.append(('librosa, per item, filterbank built once', t, out))
    xw = torch.from_numpy(waves)
    devices = [torch.device('cpu')] + ([torch.device('cuda')] if torch.cuda.is_available() else [])
    for dev in devices:
        xs = xw.pin_memory() if dev.type == 'cuda' else xw
        t, out = timed(lambda: torch_batches(xs, kw, a.bs, dev), a.repeats)
        name = f"lt_fastai torch batch, bs={a.bs}, {dev.type}" + (f" ({torch.cuda.get_device_name()})" if dev.type == 'cuda' else '')
        rows.append((name, t, out.cpu().numpy()))
    base = rows[0][1]
    print(f"\n{'configuration':<58}{'items/s':>12}{'speed-up':>10}{'max |Δ| dB':>13}")
    for name, t, out in rows:
        print(f"{name:<58}{a.n / t:>12,.0f}{base / t:>9.1f}x{np.abs(out - ref).max():>13.2e}")
    # agreement of the mel power itself, before the logarithm
    P_ref = np.stack([librosa.feature.melspectrogram(y=w, **kw) for w in waves[:64]])
    P = mel_spectrogram(xw[:64], **kw).numpy()
    rel = np.abs(P - P_ref).max((1, 2)) / P_ref.max((1, 2))
    print(f"\nmel power, torch vs librosa on {len(P)} items: max |Δ| = {np.abs(P - P_ref).max():.2e}, "
          f"max |Δ| / item max = {rel.max():.2e}; dB outputs above: max |Δ| over all items and cells")

if __name__ == '__main__': main()
