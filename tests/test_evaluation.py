"""Greedy evaluation of every checkpoint, off the training process: the honest learning curve."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import yaml

from tests.support.demo_process import PROJECT_ROOT, alive
from tests.support.fake_checkpoints import plant_garbage
from tests.support.tiny import tiny_config
from townlet.checkpoints import load_checkpoint
from townlet.config import TownletConfig, config_to_dict, load_config
from townlet.evaluation import (
    append_evaluation,
    copy_evaluations_up_to,
    evaluate_checkpoint,
    read_evaluations,
)
from townlet.evaluation.worker import EvaluationWorker
from townlet.learner.trainer import DQNTrainer
from townlet.live.protocol import EvaluationPoint
from townlet.orchestrator.evaluator import EvaluatorProcess

CAP = 120
WORLDS = 8


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three checkpoints of one tiny level-1 run: untrained, then after 150 and 300 steps."""
    directory = tmp_path_factory.mktemp("source") / "checkpoints"
    trainer = DQNTrainer(tiny_config(), torch.device("cpu"), directory)
    saved = [trainer.save()]
    for _ in range(2):
        for _ in range(150):
            trainer.train_step()
        saved.append(trainer.save())
    assert trainer.update_step > 0
    return saved


def write_config(directory: Path, **evaluation: object) -> Path:
    data = config_to_dict(tiny_config())
    data["evaluation"] = {"worlds": WORLDS, "step_cap": CAP, **evaluation}
    path = directory / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def small_config(tmp_path: Path) -> TownletConfig:
    return load_config(write_config(tmp_path))


def place(source: Path, directory: Path) -> Path:
    """Put a checkpoint in ``directory`` as the trainer does: whole, by rename."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".tmp-{source.name}.partial"
    shutil.copyfile(source, temporary)
    return temporary.replace(directory / source.name)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)  # handle() holds self.lock

    def clear(self) -> None:
        with self.lock:
            self.records.clear()

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        with self.lock:
            return [r.getMessage() for r in self.records if r.levelno >= level]


@pytest.fixture
def evaluation_log() -> Iterator[Records]:
    """What reaches the ``townlet.evaluation`` logger (the worker's lines relayed included)."""
    logger = logging.getLogger("townlet.evaluation")
    handler = Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def point(name: str, env_step: int) -> EvaluationPoint:
    return EvaluationPoint(
        checkpoint=name,
        env_step=env_step,
        episode=env_step // 100,
        worlds=4,
        step_cap=CAP,
        mean_survival=50.0,
        min_survival=10,
        max_survival=CAP,
        share_at_cap=0.25,
        causes={"energy": 3, "health": 0, "step_cap": 1},
        wall_time=1.0,
    )


# --------------------------------------------------------------------------- greedy


def test_the_same_checkpoint_gives_the_same_point(tmp_path: Path, checkpoints: list[Path]) -> None:
    config = small_config(tmp_path)
    path = checkpoints[-1]
    first = evaluate_checkpoint(config, path, load_checkpoint(path))
    again = evaluate_checkpoint(config, path, load_checkpoint(path))
    assert first.model_dump(exclude={"wall_time"}) == again.model_dump(exclude={"wall_time"})


def test_trained_and_untrained_points_are_consistent(
    tmp_path: Path, checkpoints: list[Path]
) -> None:
    config = small_config(tmp_path)
    untrained, trained = (
        evaluate_checkpoint(config, path, load_checkpoint(path))
        for path in (checkpoints[0], checkpoints[-1])
    )
    assert (untrained.env_step, untrained.episode) == (0, 0)
    assert trained.env_step > 0 and trained.episode > 0
    assert untrained.mean_survival != trained.mean_survival  # the weights matter
    for result, path in ((untrained, checkpoints[0]), (trained, checkpoints[-1])):
        assert result.checkpoint == path.name
        assert (result.worlds, result.step_cap) == (WORLDS, CAP)
        assert set(result.causes) == {"energy", "health", "step_cap"}
        assert sum(result.causes.values()) == WORLDS
        assert 0.0 <= result.share_at_cap <= 1.0
        assert result.share_at_cap == result.causes["step_cap"] / WORLDS
        assert 1 <= result.min_survival <= result.mean_survival <= result.max_survival <= CAP
        assert (result.max_survival == CAP) == (result.causes["step_cap"] > 0)
        assert result.wall_time == pytest.approx(time.time(), abs=60)


# --------------------------------------------------------------------------- the log


def test_log_skips_a_torn_line_and_appends_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run" / "evaluations.jsonl"
    assert read_evaluations(path) == []
    append_evaluation(path, point("a.pt", 100))
    append_evaluation(path, point("b.pt", 200))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 25])  # the crash cut the last write short
    assert [p.checkpoint for p in read_evaluations(path)] == ["a.pt"]
    append_evaluation(path, point("c.pt", 300))  # not glued to the torn line
    assert [p.checkpoint for p in read_evaluations(path)] == ["a.pt", "c.pt"]
    assert read_evaluations(path)[1] == point("c.pt", 300)
    # The torn line is now a whole line that does not parse: one warning per read.
    torn = [r for r in caplog.records if r.name == "townlet.records" and "unreadable" in r.message]
    assert len(torn) == 2


