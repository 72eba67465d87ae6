"""``GET /metrics``: the run in the Prometheus text format, through the official client.

A registry of our own (never the library's global one, which would also carry whatever else
the process imported) holds two collectors that read, at scrape time, what the live server
already keeps in memory: nothing here touches the disk but ``/proc``, so a scrape answers in
about a millisecond. Every series carries ``run_id``; names follow Prometheus conventions
(counters end in ``_total``, units in the name, ratios in 0..1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from townlet.monitoring.alerts import AlertState
from townlet.monitoring.system import GpuSample, process_figures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class MetricsView:
    """What the live server knows at one moment; None: not known (the series is left out)."""

    env_steps: int | None = None
    episodes: int | None = None
    updates: int | None = None
    steps_per_second: float | None = None
    td_loss: float | None = None
    epsilon: float | None = None
    learning_rate: float | None = None
    training_survival: float | None = None
    greedy_survival: float | None = None
    greedy_survival_best: float | None = None
    training_paused: bool | None = None
    checkpoint_time: float | None = None  # unix seconds the newest checkpoint was written
    checkpoint_size: int | None = None
    viewers: int = 0
    messages_sent: int = 0
    messages_dropped: int = 0
    viewers_dropped: int = 0
    live_survival: int | None = None
    gpus: tuple[GpuSample, ...] = ()
    alerts: tuple[AlertState, ...] = field(default_factory=tuple)


class RunCollector(Collector):
    """Training, live play, GPUs and alerts, from one ``MetricsView`` per scrape."""

    def __init__(self, view: Callable[[], MetricsView], run_id: str) -> None:
        self.view = view
        self.run_id = run_id

    def collect(self) -> Iterator[Metric]:
        v = self.view()
        run = [self.run_id]

        def gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
            if value is not None:
                family = GaugeMetricFamily(name, doc, labels=["run_id"])
                family.add_metric(run, float(value))
                yield family

        def counter(name: str, doc: str, value: float | None) -> Iterator[Metric]:
            if value is not None:
                family = CounterMetricFamily(name, doc, labels=["run_id"])
                family.add_metric(run, float(value))
                yield family

        # ---- training (from the progress relayed by the training process and its records)
        yield from counter("townlet_env_steps", "Environment steps trained on.", v.env_steps)
        yield from counter("townlet_episodes", "Training episodes finished.", v.episodes)
        yield from counter("townlet_updates", "Gradient updates of the Q-network.", v.updates)
        yield from gauge(
            "townlet_env_steps_per_second", "Training speed, env steps/s.", v.steps_per_second
        )
        yield from gauge("townlet_td_loss", "Mean TD loss of the last window.", v.td_loss)
        yield from gauge("townlet_epsilon", "Exploration rate of training.", v.epsilon)
        yield from gauge("townlet_learning_rate", "Learning rate.", v.learning_rate)
        yield from gauge(
            "townlet_training_survival_steps",
            "Mean survival (ticks) of recent epsilon-greedy training episodes.",
            v.training_survival,
        )
        yield from gauge(
            "townlet_greedy_survival_steps",
            "Mean greedy survival (ticks) of the newest evaluated checkpoint.",
            v.greedy_survival,
        )
        yield from gauge(
            "townlet_greedy_survival_best_steps",
            "Best mean greedy survival (ticks) of the run.",
            v.greedy_survival_best,
        )
        yield from gauge(
            "townlet_training_paused",
            "1 while training is paused.",
            None if v.training_paused is None else float(v.training_paused),
        )
        if v.checkpoint_time is not None:
            yield from gauge(
                "townlet_checkpoint_age_seconds",
                "Seconds since the newest checkpoint was written.",
                max(0.0, time.time() - v.checkpoint_time),
            )
            yield from gauge(
                "townlet_checkpoint_timestamp_seconds",
                "Unix time the newest checkpoint was written.",
                v.checkpoint_time,
            )
        yield from gauge(
            "townlet_checkpoint_size_bytes", "Size of the newest checkpoint.", v.checkpoint_size
        )
        # ---- live play
        yield from gauge("townlet_live_viewers", "Connected live viewers.", v.viewers)
        yield from counter(
            "townlet_live_messages_sent", "Messages handed to viewers.", v.messages_sent
        )
        yield from counter(
            "townlet_live_messages_dropped",
            "Messages not delivered because their viewer had fallen behind or gone.",
            v.messages_dropped,
        )
        yield from counter(
            "townlet_live_viewers_dropped",
            "Viewers dropped for falling behind or a failed connection.",
            v.viewers_dropped,
        )
        yield from gauge(
            "townlet_live_episode_survival_steps",
            "Length (ticks) of the last finished live episode.",
            v.live_survival,
        )
        # ---- GPUs (no series at all without one)
        if v.gpus:
            labels = ["run_id", "gpu", "name"]
            families = {
                "utilization": GaugeMetricFamily(
                    "townlet_gpu_utilization_ratio", "GPU busy share, 0..1.", labels=labels
                ),
                "used": GaugeMetricFamily(
                    "townlet_gpu_memory_used_bytes", "GPU memory in use.", labels=labels
                ),
                "total": GaugeMetricFamily(
                    "townlet_gpu_memory_total_bytes", "GPU memory in all.", labels=labels
                ),
                "temperature": GaugeMetricFamily(
                    "townlet_gpu_temperature_celsius", "GPU temperature.", labels=labels
                ),
                "power": GaugeMetricFamily(
                    "townlet_gpu_power_watts", "GPU power draw.", labels=labels
                ),
            }
            for gpu in v.gpus:
                key = [self.run_id, str(gpu.index), gpu.name]
                families["utilization"].add_metric(key, gpu.utilization_percent / 100.0)
                families["used"].add_metric(key, gpu.memory_used_bytes)
                families["total"].add_metric(key, gpu.memory_total_bytes)
                if gpu.temperature_c is not None:
                    families["temperature"].add_metric(key, gpu.temperature_c)
                if gpu.power_watts is not None:
                    families["power"].add_metric(key, gpu.power_watts)
            yield from families.values()
        # ---- alerts: one series per rule, 1 while firing (as Prometheus's own ALERTS)
        firing = GaugeMetricFamily(
            "townlet_alert_firing",
            "1 while the alert rule fires.",
            labels=["run_id", "alertname", "kind", "severity"],
        )
        for alert in v.alerts:
            firing.add_metric(
                [self.run_id, alert.name, alert.kind, alert.severity],
                1.0 if alert.state == "firing" else 0.0,
            )
        yield firing


class ProcessesCollector(Collector):
    """prometheus_client's ProcessCollector for each of our processes (training and live
    server), relabelled with ``run_id`` and ``process``, plus their thread counts."""

    def __init__(self, pids: dict[str, int], run_id: str) -> None:
        self.pids = pids
        self.run_id = run_id
        self._collectors = {
            role: ProcessCollector(namespace="townlet", pid=lambda pid=pid: pid, registry=None)
            for role, pid in pids.items()
        }

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for role, collector in self._collectors.items():
            for family in collector.collect():
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    labels = {**sample.labels, "run_id": self.run_id, "process": role}
                    target.add_sample(sample.name, labels, sample.value)
        threads = GaugeMetricFamily(
            "townlet_process_threads", "OS threads of the process.", labels=["run_id", "process"]
        )
        for role, pid in self.pids.items():
            figures = process_figures(pid)
            if figures is not None and figures.threads:
                threads.add_metric([self.run_id, role], figures.threads)
        return [*merged.values(), threads]


def metrics_registry(
    view: Callable[[], MetricsView], run_id: str | None, pids: dict[str, int]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    label = run_id or "local"
    registry.register(RunCollector(view, label))
    registry.register(ProcessesCollector(pids, label))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
