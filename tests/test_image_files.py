"Bad image files — corrupt, truncated, wrong mode, missing, odd size — give clear errors that name the file."
import warnings
warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from lt_fastai.vision import open_image, ImageReader, check_image_files, LTImageDataLoaders

RNG = np.random.default_rng(0)
def _rgb(h=8, w=12): return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)

@pytest.fixture
def folder(tmp_path):
    "A single-label image tree root/c0, root/c1 with four good 8×12 RGB images each"
    for c in ('c0', 'c1'):
        (tmp_path / c).mkdir()
        for i in range(4): Image.fromarray(_rgb()).save(tmp_path / c / f'{i}.png')
    return tmp_path

# --- corrupt files

def test_random_bytes_named(tmp_path):
    f = tmp_path / 'noise.png'; f.write_bytes(RNG.integers(0, 255, 200, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"noise\.png: not an image file"): open_image(f)

def test_truncated_jpeg_named(tmp_path):
    f = tmp_path / 'cut.jpg'; Image.fromarray(_rgb(64, 64)).save(f, quality=95)
    f.write_bytes(f.read_bytes()[:400])
    with pytest.raises(ValueError, match=r"cut\.jpg: the file is corrupt or truncated"): open_image(f)

def test_empty_file_named(tmp_path):
    f = tmp_path / 'empty.png'; f.write_bytes(b'')
    with pytest.raises(ValueError, match=r"empty\.png"): open_image(f)
    with pytest.raises(ValueError, match=r"empty\.png: cannot read image"): check_image_files([f])

def test_corrupt_file_in_folder_reported_before_training(folder):
    (folder / 'c1' / 'bad.png').write_text('<html>not an image</html>')
    with pytest.raises(ValueError, match=r"1 problem\(s\) in 9 image files[\s\S]*bad\.png: cannot read image"):
        LTImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0)

def test_truncated_file_caught_when_loaded(folder):
    "A truncated file has a valid header: the header check passes, loading it names the file"
    f = folder / 'c0' / 'trunc.jpg'; Image.fromarray(_rgb()).save(f); f.write_bytes(f.read_bytes()[:300])
    dls = LTImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0, check_files=False, bs=2)
    ds = dls.train_ds if any(p.name == 'trunc.jpg' for p in dls.train_ds.items) else dls.valid_ds
    i = next(i for i, p in enumerate(ds.items) if p.name == 'trunc.jpg')
    with pytest.raises(ValueError, match=r"trunc\.jpg: the file is corrupt or truncated"): ds[i]

# --- wrong modes

@pytest.mark.parametrize('mode, hint', [('P', 'palette image'), ('RGBA', 'alpha channel'), ('LA', 'alpha channel'),
                                        ('CMYK', 'CMYK'), ('I;16', '16 bits')])
def test_wrong_mode_named(tmp_path, mode, hint):
    f = tmp_path / f'img_{mode.replace(";", "")}.{"jpg" if mode == "CMYK" else "png"}'
    img = Image.fromarray(_rgb())
    if mode == 'I;16': img = Image.fromarray(np.asarray(img)[..., 0].astype(np.uint16) * 257)
    else: img = img.convert(mode)
    img.save(f)
    got = Image.open(f).mode
    with pytest.raises(ValueError, match=rf"{f.name}: image mode '{got}' \(.*{hint}.*\) where 'RGB' images are expected"):
        open_image(f)
    with pytest.raises(ValueError, match=rf"{f.name}: image mode '{got}'"): check_image_files([f])

def test_sixteen_bit_never_converted(tmp_path):
    f = tmp_path / 'deep.png'; Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(f)
    with pytest.raises(ValueError, match='scale them to 8 bits'): open_image(f)
    with pytest.raises(ValueError, match='clipping at 255'): open_image(f, convert=('I;16',))

def test_accepted_conversions(tmp_path):
    g = tmp_path / 'gray.png'; Image.fromarray(_rgb()[..., 0]).save(g)
    assert open_image(g).mode == 'RGB'                      # grayscale -> RGB by default (lossless)
    c = tmp_path / 'rgb.png'; Image.fromarray(_rgb()).save(c)
    with pytest.raises(ValueError, match=r"rgb\.png: image mode 'RGB' where 'L' images are expected"): open_image(c, mode='L')
    assert open_image(c, mode='L', convert=('RGB',)).mode == 'L'

def test_wrong_mode_in_folder(folder):
    Image.fromarray(_rgb()).convert('P').save(folder / 'c0' / 'mask.png')
    with pytest.raises(ValueError, match=r"mask\.png: image mode 'P'"):
        LTImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0)

# --- missing files

def test_missing_file_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image file not found: .*ghost\.png"): open_image(tmp_path / 'ghost.png')
    with pytest.raises(FileNotFoundError, match=r"ghost\.png"): ImageReader()(tmp_path / 'ghost.png')

def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(IsADirectoryError, match='directory'): open_image(tmp_path)

def test_missing_files_in_dataframe_all_listed(folder):
    df = pd.DataFrame({'fname': ['c0/0.png', 'c0/gone1.png', 'c1/0.png', 'c1/gone2.png'], 'label': ['a', 'a', 'b', 'b']})
    with pytest.raises(ValueError, match=r"2 problem\(s\) in 4 image files[\s\S]*gone1\.png: file not found[\s\S]*gone2\.png"):
        LTImageDataLoaders.from_df(df, folder)

def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='folder of images not found'): LTImageDataLoaders.from_folder(tmp_path / 'nope')

# --- sizes at full resolution

def test_odd_size_at_full_resolution_named(folder):
    Image.fromarray(_rgb(8, 10)).save(folder / 'c1' / 'narrow.png')
    with pytest.raises(ValueError, match=r"narrow\.png: image is 8×10, not 8×12"):
        LTImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0)
    dls = LTImageDataLoaders.from_folder(folder, valid_pct=0.25, seed=0, size=(8, 8), bs=2)   # resized: any size is fine
    assert dls.one_batch()[0].shape[-2:] == (8, 8)

def test_reader_checks_size(tmp_path):
    f = tmp_path / 'a.png'; Image.fromarray(_rgb(8, 12)).save(f)
    with pytest.raises(ValueError, match=r"a\.png: image is 8×12 \(height × width\) but .* full resolution 8×16"):
        ImageReader(size=(8, 16))(f)

def test_many_problems_are_counted(tmp_path):
    files = [tmp_path / f'missing{i}.png' for i in range(15)]
    with pytest.raises(ValueError, match=r"15 problem\(s\)[\s\S]*and 5 more"): check_image_files(files)

# --- labels

def test_class_only_in_validation_rows(folder):
    "A label found only in the validation rows of `valid_col` is named before anything is built (fastai fails at the first validation batch)"
    df = pd.DataFrame({'fname': [f'{c}/{i}.png' for c in ('c0', 'c1') for i in range(4)]})
    df['label'] = df.fname.str[:2]; df['is_valid'] = [False, False, False, True] + [True] * 4
    with pytest.raises(ValueError, match=r"class\(es\) \['c1'\] occur in the validation labels but never in training"):
        LTImageDataLoaders.from_df(df, folder, valid_col='is_valid', bs=2, device='cpu')
    dls = LTImageDataLoaders.from_df(df, folder, valid_col='is_valid', vocab=['c0', 'c1'], bs=2, device='cpu')
    assert [len(b[1]) for b in dls.valid] == [2, 2, 1]      # the validation batches are read, the class kept on purpose
