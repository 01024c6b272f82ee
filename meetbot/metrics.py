"""/metrics: the bot's figures in Prometheus' text format.

Components keep plain counters of their own (no component imports this module); a collector
reads them at scrape time. Each bot process has its own registry, so several in one test process
never mix their figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from meetbot.adapters.base import Adapter, AdapterStats


@dataclass
class Figures:
    """Where each figure comes from (callables, read at scrape time)."""

    messages_handled: Callable[[], int]
    lines_logged: Callable[[], int]
    meetings_open: Callable[[], int]
    reminders_sent: Callable[[], int]
    buffered_lines: Callable[[], int]
    lines_waiting: Callable[[], int]
    active: Callable[[], bool]
    adapters: Sequence[Adapter]


class _BotCollector(Collector):
    def __init__(self, figures: Figures) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self._figures
        yield CounterMetricFamily(
            "meetbot_messages_handled", "Lines received from the networks and handled.", f.messages_handled()
        )
        yield CounterMetricFamily(
            "meetbot_lines_logged", "Meeting lines written to the database.", f.lines_logged()
        )
        yield CounterMetricFamily(
            "meetbot_reminders_sent", "Meeting reminders sent by this process.", f.reminders_sent()
        )
        yield GaugeMetricFamily("meetbot_meetings_open", "Meetings open in this process.", f.meetings_open())
        yield GaugeMetricFamily(
            "meetbot_buffered_lines",
            "Meeting lines waiting in memory for the database to come back.",
            f.buffered_lines(),
        )
        yield GaugeMetricFamily(
            "meetbot_lines_waiting", "Lines received and not handled yet, over all rooms.", f.lines_waiting()
        )
        yield GaugeMetricFamily(
            "meetbot_active", "1 when this process is the active one, 0 on standby.", int(f.active())
        )
        depth = GaugeMetricFamily(
            "meetbot_send_queue_depth", "Messages waiting to be sent, per network.", labels=["network"]
        )
        reconnects = CounterMetricFamily(
            "meetbot_reconnects", "Connections to a network lost and made again.", labels=["network"]
        )
        for adapter in f.adapters:
            if isinstance(adapter, AdapterStats):
                depth.add_metric([adapter.network], adapter.send_queue_depth)
                reconnects.add_metric([adapter.network], adapter.reconnects)
        yield depth
        yield reconnects


class Metrics:
    def __init__(self, figures: Figures) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_BotCollector(figures))
        # Resident memory, CPU time, open files: what an operator graphs beside the bot's own.
        ProcessCollector(registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
