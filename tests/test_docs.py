"The documentation site: nbdev's processing of every notebook (what the deploy workflow runs before Quarto), the sidebar and the widgets' saved state"
import json, os, re, shutil, stat, subprocess
from pathlib import Path
import yaml
from conftest import ROOT, nbdev_cmd

NOTEBOOKS = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb'))

def _pages(contents):
    for o in contents:
        if isinstance(o, dict): yield from _pages(o['contents'])
        else: yield o

def test_sidebar_lists_every_page_once():
    "The grouped sidebar (nbdev does not rewrite it: custom_sidebar) names each notebook once, and nothing else"
    side = yaml.safe_load((ROOT / 'nbs' / 'sidebar.yml').read_text())['website']['sidebar']['contents']
    pages = list(_pages(side))
    assert sorted(pages) == NOTEBOOKS, set(pages) ^ set(NOTEBOOKS)
    assert [s['section'] for s in side] == ['Getting started', 'The long-tail core', 'Modalities', 'Runs and reports', 'Tutorials']

def test_widgets_have_their_state():
    "Every widget a page shows has its state in the notebook's metadata, so the site can render it"
    for nb in NOTEBOOKS:
        d = json.loads((ROOT / 'nbs' / nb).read_text())
        shown = {o['data']['application/vnd.jupyter.widget-view+json']['model_id'] for c in d['cells'] for o in c.get('outputs', [])
                 if 'application/vnd.jupyter.widget-view+json' in o.get('data', {})}
        state = d['metadata'].get('widgets', {}).get('application/vnd.jupyter.widget-state+json', {}).get('state', {})
        assert shown <= set(state), f"{nb}: no saved state for widget(s) {sorted(shown - set(state))}"

def test_docs_processing(tmp_path):
    "`nbdev-proc-nbs` on a copy of the project: every notebook processed, no cell mixing imports with code"
    for d in ('nbs', 'lt_fastai'): shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns('__pycache__', 'models', '_lt_demo'))
    shutil.copy(ROOT / 'pyproject.toml', tmp_path)
    # Quarto renders the processed notebooks; it is not needed to process them, and nbdev would otherwise try to install it
    (tmp_path / 'bin').mkdir(); fake = tmp_path / 'bin' / 'quarto'
    fake.write_text('#!/bin/sh\nexit 0\n'); fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, 'PATH': f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([nbdev_cmd('nbdev-proc-nbs'), '--n-workers', '0'], cwd=tmp_path, env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert 'Found cells containing imports and other code' not in out, out[-6000:]
    assert 'Traceback' not in out and 'Error' not in out, out[-6000:]
    done = sorted(p.name for p in (tmp_path / '_proc').glob('*.ipynb'))
    assert done == NOTEBOOKS, set(done) ^ set(NOTEBOOKS)
    # the processing runs the import and export cells again: what they print reaches the page as well
    from test_site import output_problems
    probs = {}
    for p in (tmp_path / '_proc').glob('*.ipynb'):
        nb = json.loads(p.read_text()); nb['cells'] = [c for c in nb['cells'] if c.get('source')]   # hidden cells lose their source
        if out := output_problems(nb): probs[p.name] = out
    assert not probs, probs
