"""One trial, inside its Ray task: the single run's training code, then greedy evaluation.

The trial takes over the registry row the driver made for it (``register``, as a resumed run
does), and trains with the same parts as ``run_demo.py``: ``DQNTrainer`` in a
``TrainingWorker`` thread, its checkpoints, metrics.jsonl, TensorBoard writer, run.log and
events.jsonl. There is no live server or page per trial. The task's own thread is the watch
loop: it heartbeats, and stops training (final checkpoint) on ``townlet stop``, on the sweep's
stop, at the env-step budget, or on KeyboardInterrupt. Then every milestone checkpoint and the
final one are played greedily on the config's fixed evaluation worlds, at the step cap and at
ten times it, and the outcome is written to ``trial.json`` and returned to the driver.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from townlet.checkpoints import checkpoint_order, list_checkpoints
from townlet.config import TownletConfig, config_from_dict, config_to_dict
from townlet.evaluation import append_evaluation, evaluate_checkpoint
from townlet.learner.trainer import DQNTrainer, TrainingProgress
from townlet.orchestrator.console_log import configure_console_logging
from townlet.orchestrator.registration import Plan, register
from townlet.orchestrator.run_paths import RunPaths
from townlet.orchestrator.run_tracker import Ending, RunTracker
from townlet.orchestrator.training_worker import TrainingWorker
from townlet.registry import RegistryError, RunRecord, config_digest, this_host
from townlet.run_records import EvaluationPoint, evaluation_log, metrics_log
from townlet.sweep.plan import EVALUATION_CAP_FACTOR, TrialSpec
from townlet.sweep.registry_link import RemoteRegistry
from townlet.sweep.results import TrialEvaluation, TrialOutcome, write_outcome

log = logging.getLogger("townlet.sweep")

WATCH_SECONDS = 0.2  # also how far past --env-steps a trial may run
SWEEP_CHECK_SECONDS = 2.0


class TrialError(RuntimeError):
    """This trial cannot run as asked; the message says why."""


@dataclass
class _Stop:
    reason: str | None = None

    def ask(self, reason: str, worker: TrainingWorker, tracker: RunTracker) -> None:
        if self.reason is None:
            self.reason = reason
            log.info("stopping trial %s: %s", tracker.run_id, reason)
            tracker.stopping()
            worker.stop_event.set()


def run_trial(spec: TrialSpec, registry: RemoteRegistry | None) -> TrialOutcome:
    """The Ray task's body. Never raises for a failing trial: it records and returns it."""
    configure_console_logging()
    torch.set_num_threads(spec.torch_threads)
    config = config_from_dict(spec.config, source=f"trial {spec.index} of sweep {spec.sweep_id}")
    run_dir = Path(spec.run_dir)
    outcome = TrialOutcome(
        run_id=spec.run_id,
        index=spec.index,
        seed=spec.seed,
        setting=spec.setting_label,
        status="stopped",
        reason="",
        node_id=_node_id(),
        host=this_host(),
        pid=os.getpid(),
    )
    record = _own_record(spec, registry)
    if record.stop_requested or _sweep_stopping(spec, registry):
        # Stopped while it waited for a place: nothing ran, so nothing is written but the row.
        _finish_unstarted(spec, registry, "the sweep was stopped before this trial started")
        return outcome.model_copy(update={"reason": "stopped before it started"})

    run_dir.mkdir(parents=True, exist_ok=True)
    paths = RunPaths(run_dir, run_dir / "checkpoints", run_dir / "tensorboard")
    digest = config_digest(config_to_dict(config))
    try:
        device = _device(spec)
    except TrialError as error:
        device = torch.device("cpu")
        start_error: BaseException | None = error
    else:
        start_error = None
    tracker = register(
        Plan(registry, record),  # type: ignore[arg-type]  # RemoteRegistry: the calls used
        paths,
        name=record.name,
        config_path=Path(spec.config_path),
        config_name=config.name,
        digest=digest,
        seed=spec.seed,
        device=str(device),
        events_stream=None,
    )
    try:
        from townlet.cli import save_effective_config

        save_effective_config(config, run_dir)
        tracker.started(str(device), spec.config_path, digest)
        if start_error is not None:
            raise start_error
        outcome = _train_and_evaluate(spec, config, device, paths, tracker, outcome)
    except BaseException as error:  # a trial that raises is recorded; the others go on
        log.exception("trial %s failed", spec.run_id)
        message = f"{type(error).__name__}: {error}"
        tracker.finish(Ending("failed", "the trial raised an error", message), _no_progress(), None)
        outcome = outcome.model_copy(
            update={"status": "failed", "reason": "the trial raised an error", "error": message}
        )
    finally:
        _detach(tracker)
    outcome = outcome.model_copy(update={"device": str(device)})
    try:
        write_outcome(run_dir, outcome)
    except OSError as error:
        log.warning("could not write %s/trial.json: %s", run_dir, error)
    return outcome


