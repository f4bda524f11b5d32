"""Coverage-guided fuzzing of ``collectors.read_spans`` with atheris (libFuzzer).

    python tests/fuzz/atheris_readers.py -runs=2000 tests/fuzz/corpus

Each input is written to a file under a name libFuzzer's first byte chooses (so every format's
detector and reader is reached) and read; a ``CollectError`` is a correct answer, any other
exception a finding (libFuzzer stops and saves the input as ``crash-*``). The seed corpus is
``tests/fuzz/corpus``. ``test_atheris.py`` runs a bounded number of inputs in ``make test``.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import atheris
import numpy  # noqa: F401 - the libraries are imported first, so that only this framework's code is instrumented
import pandas  # noqa: F401
import pyarrow.csv
import pyarrow.parquet  # noqa: F401

with atheris.instrument_imports(include=["collectors", "core"]):
    from collectors import CollectError, read_spans

NAMES = ("spans.json", "spans.jsonl", "traces.csv", "00_01_trace.csv", "spans.parquet", "x.json.gz")
FOLDER = Path(tempfile.mkdtemp(prefix="atheris-readers-"))


def one_input(data: bytes) -> None:
    if not data:
        return
    path = FOLDER / NAMES[data[0] % len(NAMES)]
    path.write_bytes(data[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_spans(path)
        except CollectError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
