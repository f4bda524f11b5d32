"""Sub-commands of the ``rca`` CLI contributed by this package."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands to the ``rca`` parser."""
