import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def _load_benchmark(name: str) -> None:
    """Import ``benchmarks/<name>.py`` as module ``name`` without leaving ``benchmarks/`` on the path
    (its ``detectors.py`` would shadow the ``detectors`` package); ``benchmarks/_benchpath.py`` is
    loaded the same way, as the script's first import expects."""
    if "_benchpath" not in sys.modules and name != "_benchpath":
        _load_benchmark("_benchpath")
    spec = importlib.util.spec_from_file_location(name, HERE.parents[1] / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load_benchmark("malformed_inputs")  # the catalog of malformed inputs and their oracles
