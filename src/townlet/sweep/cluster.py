"""Ray for a sweep: a private local Ray started for it, or an existing cluster joined.

A local Ray is ours: it is started with Ctrl+C ignored, so its processes (which share the
terminal's process group) never see the user's Ctrl+C — the driver gets it and stops the
trials in order — and ``ray.shutdown()`` ends every one of its processes. A cluster given by
``--ray-address`` is not ours: we only connect and disconnect, never stop it.
"""

from __future__ import annotations

import logging
import signal
import socket
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("townlet.sweep")

CONNECT_TIMEOUT_SECONDS = 5.0
# Trials pass only small results through Ray's object store; a small one spares /dev/shm.
OBJECT_STORE_BYTES = 128 * 1024 * 1024


class ClusterError(RuntimeError):
    """Ray cannot be used as asked; the message says why and what to do."""


@dataclass
class RayConnection:
    started_here: bool
    address: str  # "local" for ours

    def close(self) -> None:
        """Ours: every process of it ends. Joined: only this driver disconnects."""
        import ray

        ray.shutdown()


def connect(address: str | None, num_cpus: int | None = None) -> RayConnection:
    if address is not None:
        _check_address(address)
    import ray

    # Ray's processes inherit an ignored, blocked SIGINT: the terminal's Ctrl+C reaches the
    # driver alone. A Ctrl+C during the start stays pending here and arrives below.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    connection: RayConnection | None = None
    try:
        connection = _init(ray, address, num_cpus)
    finally:
        signal.signal(signal.SIGINT, previous)
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        except KeyboardInterrupt:
            if connection is not None:
                connection.close()
            raise
    return connection


def _init(ray: Any, address: str | None, num_cpus: int | None) -> RayConnection:
    if address is None:
        ray.init(
            address="local",  # never attach to whatever /tmp/ray/ray_current_cluster names
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,  # each trial logs to its run.log; the driver summarises
            object_store_memory=OBJECT_STORE_BYTES,
            logging_level=logging.WARNING,
        )
        return RayConnection(started_here=True, address="local")
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        ray.shutdown()
        raise ClusterError(
            f"could not join the Ray cluster at {address}: {error}; check the address "
            "(`ray status` on the head node shows it)"
        ) from None
    return RayConnection(started_here=False, address=address)


def _check_address(address: str) -> None:
    """Fail in seconds, with a message, where Ray would retry for a minute."""
    if address.startswith("ray://"):
        raise ClusterError(
            f"--ray-address {address}: Ray Client addresses are not supported (the driver "
            "keeps the registry and must be on a node of the cluster); run `townlet sweep` "
            "on the head node with --ray-address HOST:PORT as `ray start --head` printed it"
        )
    if address == "auto":
        return  # Ray finds the cluster this node belongs to
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379) or auto"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise ClusterError(
            f"no Ray cluster answers at {address} ({error.strerror or error}): start one with "
            "`ray start --head` and pass the address it prints, or leave --ray-address out "
            "to run the sweep on a Ray of its own on this machine"
        ) from None


@dataclass(frozen=True)
class Capacity:
    nodes: int
    cpus: float
    gpus: float
    largest_cpus: float  # on one node: a trial must fit on one
    largest_gpus: float


def capacity() -> Capacity:
    import ray

    alive = [node for node in ray.nodes() if node.get("Alive")]
    cpus = [float(node["Resources"].get("CPU", 0)) for node in alive]
    gpus = [float(node["Resources"].get("GPU", 0)) for node in alive]
    return Capacity(len(alive), sum(cpus), sum(gpus), max(cpus, default=0), max(gpus, default=0))


def check_fits(cluster: Capacity, cpus_per_run: float, gpus_per_run: float, parallel: int) -> int:
    """Refuse a trial that fits on no node (Ray would wait for it forever); return how many
    trials can run at once."""
    where = f"{cluster.nodes} node(s)"
    if gpus_per_run > cluster.largest_gpus:
        raise ClusterError(
            f"--gpus-per-run {gpus_per_run:g} asks for more GPUs than any node has (the "
            f"largest has {cluster.largest_gpus:g}; {cluster.gpus:g} in all on {where}): "
            "lower --gpus-per-run, use 0 to train on CPUs, or add GPU nodes"
        )
    if cpus_per_run > cluster.largest_cpus:
        raise ClusterError(
            f"--cpus-per-run {cpus_per_run:g} asks for more CPUs than any node has (the "
            f"largest has {cluster.largest_cpus:g}; {cluster.cpus:g} in all on {where}): "
            "lower --cpus-per-run"
        )
    by_cpu = int(cluster.cpus // cpus_per_run) if cpus_per_run > 0 else parallel
    by_gpu = int(cluster.gpus // gpus_per_run) if gpus_per_run > 0 else parallel
    return max(1, min(parallel, by_cpu, by_gpu))
