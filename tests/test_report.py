"Run folders and report files as the command line meets them: `compare_runs` ranks what it can read and names the file it cannot (lt_fastai.report)."
import json
import math
import warnings
import pytest
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from lt_fastai.report import compare_runs, LTReport

def run_folder(root, name, test=None, valid=None, recipe='ce', epochs=2):
    "A finished run folder as `run_experiment` writes it (only metrics.json matters here)"
    d = root / name
    d.mkdir(parents=True)
    res = dict(config=dict(recipe=dict(name=recipe, params={}), schedule=dict(epochs=epochs)), seed=0,
               valid=valid or dict(balanced_accuracy=0.5, accuracy=0.6), test=test, history=[])
    (d / 'metrics.json').write_text(json.dumps(res))
    return d

def test_ranks_by_metric(tmp_path):
    a = run_folder(tmp_path, 'a', test=dict(balanced_accuracy=0.4, accuracy=0.9))
    b = run_folder(tmp_path, 'b', test=dict(balanced_accuracy=0.7, accuracy=0.8), recipe='balanced_softmax')
    df = compare_runs([a, b], split='test')
    assert list(df.index) == ['b', 'a'] and list(df['rank']) == [1, 2]
    assert list(df['recipe']) == ['balanced_softmax', 'ce']
    assert list(compare_runs([a, b], metric='accuracy', split='test').index) == ['a', 'b']
    assert list(compare_runs([a / 'metrics.json', str(b)], ascending=True, split='test').index) == ['a', 'b']

def test_same_names_in_different_places(tmp_path):
    a = run_folder(tmp_path / 'x', 'run', test=dict(balanced_accuracy=0.1))
    b = run_folder(tmp_path / 'y', 'run', test=dict(balanced_accuracy=0.2))
    assert list(compare_runs([a, b], split='test').index) == [str(b), str(a)]

def test_missing_values_rank_last(tmp_path):
    a = run_folder(tmp_path, 'a', test=dict(balanced_accuracy=None, accuracy=0.1))
    b = run_folder(tmp_path, 'b', test=dict(balanced_accuracy=0.2, accuracy=0.1))
    df = compare_runs([a, b], split='test')
    assert list(df.index) == ['b', 'a'] and math.isnan(df.loc['a', 'balanced_accuracy'])

def test_bad_inputs(tmp_path):
    a = run_folder(tmp_path, 'a')                      # no test split
    with pytest.raises(ValueError, match="no 'test' metrics"): compare_runs([a], split='test')
    assert len(compare_runs([a])) == 1                 # validation figures by default: ranking by test would spend it
    with pytest.raises(ValueError, match="unknown metric 'mAP'"): compare_runs([a], metric='mAP', split='valid')
    with pytest.raises(ValueError, match='no runs'): compare_runs([])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='holds metrics.json once the run has finished'): compare_runs([tmp_path / 'empty'])
    (tmp_path / 'broken.json').write_text('{"valid": ')
    with pytest.raises(ValueError, match=r'broken\.json is not valid JSON \(line 1'): compare_runs([tmp_path / 'broken.json'])
    (tmp_path / 'other.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match='not a run'): compare_runs([tmp_path / 'other.json'])
    (tmp_path / 'dict.json').write_text('{"a": 1}')
    with pytest.raises(ValueError, match='neither a run'): compare_runs([tmp_path / 'dict.json'])
    with pytest.raises(ValueError, match='not a report'): LTReport.load(tmp_path / 'dict.json')
