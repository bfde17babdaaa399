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
