"""Event sinks of the monitor (see monitor.protocols.Sink)."""
