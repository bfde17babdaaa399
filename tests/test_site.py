"""The documentation site as a reader sees it, checked from the notebooks without Quarto: saved outputs with progress
bars, warnings, tracebacks or machine paths; a name documented twice; a loaders constructor that shows `->DataBlock`
or `->list`; a link to an anchor that does not exist; visible example cells that are mostly assertions; and a Markdown
list with no blank line before it. Each check is tested on a notebook seeded with its defect."""
import json, re
from pathlib import Path
import pytest
from conftest import ROOT

NBS = ROOT / 'nbs'
PATHS = re.compile(r'/tmp/|/var/folders/|/home/|/root/|/work/|site-packages|<ipython-input-')
BAR = re.compile(r'<progress|\[\d+/\d+ \d\d:\d\d<|\|[█▉▊▋▌▍▎▏ ]{5,}\||\d+%\|[█▉▊▋▌▍▎▏ ]+\|')
ASSERTS = re.compile(r'^\s*(test_eq|test_close|test_ne|test_fail|test_warns|test|assert)\b')

def _src(c): return ''.join(c['source'])
def _flags(c): return {m.group(1) for m in re.finditer(r'^#\|\s*([\w-]+)', _src(c), re.M)}
def _shown(c):
    "A cell whose code and outputs the site shows"
    return c['cell_type'] == 'code' and not _flags(c) & {'hide', 'export', 'exporti', 'exports_hidden', 'include'}
def _text(o):
    if o.get('output_type') == 'stream': return ''.join(o.get('text', ''))
    if o.get('output_type') == 'error': return '\n'.join(o.get('traceback', []))
    d = o.get('data', {}); return '\n'.join(''.join(d.get(k, '')) for k in ('text/plain', 'text/markdown', 'text/html'))

def output_problems(nb) -> list:
    "Saved outputs a reader should not see: progress bars, warnings (anything on stderr), tracebacks, machine paths"
    probs = []
    for i, c in enumerate(nb['cells']):
        if not _shown(c): continue
        for o in c.get('outputs', []):
            t = _text(o)
            if o.get('output_type') == 'error': probs.append(f"cell {i}: a traceback ({o.get('ename')})")
            elif o.get('name') == 'stderr': probs.append(f"cell {i}: stderr: {t.strip()[:80]!r}")
            if BAR.search(t): probs.append(f"cell {i}: a progress bar")
            if m := PATHS.search(t): probs.append(f"cell {i}: a machine path ({m.group()})")
    return probs

def _patched(s) -> set:
    "Names `Cls.meth` of the functions an export cell attaches with `@patch` (nbdev documents each of them itself)"
    return {f"{m.group(2)}.{m.group(1)}" for m in re.finditer(r'@patch[^\n]*\n(?:@[^\n]*\n)*def (\w+)\((?:self|cls):\s*(\w+)', s)}

def documented_twice(nb) -> list:
    "Names the page documents twice: two show_doc calls, or a show_doc of a function nbdev already documents (`@patch`)"
    calls, auto = [], set()
    for c in nb['cells']:
        s = _src(c)
        if c['cell_type'] != 'code': continue
        if re.match(r'#\|\s*export\b', s): auto |= _patched(s)
        else: calls += re.findall(r'^show_doc\(([\w.]+)', s, re.M)
    seen = set(); twice = [n for n in calls if n in seen or seen.add(n)]
    return sorted(set(twice) | (set(calls) & auto))

def loader_signature_problems(nb) -> list:
    "A loaders constructor rendered as returning a DataBlock or a list"
    return [f"cell {i}" for i, c in enumerate(nb['cells']) for o in c.get('outputs', [])
            if re.search(r'DataLoaders\.from_\w+', _text(o)) and re.search(r'\)\s*->\s*(DataBlock|list)\b', _text(o))]

def mostly_asserts(nb, share=0.5) -> list:
    "Visible example cells where most lines are assertions (checks belong in hidden cells or tests/)"
    out = []
    for i, c in enumerate(nb['cells']):
        if not _shown(c) or _src(c).startswith('show_doc'): continue
        lines = [l for l in _src(c).split('\n') if l.strip() and not l.strip().startswith('#')]
        if len(lines) >= 2 and sum(bool(ASSERTS.match(l)) for l in lines) > share * len(lines): out.append(f"cell {i}")
    return out

LIST_ITEM = re.compile(r'^\s*(?:[-*+]|\d+\.)\s')
def run_on_lists(nb) -> list:
    "Markdown lists that follow a paragraph line with no blank line between: Pandoc renders them as one run-on paragraph"
    out = []
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'markdown': continue
        lines, fence = _src(c).split('\n'), False
        for prev, line in zip(lines, lines[1:]):
            if line.startswith('```'): fence = not fence
            if fence or not LIST_ITEM.match(line) or not prev.strip(): continue
            if not (LIST_ITEM.match(prev) or prev[:1].isspace() or prev.startswith(('|', '#', '```'))): out.append(f"cell {i}: {line[:40]!r}")
    return out

def _slug(h): return re.sub(r'[^\w.\- ]', '', h.strip().lower()).replace(' ', '-')

def anchors(nb) -> set:
    "The anchors of a page: its headings and the names its show_doc calls document"
    a = set()
    for c in nb['cells']:
        s = _src(c)
        if c['cell_type'] == 'markdown': a |= {_slug(h) for h in re.findall(r'^#+\s+(.*)$', s, re.M)}
        else: a |= {n.lower() for n in re.findall(r'^show_doc\(([\w.]+)', s, re.M)} | {n.lower() for n in _patched(s)}
    return a

