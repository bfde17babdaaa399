import os, sys
from pathlib import Path
import pytest

# Tests run in two worker processes (pytest-xdist, `addopts` in pyproject.toml), and each notebook in a subprocess of
# its worker: one torch thread per process, because on two cores two processes with two threads each slow each other
# down many times over, and the small test models train fastest on one thread anyway.
for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(var, '1')

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def nbdev_cmd(name):
    "Path of an nbdev console script installed beside this Python"
    p = BIN / name
    return str(p) if p.exists() else name

@pytest.fixture
def root(): return ROOT

def load_benchmark(name):
    "Import `benchmarks/<name>.py` as a module (the benchmarks are scripts, not part of the package)"
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, ROOT / 'benchmarks' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def pytest_collection_modifyitems(items):
    "The notebook groups first and the other long runs next: the two workers then share the short tests at the end"
    first = {'test_notebooks[': 0, 'test_docs_processing': 0, 'test_interrupted_run': 1, 'test_train_then_predict': 1,
             'test_two_workers': 1, 'test_demo_writes_table': 1, 'test_ranks_split': 1}
    items.sort(key=lambda it: next((v for k, v in first.items() if it.name.startswith(k)), 2))
