"Run each notebook's tests with nbdev-test (skipping cells flagged notest, slow or cuda)."
import subprocess
import pytest
from conftest import ROOT, nbdev_cmd

NOTEBOOKS = sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb'))

def test_there_are_notebooks(): assert 'index.ipynb' in NOTEBOOKS and len(NOTEBOOKS) > 1

@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook(nb):
    r = subprocess.run([nbdev_cmd('nbdev-test'), str(ROOT / 'nbs' / nb)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and 'Success' in r.stdout, f"nbdev-test failed for {nb}:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"

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
        if len(s.splitlines()) > 60: probs.append(f"cell {i}: {len(s.splitlines())} lines")
        first = s.split('\n')[0].strip()
        if re.match(r'#\|\s*export\s*$', first):
            pub = []
            for node in ast.parse('\n'.join(s.split('\n')[1:])).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith('_'):
                    patched = any(getattr(d, 'id', None) == 'patch' or getattr(getattr(d, 'func', None), 'id', None) == 'patch' for d in node.decorator_list)
                    cls = getattr(node.args.args[0].annotation, 'id', '') if patched else ''
                    pub.append(f"{cls}.{node.name}" if patched else node.name)
                elif isinstance(node, ast.Assign):
                    pub += [t.id for t in node.targets if isinstance(t, ast.Name) and not t.id.startswith('_') and t.id != '__all__']
            if len(pub) > 1: probs.append(f"cell {i}: {len(pub)} public names {pub}")
            probs += [f"cell {i}: no show_doc({p})" for p in pub if p not in docs and not p.isupper()]
        elif not edge and 'test_fail(' in s and not first.startswith('#|'):
            probs.append(f"cell {i}: test_fail before the edge-case section")
    return probs

@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook_documents_each_name(nb):
    "One public name per export cell followed by its show_doc, no cell over 60 lines, error tests after the examples"
    probs = _doc_problems(ROOT / 'nbs' / nb)
    assert not probs, f"{nb}: " + '; '.join(probs)
