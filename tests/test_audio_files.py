"Bad audio and spectrogram files, and misaligned metadata, give clear errors that name what is wrong (lt_fastai.audio)."
import warnings
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from lt_fastai.audio import (read_audio, load_audio, AudioReader, SpecReader, load_spec_dict, LTAudioDataLoaders,
                             MelSpectrogram)

SR = 8000

def tone(n=800, seed=0):
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(np.arange(n) * 0.3) + 0.05 * rng.normal(size=n)).astype(np.float32)

@pytest.fixture
def good(tmp_path):
    "Twelve short recordings of two classes, and their labels"
    fns, labels = [], []
    for i in range(12):
        fn = tmp_path / f'ok{i}.{("wav", "flac", "ogg")[i % 3]}'
        sf.write(fn, tone(seed=i), SR)
        fns.append(str(fn)); labels.append('ab'[i % 2])
    return fns, labels

def test_missing_file(tmp_path):
    fn = tmp_path / 'nothere.wav'
    with pytest.raises(FileNotFoundError, match=r"audio file .*nothere\.wav does not exist"): read_audio(fn)
    with pytest.raises(FileNotFoundError, match=r"nothere\.wav"): AudioReader(SR, 0.1)(str(fn))

def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="is not a file"): read_audio(tmp_path)

@pytest.mark.parametrize('ext', ['wav', 'flac', 'ogg'])
def test_empty_file(tmp_path, ext):
    fn = tmp_path / f'empty.{ext}'
    fn.write_bytes(b'')
    with pytest.raises(ValueError, match=rf"empty\.{ext} is empty \(0 bytes\)"): read_audio(fn)

@pytest.mark.parametrize('ext', ['wav', 'flac', 'ogg', 'mp3'])
def test_corrupt_bytes(tmp_path, ext):
    fn = tmp_path / f'corrupt.{ext}'
    fn.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=rf"cannot read audio file .*corrupt\.{ext}"): read_audio(fn)

def test_truncated_file(tmp_path):
    "A wav whose data was cut off after the header decodes to what is there, or fails naming the file"
    fn = tmp_path / 'cut.wav'
    sf.write(fn, tone(), SR)
    fn.write_bytes(fn.read_bytes()[:30])     # inside the 44-byte header
    with pytest.raises(ValueError, match=r"cut\.wav"): read_audio(fn)

@pytest.mark.parametrize('ext', ['wav', 'aiff', 'ogg'])
def test_zero_length_audio(tmp_path, ext):
    fn = tmp_path / f'silent.{ext}'
    sf.write(fn, np.zeros(0, dtype=np.float32), SR)
    assert fn.stat().st_size > 0              # a valid header, no samples
    with pytest.raises(ValueError, match=rf"silent\.{ext} contains no samples"): read_audio(fn)
    with pytest.raises(ValueError, match=rf"silent\.{ext} contains no samples"): load_audio(fn, SR, 0.5)

def test_nan_samples(tmp_path):
    fn = tmp_path / 'nan.wav'
    x = tone(); x[100] = np.nan
    sf.write(fn, x, SR, subtype='FLOAT')
    with pytest.raises(ValueError, match=r"nan\.wav contains NaN or infinite samples \(first at sample 100\)"): read_audio(fn)

def test_good_files_read(good):
    fns, _ = good
    for fn in fns:
        y = load_audio(fn, SR, 0.05)
        assert y.shape == (1, 400) and y.dtype == np.float32 and np.isfinite(y).all()

def test_bad_file_in_loader_names_it(tmp_path, good):
    fns, labels = good
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'RIFF' + b'\x00' * 100)
    fns = fns[:5] + [str(bad)] + fns[6:]
    df = pd.DataFrame(dict(fname=fns, label=labels))
    kw = dict(sr=SR, duration=0.1, bs=4, device='cpu', seed=0, splitter=lambda items: (list(range(8)), list(range(8, 12))),
              mel=MelSpectrogram(sr=SR, n_fft=128, n_mels=16), normalize=False)
    # found before the loaders are built (the files' headers are read first) ...
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 12 recordings:\n  cannot read audio file .*bad\.wav"):
        LTAudioDataLoaders.from_df(df, **kw)
    # ... and, with that check off, when the batch is read
    dls = LTAudioDataLoaders.from_df(df, check_files=False, **kw)
    with pytest.raises(ValueError, match=r"bad\.wav"): [b for b in dls.train.new(shuffle=False)]

