"""Detectors by name: the registry that ``rca``, the monitor, the CLI and the benchmarks read.

``register("name")`` is a class decorator; :func:`make_detector` builds a validated detector from a
name (or a class, or an instance to copy) and parameters. Unknown names and unknown parameters
are :class:`core.DetectorError` messages that list the valid ones. Detectors from other packages
register themselves the same way (the command line loads them as plugins, see
``application.plugins``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from core.detector import Detector, DetectorError

DETECTORS: dict[str, type[Detector]] = {}
"""Name -> detector class, for every detector whose module is imported."""

LAZY: dict[str, str] = {}
"""Name -> ``"module:Class"`` for detectors registered without importing their module (heavy
dependencies such as PyTorch or xgboost are imported only when the detector is used)."""

D = TypeVar("D", bound=type[Detector])


def register(name: str, *, replace: bool = False) -> Callable[[D], D]:
    """Class decorator: make a :class:`core.Detector` subclass available as ``name``."""
    if not isinstance(name, str) or not name.strip() or name != name.strip().lower():
        raise DetectorError(f"detector name must be non-empty lower-case text, got {name!r}")

    def decorate(cls: D) -> D:
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise DetectorError(f"register({name!r}): {cls!r} is not a core.Detector subclass")
        if name in DETECTORS and DETECTORS[name] is not cls and not replace:
            raise DetectorError(f"detector {name!r} is already registered ({DETECTORS[name].__qualname__})")
        if name in LAZY and not LAZY[name].endswith(f":{cls.__name__}") and not replace:
            raise DetectorError(f"detector {name!r} is already registered ({LAZY[name]})")
        DETECTORS[name] = cls
        return cls

    return decorate


def register_lazy(name: str, target: str) -> None:
    """Register ``name`` for the class at ``"module:Class"``, imported on first use."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise DetectorError(f"register_lazy({name!r}): target must be 'module:Class', got {target!r}")
    if name in DETECTORS or (name in LAZY and LAZY[name] != target):
        raise DetectorError(f"detector {name!r} is already registered")
    LAZY[name] = target


def available() -> list[str]:
    """The registered names (imported or lazy), sorted."""
    return sorted(set(DETECTORS) | set(LAZY))


def detector_class(name: str) -> type[Detector]:
    """The class registered as ``name`` (importing its module if it was registered lazily)."""
    if isinstance(name, str) and name not in DETECTORS and name in LAZY:
        module, _, attr = LAZY[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise DetectorError(f"detector {name!r}: {LAZY[name]} is not a core.Detector subclass")
        DETECTORS[name] = cls
    try:
        return DETECTORS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), available(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DetectorError(f"unknown detector {name!r}{hint}; registered: {', '.join(available())}") from None


def name_of(detector: Detector | type[Detector]) -> str:
    """The registry name of a detector (class or instance), else its class name."""
    cls = detector if isinstance(detector, type) else type(detector)
    for name, registered in DETECTORS.items():
        if registered is cls:
            return name
    return cls.__name__


def make_detector(spec: str | type[Detector] | Detector, **params: Any) -> Detector:
    """A new, unfitted, validated detector.

    ``spec`` is a registered name, a :class:`core.Detector` subclass, or an instance whose
    parameters are copied (``params`` override them).
    """
    if isinstance(spec, Detector):
        detector = spec.clone().set_params(**params) if params else spec.clone()
    elif isinstance(spec, type) and issubclass(spec, Detector):
        detector = spec(**params)
    elif isinstance(spec, str):
        detector = detector_class(spec)(**params)
    else:
        raise DetectorError(f"detector: expected a registered name, a Detector class or instance, got {spec!r}")
    return detector.validate()