def _train_and_evaluate(
    spec: TrialSpec,
    config: TownletConfig,
    device: torch.device,
    paths: RunPaths,
    tracker: RunTracker,
    outcome: TrialOutcome,
) -> TrialOutcome:
    writer = SummaryWriter(log_dir=str(paths.tensorboard_dir))
    trainer = DQNTrainer(
        config,
        device,
        paths.checkpoint_dir,
        writer,
        metrics=metrics_log(paths.run_dir),
        save_at_env_steps=spec.milestones,
    )
    worker = TrainingWorker(trainer, writer)
    log.info(
        "trial %d (%s, seed %d) on %s; writing to %s",
        spec.index,
        spec.setting_label,
        spec.seed,
        device,
        paths.run_dir,
    )
    started = time.monotonic()
    worker.start()
    tracker.component("training", True)
    tracker.running()
    stop = _Stop()
    last_sweep_check = time.monotonic()
    while worker.alive:
        try:
            worker.thread.join(WATCH_SECONDS)
            if stop.reason is not None:
                continue
            progress = worker.progress()
            if spec.inject_fault and progress.env_step > 0:
                # Once training has reported (its records written), and never cut short by a
                # tiny budget spent before the first report (see the budget check below).
                raise RuntimeError(f"fault injected into trial {spec.index} (TOWNLET_SWEEP_FAULT)")
            if tracker.tick(progress, worker.newest_checkpoint):
                # A stopping sweep flags itself before it asks each trial's row: the reason
                # names who asked, whichever of the two this trial happened to see first.
                sweep_stopping = _sweep_stopping(spec, tracker.registry)  # type: ignore[arg-type]
                stop.ask(
                    "the sweep was stopped" if sweep_stopping else "townlet stop", worker, tracker
                )
            elif (
                spec.env_step_budget is not None
                and trainer.env_step >= spec.env_step_budget
                and not spec.inject_fault
            ):
                stop.ask("env-step budget reached", worker, tracker)
            elif time.monotonic() - last_sweep_check >= SWEEP_CHECK_SECONDS:
                last_sweep_check = time.monotonic()
                if _sweep_stopping(spec, tracker.registry):  # type: ignore[arg-type]
                    stop.ask("the sweep was stopped", worker, tracker)
        except KeyboardInterrupt:  # Ray's cancel, or a Ctrl+C that reached this worker
            stop.ask("interrupted", worker, tracker)
        except BaseException:
            worker.stop(timeout=60.0)  # the final checkpoint still gets written
            raise
    tracker.component("training", False)
    seconds = time.monotonic() - started
    progress = trainer.progress()
    ending = _ending(worker, trainer, stop.reason, spec)
    newest = worker.newest_checkpoint
    evaluations: list[TrialEvaluation] = []
    if ending.status != "failed":
        tracker.stopping()
        evaluations = _evaluate(config, paths, trainer, spec.milestones, newest, tracker)
    tracker.finish(ending, progress, newest)
    return outcome.model_copy(
        update={
            "status": ending.status,
            "reason": ending.reason,
            "error": ending.error,
            "episode": progress.episode,
            "env_step": progress.env_step,
            "steps_per_second": progress.env_step / seconds if seconds > 0 else None,
            "training_seconds": round(seconds, 3),
            "evaluations": evaluations,
        }
    )


def _ending(
    worker: TrainingWorker, trainer: DQNTrainer, reason: str | None, spec: TrialSpec
) -> Ending:
    """As the orchestrator's ``ending()``, for a trial."""
    if worker.error is not None:
        error = worker.error
        return Ending("failed", "training raised an error", f"{type(error).__name__}: {error}")
    budget_met = spec.env_step_budget is not None and trainer.env_step >= spec.env_step_budget
    if trainer.finished() or budget_met:
        what = "episode budget" if trainer.finished() else "env-step budget"
        return Ending("completed", f"{what} reached")
    saved = (
        "final checkpoint NOT written" if worker.final_save_error else "final checkpoint written"
    )
    return Ending("stopped", f"{reason or 'stopped'}; {saved}", worker.final_save_error)


