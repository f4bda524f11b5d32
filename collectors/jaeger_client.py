"""Client for the Jaeger Query HTTP API: the classic JSON API (``/api/services``,
``/api/traces``; Jaeger 1.x and 2.x up to 2.20) and api_v3 (``/api/v3/services``,
``/api/v3/traces`` answering OTLP JSON; 404 there means "no traces").

A query returns at most ``limit`` traces, so :meth:`JaegerClient.collect` pages through a
time range by splitting a window in two whenever its answer comes back full, queries every
service, and keeps each span once (the same trace comes back for each service it touches).
Requests time out, are retried with exponential back-off on connection errors, timeouts,
429 and 5xx, and raise :class:`CollectError` naming the URL and the HTTP status.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime

import pandas as pd

from collectors.errors import CollectError
from collectors.jaeger_format import jaeger_rows, rows_to_spanframe
from collectors.otlp import otlp_rows
from core.times import to_us

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def rfc3339(us: int) -> str:
    """Microseconds since the epoch -> RFC 3339 with nanosecond digits, UTC."""
    seconds, micros = divmod(int(us), 1_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}000Z"


def json_documents(body: str, url: str) -> list:
    """One JSON document, or several concatenated (api_v3 streams one per chunk)."""
    decoder = json.JSONDecoder()
    documents, position, text = [], 0, body.strip()
    while position < len(text):
        try:
            document, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise CollectError(f"{url}: answer is not JSON ({exc.msg} at character {exc.pos}): {text[:120]!r}") from exc
        documents.append(document)
        position = end
        while position < len(text) and text[position] in " \r\n\t,":
            position += 1
    if not documents:
        raise CollectError(f"{url}: empty answer")
    return documents


class JaegerClient:
    """Collect spans from a Jaeger Query service.

    ``api`` is ``"auto"`` (api_v3 when the server answers it, else the classic API), ``"v3"``
    or ``"v1"``. ``limit`` is the number of traces asked per query; ``min_window_us`` the
    shortest window paging will split down to (a window still full at that width is counted
    in ``attrs["truncated_windows"]``).
    """

    def __init__(
        self,
        url: str,
        *,
        api: str = "auto",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        limit: int = 1000,
        min_window_us: int = 1_000,
        progress: bool = True,
    ):
        if api not in ("auto", "v1", "v3"):
            raise CollectError(f"api must be 'auto', 'v1' or 'v3', got {api!r}")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise CollectError(f"url: expected the Jaeger query service's http(s) URL, got {url!r}")
        for name, value, low in (("timeout", timeout, 0.0), ("backoff", backoff, 0.0)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < low
            ):
                raise CollectError(f"{name}: expected a finite number of seconds >= {low:g}, got {value!r}")
        if timeout == 0:
            raise CollectError("timeout: must be more than 0 seconds")
        for name, value, low in (("retries", retries, 0), ("limit", limit, 1), ("min_window_us", min_window_us, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise CollectError(f"{name}: expected an integer >= {low}, got {value!r}")
        self.url = url.rstrip("/")
        self.api = api
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.limit = limit
        self.min_window_us = min_window_us
        self.progress = progress
        self._depth_names: tuple[str, ...] | None = None

    def _get(self, path: str, params: dict | None = None, *, not_found_ok: bool = False) -> str | None:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, headers={"Accept": "application/json"})
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", "replace")[:200] if exc.fp else ""
                if exc.code == 404 and not_found_ok:
                    return None
                last = CollectError(f"{url}: HTTP {exc.code} {exc.reason}: {body!r}")
                if exc.code not in RETRY_STATUS:
                    raise last from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = CollectError(f"{url}: request failed ({type(reason).__name__}: {reason})")
        raise CollectError(f"{last} (after {self.retries + 1} attempts)")

    def _resolve_api(self) -> str:
        if self.api != "auto":
            return self.api
        try:
            body = self._get("/api/v3/services", not_found_ok=True)
            if body is not None:
                document = json.loads(body)
                if isinstance(document, dict) and "services" in document:
                    self.api = "v3"
                    return "v3"
        except (CollectError, json.JSONDecodeError):
            pass
        self.api = "v1"
        return "v1"

    def services(self) -> list[str]:
        """Every service name the server knows."""
        if self._resolve_api() == "v3":
            url = f"{self.url}/api/v3/services"
            document = json_documents(self._get("/api/v3/services") or "{}", url)[0]
            names = document.get("services") if isinstance(document, dict) else None
        else:
            url = f"{self.url}/api/services"
            document = json_documents(self._get("/api/services") or "", url)[0]
            if isinstance(document, dict) and document.get("errors"):
                raise CollectError(f"{url}: Jaeger reported errors: {document['errors']}")
            names = document.get("data") if isinstance(document, dict) else None
        if names is None:
            return []
        if not isinstance(names, list):
            raise CollectError(f"{url}: expected a list of services, got {type(names).__name__}")
        return sorted(str(n) for n in names)

    def _get_v3_traces(self, params: dict) -> str | None:
        """GET /api/v3/traces with the trace limit under the name the server accepts: Jaeger 2.x
        reads ``query.search_depth``, older api_v3 gateways ``query.num_traces``; a 400 answer
        moves on to the next naming (both, then each alone) and the working one is kept."""
        variants = (
            [self._depth_names]
            if self._depth_names
            else [("query.search_depth", "query.num_traces"), ("query.num_traces",), ("query.search_depth",)]
        )
        for i, names in enumerate(variants):
            try:
                body = self._get("/api/v3/traces", {**params, **dict.fromkeys(names, self.limit)}, not_found_ok=True)
            except CollectError as exc:
                if "HTTP 400" in str(exc) and i + 1 < len(variants):
                    continue
                raise
            self._depth_names = names
            return body
        return None

    def query(self, service: str, start_us: int, end_us: int) -> tuple[list, int]:
        """Raw answer documents for one service and window, and the number of traces in them."""
        params: dict[str, object]
        if self._resolve_api() == "v3":
            params = {
                "query.service_name": service,
                "query.start_time_min": rfc3339(start_us),
                "query.start_time_max": rfc3339(end_us),
            }
            body = self._get_v3_traces(params)
            if body is None:
                return [], 0
            url = f"{self.url}/api/v3/traces"
            documents = json_documents(body, url)
            traces = set()
            for doc in documents:
                if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                    raise CollectError(f"{url}: Jaeger reported an error: {doc['error']}")
                result = doc.get("result", doc) if isinstance(doc, dict) else None
                if not isinstance(result, dict):
                    raise CollectError(f"{url}: expected OTLP JSON objects, got {type(result).__name__}")
                for rs in result.get("resourceSpans") or []:
                    for scope in (rs or {}).get("scopeSpans") or []:
                        for span in (scope or {}).get("spans") or []:
                            if isinstance(span, dict):
                                traces.add(span.get("traceId"))
            return documents, len(traces)
        params = {"service": service, "start": int(start_us), "end": int(end_us), "limit": self.limit}
        url = f"{self.url}/api/traces"
        document = json_documents(self._get("/api/traces", params) or "", url)[0]
        if not isinstance(document, dict):
            raise CollectError(f"{url}: expected an object with 'data', got {type(document).__name__}")
        if document.get("errors"):
            raise CollectError(f"{url}: Jaeger reported errors: {document['errors']}")
        data = document.get("data") or []
        if not isinstance(data, list):
            raise CollectError(f"{url}: 'data' is not a list of traces")
        return data, len(data)

    def collect(self, start, end, services=None) -> pd.DataFrame:
        """Every span of the given services (default: all) that Jaeger has in ``[start, end)``.

        ``attrs`` on the result: ``skipped`` (as for every loader), ``queries``,
        ``refetched_spans`` (spans that came back more than once and were kept once) and
        ``truncated_windows`` (windows still full at the shortest width).
        """
        start_us, end_us = to_us(start, "start", error=CollectError), to_us(end, "end", error=CollectError)
        if start_us is None or end_us is None or end_us <= start_us:
            raise CollectError(f"collect needs start < end, got {start!r}, {end!r}")
        api = self._resolve_api()
        names = list(services) if services is not None else self.services()
        skipped: Counter[str] = Counter()
        rows: dict[str, list] | None = None
        stats: Counter[str] = Counter()
        seen: set = set()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=len(names) * (end_us - start_us) / 1e6, unit="s", desc="jaeger", file=sys.stderr, leave=False
            )
        try:
            for service in names:
                windows = [(start_us, end_us)]
                while windows:
                    lo, hi = windows.pop()
                    documents, n_traces = self.query(service, lo, hi)
                    stats["queries"] += 1
                    if n_traces >= self.limit and hi - lo > self.min_window_us:
                        middle = lo + (hi - lo) // 2
                        windows += [(middle, hi), (lo, middle)]
                        continue
                    if n_traces >= self.limit:
                        stats["truncated_windows"] += 1
                    documents = _drop_seen(documents, api, seen, stats)
                    part = otlp_rows(documents, skipped) if api == "v3" else jaeger_rows(documents, skipped)
                    if rows is None:
                        rows = part
                    else:
                        for key, values in part.items():
                            rows[key].extend(values)
                    if bar is not None:
                        bar.update((hi - lo) / 1e6)
        finally:
            if bar is not None:
                bar.close()
        if rows is None:
            rows = otlp_rows([], skipped) if api == "v3" else jaeger_rows([], skipped)
        frame = pd.DataFrame(rows)
        before = len(frame)
        if before:
            frame = frame.drop_duplicates(subset=["trace_id", "span_id"], keep="first")
            keep = (frame["start_us"] >= start_us) & (frame["start_us"] < end_us)
            outside = int((~keep).sum())
            frame = frame.loc[keep]
        else:
            outside = 0
        refetched = before - outside - len(frame) + stats["refetched_spans"]
        result = rows_to_spanframe({c: frame[c].tolist() for c in frame.columns}, f"{self.url} ({api})", skipped)
        result.attrs.update(
            {
                "queries": stats["queries"],
                "refetched_spans": refetched,
                "truncated_windows": stats["truncated_windows"],
                "outside_window": outside,
            }
        )
        return result


def _drop_seen(documents: list, api: str, seen: set, stats: Counter) -> list:
    """Leave out traces collected by an earlier query (a trace comes back for every service it
    touches, and Jaeger answers with whole traces); remember the new ones in ``seen``."""
    new: set = set()
    if api != "v3":
        kept = []
        for trace in documents:
            trace_id = trace.get("traceID") if isinstance(trace, dict) else None
            if trace_id is not None and trace_id in seen:
                stats["refetched_spans"] += len(trace.get("spans") or [])
                continue
            if trace_id is not None:
                new.add(trace_id)
            kept.append(trace)
        seen.update(new)
        return kept
    for document in documents:
        result = document.get("result", document) if isinstance(document, dict) else None
        if not isinstance(result, dict):
            continue
        for resource_spans in result.get("resourceSpans") or []:
            for scope in (resource_spans or {}).get("scopeSpans") or []:
                if not isinstance(scope, dict) or not isinstance(scope.get("spans"), list):
                    continue
                kept = []
                for span in scope["spans"]:
                    trace_id = span.get("traceId") if isinstance(span, dict) else None
                    if trace_id is not None and trace_id in seen:
                        stats["refetched_spans"] += 1
                        continue
                    if trace_id is not None:
                        new.add(trace_id)
                    kept.append(span)
                scope["spans"] = kept
    seen.update(new)
    return documents
