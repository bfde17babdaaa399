"Bad signal files -- corrupt, truncated, empty, NaN, wrong rank, unknown keys -- give clear errors naming the file, key or item."
import sys, warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from unittest import mock
import numpy as np
import pytest
import scipy.io
from lt_fastai.signal import read_signals, check_signal, stack_signals, IndexedSignals, LTSignalDataLoaders

X = np.random.default_rng(0).normal(size=(6, 2, 16)).astype(np.float32)
Y = np.array([0, 0, 0, 1, 1, 2])

def test_corrupt_and_truncated_files(tmp_path):
    (tmp_path / 'junk.npy').write_bytes(b'\x93NUMPY garbage')
    with pytest.raises(ValueError, match=r"cannot read .*junk\.npy"): read_signals(tmp_path / 'junk.npy')
    np.save(tmp_path / 'ok.npy', X)
    b = (tmp_path / 'ok.npy').read_bytes(); (tmp_path / 'cut.npy').write_bytes(b[:len(b) // 2])
    with pytest.raises(ValueError, match=r"cut\.npy"): read_signals(tmp_path / 'cut.npy')
    (tmp_path / 'junk.h5').write_bytes(b'not hdf5 at all' * 10)
    with pytest.raises(ValueError, match=r"cannot read an HDF5 file .*junk\.h5"): read_signals(tmp_path / 'junk.h5')
    (tmp_path / 'junk.mat').write_bytes(b'MATLAB 5.0 MAT-file' + b'\x00' * 10)
    with pytest.raises(ValueError, match=r"junk\.mat"): read_signals(tmp_path / 'junk.mat')
    (tmp_path / 'empty.npz').write_bytes(b'')
    with pytest.raises(ValueError, match=r"empty\.npz is empty \(0 bytes\)"): read_signals(tmp_path / 'empty.npz')

def test_unknown_keys_and_formats(tmp_path):
    np.savez(tmp_path / 'a.npz', x=X, y=Y)
    with pytest.raises(KeyError, match=r"a\.npz has no array 'z'; it has \['x', 'y'\]"): read_signals(tmp_path / 'a.npz', key='z')
    with pytest.raises(KeyError, match="holds 2 arrays"): read_signals(tmp_path / 'a.npz')
    scipy.io.savemat(tmp_path / 'm.mat', dict(sig=X))
    with pytest.raises(KeyError, match=r"m\.mat has no variable 'x'; it has \['sig'\]"): read_signals(tmp_path / 'm.mat', key='x')
    (tmp_path / 's.wav').write_bytes(b'RIFF')
    with pytest.raises(ValueError, match="unknown signal format '.wav'"): read_signals(tmp_path / 's.wav')
    with pytest.raises(IsADirectoryError): read_signals(tmp_path)

def test_bad_values_name_the_item(tmp_path):
    bad = X.copy(); bad[4, 0, 7] = np.nan
    with pytest.raises(ValueError, match=r"item\(s\) \[4\] contain NaN or inf"): stack_signals(bad)
    np.save(tmp_path / 'nan.npy', bad)
    src = IndexedSignals(tmp_path / 'nan.npy')
    with pytest.raises(ValueError, match=r"nan\.npy, item 4 contains NaN or inf \(first at channel 0, sample 7\)"): src[4]
    with pytest.raises(ValueError, match="is empty"): check_signal(np.zeros((2, 0)), 'x')
    with pytest.raises(ValueError, match=r"has shape \(2, 2, 2\)"): check_signal(np.zeros((2, 2, 2)), 'x')
    with pytest.raises(TypeError, match="not numbers"): check_signal(np.array(['a', 'b']), 'x')
    with pytest.raises(ValueError, match="different lengths"): stack_signals([X[0], X[1, :, :8]])
    with pytest.raises(ValueError, match="different numbers of channels"): stack_signals([X[0], X[1, :1]])

def test_v73_mat_without_h5py(tmp_path):
    h5py = pytest.importorskip('h5py')
    fn = tmp_path / 'v73.mat'
    with h5py.File(fn, 'w', userblock_size=512) as f: f['sig'] = X.T
    with open(fn, 'r+b') as f: f.write(b'MATLAB 7.3 MAT-file'.ljust(116) + bytes(8) + b'\x00\x02IM')
    np.testing.assert_array_equal(read_signals(fn, key='sig')[0], X)
    with mock.patch.dict(sys.modules, {'h5py': None}):
        with pytest.raises(ImportError, match=r"v73\.mat is a MATLAB v7\.3 file, which needs h5py"): read_signals(fn)

def test_loader_errors(tmp_path):
    with pytest.raises(ValueError, match="give one label per file"):
        np.save(tmp_path / 'one.npy', X[0]); LTSignalDataLoaders.from_files([tmp_path / 'one.npy'])
    with pytest.raises(ValueError, match="got 5 labels for 6 signals"):
        np.save(tmp_path / 'x.npy', X); LTSignalDataLoaders.from_files(tmp_path / 'x.npy', labels=Y[:5], lazy=True)
    with pytest.raises(ValueError, match=r"missing \(None or NaN\) at position\(s\) \[2\]"):
        LTSignalDataLoaders.from_arrays(X, [0, 0, None, 1, 1, 2])