def test_a_resumed_run_copies_the_earlier_lines_up_to_its_checkpoint(tmp_path: Path) -> None:
    earlier, resumed = tmp_path / "earlier.jsonl", tmp_path / "resumed" / "evaluations.jsonl"
    for index, step in enumerate((100, 200, 300)):
        append_evaluation(earlier, point(f"{index}.pt", step))
    assert copy_evaluations_up_to(earlier, resumed, 200) == 2
    assert copy_evaluations_up_to(earlier, resumed, 200) == 0  # never twice
    assert [p.env_step for p in read_evaluations(resumed)] == [100, 200]
    assert copy_evaluations_up_to(tmp_path / "missing.jsonl", resumed, 200) == 0


# --------------------------------------------------------------------------- the worker


def test_worker_evaluates_newest_first_skips_unreadable_files_and_done_ones(
    tmp_path: Path, checkpoints: list[Path], evaluation_log: Records
) -> None:
    directory, output = tmp_path / "checkpoints", tmp_path / "evaluations.jsonl"
    for path in checkpoints:
        place(path, directory)
    garbage = plant_garbage(directory)  # named as the newest checkpoint of all
    stop = threading.Event()
    worker = EvaluationWorker(small_config(tmp_path), directory, output, stop)
    order = []
    while (evaluated := worker.evaluate_next()) is not None:
        order.append(evaluated.checkpoint)
    assert order == [p.name for p in reversed(checkpoints)]
    warnings = evaluation_log.messages(logging.WARNING)
    assert len(warnings) == 1 and "could not be read" in warnings[0]
    # A restarted worker finds every checkpoint done in the file (the garbage is judged anew).
    restarted = EvaluationWorker(small_config(tmp_path), directory, output, stop)
    assert restarted.waiting() == [garbage]
    assert restarted.evaluate_next() is None
    assert restarted.waiting() == []
    assert [p.checkpoint for p in read_evaluations(output)] == order


@contextlib.contextmanager
def evaluator(config: Path, directory: Path, output: Path) -> Iterator[EvaluatorProcess]:
    process = EvaluatorProcess(config, directory, output, poll_seconds=0.1)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_worker_process_evaluates_each_checkpoint_once_and_stops_promptly(
    tmp_path: Path, checkpoints: list[Path], evaluation_log: Records
) -> None:
    directory, output = tmp_path / "checkpoints", tmp_path / "run" / "evaluations.jsonl"
    first, second, third = checkpoints
    place(first, directory)
    place(second, directory)
    with evaluator(write_config(tmp_path), directory, output) as process:
        wait_until(lambda: len(read_evaluations(output)) == 2, 15, "two evaluations")
        assert process.pid is not None
        os.kill(process.pid, signal.SIGINT)  # Ctrl+C is the parent's business
        place(third, directory)
        wait_until(lambda: len(read_evaluations(output)) == 3, 10, "the third evaluation")
        assert process.alive
        started = time.monotonic()
        assert process.stop()
        assert time.monotonic() - started < 2.0
        assert not process.alive and process.process is not None
        assert process.process.returncode == 0
    names = [p.checkpoint for p in read_evaluations(output)]
    assert names == [second.name, first.name, third.name]
    relayed = evaluation_log.messages()
    assert any(f"checkpoint {third.name}: greedy mean" in line for line in relayed)
    assert not evaluation_log.messages(logging.WARNING), relayed


