"""Self-describing checkpoints, written atomically and loaded with ``weights_only=True``."""

from townlet.checkpoints.catalog import (
    CheckpointCatalog,
    LoadedCheckpoint,
    NewestLoad,
    PruneReport,
    RejectedCheckpoint,
    Rejection,
    find_latest_checkpoint,
    prune_checkpoints,
    read_checkpoint,
)
from townlet.checkpoints.save_errors import describe_save_error
from townlet.checkpoints.store import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointError,
    CheckpointMissingError,
    checkpoint_name,
    checkpoint_order,
    list_checkpoints,
    load_checkpoint,
    played_weights,
    save_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointCatalog",
    "CheckpointError",
    "CheckpointMissingError",
    "LoadedCheckpoint",
    "NewestLoad",
    "PruneReport",
    "RejectedCheckpoint",
    "Rejection",
    "checkpoint_name",
    "checkpoint_order",
    "describe_save_error",
    "find_latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "played_weights",
    "prune_checkpoints",
    "read_checkpoint",
    "save_checkpoint",
]
