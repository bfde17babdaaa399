"The CIFAR-10-LT benchmark as a GPU session would start it, on a tiny fake copy of the CIFAR-10 python batches, on the CPU: it reads the batches, draws the long tail after a balanced validation split, trains with the paper's schedule and writes its JSON; missing or corrupt batches are named (benchmarks/cifar10_lt.py)."
import json, pickle, warnings
from pathlib import Path
import numpy as np
import pytest
from conftest import load_benchmark
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')

@pytest.fixture(scope='module')
def bench(): return load_benchmark('cifar10_lt')

def fake_cifar(path, per_class=12, test_per_class=4, seed=0):
    "CIFAR-10's python batch files with random images: `per_class` images of each class in every data batch"
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    def write(name, n):
        y = np.repeat(np.arange(10), n)
        x = rng.integers(0, 256, (len(y), 3072), dtype=np.uint8)
        with open(path / name, 'wb') as f: pickle.dump({b'data': x, b'labels': y.tolist()}, f)
    for i in range(1, 6): write(f'data_batch_{i}', per_class)
    write('test_batch', test_per_class)
    return path

def test_tiny_run(bench, tmp_path):
    data = fake_cifar(tmp_path / 'cifar-10-batches-py')
    out = tmp_path / 'c.json'
    res = bench.main(['--data', str(data), '--recipes', 'ldam_drw,balanced_softmax', '--epochs', '2', '--bs', '16', '--imb-ratio', '10',
                      '--n-max', '40', '--n-valid', '5', '--device', 'cpu', '--out', str(out),
                      '--lr', '0.01'])   # (0.1 on 8 batches of noise sends the validation loss 10^4 times chance: DivergenceGuard stops it)
    saved = json.loads(out.read_text())
    assert [r['recipe'] for r in saved['runs']] == ['ldam_drw', 'balanced_softmax']
    assert saved['config']['counts'][0] == 40 and saved['config']['counts'][-1] == 4
    assert all(0 <= r['top1'] <= 1 for r in res['runs'])

def test_split_and_model(bench):
    y = np.repeat(np.arange(10), 60)
    tr, va = bench.cifar_lt_split(y, imb_ratio=10, n_max=50, n_valid=5)
    assert not set(tr) & set(va) and np.bincount(y[va]).tolist() == [5] * 10
    assert np.bincount(y[tr])[0] == 50 and np.bincount(y[tr])[-1] == 5
    import torch
    m = bench.resnet32()
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in m.parameters()) == pytest.approx(0.46e6, rel=0.02)   # ResNet-32's 0.46 M parameters
    from lt_fastai.learner import lt_schedule
    paper = lt_schedule('step', 0.1, 200, warmup=5, div=5)['lr']     # what the benchmark asks fit_lt for
    assert paper(0.) == pytest.approx(0.02) and paper(0.5) == pytest.approx(0.1) and paper(0.85) == pytest.approx(1e-3)

def test_bad_data(bench, tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'): bench.load_cifar10(tmp_path / 'nowhere')
    data = fake_cifar(tmp_path / 'c')
    (data / 'data_batch_3').unlink()
    with pytest.raises(FileNotFoundError, match='data_batch_3 is missing'): bench.load_cifar10(data)
    (data / 'data_batch_3').write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match='data_batch_3 is not a CIFAR-10 python batch'): bench.load_cifar10(data)
    with pytest.raises(SystemExit): bench.main(['--data', '', '--out', str(tmp_path / 'x.json')])
