"Run each notebook's tests with nbdev-test (skipping cells flagged notest, slow or cuda)."
import re, subprocess
import pytest
from conftest import ROOT, nbdev_cmd

NOTEBOOKS = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb'))

def _group(nb):
    "The part of the library a notebook documents, from its number: core, vision and audio, then signal, video, runs and docs"
    n = int(re.match(r'\d+', nb).group()) if nb[0].isdigit() else 99   # '01a_data.split.ipynb' is 1
    return 'core' if n < 20 else 'vision_audio' if n < 27 else 'signal_video_runs'

# Notebooks run in three groups, one nbdev-test process each (serially within it, as nbdev-test
# itself runs them): a process per notebook would import torch and fastai about fifty times, which on two cores costs minutes.
GROUPS = {g: [nb for nb in NOTEBOOKS if _group(nb) == g] for g in ('core', 'vision_audio', 'signal_video_runs')}

def test_there_are_notebooks():
    assert 'index.ipynb' in NOTEBOOKS and len(NOTEBOOKS) > 1
    assert sorted(sum(GROUPS.values(), [])) == NOTEBOOKS and all(GROUPS.values())

@pytest.mark.parametrize('group', list(GROUPS))
def test_notebooks(group):
    "nbdev-test on one group's notebooks; its output names the notebook and cell that failed"
    names = '|'.join(re.escape(nb) for nb in GROUPS[group])
    r = subprocess.run([nbdev_cmd('nbdev-test'), 'nbs', '--n-workers', '0', '--file-re', f'^({names})$'],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and 'Success' in r.stdout, f"nbdev-test failed in {GROUPS[group]}:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"

def _code(s):
    import ast
    try: return ast.parse('\n'.join(l for l in s.split('\n') if not l.lstrip().startswith(('#|', '%', '!'))))
    except SyntaxError: return None

def _one_class(s) -> bool:
    "An export cell holding one class (and constants): its body may run past 60 lines, each of its methods may not"
    import ast
    t = _code(s)
    return bool(t) and s.startswith('#| export') and sum(isinstance(n, ast.ClassDef) for n in t.body) == 1 and \
        all(isinstance(n, (ast.ClassDef, ast.Assign, ast.Expr)) for n in t.body)

def _long_functions(s, most=60) -> list:
    "The functions (and methods) of a cell longer than `most` lines"
    import ast
    t = _code(s)
    return [] if t is None else [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(t)
                                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > most]

def _doc_problems(path):
    "What keeps a notebook from documenting each name: long cells, several public names per export cell, no show_doc, test_fail before the edge cases"
    import ast, json, re
    cells = json.loads(path.read_text())['cells']
    src = lambda c: ''.join(c['source'])
    docs = {m.group(1) for c in cells for m in re.finditer(r'show_doc\(([\w.]+)', src(c))}
    probs, edge = [], False
    for i, c in enumerate(cells):
        s = src(c)
        if c['cell_type'] == 'markdown':
            edge = edge or bool(re.match(r'##\s+Edge cases', s.strip()))
            continue
        if len(s.splitlines()) > 60 and not _one_class(s): probs.append(f"cell {i}: {len(s.splitlines())} lines")
        probs += [f"cell {i}: {n} has {k} lines" for n, k in _long_functions(s)]
        first = s.split('\n')[0].strip()
        if re.match(r'#\|\s*export\s*$', first):
            pub = []
            for node in ast.parse('\n'.join(s.split('\n')[1:])).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                    patched = any(getattr(d, 'id', None) == 'patch' or getattr(getattr(d, 'func', None), 'id', None) == 'patch' for d in node.decorator_list)
                    if not patched: pub.append(node.name)   # nbdev documents a `@patch`ed function itself (a show_doc would repeat it)
                elif isinstance(node, ast.Assign):
                    pub += [t.id for t in node.targets if isinstance(t, ast.Name) and not t.id.startswith('_') and t.id != '__all__']
            if len(pub) > 1: probs.append(f"cell {i}: {len(pub)} public names {pub}")
            probs += [f"cell {i}: no show_doc({p})" for p in pub if p not in docs and not p.isupper()]
        elif not edge and 'test_fail(' in s and not first.startswith('#|'):
            probs.append(f"cell {i}: test_fail before the edge-case section")
    return probs

@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook_documents_each_name(nb):
    "One public name per export cell followed by its show_doc, no cell over 60 lines (a class cell: no method over 60), error tests after the examples"
    probs = _doc_problems(ROOT / 'nbs' / nb)
    assert not probs, f"{nb}: " + '; '.join(probs)
