"""Fuzz helpers: a watchdog per input (a hang is a failure, not a wait) and the outcome rule.

The rule every public entry point must keep: for any input, the outcome is a result or an error
of the framework (``core.FrameworkError``); never another exception type, never a hang.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, settings

from core.errors import FrameworkError

HANG_SECONDS = 30
"""No single input may take longer (a generous bound: hangs, not speed, are what it catches)."""
CORPUS = Path(__file__).parent / "corpus"

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
"""``FUZZ_EXAMPLES=500 pytest tests/fuzz``: a longer, random run (the default, in make test, is short
and derandomized so that CI is repeatable)."""
settings.register_profile(
    "fuzz",
    max_examples=EXAMPLES or 15,
    deadline=None,
    derandomize=not EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("fuzz")


class Hang(AssertionError):
    pass


@contextmanager
def watchdog(seconds: float = HANG_SECONDS):
    def fire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def outcome(fn, *args, **kwargs):
    """``("result", value)`` or ``("error", exc)`` for a FrameworkError; anything else propagates
    (and fails the test with its traceback)."""
    with watchdog():
        try:
            return "result", fn(*args, **kwargs)
        except FrameworkError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return "error", exc
