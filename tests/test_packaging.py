"Packaging: the notebooks and the package agree, the wheel carries every module, the README is current."
import shutil, subprocess, sys, zipfile
from pathlib import Path
from conftest import ROOT, nbdev_cmd

def _py_files(d): return {p.relative_to(d).as_posix(): p.read_bytes() for p in Path(d).rglob('*.py') if '__pycache__' not in p.parts}

def test_export_changes_nothing(tmp_path):
    "Exporting the notebooks in a copy of the project reproduces lt_fastai/ byte for byte"
    for name in ('pyproject.toml', 'nbs', 'lt_fastai'):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    r = subprocess.run([nbdev_cmd('nbdev-export')], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    before, after = _py_files(ROOT / 'lt_fastai'), _py_files(tmp_path / 'lt_fastai')
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"nbdev-export changes these files (run nbdev-export and commit): {changed}"

def test_wheel_contains_every_module(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'build', '--wheel', '--no-isolation', '--outdir', str(tmp_path), str(ROOT)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    whl, = tmp_path.glob('lt_fastai-*.whl')
    names = set(zipfile.ZipFile(whl).namelist())
    modules = {('lt_fastai' / p.relative_to(ROOT / 'lt_fastai')).as_posix() for p in (ROOT / 'lt_fastai').rglob('*.py')
               if '__pycache__' not in p.parts}
    assert modules and modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    # the optional stacks are extras, not requirements of the base install
    meta = zipfile.ZipFile(whl).read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    extras = {l.split(':', 1)[1].strip() for l in meta.splitlines() if l.startswith('Provides-Extra:')}
    assert {'audio', 'video', 'signal', 'search', 'widgets', 'all', 'dev'} <= extras, extras
    base = [l for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    for pkg in ('librosa', 'soundfile', 'av', 'optuna', 'ipywidgets', 'h5py'):
        assert not any(l.split(':', 1)[1].strip().split(' ')[0].split('>')[0].split('=')[0].lower() == pkg for l in base), pkg

def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout

def _readme_commands():
    "The shell commands in the README's ```sh blocks"
    text, cmds, inside = (ROOT / 'README.md').read_text(), [], False
    for line in text.splitlines():
        if line.startswith('```'): inside = line.strip() == '```sh'; continue
        if inside and line.strip(): cmds.append(line.strip())
    return cmds

def test_ci_runs_the_readme_commands():
    "`.ci/run` runs exactly the README's install, main-job and test commands"
    ci = (ROOT / '.ci' / 'run').read_text()
    cmds = _readme_commands()
    assert any(c.startswith('pip install') for c in cmds) and any('pytest' in c for c in cmds)
    assert any(c.startswith('lt-fastai ') for c in cmds)
    lines = [l.strip() for l in ci.splitlines()]
    for c in cmds: assert c in lines, f"{c!r} is in README.md but not run by .ci/run"

def test_version_is_importable():
    import lt_fastai
    assert lt_fastai.__version__

# Imports the base install lacks, made to fail as they would without the extras (a fresh environment per extra
# would download gigabytes of PyTorch; this checks the same code paths)
_BLOCK = """
import sys, importlib.abc
class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'librosa', 'soundfile', 'av', 'optuna', 'optuna_integration', 'ipywidgets', 'IPython', 'h5py'}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Missing())
"""

def _without_extras(code):
    return subprocess.run([sys.executable, '-c', _BLOCK + code], capture_output=True, text=True,
                          env={**__import__('os').environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'})

def test_base_install_works_without_the_extras():
    "The library, images and signals need no extra"
    r = _without_extras("from lt_fastai.all import *; from lt_fastai.vision import *; from lt_fastai.signal import *; "
                        "import lt_fastai.cli; print(lt_learner, lt_vision_learner, lt_signal_learner)")
    assert r.returncode == 0, r.stderr[-3000:]

def test_a_missing_extra_is_one_line():
    "Each optional part, imported without its extra, fails with one line naming the extra (one process for all four)"
    r = _without_extras("""
import importlib
for mod in ('lt_fastai.video', 'lt_fastai.explore'):
    try: importlib.import_module(mod)
    except ModuleNotFoundError as e: print(e)
from lt_fastai.experiment import tune
try: tune({}, 'out')
except ModuleNotFoundError as e: print(e)
import lt_fastai.audio   # uncaught, as a user sees it: the traceback's last line
""")
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1] == \
        "ModuleNotFoundError: lt_fastai.audio needs soundfile, which is not installed: pip install 'lt_fastai[audio]'", r.stderr[-2000:]
    assert r.stdout.strip().splitlines() == [
        "lt_fastai.video needs av, which is not installed: pip install 'lt_fastai[video]'",
        "lt_fastai.explore needs ipywidgets, which is not installed: pip install 'lt_fastai[widgets]'",
        "the search (`tune`) needs optuna, which is not installed: pip install 'lt_fastai[search]'"], r.stdout + r.stderr[-2000:]

def test_cli_names_a_missing_extra(tmp_path):
    "`lt-fastai tune` and a run of an audio config without their extras: one line on stderr, no traceback"
    (tmp_path / 'audio.yaml').write_text("data: {modality: audio, source: /nowhere.csv}\n")
    (tmp_path / 'search.yaml').write_text("search: {schedule.lr: {low: 0.001, high: 0.1, log: true}}\n")
    for args, extra in [(['train', 'audio.yaml'], 'audio'), (['tune', 'search.yaml', '--trials', '1'], 'search')]:
        r = subprocess.run([sys.executable, '-c', _BLOCK + f"import sys; from lt_fastai.cli import main; sys.exit(main({args!r}))"],
                           cwd=tmp_path, capture_output=True, text=True, env={**__import__('os').environ, 'PYTHONWARNINGS': 'ignore'})
        err = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(err) == 1 and f"pip install 'lt_fastai[{extra}]'" in err[0], r.stderr[-2000:]
