"""What an operator sees of a running server: Prometheus metrics and JSON log lines.

:class:`Metrics` holds one registry per server (``GET /metrics`` renders it): requests per
platform and what came of them, acknowledgement latency, inbox and outbox depth, delivery
latency from the change that queued a message to its delivery, platform calls by operation and
outcome, scheduler passes and lag, store operation latency and errors, and the process's own
facts. Labels are platforms, kinds, operations and outcomes only: never people, teams or text.
The pieces are wired at the edges (:mod:`handlers.server`): an aiohttp middleware, a store
and notifier wrapper, and the core's :class:`bot.ports.Telemetry` port. Only ``serve`` builds
one, so no other command pays for it.

:class:`JsonFormatter` is ``SERVECHAIN_LOG_FORMAT=json``: one JSON object per line.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from bot.errors import StorageError
from bot.models import Message, Person
from bot.ports import Clock, DeliveryError, Notifier, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

STORE_OPERATIONS = frozenset(name for name in dir(Store) if not name.startswith("_"))
"""The repository contract's methods: the only store operations measured (a fixed, small set)."""

PLATFORM_OF_PATH = {"/slack/events": "slack", "/api/messages": "teams"}


class Metrics:
    """The metrics of one server process, in their own registry (so tests can run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._others: dict[object, list[Metric]] = {}
        self._lock = threading.Lock()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter(
            "servechain_requests",
            "Requests from Slack and Teams by kind (command, click, form, event, message) and outcome "
            "(received; acked: answered 2xx; failed: answered otherwise)",
            ["platform", "kind", "outcome"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "servechain_ack_seconds",
            "Time to answer a Slack or Teams request",
            ["platform"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.work = Counter(
            "servechain_work",
            "Acknowledged work (inbox items) run, by outcome: done, retry (will run again), failed (gave up)",
            ["platform", "kind", "outcome"],
            registry=r,
        )
        self.work_seconds = Histogram(
            "servechain_work_seconds",
            "From acknowledging work to finishing it",
            ["platform"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "servechain_delivery_latency_seconds",
            "From the change that queued a message (a command, a click, a scheduled job) to its delivery",
            ["platform"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.platform_calls = Counter(
            "servechain_platform_api_calls",
            "Calls to a platform's API by method and outcome (ok, rate_limited: 429, retry: a fault "
            "retried, failed: refused or given up). Methods post and update are outbox deliveries, lookup the "
            "outbox looking for a post whose outcome was lost; the "
            "others are the API methods front ends call while serving people (views.open, response_url, "
            "users.info, send_activity...) and the daily org sync calls (users.list; graph token, users)",
            ["platform", "method", "outcome"],
            registry=r,
        )
        self.scheduler_runs = Counter(
            "servechain_scheduler_job_runs",
            "Scheduled jobs run, by job and outcome (ok, error)",
            ["job", "outcome"],
            registry=r,
        )
        self.scheduler_last_pass = Gauge(
            "servechain_scheduler_last_pass_timestamp_seconds", "When the scheduler last finished a pass", registry=r
        )
        self.scheduler_lag = Gauge(
            "servechain_scheduler_lag_seconds",
            "How long the latest scheduler pass took (jobs run that much after they were due)",
            registry=r,
        )
        self.store_seconds = Histogram(
            "servechain_store_operation_seconds",
            "Store operations by name",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "servechain_store_errors", "Store operations that failed with a storage fault", ["operation"], registry=r
        )
        self.ready = Gauge("servechain_ready", "1 while this replica answers /readyz with 200", registry=r)
        self.info = Gauge(
            "servechain_info", "Front ends and store backend of this process", ["frontends", "store"], registry=r
        )

    # --- the core's Telemetry port ----------------------------------------------------------
    def work_finished(self, *, platform: str, kind: str, outcome: str, seconds: float) -> None:
        """:class:`bot.ports.Telemetry`: an inbox item ran."""
        self.work.labels(platform, kind, outcome).inc()
        if outcome != "retry":
            self.work_seconds.labels(platform).observe(seconds)

    def platform_call(self, *, platform: str, method: str, outcome: str) -> None:
        """:class:`bot.ports.Telemetry`: a front end called its platform's API."""
        self.platform_calls.labels(platform, method, outcome).inc()

    def request_received(self, *, platform: str, kind: str) -> None:
        """:class:`bot.ports.Telemetry`: a request came in (HTTP or Socket Mode)."""
        self.requests.labels(platform, kind, "received").inc()

    def request_answered(self, *, platform: str, kind: str, acked: bool, seconds: float) -> None:
        """:class:`bot.ports.Telemetry`: a request was answered."""
        self.ack_seconds.labels(platform).observe(seconds)
        self.requests.labels(platform, kind, "acked" if acked else "failed").inc()

    def message_sent(self, *, platform: str, seconds: float) -> None:
        """:class:`bot.ports.Telemetry`: an outbox message was delivered (the dispatcher knows
        when it was queued, so no store read is needed for it)."""
        self.delivery_seconds.labels(platform).observe(max(0.0, seconds))

    def scheduler_pass(self, *, jobs: list[str], errors: dict[str, str], seconds: float) -> None:
        """One scheduler pass ran ``jobs`` (``errors``: job -> reason) in ``seconds``."""
        for job in jobs:
            self.scheduler_runs.labels(job, "error" if job in errors else "ok").inc()
        for job in errors:
            if job not in jobs:
                self.scheduler_runs.labels(job, "error").inc()
        self.scheduler_lag.set(seconds)
        self.scheduler_last_pass.set(time.time())

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (reads the store for queue depths),
        with the counts other processes of this replica reported (:meth:`absorb`) added in."""
        with self._lock:
            others = list(self._others.values())
        if not others:
            return generate_latest(self.registry)
        return generate_latest(_Merged(self.registry, others))

    def counts(self) -> list[Metric]:
        """This process's servechain counters and histograms as they stand (cumulative), for
        :meth:`absorb` in the process that serves ``/metrics`` (``process_*`` and ``python_*``
        stay each process's own: the server's CPU is not the delivery process's)."""
        return [
            family
            for family in self.registry.collect()
            if family.type in ADDITIVE and not family.name.startswith(("process_", "python_"))
        ]

    def absorb(self, source: object, counts: list[Metric]) -> None:
        """Add ``counts`` (:meth:`counts` of another process of this replica, e.g. the delivery
        process) to what :meth:`render` shows, replacing what ``source`` reported before. A
        source that exits keeps its last report, so totals never go backwards when it is
        restarted (the next one reports under a new ``source``)."""
        with self._lock:
            self._others[source] = counts

    def watch_queues(self, store: Store, workspace: str, clock: Clock) -> None:
        """Report inbox and outbox depth and the age of their oldest pending item at each scrape
        (counted and dated by the store, never by loading the items)."""
        self.registry.register(QueueCollector(store, workspace, clock))


ADDITIVE = ("counter", "histogram")
"""The metric types whose samples from several processes add up (gauges don't: they stay per process)."""


class _Merged(Collector):
    """``registry``'s metrics with other processes' counters and histograms added, sample by
    sample (same name, same labels), so ``/metrics`` stays one process's view in shape: each
    family appears once (Prometheus rejects a family named twice). ``_created`` samples are
    this process's (a restarted delivery process must not move a counter's start)."""

    def __init__(self, registry: CollectorRegistry, others: list[list[Metric]]) -> None:
        self.registry = registry
        self.others = others

    def collect(self) -> Iterator[Metric]:
        extra: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for counts in self.others:
            for family in counts:
                into = extra.setdefault(family.name, {})
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    into[key] = into.get(key, 0.0) + sample.value
        for family in self.registry.collect():
            added = extra.get(family.name) if family.type in ADDITIVE else None
            if not added:
                yield family
                continue
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            left = dict(added)
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                merged.samples.append(sample._replace(value=sample.value + left.pop(key, 0.0)))
            for (name, labels), value in left.items():  # label sets only the other processes saw
                merged.samples.append(Sample(name, dict(labels), value))
            yield merged


class QueueCollector(Collector):
    """Inbox and outbox depth read from the store when scraped."""

    def __init__(self, store: Store, workspace: str, clock: Clock) -> None:
        self.store = store
        self.workspace = workspace
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # read the store only when scraped, never at registration

    def collect(self) -> Iterator[Metric]:
        inbox = GaugeMetricFamily("servechain_inbox_items", "Acknowledged work by state", labels=["state"])
        outbox = GaugeMetricFamily("servechain_outbox_items", "Outbox messages by state", labels=["state"])
        oldest = GaugeMetricFamily(
            "servechain_outbox_oldest_pending_age_seconds", "Age of the oldest message not yet delivered (0: none)"
        )
        oldest_work = GaugeMetricFamily(
            "servechain_inbox_oldest_pending_age_seconds",
            "Age of the oldest acknowledged command or click not yet done (0: none)",
        )
        try:
            for state in ("pending", "failed"):
                inbox.add_metric([state], self.store.count_inbox(self.workspace, state=state))
                outbox.add_metric([state], self.store.count_outbox(self.workspace, state))
            first_in, first_out = self.store.oldest_pending(self.workspace)
            now = self.clock()
            oldest_work.add_metric([], 0.0 if first_in is None else max(0.0, (now - first_in).total_seconds()))
            oldest.add_metric([], 0.0 if first_out is None else max(0.0, (now - first_out).total_seconds()))
        except Exception as error:  # the rest of the scrape still answers
            log.warning("metrics: can't read queue depths from the store: %s", error)
            return
        yield inbox
        yield outbox
        yield oldest
        yield oldest_work


class InstrumentedStore:
    """A store that times every contract operation and counts storage faults; everything else
    passes straight through."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    @property
    def wrapped(self) -> Store:
        """The store underneath."""
        return self._store

    def __repr__(self) -> str:
        return repr(self._store)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in STORE_OPERATIONS or not callable(attribute):
            return attribute
        seconds = self._metrics.store_seconds.labels(name)
        errors = self._metrics.store_errors.labels(name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            except StorageError:
                errors.inc()
                raise
            finally:
                seconds.observe(time.perf_counter() - started)

        return timed


class InstrumentedNotifier:
    """A notifier that counts each delivery by operation and outcome (the delivery latency is the
    dispatcher's to report: :meth:`Metrics.message_sent`)."""

    def __init__(self, notifier: Notifier, metrics: Metrics) -> None:
        self._notifier = notifier
        self._metrics = metrics
        self.platform = notifier.platform

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._notifier, name)
        if name == "find_sent":  # only a Reconciler has it, so isinstance(self, Reconciler) stays true to it
            return functools.partial(self._counted, "lookup", attribute)
        return attribute

    def can_reach(self, person: Person) -> bool:
        return self._notifier.can_reach(person)

    def _counted(self, method: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call`` counted as one ``method`` call by its outcome."""
        try:
            result = call(*args, **kwargs)
        except DeliveryError as error:
            outcome = "failed" if error.permanent else "rate_limited" if error.retry_after is not None else "retry"
            self._metrics.platform_calls.labels(self.platform, method, outcome).inc()
            raise
        except Exception:
            self._metrics.platform_calls.labels(self.platform, method, "retry").inc()
            raise
        self._metrics.platform_calls.labels(self.platform, method, "ok").inc()
        return result

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        method = "update" if card_ref else "post"
        return self._counted(method, self._notifier.send, message, person, card_ref=card_ref, thread_ref=thread_ref)


SLACK_INTERACTIVE_KINDS = {"block_actions": "click", "view_submission": "form", "view_closed": "form"}
"""A Slack interactive payload's type -> the request kind counted (others: ``other``); Socket
Mode counts with the same words (:mod:`handlers.slack.frontend`)."""


def _slack_kind(content_type: str, raw: bytes) -> str:
    if content_type.startswith("application/json"):
        return "event"
    form = parse_qs(raw.decode("utf-8", "replace"))
    if "command" in form:
        return "command"
    if "payload" in form:
        try:
            kind = str(json.loads(form["payload"][0]).get("type", ""))
        except (ValueError, AttributeError):
            return "other"
        return SLACK_INTERACTIVE_KINDS.get(kind, "other")
    return "other"


def _teams_kind(raw: bytes) -> str:
    try:
        activity = json.loads(raw)
    except ValueError:
        return "other"
    if not isinstance(activity, dict):
        return "other"
    kind = activity.get("type")
    if kind == "invoke" or (kind == "message" and activity.get("value")):
        return "click"
    return "message" if kind == "message" else "other"


def request_kind(platform: str, content_type: str, raw: bytes) -> str:
    """The low-cardinality kind of a Slack or Teams request body."""
    return _slack_kind(content_type, raw) if platform == "slack" else _teams_kind(raw)


def metrics_middleware(metrics: Metrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Count the front ends' requests (received, acked, failed) and time their answers."""

    @web.middleware
    async def count_requests(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        platform = PLATFORM_OF_PATH.get(request.path)
        if platform is None or request.method != "POST":
            return await handler(request)
        started = time.perf_counter()
        try:
            kind = request_kind(platform, request.content_type, await request.read())
        except Exception:  # too large, cut off: the handler answers it
            kind = "other"
        metrics.request_received(platform=platform, kind=kind)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            metrics.request_answered(
                platform=platform, kind=kind, acked=status < 400, seconds=time.perf_counter() - started
            )

    return count_requests


# --- logs --------------------------------------------------------------------------------

LOG_FORMAT_VARIABLE = "SERVECHAIN_LOG_FORMAT"
_ERROR_ID = re.compile(r"\berror(?: id)? ([0-9a-f]{6,32})\b")
_REQUEST_REF = re.compile(r"\bR-(\d+)\b")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the correlation fields found:
    ``request`` (the first R-n named), ``error_id`` (the id a person was shown), ``platform`` (from
    the logger, e.g. ``handlers.slack.*``), plus this process's ``replica`` and ``workspace``.
    A record's own ``extra={"request": ..., "platform": ...}`` wins over what is found."""

    def __init__(self, *, replica: str = "", workspace: str = "") -> None:
        super().__init__()
        self.replica = replica
        self.workspace = workspace

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "thread": record.threadName,
        }
        if self.replica:
            entry["replica"] = self.replica
        if self.workspace:
            entry["workspace"] = self.workspace
        platform = getattr(record, "platform", None) or _platform_of(record.name)
        if platform:
            entry["platform"] = platform
        request = getattr(record, "request", None)
        if request is None and (match := _REQUEST_REF.search(message)):
            request = match.group(0)
        if request:
            entry["request"] = request
        error_id = getattr(record, "error_id", None)
        if error_id is None and (match := _ERROR_ID.search(message)):
            error_id = match.group(1)
        if error_id:
            entry["error_id"] = error_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _platform_of(logger: str) -> str | None:
    for prefix, platform in (
        ("handlers.slack", "slack"),
        ("slack_bolt", "slack"),
        ("slack_sdk", "slack"),
        ("handlers.teams", "teams"),
        ("botbuilder", "teams"),
    ):
        if logger.startswith(prefix):
            return platform
    return None


class _Quiet(logging.Filter):
    """Drops the start-up chatter nobody can act on."""

    NOISE = ("As you gave `client` as well, `token` will be unused",)

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(noise in message for noise in self.NOISE)


def quiet_startup_noise() -> None:
    """Silence known harmless library warnings: slack_bolt reads ``SLACK_BOT_TOKEN`` from the
    environment even when given a client, then warns that it won't use it, on every start."""
    logger = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _Quiet) for f in logger.filters):
        logger.addFilter(_Quiet())


class Readiness:
    """This replica's readiness: false from the moment it is asked to stop (so a load balancer
    stops sending new work before the process stops accepting it)."""

    def __init__(self) -> None:
        self._draining = threading.Event()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def drain(self) -> None:
        self._draining.set()


__all__ = [
    "CONTENT_TYPE",
    "InstrumentedNotifier",
    "InstrumentedStore",
    "JsonFormatter",
    "Metrics",
    "Readiness",
    "metrics_middleware",
    "quiet_startup_noise",
]
