"""The sweep's driver: one process, one owner of signals and of the shutdown order.

Start: check every trial's config, connect to Ray (starting a local one unless
``--ray-address``), check that a trial fits on some node, write the sweep's row and one
``starting`` row per trial, then keep at most ``--parallel`` trials submitted as Ray tasks;
Ray's resource accounting decides where each runs and which GPU it gets.

Stop (Ctrl+C, SIGTERM, ``townlet stop SWEEP``): submit nothing more, ask every trial to stop
through the registry (each saves a final checkpoint, evaluates it and ends ``stopped``), wait,
then write the results and, if Ray is ours, shut it down. A second Ctrl+C stops waiting: the
trials' processes are killed (their rows say so) and Ray is shut down all the same.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

from townlet.config import ConfigError, config_to_dict, load_config
from townlet.registry import (
    ACTIVE,
    Registry,
    RegistryError,
    RunRecord,
    SweepRecord,
    config_digest,
    new_run_id,
    new_sweep_id,
    this_host,
)
from townlet.sweep.cluster import ClusterError, RayConnection, capacity, check_fits, connect
from townlet.sweep.plan import (
    PlanError,
    SweepPlan,
    TrialSpec,
    build_plan,
    parse_milestones,
    parse_steps,
)
from townlet.sweep.results import TrialOutcome, markdown_table, write_outcome, write_results

log = logging.getLogger("townlet.sweep")

HEARTBEAT_SECONDS = 2.0
PROGRESS_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 300.0  # final checkpoints, then the evaluations of what was saved
FAULT_VARIABLE = "TOWNLET_SWEEP_FAULT"  # tests: "INDEX" makes that trial raise


@dataclass
class SweepOptions:
    config_path: Path
    seeds: int
    parallel: int
    sets: list[str]
    runs_dir: Path
    storage: Path | None = None  # where trial folders go (default: runs_dir)
    episodes: int | None = None
    env_steps: str | None = None
    milestones: str | None = None
    device: str | None = None
    ray_address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    name: str | None = None


class SweepRefused(RuntimeError):
    """Bad input found before anything started; the message says what to do."""


def run_sweep(options: SweepOptions) -> int:
    """The whole sweep; 0 when no trial failed, 1 when one did, 2 for bad input."""
    try:
        plan = plan_sweep(options)
        connection = connect(options.ray_address, num_cpus=os.cpu_count())
    except (SweepRefused, PlanError, ClusterError) as error:
        log.error("%s", error)
        return 2
    try:
        driver = SweepDriver(options, plan, connection)
        return driver.run()
    except ClusterError as error:
        log.error("%s", error)
        return 2
    finally:
        connection.close()
        if connection.started_here:
            log.info("Ray stopped (it was started for this sweep)")


def plan_sweep(options: SweepOptions) -> SweepPlan:
    """Every trial's config, checked before Ray starts; SweepRefused or PlanError if bad."""
    if options.parallel < 1:
        raise SweepRefused(f"--parallel {options.parallel}: give at least 1")
    if options.cpus_per_run <= 0:
        raise SweepRefused(f"--cpus-per-run {options.cpus_per_run:g}: give more than 0")
    if options.gpus_per_run < 0:
        raise SweepRefused(f"--gpus-per-run {options.gpus_per_run:g}: give 0 or more")
    if options.device == "cuda" and options.gpus_per_run <= 0:
        raise SweepRefused(
            "--device cuda needs --gpus-per-run (e.g. 1, or 0.5 to share a GPU between two "
            "trials): Ray hands out GPUs only to trials that ask for them"
        )
    from townlet.cli import apply_overrides

    try:
        config = apply_overrides(
            load_config(options.config_path),
            SimpleNamespace(episodes=options.episodes, device=options.device),
        )
    except ConfigError as error:
        raise SweepRefused(str(error)) from None
    except SystemExit as refusal:  # apply_overrides' own message for a bad --episodes
        raise SweepRefused(str(refusal)) from None
    budget = None if options.env_steps is None else parse_steps(options.env_steps, "--env-steps")
    if budget is None and config.training.total_episodes is None:
        log.info("no --episodes or --env-steps: trials train until Ctrl+C or `townlet stop`")
    return build_plan(
        config,
        options.config_path,
        options.seeds,
        options.sets,
        parse_milestones(options.milestones),
        budget,
    )


