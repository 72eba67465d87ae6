"""Config loading: the three level files, defaults, round trips and readable errors."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from townlet.config import (
    METER_NAMES,
    ConfigError,
    TownletConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LEVEL_1 = CONFIGS / "level_1_full_observability.yaml"
LEVELS = ["level_1_full_observability", "level_2_pomdp", "level_3_temporal"]


def level_1_data() -> dict[str, Any]:
    return yaml.safe_load(LEVEL_1.read_text())


def write(tmp_path: Path, data: Any, name: str = "bad_config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- the level files


@pytest.mark.parametrize("level", LEVELS)
def test_level_configs_load_with_world_md_numbers(level: str) -> None:
    cfg = load_config(CONFIGS / f"{level}.yaml")
    w = cfg.world
    assert cfg.name == level
    assert (w.width, w.height, w.step_cap) == (8, 8, 500)
    assert set(w.meters) == set(METER_NAMES)
    assert w.meters["energy"].drain == 0.005 and w.meters["energy"].terminal
    assert w.meters["health"].terminal and not w.meters["money"].terminal
    assert w.meters["money"].initial == 0.5
    assert len(w.cascades) == 10
    assert len(w.affordances) == 14
    bar = next(a for a in w.affordances if a.name == "Bar")
    assert (bar.x, bar.y, bar.cost, bar.hours) == (7, 0, 15, (18, 4))
    assert bar.effects["energy"] == -0.20


def test_levels_differ_only_where_intended() -> None:
    one, two, three = (load_config(CONFIGS / f"{lv}.yaml") for lv in LEVELS)
    assert (one.world.observability, one.world.temporal, one.training.network.kind) == (
        "full",
        False,
        "mlp",
    )
    assert (two.world.observability, two.world.temporal, two.training.network.kind) == (
        "partial",
        False,
        "gru",
    )
    assert (three.world.observability, three.world.temporal) == ("partial", True)
    assert two.training.network.hidden_sizes == [128]
    assert one.world.affordances == three.world.affordances


def test_omitted_sections_get_defaults_and_name_defaults_to_stem(tmp_path: Path) -> None:
    data = {"world": level_1_data()["world"]}
    cfg = load_config(write(tmp_path, data, "my_town.yaml"))
    assert cfg.name == "my_town"
    assert cfg.seed == 0
    assert cfg.training.num_envs == 256
    assert cfg.training.total_episodes is None
    assert cfg.training.epsilon.decay_steps == 300_000
    assert [s.drain_scale for s in cfg.training.curriculum.stages] == [0.2, 0.5, 0.8, 1.0, 1.0]
    assert cfg.training.curriculum.stages[-1].sparse_reward
    assert cfg.reward.per_tick == "wellbeing"
    assert cfg.checkpoint.keep_last == 5
    assert cfg.live.steps_per_second == 5.0
    assert cfg.logging.tensorboard_every_seconds == 1.0


def test_dict_round_trip_is_json_and_equal() -> None:
    cfg = load_config(CONFIGS / "level_3_temporal.yaml")
    data = config_to_dict(cfg)
    restored = config_from_dict(json.loads(json.dumps(data)))
    assert restored == cfg
    assert isinstance(restored, TownletConfig)


def test_cli_style_override_with_model_copy() -> None:
    cfg = load_config(LEVEL_1)
    training = cfg.training.model_copy(update={"total_episodes": 10, "device": "cpu"})
    cfg2 = cfg.model_copy(update={"training": training})
    assert cfg2.training.total_episodes == 10 and cfg2.training.device == "cpu"
    assert cfg.training.total_episodes is None  # frozen original untouched
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen
        cfg.seed = 3  # type: ignore[misc]


def test_ints_are_accepted_where_floats_are_expected(tmp_path: Path) -> None:
    data = level_1_data()
    data["world"]["meters"]["energy"]["initial"] = 1
    cfg = load_config(write(tmp_path, data))
    assert cfg.world.meters["energy"].initial == 1.0


# ---------------------------------------------------------------- errors


def _mutate_affordance(i: int, **changes: Any):
    def apply(d: dict[str, Any]) -> None:
        d["world"]["affordances"][i].update(changes)

    return apply


ERROR_CASES: list[tuple[str, Any, str, str]] = [
    # (id, mutation, expected dotted path, expected fragment of the problem or fix)
    ("unknown key", lambda d: d["world"].update(colour="red"), "world.colour", "unknown key"),
    (
        "unknown nested key",
        lambda d: d["training"]["epsilon"].update(decay=5),
        "training.epsilon.decay",
        "allowed: start, end, decay_steps",
    ),
    (
        "string for float",
        lambda d: d["world"]["meters"]["energy"].update(drain="0.005"),
        "world.meters.energy.drain",
        "without quotes",
    ),
    (
        "bool for float",
        lambda d: d["reward"].update(alive_bonus=True),
        "reward.alive_bonus",
        "expected a number",
    ),
    (
        "negative drain",
        lambda d: d["world"]["meters"]["social"].update(drain=-0.006),
        "world.meters.social.drain",
        ">= 0",
    ),
    (
        "initial above one",
        lambda d: d["world"]["meters"]["mood"].update(initial=1.5),
        "world.meters.mood.initial",
        "<= 1",
    ),
    (
        "affordance off the grid",
        _mutate_affordance(12, x=9),
        "world.affordances[12].x",
        "affordance 'Gym' at (9, 3) is off the 8x8 grid: choose x in 0..7",
    ),
    (
        "two affordances on one cell",
        _mutate_affordance(1, x=1, y=1),
        "world.affordances[1]",
        "share the cell (1, 1)",
    ),
    (
        "unknown meter in effects",
        _mutate_affordance(0, effects={"sleepiness": 0.5}),
        "world.affordances[0].effects.sleepiness",
        "unknown meter 'sleepiness'",
    ),
    (
        "unknown meter in cascades",
        lambda d: d["world"]["cascades"][3].update(target="hunger"),
        "world.cascades[3].target",
        "unknown meter 'hunger'",
    ),
    (
        "unknown meter in move_cost",
        lambda d: d["world"]["move_cost"].update(stamina=0.1),
        "world.move_cost.stamina",
        "unknown meter",
    ),
    (
        "missing meter",
        lambda d: d["world"]["meters"].pop("fitness"),
        "world.meters.fitness",
        "missing",
    ),
    ("grid too small", lambda d: d["world"].update(width=1), "world.width", ">= 2"),
    ("zero ticks", _mutate_affordance(0, ticks=0), "world.affordances[0].ticks", ">= 1"),
    (
        "hours outside the day",
        _mutate_affordance(5, hours=[8, 25]),
        "world.affordances[5].hours[1]",
        "0..24",
    ),
    ("zero step cap", lambda d: d["world"].update(step_cap=0), "world.step_cap", ">= 1"),
    (
        "even vision window",
        lambda d: d["world"].update(vision_window=4),
        "world.vision_window",
        "odd",
    ),
    ("zero envs", lambda d: d["training"].update(num_envs=0), "training.num_envs", ">= 1"),
    ("gamma zero", lambda d: d["training"].update(gamma=0.0), "training.gamma", "> 0"),
    (
        "replay smaller than batch",
        lambda d: d["training"].update(replay_capacity=100),
        "training.replay_capacity",
        "replay_capacity >= batch_size",
    ),
    (
        "epsilon rising",
        lambda d: d["training"]["epsilon"].update(start=0.01),
        "training.epsilon.end",
        "start >= end",
    ),
    (
        "unknown network kind",
        lambda d: d["training"]["network"].update(kind="cnn"),
        "training.network.kind",
        "'mlp' or 'gru'",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_bad_values_name_file_field_and_fix(
    tmp_path: Path, mutate: Any, path: str, fragment: str
) -> None:
    data = level_1_data()
    mutate(data)
    file = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(file)
    message = str(info.value)
    assert "bad_config.yaml" in message
    assert f"{path}:" in message
    assert fragment in message
    assert any(issue[0] == path for issue in info.value.issues)


def test_more_affordances_than_cells(tmp_path: Path) -> None:
    data = level_1_data()
    data["world"].update(width=2, height=2)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    assert "world.affordances: 14 affordances do not fit on 4 cells" in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = level_1_data()
    data["world"]["affordances"][0]["x"] = 20
    data["world"]["affordances"][13]["y"] = -1
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    paths = [issue[0] for issue in info.value.issues]
    assert "world.affordances[0].x" in paths and "world.affordances[13].y" in paths


def test_missing_file_and_yaml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("nowhere.yaml: file not found")):
        load_config(tmp_path / "nowhere.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("world: {width: 8\n  height: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line \d+"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=re.escape("list.yaml: expected a mapping")):
        load_config(listing)


def test_checkpoint_dict_errors_name_their_source() -> None:
    data = copy.deepcopy(config_to_dict(load_config(LEVEL_1)))
    data["world"]["step_cap"] = "long"
    expected = "checkpoint: world.step_cap: expected a whole number"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        config_from_dict(data)


# ---------------------------------------------------------------- numbers that break runs later

NON_FINITE_PLACES: list[tuple[str, Any]] = [
    # (dotted path, how to set a value there)
    ("live.steps_per_second", lambda d, v: d["live"].update(steps_per_second=v)),
    ("training.learning_rate", lambda d, v: d["training"].update(learning_rate=v)),
    (
        "world.affordances[3].effects.energy",
        lambda d, v: d["world"]["affordances"][3]["effects"].update(energy=v),
    ),
    ("world.meters.energy.drain", lambda d, v: d["world"]["meters"]["energy"].update(drain=v)),
    ("reward.death_penalty", lambda d, v: d["reward"].update(death_penalty=v)),
    ("world.move_cost.energy", lambda d, v: d["world"]["move_cost"].update(energy=v)),
    ("world.cascades[0].strength", lambda d, v: d["world"]["cascades"][0].update(strength=v)),
]


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize(
    ("path", "place"), NON_FINITE_PLACES, ids=[path for path, _ in NON_FINITE_PLACES]
)
def test_non_finite_numbers_are_refused_everywhere(
    tmp_path: Path, text: str, path: str, place: Any
) -> None:
    data = level_1_data()
    place(data, float(text.replace(".", "")))
    file = write(tmp_path, data)
    assert f": {text}" in file.read_text()  # YAML's own spelling reaches the loader
    with pytest.raises(ConfigError) as info:
        load_config(file)
    shown = {".inf": "inf", "-.inf": "-inf", ".nan": "nan"}[text]
    assert str(info.value) == (
        f"{file}: {path}: value {shown} is not a finite number: write a finite number"
    )


def test_non_finite_hours_are_refused(tmp_path: Path) -> None:
    data = level_1_data()
    data["world"]["affordances"][0]["hours"] = [8, float("inf")]
    with pytest.raises(ConfigError, match=re.escape("hours[1]: expected a whole number, got inf")):
        load_config(write(tmp_path, data))


BEYOND_LIMITS: list[tuple[str, Any, Any, str]] = [
    # (dotted path, setter, value, expected fragment)
    (
        "seed",
        lambda d, v: d.update(seed=v),
        2**32,
        "value 4294967296 is out of range: use a value <= 4294967295",
    ),
    (
        "world.step_cap",
        lambda d, v: d["world"].update(step_cap=v),
        2**63,
        "value 9223372036854775808 does not fit in a 64-bit integer: "
        "use a value <= 9,223,372,036,854,775,807",
    ),
    (
        "world.ticks_per_day",
        lambda d, v: d["world"].update(ticks_per_day=v),
        2**64,
        "does not fit in a 64-bit integer",
    ),
    (
        "world.affordances[2].ticks",
        lambda d, v: d["world"]["affordances"][2].update(ticks=v),
        2**63,
        "does not fit in a 64-bit integer",
    ),
    (
        "training.num_envs",
        lambda d, v: d["training"].update(num_envs=v),
        10**30,
        "value 100000...000 (31 digits) does not fit in a 64-bit integer",
    ),
    (
        "training.curriculum.window",
        lambda d, v: d["training"]["curriculum"].update(window=v),
        2**63,
        "does not fit in a 64-bit integer",
    ),
    (
        "training.torch_threads",
        lambda d, v: d["training"].update(torch_threads=v),
        1_000_000,
        "use a value <= 1024",
    ),
    (
        "world.affordances[0].effects.energy",
        lambda d, v: d["world"]["affordances"][0]["effects"].update(energy=v),
        -1.0e39,
        "value -1e+39 is beyond the range of a 32-bit float: use a value >= -3.4e+38",
    ),
    (
        "world.meters.energy.drain",
        lambda d, v: d["world"]["meters"]["energy"].update(drain=v),
        10**39,
        "(40 digits) is beyond the range of a 32-bit float: use a value <= 3.4e+38",
    ),
    (
        # Finite but far beyond what live play can pace: the server would spin a core.
        "live.steps_per_second",
        lambda d, v: d["live"].update(steps_per_second=v),
        1.0e9,
        "value 1000000000.0 is out of range: use a value <= 60.0",
    ),
    (
        "training.learning_rate",
        lambda d, v: d["training"].update(learning_rate=v),
        10**400,
        "expected a number, got 100000...000 (401 digits) (int)",
    ),
]


@pytest.mark.parametrize(
    ("path", "place", "value", "fragment"),
    BEYOND_LIMITS,
    ids=[case[0] for case in BEYOND_LIMITS],
)
def test_numbers_beyond_what_the_run_can_hold_are_refused(
    tmp_path: Path, path: str, place: Any, value: Any, fragment: str
) -> None:
    data = level_1_data()
    place(data, value)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    message = str(info.value)
    assert f"{path}: " in message and fragment in message
    assert [issue[0] for issue in info.value.issues] == [path]


def test_largest_allowed_numbers_load(tmp_path: Path) -> None:
    data = level_1_data()
    data["seed"] = 2**32 - 1
    data["world"]["step_cap"] = 2**63 - 1
    data["world"]["affordances"][0]["effects"]["energy"] = 3.0e38
    cfg = load_config(write(tmp_path, data))
    assert cfg.seed == 2**32 - 1 and cfg.world.step_cap == 2**63 - 1


def test_exponent_without_a_dot_gets_a_yaml_hint(tmp_path: Path) -> None:
    # PyYAML reads 1e-4 as the string "1e-4"; the plain "without quotes" advice would puzzle.
    file = tmp_path / "lr.yaml"
    file.write_text(LEVEL_1.read_text().replace("learning_rate: 0.0005", "learning_rate: 1e-4"))
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert "training.learning_rate: expected a number, got '1e-4' (str): " in str(info.value)
    assert "write a number such as 1.0e-4 (YAML reads 1e-4 as text)" in str(info.value)


# ---------------------------------------------------------------- files that are not UTF-8


def test_a_file_that_is_not_utf8_is_named_with_the_byte(tmp_path: Path) -> None:
    text = LEVEL_1.read_text(encoding="utf-8")
    where = text.index("Bar")  # Latin-1 "Bär": one byte 0xe4 where UTF-8 needs two
    file = tmp_path / "latin1.yaml"
    file.write_bytes(text[:where].encode() + b"B\xe4r" + text[where + 3 :].encode())
    line = text[:where].count("\n") + 1
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert str(info.value) == (
        f"{file}: file is not UTF-8 text (byte 0xe4 at position {where + 1}, line {line}): "
        "save it as UTF-8"
    )


def test_a_utf16_file_is_recognised(tmp_path: Path) -> None:
    file = tmp_path / "notepad.yaml"
    file.write_text(LEVEL_1.read_text(), encoding="utf-16")
    with pytest.raises(ConfigError, match=re.escape("(it looks like UTF-16): save it as UTF-8")):
        load_config(file)