def test_worker_stops_mid_evaluation_on_end_of_stdin_and_on_sigterm(
    tmp_path: Path, checkpoints: list[Path], evaluation_log: Records
) -> None:
    """Worlds where nobody can die, and a cap far away: only stopping ends the evaluation."""
    directory, output = tmp_path / "checkpoints", tmp_path / "evaluations.jsonl"
    place(checkpoints[-1], directory)
    data = config_to_dict(tiny_config())
    for meter in ("energy", "health"):
        data["world"]["meters"][meter]["terminal"] = False
    data["evaluation"] = {"worlds": 256, "step_cap": 10_000_000}
    config = tmp_path / "immortal.yaml"
    config.write_text(yaml.safe_dump(data))
    for stop in ("stdin", "sigterm"):
        with evaluator(config, directory, output) as process:
            wait_until(
                lambda: any("evaluating checkpoints" in m for m in evaluation_log.messages()),
                15,
                "the worker to start",
            )
            assert process.alive and process.process is not None and process.pid is not None
            started = time.monotonic()
            if stop == "stdin":
                assert process.stop()
            else:
                os.kill(process.pid, signal.SIGTERM)
                process.process.wait(5)
            assert time.monotonic() - started < 1.5, stop
            assert process.process.returncode == 0, stop
        evaluation_log.clear()
    assert read_evaluations(output) == []
    assert not evaluation_log.messages(logging.WARNING)


PARENT = """
import sys, time
from pathlib import Path
from townlet.orchestrator.evaluator import EvaluatorProcess
process = EvaluatorProcess(*map(Path, sys.argv[1:4]), poll_seconds=0.1)
process.start()
print(process.pid, flush=True)
time.sleep(600)
"""


def test_the_worker_ends_when_its_parent_is_killed(tmp_path: Path, checkpoints: list[Path]) -> None:
    directory, output = tmp_path / "checkpoints", tmp_path / "evaluations.jsonl"
    place(checkpoints[0], directory)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(write_config(tmp_path)), str(directory), str(output)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    worker = None
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        wait_until(lambda: len(read_evaluations(output)) == 1, 15, "the worker to evaluate")
        parent.kill()
        parent.wait()
        wait_until(lambda: not alive(worker), 3, "the orphaned worker to exit")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if worker is not None and alive(worker):
            os.killpg(worker, signal.SIGKILL)


def test_the_greedy_policy_starts_every_episode_from_a_zero_hidden_state() -> None:
    """A recurrent policy played past an episode's end (as the live view and long evaluations
    do) must not carry the last episode's memory into the next one."""
    from townlet.learner.evaluation import greedy_policy
    from townlet.learner.networks import GruQNetwork
    from townlet.world import VectorWorld

    config = tiny_config("level_3_temporal")
    world_config = config.world.model_copy(update={"step_cap": 4})
    world = VectorWorld(world_config, config.reward, num_envs=3, seed=5)
    network = GruQNetwork(world.obs_dim, 6, [8])
    states_seen: list[torch.Tensor] = []
    original_step = network.step

    def recording_step(observations: torch.Tensor, hidden: torch.Tensor):  # type: ignore[no-untyped-def]
        states_seen.append(hidden.clone())
        return original_step(observations, hidden)

    network.step = recording_step  # type: ignore[method-assign]
    act = greedy_policy(network)
    world.reset(seed=5)
    for _ in range(9):  # two full episodes of 4 ticks (the cap), then the start of a third
        world.step(act(world))
    starts = [0, 4, 8]  # calls made right after a reset
    for call, state in enumerate(states_seen):
        is_start = call in starts
        assert bool((state == 0).all()) == is_start, f"call {call}: zeroed={not is_start}"
