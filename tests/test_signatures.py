"""One interface for the four modalities: their loaders' constructors take the same shared arguments in the same
order, add their own only by keyword, document every argument, and return their own class."""
import inspect
import pytest
from fastcore.docments import docments
from lt_fastai.data import LTDataLoaders
from lt_fastai.modalities import MODALITIES

CONSTRUCTORS = ('from_folder', 'from_df', 'from_arrays')
# names two modalities both add, which mean the same thing in each (each modality words its comment for its items)
SAME_MEANING = {
    'size': 'the (height, width) images or frames are resized to',
    'normalize': "the modality's standardisation of its inputs: True, a transform, or False",
    'n_frames': 'time frames per item (spectrogram frames, clip frames)',
    'augment': 'training-only batch transforms',
    'item_tfms': 'item transforms after the modality own', 'batch_tfms': 'batch transforms after the modality own',
}

def _own(cls, name):
    p = inspect.signature(getattr(cls, name)).parameters.values()
    return [o for o in p if o.kind == o.KEYWORD_ONLY]

@pytest.mark.parametrize('name', CONSTRUCTORS)
def test_shared_arguments_agree(name):
    "Positional arguments: the same names, order and defaults as `LTDataLoaders`'s, in every modality"
    def shared(c): return [(p.name, p.default) for p in inspect.signature(getattr(c, name)).parameters.values()
                           if p.kind == p.POSITIONAL_OR_KEYWORD]
    want = shared(LTDataLoaders)
    for m in MODALITIES.values(): assert shared(m.dls_type) == want, (m.name, name)

@pytest.mark.parametrize('name', CONSTRUCTORS)
def test_own_arguments_keyword_only_documented(name):
    "A modality's own arguments are keyword-only; every argument has its comment; the constructor returns its class"
    for m in MODALITIES.values():
        cls = m.dls_type
        sig, docs = inspect.signature(getattr(cls, name)), docments(getattr(cls, name))
        assert sig.return_annotation == cls.__name__, (m.name, name, sig.return_annotation)
        assert [k for k, p in sig.parameters.items() if p.kind != p.VAR_KEYWORD and not docs[k]] == [], (m.name, name)

def test_a_name_means_one_thing():
    "A name that two modalities add has one meaning (`SAME_MEANING`); a new shared name must be added there on purpose"
    users = {}
    for m in MODALITIES.values():
        for name in CONSTRUCTORS:
            for p in _own(m.dls_type, name): users.setdefault(p.name, set()).add(m.name)
    shared = {k for k, v in users.items() if len(v) > 1}
    assert shared <= set(SAME_MEANING), sorted(shared - set(SAME_MEANING))

def test_positional_call_means_the_same():
    "`from_arrays(x, y, None, None, 0.5)` is `valid_pct=0.5` in every modality"
    for m in MODALITIES.values():
        b = inspect.signature(m.dls_type.from_arrays).bind('x', 'y', None, None, 0.5)
        assert b.arguments['valid_pct'] == 0.5, m.name

def test_one_batch_size_default():
    "Every constructor and a run config default to the same batch size, `DEFAULT_BS`"
    from lt_fastai.data import DEFAULT_BS
    from lt_fastai.config import DataConfig
    assert DataConfig().bs == DEFAULT_BS
    for m in MODALITIES.values():
        for name in CONSTRUCTORS: assert inspect.signature(getattr(m.dls_type, name)).parameters['bs'].default == DEFAULT_BS

def test_learners_agree():
    "Every modality's learner takes (dls, arch) by position and everything else by keyword; its own arguments are documented"
    for m in MODALITIES.values():
        f = m.learner_fn
        sig, docs = inspect.signature(f), docments(f)
        assert [p for p, o in sig.parameters.items() if o.kind == o.POSITIONAL_OR_KEYWORD] == ['dls', 'arch'], m.name
        assert [k for k, p in sig.parameters.items() if p.kind != p.VAR_KEYWORD and not docs[k]] == [], m.name

def test_one_name_per_modality():
    "The registry (strings, read without importing torch) and each modality's loaders class name the modality alike"
    for name, m in MODALITIES.items(): assert m.dls_type.modality == name
