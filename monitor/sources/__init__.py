"""Span sources of the monitor (see monitor.protocols.Source)."""
