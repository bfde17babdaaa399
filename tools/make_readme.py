"""Write README.md from nbs/index.ipynb.

nbdev renders the README with Quarto (`nbdev-readme`); this small renderer keeps README.md in step with the
landing-page notebook where Quarto is not installed. Markdown cells are copied, code cells become ```python
blocks followed by their text output; cells marked `#| hide` and stderr output are left out and `#|` directives are dropped.

Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _text_output(out):
    if out.get('output_type') == 'stream':  # stderr (warnings, progress) is not documentation
        return '' if out.get('name') == 'stderr' else ''.join(out.get('text', ''))
    data = out.get('data', {})
    if 'text/markdown' in data: return None  # rendered markdown is shown as markdown below
    return ''.join(data.get('text/plain', ''))

def render(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    "The README text for the notebook at `nb_path`"
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    parts = []
    for cell in nb['cells']:
        src = _src(cell).strip()
        if cell['cell_type'] == 'markdown':
            if src: parts.append(src)
            continue
        if cell['cell_type'] != 'code': continue
        lines = src.splitlines()
        directives = [l.strip() for l in lines if l.strip().startswith('#|')]
        if any(d.replace(' ', '') in ('#|hide', '#|include:false') for d in directives): continue
        code = '\n'.join(l for l in lines if not l.strip().startswith('#|')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for out in cell.get('outputs', []):
            md = out.get('data', {}).get('text/markdown')
            if md: parts.append(''.join(md).strip()); continue
            txt = _text_output(out)
            if txt and txt.strip(): parts.append(f"```\n{txt.rstrip()}\n```")
    return HEADER + '\n\n'.join(parts) + '\n'

def main(argv=sys.argv[1:]):
    readme, text = ROOT / 'README.md', render()
    if '--check' in argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print("README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`")
            return 1
        return 0
    readme.write_text(text, encoding='utf-8')
    return 0

if __name__ == '__main__': sys.exit(main())