def _loaders(fns, labels, meta=None, **kwargs):
    df = pd.concat([pd.DataFrame(dict(fname=fns, label=labels)), meta], axis=1) if meta is not None else pd.DataFrame(dict(fname=fns, label=labels))
    return LTAudioDataLoaders.from_df(df, sr=SR, duration=0.1, bs=4, device='cpu',
                                      splitter=lambda items: (list(range(8)), list(range(8, 12))),
                                      mel=MelSpectrogram(sr=SR, n_fft=128, n_mels=16), normalize=False, **kwargs)

def test_metadata_columns_and_test_items(good):
    fns, labels = good
    meta = pd.DataFrame(dict(site=['x', 'y'] * 6, snr=np.arange(12.)))
    with pytest.raises(KeyError, match=r"metadata column\(s\) \['depth'\] are not in the DataFrame"):
        _loaders(fns, labels, meta, cont_names=['snr', 'depth'])
    with pytest.raises(ValueError, match=r"label column 'label' is empty in row 3"):
        _loaders(fns, labels[:3] + [None] + labels[4:], meta)
    dls = _loaders(fns, labels, meta, cat_names=['site'], cont_names=['snr'])
    with pytest.raises(ValueError, match="metadata has 11 rows for 12 items"): dls.test_dl(fns, metadata=meta.iloc[:-1])
    assert len(dls.test_dl(fns[:4], metadata=meta.iloc[:4]).one_batch()) == 3

def test_metadata_nan_names_column_and_row(good):
    fns, labels = good
    meta = pd.DataFrame(dict(snr=np.arange(12.)))
    meta.loc[2, 'snr'] = np.nan
    with pytest.raises(ValueError, match=r"continuous metadata column 'snr' is nan \(row 2\)"):
        _loaders(fns, labels, meta, cont_names=['snr'])

def test_bad_spectrogram_files(tmp_path):
    bad = tmp_path / 'bad.npy'
    bad.write_bytes(b'not a numpy file')
    with pytest.raises(ValueError, match=r"cannot read spectrogram file .*bad\.npy"): SpecReader()(str(bad))
    with pytest.raises(FileNotFoundError, match=r"gone\.npy does not exist"): SpecReader()(str(tmp_path / 'gone.npy'))
    np.save(tmp_path / 'empty.npy', np.zeros((16, 0), dtype=np.float32))
    with pytest.raises(ValueError, match=r"empty\.npy is empty"): SpecReader()(str(tmp_path / 'empty.npy'))
    np.save(tmp_path / 'obj.npy', np.array(['a', 'b']))
    with pytest.raises(TypeError, match=r"obj\.npy has dtype <U1, expected numbers"): SpecReader()(str(tmp_path / 'obj.npy'))
    with pytest.raises(FileNotFoundError, match=r"nodict\.npy"): load_spec_dict(tmp_path / 'nodict.npy')
    with pytest.raises(KeyError, match="no spectrogram for item 'k9'"): SpecReader({'k1': np.zeros((4, 4))})('k9')

def test_truncated_header_leaves_no_file_open(tmp_path):
    "A wav cut inside its header is refused by soundfile; the fallback decoders must close the file whatever happens"
    import gc
    from lt_fastai.audio import check_audio_file
    fn = tmp_path / 'cut.wav'
    sf.write(fn, tone(), SR)
    fn.write_bytes(fn.read_bytes()[:30])      # cut inside the header, where Python's wave module fails (EOFError)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        for f in (read_audio, check_audio_file):
            with pytest.raises(ValueError, match=r"cannot read audio file .*cut\.wav"): f(fn)
        gc.collect()
    assert not [x for x in w if issubclass(x.category, ResourceWarning)], [str(x.message) for x in w]