class SweepDriver:
    def __init__(self, options: SweepOptions, plan: SweepPlan, connection: RayConnection) -> None:
        """ClusterError if a trial fits on no node of the cluster."""
        fit = check_fits(capacity(), options.cpus_per_run, options.gpus_per_run, options.parallel)
        if fit < options.parallel:
            log.info(
                "--parallel %d, but only %d trial(s) fit on the cluster at once; "
                "Ray runs the others as places free up",
                options.parallel,
                fit,
            )
        self.options = options
        self.plan = plan
        self.connection = connection
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self.stop_reason = "Ctrl+C"
        self.stopping = False
        self.outcomes: dict[int, TrialOutcome] = {}
        self._registry: Registry | None = None
        self.sweep_id = new_sweep_id()
        storage = options.storage or options.runs_dir
        self.sweep_dir = storage / "sweeps" / self.sweep_id
        self.name = options.name or plan.config.name
        self.specs: list[TrialSpec] = []
        self.killed = False  # trials ended without waiting (second Ctrl+C, stop timeout)

    # ------------------------------------------------------------- signals
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            self.force.set()
        else:
            self.stop_reason = "SIGTERM" if signum == signal.SIGTERM else "Ctrl+C"
        self.stop_requested.set()

    @contextmanager
    def _captured_signals(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def registry(self) -> Registry:
        """Opened on first use by the thread that uses it (SQLite connections stay in theirs)."""
        if self._registry is None:
            self._registry = Registry(self.options.runs_dir)
        return self._registry

    def release_registry(self) -> None:
        """Close this thread's connection: the driver goes on in another thread
        (``run_demo.py --runs``, whose main thread serves the page; see sweep_page.py)."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def request_stop(self, reason: str) -> None:
        """Stop the sweep as on Ctrl+C (from another thread: the page's orchestrator)."""
        if not self.stop_requested.is_set():
            self.stop_reason = reason
        self.stop_requested.set()

    def kill(self) -> None:
        """As a second Ctrl+C: stop waiting, end the trials' processes now."""
        self.stop_requested.set()
        self.force.set()

    # ----------------------------------------------------------------- run
    def run(self) -> int:
        with self._captured_signals():
            self.register()
            self.schedule()
        return self.conclude()

    def register(self) -> None:
        """The sweep's row and one ``starting`` row per trial (``specs`` from then on)."""
        self._register()

    def schedule(self) -> None:
        """Run the trials, at most ``--parallel`` at once, until all end or the sweep stops."""
        from townlet.sweep.registry_link import start_registry_service

        service = start_registry_service(self.options.runs_dir)
        log.info(
            "sweep %s: %d trial(s) of %s (%d seed(s) x %d setting(s)), up to %d at once, "
            "on %s; writing to %s",
            self.sweep_id,
            len(self.specs),
            self.plan.config.name,
            len(self.plan.seeds),
            len(self.plan.settings),
            self.options.parallel,
            "a local Ray" if self.connection.started_here else self.connection.address,
            self.sweep_dir,
        )
        log.info(
            "follow it with `townlet list`; stop it with Ctrl+C or `townlet stop %s`",
            self.sweep_id,
        )
        try:
            self._schedule(service)
        finally:
            self._finish_unstarted()

    def conclude(self) -> int:
        """Write the results and the sweep's ending; 0 unless a trial failed or was killed."""
        return self._conclude()

    def _register(self) -> None:
        """The sweep's row, then one ``starting`` row and folder path per trial."""
        now = time.time()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        description = self.plan.describe() | {
            "cpus_per_run": self.options.cpus_per_run,
            "gpus_per_run": self.options.gpus_per_run,
            "ray_address": self.options.ray_address,
        }
        (self.sweep_dir / "sweep.json").write_text(
            json.dumps({"id": self.sweep_id, "name": self.name, **description}, indent=2),
            encoding="utf-8",
        )
        self.registry.register_sweep(
            SweepRecord(
                id=self.sweep_id,
                name=self.name,
                config_path=str(self.options.config_path),
                config_name=self.plan.config.name,
                status="running",
                pid=os.getpid(),
                host=this_host(),
                ray_address=self.options.ray_address,
                trials=len(self.plan.trials),
                parallel=self.options.parallel,
                settings=json.dumps(description),
                sweep_dir=str(self.sweep_dir),
                started_at=now,
                heartbeat_at=now,
            )
        )
        fault = os.environ.get(FAULT_VARIABLE)
        threads = max(
            1, min(self.plan.config.training.torch_threads, int(self.options.cpus_per_run))
        )
        for index, (seed, setting, config) in enumerate(self.plan.trials):
            slug = f"_{setting.slug}" if setting.values else ""
            run_dir = self.sweep_dir / f"trial-{index:02d}_seed-{seed}{slug}"
            record = self._insert(
                RunRecord(
                    id=new_run_id(),
                    name=f"{self.name} #{index} seed {seed}"
                    + (f" {setting.label}" if setting.values else ""),
                    config_path=str(self.options.config_path),
                    config_name=config.name,
                    config_digest=config_digest(config_to_dict(config)),
                    seed=seed,
                    status="starting",  # waiting for Ray to give it a place
                    pid=os.getpid(),
                    host=this_host(),
                    device=None,
                    run_dir=str(run_dir),
                    started_at=now + index * 1e-3,  # keeps the trials in order in listings
                    heartbeat_at=now,
                    sweep_id=self.sweep_id,
                )
            )
            self.specs.append(
                TrialSpec(
                    sweep_id=self.sweep_id,
                    index=index,
                    run_id=record.id,
                    seed=seed,
                    setting_label=setting.label,
                    config=config_to_dict(config),
                    config_path=str(self.options.config_path),
                    run_dir=str(run_dir),
                    device=config.training.device,
                    gpus=self.options.gpus_per_run,
                    torch_threads=threads,
                    milestones=self.plan.milestones,
                    env_step_budget=self.plan.env_step_budget,
                    inject_fault=fault == str(index),
                )
            )

    def _insert(self, record: RunRecord) -> RunRecord:
        from townlet.orchestrator.registration import _insert_with_fresh_id

        return _insert_with_fresh_id(self.registry, record)

    # ------------------------------------------------------------ scheduling
    def _schedule(self, service: Any) -> None:
        import ray

        from townlet.sweep.registry_link import RemoteRegistry

        remote_trial = ray.remote(max_retries=0)(_trial_task)
        waiting = list(self.specs)
        in_flight: dict[Any, TrialSpec] = {}
        last_beat = last_progress = time.monotonic()
        stop_deadline: float | None = None
        while waiting or in_flight:
            if self.stop_requested.is_set() and not self.stopping:
                self._begin_stop()
                stop_deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
                waiting.clear()
            if self.force.is_set() or (
                stop_deadline is not None and time.monotonic() > stop_deadline
            ):
                self._kill(in_flight)
                return
            while waiting and len(in_flight) < self.options.parallel:
                spec = waiting.pop(0)
                reference = remote_trial.options(
                    num_cpus=self.options.cpus_per_run, num_gpus=self.options.gpus_per_run
                ).remote(spec, RemoteRegistry(service, str(self.registry.path)))
                in_flight[reference] = spec
            if in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for reference in ready:
                    self._collect(reference, in_flight.pop(reference))
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                self._beat()
            if now - last_progress >= PROGRESS_SECONDS:
                last_progress = now
                self._report(len(waiting))

    def _collect(self, reference: Any, spec: TrialSpec) -> None:
        import ray

        try:
            outcome: TrialOutcome = ray.get(reference)
        except ray.exceptions.RayError as error:
            # The task itself died (its worker was killed, a node was lost): run_trial never
            # raises for a trial that merely fails, so this is the process, not the training.
            reason = "its Ray task died"
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
            self._end_row(spec, "failed", reason, message)
            outcome = self._placeholder(spec, "failed", reason, message)
        self.outcomes[spec.index] = outcome
        log.info(
            "trial %d (%s, seed %d, run %s) %s: %s%s",
            spec.index,
            spec.setting_label,
            spec.seed,
            spec.run_id,
            outcome.status,
            outcome.reason,
            f" ({outcome.error})" if outcome.error else "",
        )

    def _begin_stop(self) -> None:
        self.stopping = True
        log.info(
            "stopping the sweep (%s): each running trial writes its final checkpoint and is "
            "evaluated; press Ctrl+C again to stop without waiting",
            self.stop_reason,
        )
        try:
            self.registry.update_sweep(self.sweep_id, status="stopping", stop_requested=1)
            for record in self.registry.sweep_trials(self.sweep_id):
                if record.status in ACTIVE:
                    self.registry.request_stop(record.id)
        except RegistryError as error:
            log.warning("%s; trials are cancelled through Ray instead", error)
            self.force.set()

    def _kill(self, in_flight: dict[Any, TrialSpec]) -> None:
        """Second Ctrl+C (or a stop that takes too long): end the trials' processes now."""
        import ray

        if in_flight:
            log.warning(
                "not waiting: killing %d trial(s) without their final evaluation", len(in_flight)
            )
        for reference in in_flight:
            ray.cancel(reference, force=True)
        for reference, spec in in_flight.items():
            with suppress(ray.exceptions.RayError, TimeoutError):
                ray.get(reference, timeout=10)
            reason = "killed by a second Ctrl+C" if self.force.is_set() else "did not stop in time"
            self._end_row(spec, "lost", f"{reason}: no final checkpoint", None)
            self.outcomes[spec.index] = self._placeholder(spec, "failed", reason, None)
        self.killed = True

    def _beat(self) -> None:
        try:
            self.registry.update_sweep(self.sweep_id, heartbeat_at=time.time())
            sweep = self.registry.get_sweep(self.sweep_id)
        except RegistryError as error:
            log.warning("%s", error)
            return
        if sweep is not None and sweep.stop_requested and not self.stop_requested.is_set():
            self.stop_reason = "townlet stop"
            self.stop_requested.set()

    def _report(self, waiting: int) -> None:
        try:
            trials = self.registry.sweep_trials(self.sweep_id)
        except RegistryError:
            return
        running = [t for t in trials if t.status in ("running", "stopping", "paused")]
        parts = [
            f"#{self._index(t)} {t.env_step / 1e6:.2f}M steps {t.steps_per_second or 0:,.0f}/s"
            for t in running
        ]
        log.info(
            "%d running, %d waiting, %d done%s",
            len(running),
            # Every trial's row is "starting" until it runs, submitted to Ray or not yet.
            max(waiting, sum(1 for t in trials if t.status == "starting")),
            len(self.outcomes),
            (" | " + " | ".join(parts)) if parts else "",
        )

    def _index(self, record: RunRecord) -> int:
        return next((s.index for s in self.specs if s.run_id == record.id), -1)

    # ------------------------------------------------------------ the end
    def _finish_unstarted(self) -> None:
        """Trials that never got a place: their rows end ``stopped``, with the reason."""
        for spec in self.specs:
            if spec.index in self.outcomes:
                continue
            try:
                record = self.registry.get(spec.run_id)
            except RegistryError:
                record = None
            if record is not None and record.status == "starting":
                self._end_row(spec, "stopped", "the sweep stopped before this trial started", None)
            if record is None or record.status == "starting":
                self.outcomes[spec.index] = self._placeholder(
                    spec, "stopped", "never started", None
                )

    def _end_row(self, spec: TrialSpec, status: str, reason: str, error: str | None) -> None:
        try:
            record = self.registry.get(spec.run_id)
            if record is not None and record.status in ACTIVE:
                self.registry.finish(spec.run_id, status, reason, error)  # type: ignore[arg-type]
        except RegistryError as failure:
            log.warning("%s", failure)

    def _placeholder(
        self, spec: TrialSpec, status: str, reason: str, error: str | None
    ) -> TrialOutcome:
        outcome = TrialOutcome(
            run_id=spec.run_id,
            index=spec.index,
            seed=spec.seed,
            setting=spec.setting_label,
            status=status,
            reason=reason,
            error=error,
        )
        run_dir = Path(spec.run_dir)
        if run_dir.is_dir() and not (run_dir / "trial.json").exists():
            with suppress(OSError):
                write_outcome(run_dir, outcome)
        return outcome

    def _conclude(self) -> int:
        outcomes = [self.outcomes[index] for index in sorted(self.outcomes)]
        failed = [outcome for outcome in outcomes if outcome.status == "failed"]
        killed = self.killed
        try:
            rows = write_results(self.sweep_dir, self.sweep_id, self.name)
        except OSError as error:
            log.error("could not write the results to %s: %s", self.sweep_dir, error)
            rows = []
        if failed:
            status, reason = "failed", f"{len(failed)} of {len(outcomes)} trial(s) failed"
        elif self.stopping:
            status, reason = "stopped", f"{self.stop_reason}; every trial stopped"
        else:
            status, reason = "completed", "every trial completed"
        if killed:
            reason = f"{self.stop_reason}; trials killed without waiting"
        try:
            self.registry.update_sweep(
                self.sweep_id,
                status=status,
                ended_at=time.time(),
                end_reason=reason,
                error="; ".join(f"#{o.index}: {o.error}" for o in failed if o.error) or None,
                heartbeat_at=time.time(),
            )
        except RegistryError as error:
            log.warning("%s", error)
        self.release_registry()
        print(markdown_table(rows), flush=True)
        log.info(
            "sweep %s %s (%s); results in %s (results.md, results.csv, results.svg); "
            "`townlet compare %s` prints them",
            self.sweep_id,
            status,
            reason,
            self.sweep_dir,
            self.sweep_id,
        )
        return 1 if failed or killed else 0


def _trial_task(spec: TrialSpec, registry: Any) -> TrialOutcome:
    """The Ray task: imported by the worker, so the heavy imports happen there, not here."""
    from townlet.sweep.trial import run_trial

    return run_trial(spec, registry)
