"""The pretrained path on every timm family a user may pick: a weights file saved from each family's smallest variant,
loaded by `lt_vision_learner(pretrained=file)` and trained by each fine-tuning recipe; then `get_preds`, `export`,
`load_learner`, `test_dl` and `predict` must agree. Families that pad "same" inside their convolutions (tf_), that
standardise their weights (BiT, NFNet) and that size position embeddings by the image (ViT) each break a different
shortcut."""
import warnings
import numpy as np
import pytest
import torch

# family -> the architecture (the family's smallest variant; timm's `test_*` models are the real classes at toy size)
FAMILIES = {'resnet': 'test_resnet', 'resnetv2_bit': 'test_resnetv2_bit', 'efficientnet': 'test_efficientnet',
            'tf_efficientnet': 'tf_efficientnet_lite0', 'mobilenetv3': 'mobilenetv3_small_050',
            'tf_mobilenetv3': 'tf_mobilenetv3_small_minimal_100', 'convnext': 'test_convnext', 'regnet': 'regnetx_002',
            'vit': 'test_vit', 'nfnet': 'test_nfnet'}
RECIPES = ['lift', 'lpft_la', 'logit_adjusted', 'auto']
SIZE = 32   # the images' size: the ViT's weights are for 160 pixels

def _register_toy_bit():
    "BiT at toy size: timm's own BiT builder (weight-standardised convolutions, fixed-padding stem, BiT's configuration), one block per stage, half the width"
    import timm
    from timm.models import register_model
    from timm.models.resnetv2 import _create_resnetv2_bit
    if timm.is_model('test_resnetv2_bit'): return
    @register_model
    def test_resnetv2_bit(pretrained=False, **kwargs):
        return _create_resnetv2_bit('resnetv2_50x1_bit', pretrained=pretrained, layers=[1, 1, 1, 1], width_factor=0.5, **kwargs)

_register_toy_bit()

@pytest.fixture(scope='module')
def data():
    g = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [10, 5, 3, 2])
    x = (g.random((len(y), 3, SIZE, SIZE)) * 0.5 + 0.12 * y[:, None, None, None]).astype('float32')
    yv = np.repeat(np.arange(4), 2)
    xv = (g.random((len(yv), 3, SIZE, SIZE)) * 0.5 + 0.12 * yv[:, None, None, None]).astype('float32')
    return x, y, xv, yv

@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    "A state_dict file per family, of random weights at the architecture's own default size and 1000 classes"
    import timm
    out, folder = {}, tmp_path_factory.mktemp('weights')
    def get(family):
        if family not in out:
            torch.manual_seed(0)
            out[family] = folder / f'{family}.pth'
            torch.save(timm.create_model(FAMILIES[family], pretrained=False).state_dict(), out[family])
        return out[family]
    return get

@pytest.mark.parametrize('recipe', RECIPES)
@pytest.mark.parametrize('family', list(FAMILIES))
def test_family_recipe(family, recipe, data, weights, tmp_path):
    from fastai.learner import load_learner
    from lt_fastai.vision import LTImageDataLoaders, lt_vision_learner
    from lt_fastai.finetune import is_frozen
    from lt_fastai.test_utils import quiet
    x, y, xv, yv = data
    torch.manual_seed(0)
    dls = LTImageDataLoaders.from_arrays(x, y, xv, yv, bs=8, device='cpu')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn = lt_vision_learner(dls, FAMILIES[family], pretrained=weights(family), recipe=recipe, path=tmp_path)
        assert is_frozen(learn)
        with quiet(learn): learn.fit_lt(1, 1e-3)
        p, _ = learn.get_preds(dl=dls.valid)
        assert p.shape == (len(yv), 4) and torch.isfinite(p).all()
        learn.export('model.pkl')
        again = load_learner(tmp_path / 'model.pkl')
        p2, _ = again.get_preds(dl=again.dls.test_dl(xv))
        torch.testing.assert_close(p2, p, atol=1e-5, rtol=1e-4)
        _, idx, probs = again.predict(xv[0])
    torch.testing.assert_close(probs, p[0], atol=1e-5, rtol=1e-4)
    assert int(idx) == int(p[0].argmax())

def test_vit_weights_at_another_size(weights):
    "A ViT's weights for 160 pixels load into a model for 32 as timm loads hub weights: the position embeddings resampled"
    from lt_fastai.backbones import lt_timm_model
    m = lt_timm_model('test_vit', 0, pretrained=weights('vit'), img_size=SIZE)
    saved = torch.load(weights('vit'), weights_only=True)
    assert saved['pos_embed'].shape[1] == 1 + (160 // 16) ** 2 and m.pos_embed.shape[1] == 1 + (SIZE // 16) ** 2
    torch.testing.assert_close(m.pos_embed[:, 0], saved['pos_embed'][:, 0])                  # the class token's is kept
    torch.testing.assert_close(m.blocks[0].attn.qkv.weight, saved['blocks.0.attn.qkv.weight'])

def test_probe_prints_nothing_inside_no_bar(data, weights, capsys):
    "The head fitted from the features, and the fit, stay silent inside `no_bar()` and `no_logging()`"
    from lt_fastai.vision import LTImageDataLoaders, lt_vision_learner
    x, y, xv, yv = data
    dls = LTImageDataLoaders.from_arrays(x, y, xv, yv, bs=8, device='cpu')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn = lt_vision_learner(dls, 'test_resnet', pretrained=weights('resnet'), recipe='lpft_la')
        capsys.readouterr()
        with learn.no_bar(), learn.no_logging(): learn.fit_lt(1, 1e-3)
    out = capsys.readouterr()
    assert out.out == '' and out.err == '', out
