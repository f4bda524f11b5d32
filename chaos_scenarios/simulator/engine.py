"""Vectorized traffic simulation: whole request populations per page type, not one object per span.

For a window ``[start, end]`` the engine

1. draws the load generator's tasks minute by minute (Poisson arrivals at the rate the current
   number of users gives, task mix of ``locustfile.py``) and expands them into page requests;
2. for every page type, draws all random quantities of all calls of all its requests at once
   (arrays of shape requests x calls);
3. walks each page's call tree once per call (not per request) with numpy: pod choice and
   retries, fault effects on the two network legs of every call, sequential children that stop
   at the first fatal error, client deadlines;
4. turns the work that reached every pod in every 1-second slice into a queueing delay
   (Sakasegawa's M/M/c approximation below saturation, a fluid backlog above it) and walks the
   trees a second time with those delays;
5. emits a client span (if the caller is instrumented) and a server span (if the callee is) per
   call, with ids, parents, pods and status codes.

Approximations (see ``docs/simulator.md``): arrivals are open-loop (closed-loop feedback only for
HTTP delay); every call of a request sees the pod state, fault state and queueing slice of the
request's arrival time; queueing delay is drawn per call as exponential around the slice's mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chaos_scenarios.simulator import model
from chaos_scenarios.simulator.model import SERVICES

SLICE_S = 1.0
LOADGEN = -1
GRPC_OK, GRPC_DEADLINE, GRPC_INTERNAL, GRPC_UNAVAILABLE = 0, 4, 13, 14


@dataclass
class Effects:
    """Fault effects over a window, in the form the engine applies them.

    ``down``: (slot, from, to) intervals where a pod refuses connections.
    ``slowdown``/``pause_prob``/``pause_s``: per (slot, slice) arrays.
    ``network``: rules dicts with ``sel``/``tgt`` slot arrays (tgt None = any peer), ``to``/``from``
    flags, ``action``, parameters and ``[t0, t1)``. ``http``: rules for the frontend.
    """

    t_base: float
    n_slices: int
    n_slots: int
    down: list[tuple[int, float, float]] = field(default_factory=list)
    slowdown: np.ndarray = field(init=False)
    pause_prob: np.ndarray = field(init=False)
    pause_s: np.ndarray = field(init=False)
    network: list[dict] = field(default_factory=list)
    http: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        shape = (self.n_slots, self.n_slices)
        self.slowdown = np.ones(shape)
        self.pause_prob = np.zeros(shape)
        self.pause_s = np.zeros(shape)

    def slice_range(self, t0: float, t1: float) -> slice:
        a = int(np.clip(np.floor((t0 - self.t_base) / SLICE_S), 0, self.n_slices))
        b = int(np.clip(np.ceil((t1 - self.t_base) / SLICE_S), 0, self.n_slices))
        return slice(a, b)


class Template:
    """A page's call tree flattened in pre-order, with everything static about each call."""

    def __init__(self, page: model.Page, slots_of: dict[str, np.ndarray], names: Names) -> None:
        self.page = page
        nodes: list[tuple[model.Call, int, int]] = []  # (call, parent, repeat slot)

        def walk(call: model.Call, parent: int) -> None:
            for r in range(call.repeat_max):
                nodes.append((call, parent, r))
                me = len(nodes) - 1
                for child in call.children:
                    walk(child, me)

        walk(page.root, -1)
        self.k = len(nodes)
        self.parent = np.array([p for _, p, _ in nodes])
        self.children: list[list[int]] = [[] for _ in nodes]
        for i, (_, p, _) in enumerate(nodes):
            if p >= 0:
                self.children[p].append(i)
        self.calls = [c for c, _, _ in nodes]
        self.repeat = [(c.repeat, r) for c, _, r in nodes]
        callee = [c.callee for c in self.calls]
        caller = ["loadgenerator" if p < 0 else callee[p] for p in self.parent]
        self.callee, self.caller = callee, caller
        self.slots = [slots_of[s] for s in callee]
        self.client_span = np.array(
            [p >= 0 and SERVICES[caller[i]].emits_client_spans for i, p in enumerate(self.parent)]
        )
        self.server_span = np.array([SERVICES[s].emits_server_spans for s in callee])
        self.ignore = np.array([c.ignore_errors for c in self.calls])
        self.timeout = np.array([c.timeout_s if c.timeout_s else model.RPC_TIMEOUT_S for c in self.calls])
        self.new_trace = np.array([c.new_trace for c in self.calls])
        self.time_params = np.array([model.SERVICE_TIME_MS[(c.callee, c.method)] for c in self.calls])
        self.throttle_own = np.array([SERVICES[s].throttle_prob for s in callee])
        self.throttle_client = np.array([SERVICES[s].throttle_prob if s in SERVICES else 0.0 for s in caller])
        self.overhead_params = np.array(
            [SERVICES[caller[i]].client_overhead_ms if p >= 0 else (0.0, 0.0) for i, p in enumerate(self.parent)]
        )
        self.service_code = np.array([names.service(s) for s in callee])
        self.caller_code = np.array([names.service(s) if s != "loadgenerator" else -1 for s in caller])
        self.server_op = np.array(
            [
                names.operation(c.method if c is page.root else model.server_operation(c.callee, c.method))
                for c in self.calls
            ]
        )
        self.client_op = np.array(
            [
                names.operation(model.client_operation(caller[i], c.callee, c.method)) if self.client_span[i] else -1
                for i, c in enumerate(self.calls)
            ]
        )
        self.rpc_service = np.array(
            [
                names.rpc_service(SERVICES[c.callee].rpc_service) if SERVICES[c.callee].rpc_service else -1
                for c in self.calls
            ]
        )
        self.rpc_method = np.array(
            [names.rpc_method(c.method) if SERVICES[c.callee].rpc_service else -1 for c in self.calls]
        )
        self.n_new = int(self.new_trace.sum())


