"""The live server's monitoring: system samples, their history, alert rules, the metrics view.

One asyncio task on the server's event loop (``run``) samples the system every 2 s and
evaluates the alert rules every ``alerts.evaluate_every_seconds``; whatever touches the disk
or NVML goes to a worker thread, so live play never waits on it. The training process does
none of this: it only hears of alerts that fire or resolve (``on_alert``), to record them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from townlet.checkpoints import CheckpointCatalog
from townlet.config.models import AlertRule, AlertsConfig
from townlet.learner.trainer import TrainingProgress
from townlet.live.hub import Hub
from townlet.live.protocol import Alerts, System, SystemHistory
from townlet.live.run_history import RunHistory
from townlet.monitoring.alerts import AlertEngine, AlertState, Observation, Transition
from townlet.monitoring.gpu import GpuReader
from townlet.monitoring.history import SYSTEM_TIERS, downsample, thin_by_age
from townlet.monitoring.metrics import MetricsView, metrics_registry
from townlet.monitoring.rule_store import load_rules, save_rules
from townlet.monitoring.system import SAMPLE_EVERY_SECONDS, SystemSample, SystemSampler
from townlet.monitoring.webhook import WebhookSender

log = logging.getLogger("townlet.inference")

THIN_EVERY_SECONDS = 300.0
GREETING_SAMPLES = 4000  # as the training charts: one quick message, whatever the run's age

AlertNotice = dict[str, Any]  # {"alert": AlertState as JSON, "firing": [AlertState, ...]}


@dataclass(frozen=True)
class _Checkpoint:
    written_at: float  # unix seconds
    size: int


class Monitor:
    def __init__(
        self,
        alerts: AlertsConfig,
        *,
        hub: Hub,
        records: RunHistory,
        catalog: CheckpointCatalog,
        training_progress: Callable[[], TrainingProgress | None],
        live_survival: Callable[[], int | None],
        run_dir: Path | None,
        run_id: str | None,
        run_name: str | None,
        pids: dict[str, int],
        on_alert: Callable[[AlertNotice], None] | None = None,
    ) -> None:
        self.settings = alerts
        self.hub = hub
        self.records = records
        self.catalog = catalog
        self.training_progress = training_progress
        self.live_survival = live_survival
        self.run_dir = run_dir
        self.run_id, self.run_name = run_id, run_name
        self.on_alert = on_alert
        self.engine = AlertEngine(load_rules(run_dir, alerts.rules))
        self.gpus = GpuReader()
        self.sampler = SystemSampler(pids, self.gpus)
        # The run's history.sqlite, opened (and closed) by the training history; None: a
        # server without a run folder (yet) to keep history in (some tests).
        self.store = records.store
        self.samples: list[SystemSample] = []
        self.webhook = WebhookSender(alerts.webhook_url) if alerts.webhook_url else None
        if self.webhook is not None:
            self.webhook.start()
        self.registry = metrics_registry(self.metrics_view, run_id, pids)
        self._checkpoint: _Checkpoint | None = None
        self._started_at = time.time()
        self._edits = asyncio.Lock()  # one rule edit at a time, each saved before the next

    # ------------------------------------------------------------ the loop
    async def run(self) -> None:
        if self.store is not None:
            self.samples = await asyncio.to_thread(self.store.load)
            if self.samples:
                await self.hub.broadcast(self.system_history().to_json())
        next_sample = next_evaluation = time.monotonic()
        next_thin = next_sample + THIN_EVERY_SECONDS
        while True:
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + SAMPLE_EVERY_SECONDS
                await self._sample()
            if now >= next_evaluation:
                next_evaluation = now + self.settings.evaluate_every_seconds
                await self.evaluate()
            if now >= next_thin:
                next_thin = now + THIN_EVERY_SECONDS
                await self._thin()
            await asyncio.sleep(max(min(next_sample, next_evaluation) - time.monotonic(), 0.0))

    async def _sample(self) -> None:
        sample = await asyncio.to_thread(self.sampler.sample)
        self.samples.append(sample)
        await self.hub.broadcast(System(sample=sample).to_json())
        if self.store is not None:
            await asyncio.to_thread(self.store.add, sample)

    async def _thin(self) -> None:
        now = time.time()
        self.samples = thin_by_age(self.samples, now, SYSTEM_TIERS, _sample_time)
        if self.store is not None:
            await asyncio.to_thread(self.store.thin, now)

    async def evaluate(self) -> None:
        """One evaluation of every rule; each change is told to whoever it concerns."""
        free, self._checkpoint = await asyncio.to_thread(self._read_disk)
        changes = self.engine.evaluate(self._observe(free))
        if changes:
            await self._announce(changes)

    def _read_disk(self) -> tuple[int | None, _Checkpoint | None]:
        """Free space on the run folder's disk, and the newest checkpoint's time and size (a
        directory listing and two stats: cheap enough for every evaluation)."""
        folder = self.run_dir or self.catalog.directory
        try:
            free: int | None = shutil.disk_usage(folder).free
        except OSError:
            free = None
        checkpoint = None
        newest = self.catalog.newest()
        if newest is not None:
            with contextlib.suppress(OSError):  # pruned while we looked: next time
                stat = newest.stat()
                checkpoint = _Checkpoint(stat.st_mtime, stat.st_size)
        return free, checkpoint

    def _observe(self, disk_free: int | None) -> Observation:
        progress = self.training_progress()
        now = time.time()
        checkpoint = self._checkpoint
        training = progress is not None and progress.running
        if not training:  # ended (budget spent) or not in this process: nothing is due
            age: float | None = None
        elif checkpoint is not None:
            age = max(0.0, now - checkpoint.written_at)
        else:  # training runs and has written nothing since we started
            age = now - self._started_at
        latest, best = self._greedy()
        return Observation(
            now=now,
            td_loss=self.records.newest_td_loss,
            # Nothing to measure once training has ended (budget spent, shutting down).
            steps_per_second=progress.steps_per_second if training and progress else None,
            checkpoint_age_seconds=age,
            greedy_latest=latest,
            greedy_best=best,
            gpus=tuple(self.samples[-1].gpus) if self.samples else (),
            disk_free_bytes=disk_free,
        )

    def _greedy(self) -> tuple[float | None, float | None]:
        evaluations = self.records.evaluations
        if not evaluations:
            return None, None
        newest = max(evaluations, key=lambda e: (e.env_step, e.wall_time))
        return newest.mean_survival, max(e.mean_survival for e in evaluations)

    async def _announce(self, changes: list[Transition]) -> None:
        await self.hub.broadcast(self.alerts().to_json())
        firing = [state.model_dump(mode="json") for state in self.engine.firing()]
        for change in changes:
            if not change.notable:
                continue
            alert = change.alert
            log.info("alert %s %s (%s): %s", alert.name, alert.state, alert.severity, alert.message)
            body = alert.model_dump(mode="json")
            if self.on_alert is not None:
                self.on_alert({"alert": body, "firing": firing})
            if self.webhook is not None:
                self.webhook.send(
                    {
                        **body,
                        "run_id": self.run_id,
                        "run_name": self.run_name,
                        # Chat webhooks (Slack, Mattermost) show "text" as it is.
                        "text": f"[{alert.severity}] {alert.name} {alert.state}: {alert.message}"
                        + (f" (run {self.run_id})" if self.run_id else ""),
                    }
                )

    # ------------------------------------------------------------ rule edits
    async def add_rule(self, rule: AlertRule) -> None:
        async with self._edits:
            self.engine.add(rule)
            await self._after_edit([])

    async def replace_rule(self, name: str, rule: AlertRule) -> None:
        async with self._edits:
            await self._after_edit(self.engine.replace(name, rule))

    async def remove_rule(self, name: str) -> None:
        async with self._edits:
            await self._after_edit(self.engine.remove(name))

    async def _after_edit(self, ended: list[Transition]) -> None:
        if self.run_dir is not None:
            try:
                await asyncio.to_thread(save_rules, self.run_dir, self.engine.rules)
            except OSError as error:
                log.warning("alert rules are not kept for a resume: %s", error)
        if ended:
            await self._announce(ended)
        else:
            await self.hub.broadcast(self.alerts().to_json())
        # The new rule is judged at once, not at the next scheduled evaluation.
        await self.evaluate()

    # ------------------------------------------------------------ what is
    def alerts(self) -> Alerts:
        return Alerts(rules=list(self.engine.rules), alerts=self.engine.states())

    def system_history(self) -> SystemHistory:
        return SystemHistory(samples=downsample(self.samples, GREETING_SAMPLES))

    def greeting(self) -> list[str]:
        return [self.alerts().to_json(), self.system_history().to_json()]

    def firing(self) -> list[AlertState]:
        return self.engine.firing()

    def metrics_view(self) -> MetricsView:
        progress = self.training_progress()
        latest, best = self._greedy()
        last = self.records.newest
        checkpoint = self._checkpoint
        return MetricsView(
            env_steps=progress.env_step if progress else None,
            episodes=progress.episode if progress else None,
            updates=progress.update_step if progress else None,
            steps_per_second=progress.steps_per_second if progress else None,
            td_loss=self.records.newest_td_loss,
            epsilon=progress.epsilon if progress else (last.epsilon if last else None),
            learning_rate=last.learning_rate if last else None,
            training_survival=progress.recent_mean_survival if progress else None,
            greedy_survival=latest,
            greedy_survival_best=best,
            training_paused=progress.paused if progress else None,
            checkpoint_time=checkpoint.written_at if checkpoint else None,
            checkpoint_size=checkpoint.size if checkpoint else None,
            viewers=len(self.hub),
            messages_sent=self.hub.messages_sent,
            messages_dropped=self.hub.messages_dropped,
            viewers_dropped=self.hub.viewers_dropped,
            live_survival=self.live_survival(),
            gpus=tuple(self.samples[-1].gpus) if self.samples else (),
            alerts=tuple(self.engine.states()),
        )

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
        self.gpus.close()


def _sample_time(sample: SystemSample) -> float:
    return sample.t


def process_roles(training_pid: int | None) -> dict[str, int]:
    """The processes to measure: the training one and this (the live server), once each."""
    own = os.getpid()
    if training_pid is None or training_pid == own:
        return {"training": own}  # one process does both (tests, benchmarks)
    return {"training": training_pid, "server": own}
