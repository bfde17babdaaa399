import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def nbdev_cmd(name):
    "Path of an nbdev console script installed beside this Python"
    p = BIN / name
    return str(p) if p.exists() else name

@pytest.fixture
def root(): return ROOT
