"""Console logging: a timestamp and a [Training] / [Inference] / [Frontend] prefix per line."""

from __future__ import annotations

import logging
import sys
import threading

import colorama

_PREFIXES = {
    "townlet.training": ("[Training]", colorama.Fore.GREEN),
    "townlet.inference": ("[Inference]", colorama.Fore.CYAN),
    "townlet.frontend": ("[Frontend]", colorama.Fore.MAGENTA),
    "townlet.tensorboard": ("[TensorBoard]", colorama.Fore.BLUE),
    "townlet.evaluation": ("[Evaluation]", colorama.Fore.WHITE),
    "uvicorn": ("[Inference]", colorama.Fore.CYAN),  # the live server's web layer
}
_DEFAULT_PREFIX = ("[Townlet]", colorama.Fore.YELLOW)


class PrefixFormatter(logging.Formatter):
    def __init__(self, color: bool) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        prefix, tint = next(
            (value for name, value in _PREFIXES.items() if record.name.startswith(name)),
            _DEFAULT_PREFIX,
        )
        stamp = self.formatTime(record, "%H:%M:%S")
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname}: {message}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.color:
            reset = colorama.Style.RESET_ALL
            prefix = f"{tint}{prefix}{reset}"
            if record.levelno >= logging.WARNING:
                message = f"{colorama.Fore.RED}{message}{reset}"
        return f"{stamp}.{int(record.msecs):03d} {prefix} {message}"


def configure_console_logging(level: int = logging.INFO) -> None:
    color = sys.stderr.isatty()
    if color:
        colorama.just_fix_windows_console()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrefixFormatter(color))
    # uvicorn runs with log_config=None (server_thread.py), so its lines come here too; at
    # WARNING its per-request access lines stay quiet but its errors show.
    for name, logger_level in (("townlet", level), ("uvicorn", max(level, logging.WARNING))):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logger_level)
        logger.propagate = False
    threading.excepthook = _log_thread_failure


def _log_thread_failure(failure: threading.ExceptHookArgs) -> None:
    """A library's own thread that dies (TensorBoard's writer on a full disk, say) gets one
    line, not a traceback: our own workers catch and report their errors themselves."""
    if failure.exc_type is SystemExit:
        return
    name = failure.thread.name if failure.thread is not None else "a background thread"
    logging.getLogger("townlet").warning(
        "%s stopped: %s: %s", name, failure.exc_type.__name__, failure.exc_value
    )
