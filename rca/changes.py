"""Change events as evidence: a change shortly before the onset raises the prior of its service.

ChangeRCA (Yu et al., FSE 2024) starts from the observation that most incidents of online
systems follow a software change, so a service changed shortly before the onset is a suspect
*a priori*. :func:`apply_changes` turns that into a prior over the ranking the trace evidence
produced (the ranking method's scores are its likelihood side):

- a change counts when it lies in the look-back window ``[onset - window, onset + after]``
  (:class:`ChangePrior`; default 30 minutes before the onset, nothing after it: a restart caused
  by the fault is an effect, not a cause);
- every service with such a change has its score multiplied by ``1 + boost`` (default 1, so
  doubled). How strong that is: a changed service is ranked above an unchanged one unless the
  unchanged one's evidence is more than ``1 + boost`` times as strong; among services with
  equal scores (no anomaly at all, typically) the changed ones come first. A changed service
  without any anomalous evidence stays at score 0: a change alone blames nothing ahead of
  evidence. The prior is the same for every change kind and age within the window;
- changed services the graph does not hold (no spans) are added as candidates with score 0;
- the ``why`` of a changed service starts with the change: ``"rolled out v2 at ... 15:56:36
  UTC, 2.4 min before the onset (prior x2)"``.

When several services change at once (ChangeRCA's releases change three to six services, one
of them faulty), the prior boosts them all alike and the trace evidence decides between them;
what the prior costs when the change is innocent is measured in ``docs/changes.md``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.changes import KINDS, Change, as_changes
from core.times import format_duration, to_timedelta, to_timestamp
from rca.errors import RCAError
from rca.types import Candidate, Ranking


@dataclass(frozen=True)
class ChangePrior:
    """How change events weigh: the look-back ``window`` before the onset, the grace ``after``
    it, the score factor ``1 + boost`` and the change ``kinds`` that count (all by default)."""

    window: Any = "30min"
    after: Any = 0
    boost: float = 1.0
    kinds: tuple[str, ...] = field(default=KINDS)

    def __post_init__(self) -> None:
        window = to_timedelta(self.window, "ChangePrior.window", error=RCAError)
        after = to_timedelta(self.after, "ChangePrior.after", error=RCAError)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "after", after)
        if isinstance(self.boost, bool) or not isinstance(self.boost, numbers.Real) or not self.boost >= 0:
            raise RCAError(f"ChangePrior.boost: must be a number >= 0, got {self.boost!r}")
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise RCAError(f"ChangePrior.kinds: unknown kind(s) {unknown}; kinds are {', '.join(KINDS)}")
        object.__setattr__(self, "kinds", kinds)

    def describe(self) -> dict[str, str]:
        return {
            "change window": format_duration(self.window),
            "change after": format_duration(self.after),
            "change boost": f"{self.boost:g}",
            "change kinds": ", ".join(self.kinds),
        }


def in_window(changes: Iterable[Change], onset, prior: ChangePrior) -> list[Change]:
    """The changes of a kind ``prior`` counts inside ``[onset - window, onset + after]``, by time."""
    t0 = to_timestamp(onset, "onset", error=RCAError)
    lo, hi = t0 - prior.window, t0 + prior.after
    return [c for c in as_changes(changes, RCAError) if c.kind in prior.kinds and lo <= c.time <= hi]


def _before(change: Change, onset: pd.Timestamp) -> str:
    minutes = (onset - change.time).total_seconds() / 60.0
    if minutes >= 0:
        return f"{minutes:.1f} min before the onset"
    return f"{-minutes:.1f} min after the onset"


def apply_changes(
    ranking: Ranking, changes: Iterable[Change] | None, onset, prior: ChangePrior | None = None
) -> Ranking:
    """``ranking`` with the change prior applied (module docstring); the input is not modified."""
    if not isinstance(ranking, Ranking):
        raise RCAError(f"apply_changes: expected rca.Ranking, got {type(ranking).__name__}")
    prior = ChangePrior() if prior is None else prior
    if not isinstance(prior, ChangePrior):
        raise RCAError(f"change_prior: expected rca.ChangePrior, got {type(prior).__name__}")
    t0 = to_timestamp(onset, "onset", error=RCAError)
    relevant = in_window(changes or [], t0, prior)
    by_service: dict[str, list[Change]] = {}
    for change in relevant:
        by_service.setdefault(change.service, []).append(change)
    if not by_service:
        return Ranking(list(ranking.candidates), ranking.method)
    factor = 1.0 + float(prior.boost)
    rows: list[tuple[float, bool, int, Candidate]] = []
    seen = set()
    for position, cand in enumerate(ranking.candidates):
        seen.add(cand.service)
        mine = by_service.get(cand.service)
        if not mine:
            rows.append((cand.score, False, position, cand))
            continue
        score = cand.score * factor if cand.score > 0 else cand.score  # a negative score is not made worse
        rows.append((score, True, position, _changed(cand, mine, t0, factor, score)))
    for service in sorted(set(by_service) - seen):
        cand = Candidate(service, 0.0, "no trace evidence (not in the service graph)")
        rows.append((0.0, True, len(rows), _changed(cand, by_service[service], t0, factor, 0.0)))
    rows.sort(key=lambda r: (-r[0], not r[1], r[2]))
    return Ranking([r[3] for r in rows], ranking.method)


def _changed(cand: Candidate, mine: list[Change], onset: pd.Timestamp, factor: float, score: float) -> Candidate:
    latest = max(mine, key=lambda c: c.time)
    text = f"{latest.describe()}, {_before(latest, onset)}"
    if len(mine) > 1:
        text += f" (+{len(mine) - 1} more change(s) in the window)"
    return Candidate(cand.service, float(score), f"{text} (prior x{factor:g}); {cand.why}")
