"""The platforms' published rate limits, kept by design: one :class:`RateLimiter` per process
books every send (every kind of message) against the limits of its platform, per conversation
and per workspace (Slack) or tenant (Teams), and says how long the send must wait.

The limiter lives in one process. Replicas split the budgets that no single conversation holds
(:func:`shared_by`, ``DELIVERY_REPLICAS``): each keeps its share of every per-workspace or
per-tenant window. Per-conversation windows stay whole in each replica: the outbox leases one
item per conversation at a time across every replica, so a conversation's messages go one
after another whichever replica sends them; two replicas taking turns on one conversation can
still exceed its burst, which the platform answers with a 429 and its ``Retry-After``, honoured
like any other (nothing is lost). Sharing the windows through the store would cost a write per
send on the delivery's hot path.

Hand-written rather than a library (``limits``, ``pyrate-limiter``): those count requests that
already happened, while delivery needs *booking*: tell a worker the moment its send may go and
count it from then, so 32 concurrent workers queue up behind a conversation's window instead
of all passing the check at once; and it must run on a simulated clock in tests. Sliding
windows (``n`` sends in any ``seconds``) express both platforms' published limits directly.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["PLATFORM_RULES", "RateLimiter", "Rule", "Window", "shared_by"]


@dataclass(frozen=True)
class Window:
    """At most ``count`` sends in any ``seconds``."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Rule:
    """Windows that apply ``per`` conversation or per workspace/tenant (``scope``) to the sends
    of the given operations (``None``: every operation)."""

    name: str
    per: Literal["conversation", "scope"]
    windows: tuple[Window, ...]
    ops: frozenset[str] | None = None

    def applies(self, op: str) -> bool:
        """True when this rule counts ``op`` (``post``, ``update``, ``publish``, ``file``)."""
        return self.ops is None or op in self.ops


SLACK_RULES = (
    # chat.postMessage: about 1 per second per conversation, short bursts allowed
    Rule("chat.postMessage", "conversation", (Window(3, 3.0), Window(60, 60.0)), frozenset({"post"})),
    # method tiers, per workspace: chat.update tier 3, views.publish tier 4, files.* tier 2
    Rule("chat.update", "scope", (Window(50, 60.0),), frozenset({"update"})),
    Rule("views.publish", "scope", (Window(100, 60.0),), frozenset({"publish"})),
    Rule("files", "scope", (Window(20, 60.0),), frozenset({"file"})),
)
TEAMS_RULES = (
    # per bot per conversation, every kind of send
    Rule("conversation", "conversation", (Window(7, 1.0), Window(8, 2.0), Window(60, 30.0), Window(1800, 3600.0))),
    # per app per tenant
    Rule("tenant", "scope", (Window(50, 1.0),)),
)
PLATFORM_RULES: Mapping[str, Sequence[Rule]] = {"slack": SLACK_RULES, "teams": TEAMS_RULES}
"""Published limits by platform name (``Notifier.platform``); other platforms are not limited."""


def shared_by(rules: Mapping[str, Sequence[Rule]], replicas: int) -> dict[str, tuple[Rule, ...]]:
    """``rules`` for one of ``replicas`` processes sending at once: every per-workspace/tenant
    window keeps ``1/replicas`` of its sends (at least one), so together they stay within the
    platform's; per-conversation windows stay whole (see the module docstring)."""
    replicas = max(1, replicas)

    def share(rule: Rule) -> Rule:
        if rule.per != "scope" or replicas == 1:
            return rule
        windows = tuple(Window(max(1, window.count // replicas), window.seconds) for window in rule.windows)
        return Rule(rule.name, rule.per, windows, rule.ops)

    return {platform: tuple(share(rule) for rule in platform_rules) for platform, platform_rules in rules.items()}


class RateLimiter:
    """Books sends against sliding windows; thread-safe; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        rules: Mapping[str, Sequence[Rule]] = PLATFORM_RULES,
        *,
        clock: Callable[[], float] = time.monotonic,
        horizon: float = 5.0,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.horizon = horizon
        """A send that would have to wait longer is not booked (its caller reschedules it)."""
        self._booked: dict[tuple[str, str, str], list[float]] = {}
        self._paused: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def reserve(self, *, platform: str, scope: str, conversation: str, op: str = "post") -> float:
        """Seconds until this send may go (0: now). Within :attr:`horizon` the send is booked
        for that moment, so the next caller waits behind it; beyond it nothing is booked."""
        with self._lock:
            now = self.clock()
            at = max(now, self._paused.get((platform, conversation), now), self._paused.get((platform, scope), now))
            keys = []
            for rule in self.rules.get(platform, ()):
                if not rule.applies(op):
                    continue
                key = (platform, rule.name, conversation if rule.per == "conversation" else scope)
                booked = self._prune(key, now, rule)
                if booked:
                    at = max(at, booked[-1])  # first come, first served within one key
                for window in rule.windows:
                    if len(booked) >= window.count:
                        at = max(at, booked[-window.count] + window.seconds)
                keys.append(key)
            if at - now > self.horizon:
                return at - now
            for key in keys:
                bisect.insort(self._booked.setdefault(key, []), at)
            return at - now

    def pause(self, *, platform: str, key: str, seconds: float) -> None:
        """A platform said ``Retry-After: seconds`` for a conversation (or workspace): book
        nothing there before then."""
        with self._lock:
            until = self.clock() + max(seconds, 0.0)
            self._paused[(platform, key)] = max(self._paused.get((platform, key), 0.0), until)

    def _prune(self, key: tuple[str, str, str], now: float, rule: Rule) -> list[float]:
        booked = self._booked.get(key, [])
        longest = max(window.seconds for window in rule.windows)
        drop = bisect.bisect_right(booked, now - longest)
        if drop:
            del booked[:drop]
        return booked