def _evaluate(
    config: TownletConfig,
    paths: RunPaths,
    trainer: DQNTrainer,
    milestones: tuple[int, ...],
    final: Path | None,
    tracker: RunTracker,
) -> list[TrialEvaluation]:
    """Each reached milestone's checkpoint and the final one, at the cap and at 10x it.

    A milestone's checkpoint is the first saved at or past it: the trainer saved it there and
    pinned it, so pruning left it in place.
    """
    ordered = sorted(
        (order[0], path)
        for path in list_checkpoints(paths.checkpoint_dir)
        if (order := checkpoint_order(path)) is not None
    )
    chosen: list[tuple[int | None, Path]] = []
    for milestone in milestones:
        if milestone > trainer.env_step:
            break
        found = next((path for step, path in ordered if step >= milestone), None)
        if found is not None:
            chosen.append((milestone, found))
    if final is not None:
        chosen.append((None, final))
    cap = config.evaluation.step_cap or config.world.step_cap
    long_config = config.model_copy(
        update={
            "evaluation": config.evaluation.model_copy(
                update={"step_cap": cap * EVALUATION_CAP_FACTOR}
            )
        }
    )
    progress = trainer.progress()
    results: list[TrialEvaluation] = []
    done: dict[tuple[str, int], TrialEvaluation] = {}
    for milestone, path in chosen:
        for factor, settings in ((1, config), (EVALUATION_CAP_FACTOR, long_config)):
            key = (path.name, factor)
            if key not in done:
                state = trainer.catalog.read(path)
                point = evaluate_checkpoint(
                    settings,
                    path,
                    state,
                    trainer.world.obs_dim,
                    # Asked every world step: the heartbeat goes on during long evaluations.
                    should_stop=lambda: bool(tracker.tick(progress, final)) and False,
                )
                if factor == 1:
                    _record_for_charts(paths, point)
                done[key] = TrialEvaluation(
                    milestone=milestone,
                    checkpoint=point.checkpoint,
                    env_step=point.env_step,
                    step_cap=point.step_cap,
                    cap_factor=factor,
                    worlds=point.worlds,
                    mean_survival=point.mean_survival,
                    min_survival=point.min_survival,
                    max_survival=point.max_survival,
                    share_at_cap=point.share_at_cap,
                )
            results.append(done[key].model_copy(update={"milestone": milestone}))
    return results


def _record_for_charts(paths: RunPaths, point: EvaluationPoint) -> None:
    """Into evaluations.jsonl too, as the single run's evaluator does: the registry's
    best greedy survival and the page's curve come from there."""
    log_file = evaluation_log(paths.run_dir)
    known = {existing.checkpoint for existing in log_file.read_all()}
    if point.checkpoint not in known:
        try:
            append_evaluation(log_file.path, point)
        except OSError as error:
            log.warning("could not add to %s: %s", log_file.path, error)


# ------------------------------------------------------------------ helpers
def _device(spec: TrialSpec) -> torch.device:
    """CUDA only where Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES to it)."""
    if spec.device == "cuda" or (spec.device == "auto" and spec.gpus > 0):
        if not torch.cuda.is_available():
            raise TrialError(
                f"trial {spec.index} wants CUDA but PyTorch on {this_host()} sees no GPU "
                "(a CPU build of PyTorch, or no GPU on that node)"
            )
        return torch.device("cuda")
    return torch.device("cpu")


def _own_record(spec: TrialSpec, registry: RemoteRegistry | None) -> RunRecord:
    """The row the driver made; rebuilt from the spec if the registry cannot be reached."""
    if registry is not None:
        try:
            found = registry.get(spec.run_id)
        except RegistryError as error:
            log.warning("%s; trial %s goes on without the registry", error, spec.run_id)
        else:
            if found is not None:
                return found
    return RunRecord(
        id=spec.run_id,
        name=f"{spec.sweep_id}/{spec.index}",
        config_path=spec.config_path,
        config_name=str(spec.config.get("name", "townlet")),
        config_digest="",
        seed=spec.seed,
        status="starting",
        pid=os.getpid(),
        host=this_host(),
        device=None,
        run_dir=spec.run_dir,
        started_at=time.time(),
        sweep_id=spec.sweep_id,
    )


def _sweep_stopping(spec: TrialSpec, registry: RemoteRegistry | None) -> bool:
    if registry is None:
        return False
    try:
        sweep = registry.get_sweep(spec.sweep_id)
    except RegistryError:
        return False
    return sweep is not None and bool(sweep.stop_requested)


def _finish_unstarted(spec: TrialSpec, registry: RemoteRegistry | None, reason: str) -> None:
    if registry is None:
        return
    try:
        registry.update(
            spec.run_id, status="stopped", ended_at=time.time(), end_reason=reason, pid=None
        )
    except RegistryError as error:
        log.warning("%s", error)


def _detach(tracker: RunTracker) -> None:
    """A Ray worker runs task after task: this trial's log files must not catch the next's."""
    for handler in tracker.log_handlers:
        for name in ("townlet", "uvicorn"):
            logging.getLogger(name).removeHandler(handler)
        handler.close()


def _no_progress() -> TrainingProgress:
    return TrainingProgress(0, 0, 0.0, 0.0, None, None, running=False)


def _node_id() -> str | None:
    import ray

    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray (a trial run in-process): no node to name
        return None
