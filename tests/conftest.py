"""Shared test set-up."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    """As the trainer does: tiny tensors on a 2-core machine are slowest with two threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def ctrl_c_at_start() -> tuple[object, bool]:
    """How this process's Ctrl+C was when the tests began (a CI that starts pytest in the
    background of a non-interactive shell hands it an ignored SIGINT)."""
    import signal

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    return signal.getsignal(signal.SIGINT), signal.SIGINT in blocked


@pytest.fixture(autouse=True)
def ctrl_c_left_as_found(ctrl_c_at_start: tuple[object, bool]) -> Iterator[None]:
    """No test may change this process's Ctrl+C (its handler, or whether it is blocked): the
    processes later tests start inherit it, and a command that cannot be interrupted looks
    like a hang."""
    import signal

    yield
    handler, was_blocked = ctrl_c_at_start
    assert signal.getsignal(signal.SIGINT) is handler, (
        f"SIGINT handler left as {signal.getsignal(signal.SIGINT)!r}, was {handler!r}"
    )
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert blocked == was_blocked, "SIGINT left blocked" if blocked else "SIGINT left unblocked"
