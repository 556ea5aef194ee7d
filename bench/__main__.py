"""`python -m bench`, which `make bench` runs: every benchmark, then docs/performance.md (see bench/run_all.py)."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the benchmarks import each other as plain modules (`import common`)
runpy.run_path(str(HERE / "run_all.py"), run_name="__main__")
