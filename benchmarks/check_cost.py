"""What the file check costs before training: 1,000 small recordings and 1,000 small images, checked by headers only and
in full (lt_fastai's default), side by side with one training epoch over the same files, in one run.

    python benchmarks/check_cost.py [--n 1000] [--threads 1] [--out check_cost.json]

Files are written to a temporary folder (tones of 0.25 s at 8 kHz, 32×32 PNG images): the figures are of small files on
a local disk, where a check is bound by opening and decoding, not by reading bytes."""
import argparse, json, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')

def _time(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1000); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=None)
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    from lt_fastai.datasets import write_tones, write_images
    from lt_fastai.audio import LTAudioDataLoaders, lt_audio_learner
    from lt_fastai.vision import LTImageDataLoaders, lt_vision_learner
    from lt_fastai.test_utils import quiet
    tmp = Path(tempfile.mkdtemp())
    per = [a.n // 2, a.n // 4, a.n - a.n // 2 - a.n // 4]
    write_tones(per, tmp / 'audio', fmts=('wav',))
    write_images(tmp / 'images', per, hw=(32, 32))
    rows = {}
    for name, DL, learner, kw in [('audio (wav)', LTAudioDataLoaders, lt_audio_learner, {}),
                                  ('images (png)', LTImageDataLoaders, lt_vision_learner, dict(arch_kwargs=dict(width=16)))]:
        root = tmp / ('audio' if 'audio' in name else 'images')
        files = DL._get_files(root)
        header = _time(lambda: DL._file_kwargs(files, {}, 'header'))
        full = _time(lambda: DL._file_kwargs(files, {}, True))
        dls = DL.from_folder(root, valid_pct=0.2, seed=0, bs=64, device='cpu', check_files=False, num_workers=0)
        learn = lt_audio_learner(dls, 'small_cnn', precision='fp32') if learner is lt_audio_learner else learner(dls, 'small_cnn', precision='fp32', **kw)
        with quiet(learn): epoch = _time(lambda: learn.fit(1, 1e-3))
        rows[name] = dict(files=len(files), header_s=round(header, 3), full_s=round(full, 3), epoch_s=round(epoch, 3),
                          full_over_epoch=round(full / epoch, 3))
    print(f"{'':14s} {'files':>6s} {'header (s)':>11s} {'full, default (s)':>18s} {'one epoch (s)':>14s} {'full / epoch':>13s}")
    for k, r in rows.items():
        print(f"{k:14s} {r['files']:6d} {r['header_s']:11.2f} {r['full_s']:18.2f} {r['epoch_s']:14.2f} {r['full_over_epoch']:13.2f}")
    if a.out: Path(a.out).write_text(json.dumps(dict(rows=rows, threads=a.threads, torch=torch.__version__), indent=1))
    return rows

if __name__ == '__main__': main()