class Names:
    """Interned strings for the categorical output columns."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, int]] = {k: {} for k in ("service", "operation", "rpc_service", "rpc_method")}

    def _code(self, table: str, text: str) -> int:
        return self._tables[table].setdefault(text, len(self._tables[table]))

    def service(self, text: str) -> int:
        return self._code("service", text)

    def operation(self, text: str) -> int:
        return self._code("operation", text)

    def rpc_service(self, text: str) -> int:
        return self._code("rpc_service", text)

    def rpc_method(self, text: str) -> int:
        return self._code("rpc_method", text)

    def lists(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._tables.items()}


@dataclass
class Requests:
    """Page requests of one type: arrival time, trace ids, per-call random draws."""

    t: np.ndarray
    items: np.ndarray
    draws: dict[str, np.ndarray]


def users_at(t: np.ndarray | float, base_users: float, amplitude: float) -> np.ndarray:
    """Diurnal load: users rise from a night low to an afternoon peak (peak at 15:00 UTC)."""
    hour = (np.asarray(t) % 86400.0) / 3600.0
    return base_users * (1.0 + amplitude * np.cos(2 * np.pi * (hour - 15.0) / 24.0))


def _lognormal(rng: np.random.Generator, params: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    median_ms, sigma = params[..., 0], params[..., 1]
    return median_ms * 1e-3 * np.exp(sigma * rng.standard_normal(size))


def draw_minute(
    rng: np.random.Generator, minute_start: float, rate_per_s: float, templates: dict[str, Template]
) -> dict[str, Requests]:
    """All page requests whose task starts in one minute, with every random number they need."""
    task_names = list(model.TASKS)
    weights = np.array([model.TASKS[t][0] for t in task_names], dtype=float)
    n_tasks = rng.poisson(rate_per_s * 60.0)
    task_t = minute_start + np.sort(rng.random(n_tasks)) * 60.0
    task = rng.choice(len(task_names), size=n_tasks, p=weights / weights.sum())
    cart_after_add = 1 + rng.binomial(model.MAX_CART_ITEMS - 1, 0.4, n_tasks)
    cart_browsing = rng.binomial(model.MAX_CART_ITEMS, 0.35, n_tasks)
    per_page: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {p: [] for p in templates}
    for ti, name in enumerate(task_names):
        sel = task == ti
        if not sel.any():
            continue
        times = task_t[sel]
        adds = "addToCart" in model.TASKS[name][1]
        items = np.where(adds, cart_after_add[sel], cart_browsing[sel])
        for step, page in enumerate(model.TASKS[name][1]):
            per_page[page].append((times + 0.25 * step, items))
    out = {}
    for page, parts in per_page.items():
        tpl = templates[page]
        t = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        items = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=int)
        n, k = len(t), tpl.k
        tail = rng.random((n, k)) < model.TAIL_PROBABILITY
        hiccup = np.where(tail, _lognormal(rng, np.array(model.TAIL_MS), (n, k)), 0.0)
        draws = {
            "own": _lognormal(rng, tpl.time_params, (n, k)) + hiccup,
            "overhead": _lognormal(rng, tpl.overhead_params, (n, k)),
            "net": _lognormal(rng, np.array(model.NETWORK_LEG_MS), (n, k, 2)),
            "pick": rng.random((n, k, 1 + model.RETRIES)),
            "wait": rng.exponential(1.0, (n, k)),
            "pause": rng.random((n, k, 2)),
            "throttle": rng.random((n, k, 4)),
            "leg": rng.random((n, k, 2, 2)),
            "refused": _lognormal(rng, np.array(model.CONNECT_FAIL_MS), (n, k)),
            "span_id": rng.integers(1, 2**63, (n, k, 2), dtype=np.uint64),
            "trace": rng.integers(1, 2**63, (n, 2), dtype=np.uint64),
            "new_trace": rng.integers(1, 2**63, (n, max(tpl.n_new, 1), 2), dtype=np.uint64),
        }
        out[page] = Requests(t=t, items=items, draws=draws)
    return out


def concat_requests(parts: list[Requests]) -> Requests:
    if not parts:
        raise ValueError("no request parts")
    return Requests(
        t=np.concatenate([p.t for p in parts]),
        items=np.concatenate([p.items for p in parts]),
        draws={k: np.concatenate([p.draws[k] for p in parts]) for k in parts[0].draws},
    )


class Walk:
    """One page type's requests walked through the call tree (both passes share the draws)."""

    def __init__(self, tpl: Template, req: Requests, fx: Effects) -> None:
        self.tpl, self.req, self.fx = tpl, req, fx
        n, k = len(req.t), tpl.k
        self.n = n
        self.slice = np.clip(((req.t - fx.t_base) // SLICE_S).astype(np.int64), 0, fx.n_slices - 1)
        self.count_ok = np.ones((n, k), dtype=bool)
        for i, (var, r) in enumerate(tpl.repeat):
            if var == "items":
                self.count_ok[:, i] = req.items > r
        self._choose_pods()
        self.keep, self.http_shift = _http_effects(fx, tpl.page, req.t, self.pod[:, 0])
        self._network()
        d = req.draws
        slow = fx.slowdown[self.pod, self.slice[:, None]]
        pause = np.where(
            d["pause"][..., 0] < fx.pause_prob[self.pod, self.slice[:, None]],
            d["pause"][..., 1] * fx.pause_s[self.pod, self.slice[:, None]],
            0.0,
        )
        th = d["throttle"]
        stall = np.where(th[..., 0] < tpl.throttle_own * slow, th[..., 1] * model.THROTTLE_PERIOD_S, 0.0)
        self.work = d["own"] * slow
        self.own = self.work + pause + stall
        caller_slow = np.where(
            self.caller_pod >= 0, fx.slowdown[np.maximum(self.caller_pod, 0), self.slice[:, None]], 1.0
        )
        caller_stall = np.where(
            th[..., 2] < tpl.throttle_client * caller_slow, th[..., 3] * model.THROTTLE_PERIOD_S, 0.0
        )
        self.overhead = d["overhead"] * caller_slow + caller_stall
        self.waits = np.zeros((n, k))

    def _choose_pods(self) -> None:
        tpl, d, t = self.tpl, self.req.draws, self.req.t
        n, k = self.n, tpl.k
        self.pod = np.full((n, k), -1, dtype=np.int64)
        self.failed_attempts = np.zeros((n, k), dtype=np.int64)
        self.unavailable = np.zeros((n, k), dtype=bool)
        down_by_slot: dict[int, list[tuple[float, float]]] = {}
        for slot, a, b in self.fx.down:
            down_by_slot.setdefault(slot, []).append((a, b))
        for i in range(k):
            slots = tpl.slots[i]
            chosen = np.full(n, -1, dtype=np.int64)
            fails = np.zeros(n, dtype=np.int64)
            for attempt in range(d["pick"].shape[2]):
                pick = slots[np.minimum((d["pick"][:, i, attempt] * len(slots)).astype(np.int64), len(slots) - 1)]
                is_down = np.zeros(n, dtype=bool)
                for slot in np.unique(pick):
                    for a, b in down_by_slot.get(int(slot), ()):
                        is_down |= (pick == slot) & (t >= a) & (t < b)
                todo = chosen < 0
                chosen = np.where(todo & ~is_down, pick, chosen)
                fails += todo & is_down
                if attempt == 0:
                    first = pick
            self.unavailable[:, i] = chosen < 0
            self.pod[:, i] = np.where(chosen < 0, first, chosen)
            self.failed_attempts[:, i] = fails
        self.caller_pod = np.where(tpl.parent[None, :] >= 0, self.pod[:, np.maximum(tpl.parent, 0)], LOADGEN)

    def _network(self) -> None:
        n, k = self.n, self.tpl.k
        self.extra = np.zeros((n, k, 2))
        self.dropped = np.zeros((n, k, 2), dtype=bool)
        leg = self.req.draws["leg"]
        t = self.req.t[:, None]
        for rule in self.fx.network:
            active = (t >= rule["t0"]) & (t < rule["t1"])
            if not active.any():
                continue
            for side, (src, dst) in enumerate(((self.caller_pod, self.pod), (self.pod, self.caller_pod))):
                hit = active & _affected(rule, src, dst)
                if not hit.any():
                    continue
                action = rule["action"]
                if action == "delay":
                    jitter = rule["jitter_s"] * (2 * leg[:, :, side, 0] - 1)
                    self.extra[:, :, side] += np.where(hit, np.maximum(rule["latency_s"] + jitter, 0.0), 0.0)
                elif action in ("loss", "corrupt"):
                    p = rule["probability"]
                    if p >= 1.0:
                        self.dropped[:, :, side] |= hit
                        continue
                    u = np.maximum(leg[:, :, side, 1], 1e-300)
                    losses = np.floor(np.log(u) / np.log(p)) if p > 0 else np.zeros_like(u)
                    self.extra[:, :, side] += np.where(hit, model.TCP_RTO_S * (2.0 ** np.minimum(losses, 20) - 1), 0.0)
                elif action == "partition":
                    self.dropped[:, :, side] |= hit

    def run(self, keep_times: bool) -> None:
        tpl, n, k = self.tpl, self.n, self.tpl.k
        self.client_dur = np.zeros((n, k))
        self.server_dur = np.zeros((n, k))
        self.code = np.zeros((n, k), dtype=np.int64)
        self.server_err = np.zeros((n, k), dtype=bool)
        self.acted = np.zeros((n, k), dtype=bool)
        self.reached = np.zeros((n, k), dtype=bool)
        self.rel_client = np.zeros((n, k))
        self.rel_server = np.zeros((n, k))
        self._visit(0, self.keep & ~self.unavailable[:, 0] & ~self.dropped[:, 0, 0])
        if keep_times:
            self.client_start = np.zeros((n, k))
            self.server_start = np.zeros((n, k))
            self.server_start[:, 0] = self.req.t + self.http_shift
            self.client_start[:, 0] = self.server_start[:, 0]
            for i in range(1, k):
                p = tpl.parent[i]
                self.client_start[:, i] = self.server_start[:, p] + self.rel_client[:, i]
                self.server_start[:, i] = self.client_start[:, i] + self.rel_server[:, i]

    def _visit(self, i: int, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tpl = self.tpl
        d = self.req.draws
        unavailable = self.unavailable[:, i]
        req_drop, resp_drop = self.dropped[:, i, 0], self.dropped[:, i, 1]
        reach = act & ~unavailable & ~req_drop
        own = self.own[:, i]
        elapsed = self.waits[:, i] + model.PRE_CALL_SHARE * own
        fatal = np.zeros(self.n, dtype=bool)
        for c in tpl.children[i]:
            c_act = reach & ~fatal & self.count_ok[:, c]
            self.rel_client[:, c] = elapsed
            c_dur, c_err = self._visit(c, c_act)
            elapsed = elapsed + np.where(c_act, c_dur, 0.0)
            if not tpl.ignore[c]:
                fatal |= c_act & c_err
        server_dur = elapsed + (1 - model.PRE_CALL_SHARE) * own
        self.server_dur[:, i] = server_dur
        self.server_err[:, i] = fatal
        self.acted[:, i] = act
        self.reached[:, i] = reach
        overhead = self.overhead[:, i]
        net = d["net"][:, i]
        req_leg = net[:, 0] + self.extra[:, i, 0]
        resp_leg = net[:, 1] + self.extra[:, i, 1]
        self.rel_server[:, i] = 0.5 * overhead + req_leg
        client = overhead + req_leg + server_dur + resp_leg
        code = np.where(fatal, GRPC_INTERNAL, GRPC_OK)
        timed_out = (client > tpl.timeout[i]) | req_drop | resp_drop
        client = np.where(timed_out, tpl.timeout[i], client)
        code = np.where(timed_out, GRPC_DEADLINE, code)
        refused = d["refused"][:, i]
        client = np.where(
            unavailable, self.failed_attempts[:, i] * refused, client + self.failed_attempts[:, i] * refused
        )
        code = np.where(unavailable, GRPC_UNAVAILABLE, code)
        self.client_dur[:, i] = client
        self.code[:, i] = code
        return client, code != GRPC_OK

    def demand(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pod, slice, CPU work) of every call that reached a pod; stalls and pauses are not work."""
        mask = self.reached
        return self.pod[mask], np.broadcast_to(self.slice[:, None], mask.shape)[mask], self.work[mask]


def _affected(rule: dict, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Packets src -> dst hit by a NetworkChaos rule (selected pods, optional target, direction)."""
    sel, tgt = rule["sel"], rule["tgt"]
    hit = np.zeros(src.shape, dtype=bool)
    if rule["to"]:
        hit |= np.isin(src, sel) & (True if tgt is None else np.isin(dst, tgt))
    if rule["from"]:
        hit |= np.isin(dst, sel) & (True if tgt is None else np.isin(src, tgt))
    return hit


def queue_waits(
    pods: np.ndarray, slices: np.ndarray, work: np.ndarray, workers: np.ndarray, n_slices: int
) -> np.ndarray:
    """Mean queueing delay per (pod, slice) in seconds.

    Below saturation Sakasegawa's approximation of the M/M/c waiting time,
    ``Wq = E[S] * rho**(sqrt(2(c+1)) - 1) / (c (1 - rho))`` (Sakasegawa 1977), with rho capped at
    0.95; above it a fluid backlog carried from slice to slice, ``B' = max(0, B + (work - c dt) / c)``.
    """
    n_pods = len(workers)
    index = pods * n_slices + slices
    total = np.bincount(index, weights=work, minlength=n_pods * n_slices).astype(float).reshape(n_pods, n_slices)
    count = np.bincount(index, minlength=n_pods * n_slices).reshape(n_pods, n_slices)
    c = workers[:, None].astype(float)
    rho = total / (c * SLICE_S)
    mean_s = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    capped = np.minimum(rho, 0.95)
    wq = mean_s * capped ** (np.sqrt(2 * (c + 1)) - 1) / (c * (1 - capped))
    backlog = np.zeros((n_pods, n_slices))
    carry = np.zeros(n_pods)
    excess = (total - c * SLICE_S) / c
    for s in range(n_slices):
        backlog[:, s] = carry
        carry = np.maximum(0.0, carry + excess[:, s])
    return wq + backlog


@dataclass
class Cluster:
    """Pod slots (one per replica) and the names each slot had over time."""

    slot_service: list[str]
    slot_names: list[list[tuple[float, str]]]

    def slots_of(self) -> dict[str, np.ndarray]:
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.slot_service):
            out.setdefault(s, []).append(i)
        return {s: np.array(v) for s, v in out.items()}

    def workers(self) -> np.ndarray:
        return np.array([SERVICES[s].workers for s in self.slot_service])


def _pod_names(cluster: Cluster, slot: np.ndarray, t: np.ndarray, pod_table: dict[str, int]) -> np.ndarray:
    """Pod-name code for (slot, time); -1 for the load generator."""
    out = np.full(slot.shape, -1, dtype=np.int64)
    for s, history in enumerate(cluster.slot_names):
        mask = slot == s
        if not mask.any():
            continue
        starts = np.array([h[0] for h in history])
        codes = np.array([pod_table.setdefault(h[1], len(pod_table)) for h in history])
        idx = np.clip(np.searchsorted(starts, t[mask], side="right") - 1, 0, len(history) - 1)
        out[mask] = codes[idx]
    return out


def simulate(
    cluster: Cluster,
    fx: Effects,
    start: float,
    end: float,
    seed: int,
    base_users: float,
    amplitude: float,
    think_s: float,
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Span columns (see :func:`spans.build_spanframe`) for page requests arriving in [start, end]."""
    names = Names()
    for s in SERVICES:
        names.service(s)
    pages = model.pages()
    slots_of = cluster.slots_of()
    templates = {p: Template(page, slots_of, names) for p, page in pages.items()}
    first, last = int(np.floor((start - 1.0) / 60.0)), int(np.floor(end / 60.0))  # redirects follow <= 0.5 s later
    parts: dict[str, list[Requests]] = {p: [] for p in templates}
    for minute in range(first, last + 1):
        rng = np.random.default_rng([seed, minute])
        noise = float(np.exp(0.05 * rng.standard_normal()))
        users = float(users_at(minute * 60.0 + 30.0, base_users, amplitude)) * noise
        rate = users / (think_s + 0.2) * _http_thinning(fx, minute * 60.0 + 30.0, think_s)
        for p, req in draw_minute(rng, minute * 60.0, rate, templates).items():
            parts[p].append(req)
    walks = []
    for p, tpl in templates.items():
        req = concat_requests(parts[p])
        in_window = (req.t >= start) & (req.t <= end)
        req = Requests(
            t=req.t[in_window], items=req.items[in_window], draws={k: v[in_window] for k, v in req.draws.items()}
        )
        walks.append(Walk(tpl, req, fx))
    for w in walks:
        w.run(keep_times=False)
    demand = [w.demand() for w in walks]
    mean_wait = queue_waits(
        np.concatenate([d[0] for d in demand]),
        np.concatenate([d[1] for d in demand]),
        np.concatenate([d[2] for d in demand]),
        cluster.workers(),
        fx.n_slices,
    )
    for w in walks:
        w.waits = mean_wait[w.pod, w.slice[:, None]] * w.req.draws["wait"]
        w.run(keep_times=True)
    pod_table: dict[str, int] = {}
    cols = _columns(walks, cluster, pod_table)
    out_names = names.lists()
    out_names["pod"] = list(pod_table)
    return cols, out_names


def _http_thinning(fx: Effects, t: float, think_s: float) -> float:
    """Closed-loop effect of HTTP delay: users who wait longer send fewer requests."""
    extra = sum(r["delay_s"] * r["share"] for r in fx.http if r["action"] == "delay" and r["t0"] <= t < r["t1"])
    return (think_s + 0.2) / (think_s + 0.2 + extra)


def _http_effects(
    fx: Effects, page: model.Page, t: np.ndarray, frontend_pod: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """HTTPChaos on the frontend's port: Request abort drops the request before the app sees it
    (no spans), Request delay holds it before the app (spans start later); Response rules act after
    the app has answered and leave its spans unchanged."""
    keep = np.ones(len(t), dtype=bool)
    shift = np.zeros(len(t))
    for rule in fx.http:
        if not rule["matches"](page):
            continue
        hit = (t >= rule["t0"]) & (t < rule["t1"]) & np.isin(frontend_pod, rule["sel"])
        if rule["action"] == "abort" and rule["target"] == "Request":
            keep &= ~hit
        elif rule["action"] == "delay" and rule["target"] == "Request":
            shift += np.where(hit, rule["delay_s"], 0.0)
    return keep, shift


def _columns(walks: list[Walk], cluster: Cluster, pod_table: dict[str, int]) -> dict[str, np.ndarray]:
    chunks: list[dict[str, np.ndarray]] = []
    for w in walks:
        tpl, n, k = w.tpl, w.n, w.tpl.k
        if n == 0:
            continue
        d = w.req.draws
        exists = np.zeros((n, k, 2), dtype=bool)
        exists[:, :, 0] = w.acted & tpl.client_span[None, :]
        exists[:, :, 1] = w.reached & tpl.server_span[None, :]
        span_id = d["span_id"]
        parent = np.zeros((n, k, 2), dtype=np.uint64)
        parent_server = span_id[:, np.maximum(tpl.parent, 0), 1]
        parent[:, :, 0] = np.where(tpl.parent[None, :] >= 0, parent_server, 0)
        parent[:, :, 1] = np.where(tpl.client_span[None, :], span_id[:, :, 0], 0)
        trace_hi = np.broadcast_to(d["trace"][:, None, None, 0], (n, k, 2)).copy()
        trace_lo = np.broadcast_to(d["trace"][:, None, None, 1], (n, k, 2)).copy()
        for j, i in enumerate(np.flatnonzero(tpl.new_trace)):
            trace_hi[:, i, 1] = d["new_trace"][:, j, 0]
            trace_lo[:, i, 1] = d["new_trace"][:, j, 1]
            parent[:, i, 1] = 0
        start = np.stack([w.client_start, w.server_start], axis=2)
        dur = np.stack([w.client_dur, w.server_dur], axis=2)
        error = np.stack([w.code != GRPC_OK, w.server_err], axis=2)
        grpc = np.stack([w.code, np.where(w.server_err, GRPC_INTERNAL, GRPC_OK)], axis=2)
        grpc[:, 0, :] = -1
        http = np.full((n, k, 2), -1, dtype=np.int64)
        http[:, 0, 1] = np.where(w.server_err[:, 0], 500, tpl.page.ok_status)
        error[:, 0, 1] = w.server_err[:, 0]
        pod_slot = np.stack([w.caller_pod, w.pod], axis=2)
        m = exists
        t_pod = start[m]
        chunk = {
            "trace_hi": trace_hi[m],
            "trace_lo": trace_lo[m],
            "span_id": span_id[m],
            "parent_id": parent[m],
            "start_us": np.round(t_pod * 1e6).astype(np.int64),
            "duration_us": np.round(dur[m] * 1e6).astype(np.int64),
            "service": np.broadcast_to(np.stack([tpl.caller_code, tpl.service_code], axis=1)[None], (n, k, 2))[m],
            "operation": np.broadcast_to(np.stack([tpl.client_op, tpl.server_op], axis=1)[None], (n, k, 2))[m],
            "peer": np.broadcast_to(np.stack([tpl.service_code, np.full(k, -1)], axis=1)[None], (n, k, 2))[m],
            "rpc_service": np.broadcast_to(np.stack([tpl.rpc_service] * 2, axis=1)[None], (n, k, 2))[m],
            "rpc_method": np.broadcast_to(np.stack([tpl.rpc_method] * 2, axis=1)[None], (n, k, 2))[m],
            "kind": np.broadcast_to(np.array([0, 1])[None, None, :], (n, k, 2))[m],
            "error": error[m],
            "grpc_status": grpc[m],
            "http_status": http[m],
            "pod_slot": pod_slot[m],
        }
        chunks.append(chunk)
    if not chunks:
        return {}
    cols = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
    cols["pod"] = _pod_names(cluster, cols.pop("pod_slot"), cols["start_us"] / 1e6, pod_table)
    return cols
