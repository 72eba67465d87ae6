"""Self-describing checkpoints, written atomically and loaded with ``weights_only=True``."""

from townlet.checkpoints.store import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointError,
    checkpoint_name,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointError",
    "checkpoint_name",
    "find_latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "prune_checkpoints",
    "save_checkpoint",
]
