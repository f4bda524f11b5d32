"""Imported first by the benchmark scripts: drop this folder from ``sys.path`` and put the checkout
it belongs to first.

Python puts a script's folder first on ``sys.path``, and ``benchmarks/detectors.py`` (the detector
table) would then hide the framework's ``detectors`` package from every script run from here; and
without the checkout first, a script run from another checkout would measure an installed copy.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
