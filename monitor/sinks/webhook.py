"""Incident events as JSON POSTs to a URL, sent from a worker thread with retries and back-off.

:meth:`WebhookSink.emit` only puts the event on a bounded queue: it never waits for the network.
When the queue is full the event is dropped and counted (``stats["dropped"]``), with a warning
logged at the first drop and every 100th after it. The worker retries connection errors,
timeouts, 429 and 5xx answers ``retries`` times, waiting ``backoff_s * 2**attempt`` seconds (at
most ``max_backoff_s``; a ``Retry-After`` in seconds is honoured within the same cap); any other
answer is final.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.errors import MonitorError
from monitor.sinks.jsonl import INCIDENT_EVENTS, to_json_line

_log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class WebhookSink:
    """POST each event named in ``events`` to ``url`` as ``application/json``.

    ``stats``: ``queued``, ``sent``, ``retries`` (attempts after the first), ``failed`` (given up:
    retries exhausted or a final answer), ``dropped`` (queue full), ``dropped_at_close`` (still
    queued when :meth:`close` ran out of ``close_timeout_s``).
    """

    def __init__(
        self,
        url: str,
        *,
        events: Iterable[str] = INCIDENT_EVENTS,
        queue_size: int = 1000,
        retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        close_timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MonitorError(f"WebhookSink: url must be an http:// or https:// URL, got {url!r}")
        for name, value in (("queue_size", queue_size), ("retries", retries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "queue_size" else 0):
                raise MonitorError(
                    f"WebhookSink: {name} must be an integer >= {int(name == 'queue_size')}, got {value!r}"
                )
        for name, number in (
            ("backoff_s", backoff_s),
            ("max_backoff_s", max_backoff_s),
            ("timeout_s", timeout_s),
            ("close_timeout_s", close_timeout_s),
        ):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not number >= 0:
                raise MonitorError(f"WebhookSink: {name} must be a number of seconds >= 0, got {number!r}")
        self.url = url
        self.events = frozenset(events)
        self.queue_size = queue_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.close_timeout_s = close_timeout_s
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.stats: dict[str, int] = dict.fromkeys(
            ("queued", "sent", "retries", "failed", "dropped", "dropped_at_close"), 0
        )
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, event: Mapping[str, Any]) -> None:
        if event.get("event") not in self.events:
            return
        if self._closing.is_set():
            raise MonitorError(f"WebhookSink({self.url}): closed")
        body = to_json_line(event, f"WebhookSink({self.url})").encode()
        self._ensure_worker()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            dropped = self._add("dropped")
            if dropped == 1 or dropped % 100 == 0:
                _log.warning(
                    "webhook %s: queue of %d events full; %d event(s) dropped", self.url, self.queue_size, dropped
                )
            return
        self._add("queued")

    def wait_idle(self, timeout_s: float) -> bool:
        """True once every queued event was sent or given up on, within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.stats["sent"] + self.stats["failed"] >= self.stats["queued"]:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Deliver what is queued for up to ``close_timeout_s``, then stop (counting what is left)."""
        self._closing.set()
        thread = self._thread
        if thread is not None:
            thread.join(self.close_timeout_s)
            self._abort.set()
            thread.join(self.timeout_s + 1)
        left = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            left += 1
        if left:
            self._add("dropped_at_close", left)
            _log.warning("webhook %s: %d event(s) not delivered before close", self.url, left)

    def _add(self, key: str, n: int = 1) -> int:
        with self._lock:
            self.stats[key] += n
            return self.stats[key]

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="webhook-sink", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while not self._abort.is_set():
            try:
                body = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            self._deliver(body)

    def _deliver(self, body: bytes) -> None:
        for attempt in range(self.retries + 1):
            if attempt:
                self._add("retries")
            status, retry_after = self._post(body)
            if status is not None and 200 <= status < 300:
                self._add("sent")
                return
            if status is not None and status not in RETRY_STATUS:
                _log.warning("webhook %s answered HTTP %d; event not delivered", self.url, status)
                break
            if attempt == self.retries:
                _log.warning("webhook %s: event not delivered after %d attempts", self.url, attempt + 1)
                break
            delay = min(self.max_backoff_s, retry_after if retry_after is not None else self.backoff_s * 2**attempt)
            if self._abort.wait(delay):
                break
        self._add("failed")

    def _post(self, body: bytes) -> tuple[int | None, float | None]:
        """(HTTP status or None for a connection error or timeout, Retry-After seconds or None)."""
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            exc.close()
            after = exc.headers.get("Retry-After") if exc.headers is not None else None
            return exc.code, float(after) if after is not None and after.strip().isdigit() else None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            _log.debug("webhook %s: %s", self.url, exc)
            return None, None
