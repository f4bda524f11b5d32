"""Detectors and ranking methods from outside the framework.

A plugin is a Python module that registers detectors (``@detectors.register("name")``) and/or
ranking methods (``@rca.ranking_method("name")``) when it is imported. The command line imports
the modules given with ``rca --plugin MODULE`` (repeatable) or listed in ``$RCA_PLUGINS``
(comma-separated), and every entry point of the groups ``rca_fluxev.detectors`` (a
:class:`core.Detector` subclass) and ``rca_fluxev.methods`` (a ranking function) that installed
packages declare, so what they register shows up in every command and report.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

import detectors
import rca
from application.errors import UsageError
from core.detector import Detector

DETECTOR_GROUP = "rca_fluxev.detectors"
METHOD_GROUP = "rca_fluxev.methods"
ENV_VAR = "RCA_PLUGINS"


def import_modules(names: list[str]) -> list[str]:
    """Import each plugin module; a module that cannot be imported is a UsageError naming it."""
    loaded = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"--plugin {name}: cannot import it ({exc}); is it on PYTHONPATH?") from exc
        loaded.append(name)
    return loaded


def load_entry_points() -> list[str]:
    """Register the detectors and methods that installed packages declare; returns their names."""
    loaded = []
    for point in entry_points(group=DETECTOR_GROUP):
        obj = point.load()
        if not (isinstance(obj, type) and issubclass(obj, Detector)):
            raise UsageError(f"entry point {point.name} = {point.value} ({DETECTOR_GROUP}): not a core.Detector class")
        if detectors.DETECTORS.get(point.name) is not obj:
            detectors.register(point.name)(obj)
        loaded.append(point.name)
    for point in entry_points(group=METHOD_GROUP):
        fn = point.load()
        if rca.METHODS.get(point.name) is not fn:
            rca.ranking_method(point.name)(fn)
        loaded.append(point.name)
    return loaded


def load_all(modules: list[str]) -> list[str]:
    """Entry points, then ``$RCA_PLUGINS``, then the ``--plugin`` modules."""
    names = load_entry_points()
    names += import_modules(os.environ.get(ENV_VAR, "").split(","))
    names += import_modules(modules)
    return names