def page_of(nb_path) -> str: return re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb_path.stem.lower()) + '.html'

def dead_links(nb, pages) -> list:
    "Links of the page's prose to `page.html#anchor` where the page or the anchor does not exist"
    out = []
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        for page, anchor in re.findall(r'\]\(([\w.\-]+\.html)#([\w.\-]+)\)', _src(c)):
            if page not in pages: out.append(f"{page}#{anchor}: no such page")
            elif anchor.lower() not in pages[page]: out.append(f"{page}#{anchor}: no such anchor")
    return out

def doc_links() -> dict:
    "What nbdev links a backticked name to: the page and anchor of every public name in the library's index"
    from lt_fastai._modidx import d
    out = {}
    for mod, syms in d['syms'].items():
        for full, (url, _) in syms.items():
            name = full[len(mod) + 1:]   # `balanced_softmax`, or `LTLearner.fit_lt` for a method
            if not any(p.startswith('_') for p in name.split('.')): out.setdefault(name, url)
    return out

def dead_name_links(nb, pages, links) -> list:
    "Backticked names in the prose that nbdev turns into links to an anchor the target page does not have"
    out = set()
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        for name in re.findall(r'`([A-Za-z]\w*(?:\.\w+)?)`', _src(c)):
            if name not in links: continue
            page, anchor = links[name].split('#')
            if page in pages and anchor.lower() not in pages[page]: out.add(f"`{name}` -> {page}#{anchor}: no such anchor")
    return sorted(out)

NOTEBOOKS = sorted(NBS.glob('*.ipynb'))
def _load(p): return json.loads(p.read_text())

@pytest.fixture(scope='module')
def pages(): return {page_of(p): anchors(_load(p)) for p in NOTEBOOKS}

@pytest.fixture(scope='module')
def links(): return doc_links()

@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_page_reads_clean(path, pages, links):
    nb = _load(path)
    probs = (output_problems(nb) + [f"documented twice: {n}" for n in documented_twice(nb)]
             + [f"loaders signature: {c}" for c in loader_signature_problems(nb)] + dead_links(nb, pages)
             + dead_name_links(nb, pages, links) + [f"mostly assertions: {c}" for c in mostly_asserts(nb)]
             + [f"list without a blank line before it: {c}" for c in run_on_lists(nb)])
    assert not probs, f"{path.name}: " + '; '.join(probs)

def _nb(*cells):
    def cell(kind, s, outputs=()): return dict(cell_type=kind, source=s, metadata={}, **({'outputs': list(outputs)} if kind == 'code' else {}))
    return dict(cells=[cell(*c) for c in cells])

def test_the_checks_catch_each_defect():
    "A notebook seeded with each defect fails the check that looks for it; a clean one passes"
    bar = dict(output_type='stream', name='stdout', text='100.00% [2/2 00:00<00:00]')
    warn = dict(output_type='stream', name='stderr', text='UserWarning: something')
    err = dict(output_type='error', ename='ValueError', evalue='x', traceback=['ValueError: x'])
    path = dict(output_type='execute_result', data={'text/plain': "PosixPath('/tmp/tmpab12/x.png')"})
    assert len(output_problems(_nb(('code', 'x', [bar]), ('code', 'y', [warn]), ('code', 'z', [err]), ('code', 'p', [path])))) == 4
    assert output_problems(_nb(('code', '#| hide\nx', [warn]), ('code', 'x', [dict(output_type='stream', name='stdout', text='ok')]))) == []
    assert documented_twice(_nb(('code', '#| export\n@patch\ndef f(self:A): pass'), ('code', 'show_doc(A.f)'))) == ['A.f']
    assert documented_twice(_nb(('code', 'show_doc(g)'), ('code', 'show_doc(g)'))) == ['g']
    assert documented_twice(_nb(('code', '#| export\ndef g(): pass'), ('code', 'show_doc(g)'))) == []
    sig = dict(output_type='display_data', data={'text/markdown': '### LTXDataLoaders.from_folder\n```python\ndef from_folder(path)->DataBlock:\n```'})
    assert loader_signature_problems(_nb(('code', 'show_doc(X)', [sig]))) == ['cell 0']
    assert mostly_asserts(_nb(('code', 'test_eq(1, 1)\nassert True\nx = 1'))) == ['cell 0']
    assert mostly_asserts(_nb(('code', '#| hide\ntest_eq(1, 1)\nassert True'), ('code', 'x = 1\ny = f(x)\ntest_eq(y, 2)'))) == []
    assert run_on_lists(_nb(('markdown', 'Also:\n- a\n- b'))) == ["cell 0: '- a'"]
    assert run_on_lists(_nb(('markdown', 'Also:\n\n- a\n  more\n- b\n\n```\nx\n- y\n```'))) == []
    pages = {'recipes.html': anchors(_nb(('markdown', '## Named recipes'), ('code', 'show_doc(lift)')))}
    assert dead_links(_nb(('markdown', 'see [a](recipes.html#lift), [b](recipes.html#named-recipes), [c](recipes.html#balanced_softmax), [d](nope.html#x)')), pages) == \
        ['recipes.html#balanced_softmax: no such anchor', 'nope.html#x: no such page']
    assert dead_name_links(_nb(('markdown', 'start with `lift`, not `balanced_softmax` or `other`')), pages,
                           {'lift': 'recipes.html#lift', 'balanced_softmax': 'recipes.html#balanced_softmax'}) == \
        ['`balanced_softmax` -> recipes.html#balanced_softmax: no such anchor']
