"""Small, fast versions of the shipped level configs for tests."""

from __future__ import annotations

from pathlib import Path

from townlet.config import TownletConfig, config_from_dict, config_to_dict, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def tiny_config(level: str = "level_1_full_observability", **training: object) -> TownletConfig:
    """The shipped level's world with a small learner: 16 worlds, tiny network, tiny replay."""
    data = config_to_dict(load_config(PROJECT_ROOT / "configs" / f"{level}.yaml"))
    network = {"kind": data["training"]["network"]["kind"], "hidden_sizes": [32]}
    data["training"].update(
        {
            "num_envs": 16,
            "network": network,
            "replay_capacity": 4096,
            "batch_size": 32,
            "learning_starts": 256,
            "sequence_length": 8,
            "burn_in": 2,
            **training,
        }
    )
    return config_from_dict(data, source="tests/support/tiny.py")
