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
        # How the save on the way out went; read once the thread has ended.
        self.final_checkpoint: Path | None = None
        self.final_save_error: str | None = None
        self.thread = threading.Thread(target=self._run, name="training", daemon=False)

    def _run(self) -> None:
        try:
            final = self.trainer.run(self.stop_event)
            self.final_checkpoint, self.final_save_error = final.path, final.error
            if self.trainer.finished():
                log.info(
                    "episode budget reached (%d episodes); live play goes on until Ctrl+C",
                    self.trainer.episode,
                )
        except BaseException as error:
            self.error = error
            log.exception("training stopped with an error")
        finally:
            self._close_writer()

    def _close_writer(self) -> None:
        try:
            self.writer.close()
        except OSError as error:
            # A full disk fails TensorBoard's last flush; its earlier events are on disk.
            log.warning(
                "TensorBoard could not finish its log in %s: %s", self.writer.log_dir, error
            )

    @property
    def newest_checkpoint(self) -> Path | None:
        """The newest checkpoint known to be on disk and readable (the final one if written)."""
        return self.final_checkpoint or self.trainer.newest_saved()

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
