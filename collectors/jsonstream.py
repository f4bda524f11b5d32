"""Incremental reading of large JSON span files: one trace (or resource) at a time.

A Jaeger UI export ``{"data": [trace, ...]}``, a bare list of traces and an OTLP file
``{"resourceSpans": [...]}`` are decoded element by element from a text stream, so memory holds
one element and a read buffer, not the whole document. Other top-level members are decoded whole
and returned; a document with no such array (one trace object, api_v3's ``{"result": ...}``) is
returned whole, as :func:`json.load` would.

Nesting deeper than Python's decoder can follow is a :class:`CollectError`, not a
``RecursionError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from collectors.errors import CollectError

STREAMED_KEYS = ("data", "resourceSpans")
CHUNK = 1 << 20
_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class _Reader:
    """A text stream with a buffer that grows on demand and is trimmed behind the decoder."""

    def __init__(self, handle: IO[str], source: str):
        self.handle, self.source = handle, source
        self.buf, self.pos, self.eof = "", 0, False

    def more(self, size: int = CHUNK) -> bool:
        if self.eof:
            return False
        text = self.handle.read(size)
        if not text:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode one JSON value starting at the next character."""
        self.peek()
        size = CHUNK
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.more(size):
                    size *= 2
                    continue
                raise self.error(exc.msg) from exc
            except RecursionError as exc:
                raise CollectError(
                    f"{self.source}: JSON nested deeper than the decoder can follow; not a span file"
                ) from exc
            if end == len(self.buf) and not self.eof and isinstance(value, (int, float)) and self.more(size):
                continue  # a number cut at the buffer's end: decode it again with what follows
            self.pos = end
            return value

    def error(self, what: str) -> CollectError:
        consumed = self.buf[: self.pos]
        return CollectError(f"{self.source}: invalid JSON near character {self.pos} ({what}): {consumed[-40:]!r}")


def iter_elements(handle: IO[str], source: str) -> Iterator[tuple[str | None, Any]]:
    """``(key, element)`` for each element of the streamed arrays (key None for a top-level list),
    then ``(None, rest)`` with the other top-level members (a dict) or the whole document when
    nothing was streamed."""
    reader = _Reader(handle, source)
    first = reader.peek()
    if first == "\ufeff":
        reader.pos += 1
        first = reader.peek()
    if first == "[":
        reader.pos += 1
        yield from ((None, element) for element in _array(reader))
        _end(reader)
        return
    if first != "{":
        document = reader.value()
        _end(reader)
        yield None, document
        return
    reader.pos += 1
    rest: dict[str, Any] = {}
    streamed = False
    if reader.peek() == "}":
        reader.pos += 1
    else:
        while True:
            key = reader.value()
            if not isinstance(key, str):
                raise reader.error("expected a member name")
            reader.expect(":")
            if key in STREAMED_KEYS and reader.peek() == "[":
                reader.pos += 1
                streamed = True
                for element in _array(reader):
                    yield key, element
            else:
                rest[key] = reader.value()
            following = reader.peek()
            reader.pos += 1
            if following == "}":
                break
            if following != ",":
                raise reader.error("expected ',' or '}'")
    _end(reader)
    yield None, ({"_streamed": True, **rest} if streamed else rest)


def _array(reader: _Reader) -> Iterator[Any]:
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        yield reader.value()
        following = reader.peek()
        reader.pos += 1
        if following == "]":
            return
        if following != ",":
            raise reader.error("expected ',' or ']'")


def _end(reader: _Reader) -> None:
    if reader.peek() != "":
        raise reader.error("text after the end of the document")
