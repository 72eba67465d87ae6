"""Typed Townlet configuration loaded from YAML."""

from townlet.config.errors import ConfigError
from townlet.config.loader import config_from_dict, config_to_dict, load_config
from townlet.config.models import (
    METER_NAMES,
    AffordanceConfig,
    CascadeConfig,
    CheckpointConfig,
    CurriculumConfig,
    CurriculumStage,
    EpsilonConfig,
    HealthFitnessScaling,
    LiveConfig,
    LoggingConfig,
    MeterConfig,
    NetworkConfig,
    RewardConfig,
    RndConfig,
    TownletConfig,
    TrainingConfig,
    WorldConfig,
)

__all__ = [
    "METER_NAMES",
    "AffordanceConfig",
    "CascadeConfig",
    "CheckpointConfig",
    "ConfigError",
    "CurriculumConfig",
    "CurriculumStage",
    "EpsilonConfig",
    "HealthFitnessScaling",
    "LiveConfig",
    "LoggingConfig",
    "MeterConfig",
    "NetworkConfig",
    "RewardConfig",
    "RndConfig",
    "TownletConfig",
    "TrainingConfig",
    "WorldConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
]
