"""The training thread: builds nothing, owns nothing but its loop; watches one Event."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from townlet.learner.trainer import DQNTrainer, TrainingProgress

log = logging.getLogger("townlet.training")


class TrainingWorker:
    def __init__(self, trainer: DQNTrainer, writer: SummaryWriter) -> None:
        self.trainer = trainer
        self.writer = writer
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.final_checkpoint: Path | None = None
        self.thread = threading.Thread(target=self._run, name="training", daemon=False)

    def _run(self) -> None:
        try:
            self.final_checkpoint = self.trainer.run(self.stop_event)
            if self.trainer.finished():
                log.info(
                    "episode budget reached (%d episodes); live play goes on until Ctrl+C",
                    self.trainer.episode,
                )
        except BaseException as error:
            self.error = error
            log.exception("training stopped with an error")
        finally:
            self.writer.close()

    def start(self) -> None:
        self.thread.start()

    def progress(self) -> TrainingProgress:
        return self.trainer.progress()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to finish its step and save; True when the thread has ended."""
        self.stop_event.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()
