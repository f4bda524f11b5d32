"""Span sources of the monitor (see monitor.protocols.Source).

- :class:`monitor.sources.otlp.OTLPReceiver`: an OTLP/HTTP receiver (``POST /v1/traces``);
- :class:`monitor.sources.jaeger.JaegerPoller`: incremental polling of a Jaeger Query service.

Each module is imported on its own (the receiver brings FastAPI and uvicorn).
"""
