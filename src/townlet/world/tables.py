"""Turn a WorldConfig into the lookup tensors the vectorised step indexes into.

Everything the step needs that depends only on the config (moves, costs, effects, drains,
cascades, opening hours) is built here once, so the step itself is a fixed sequence of
batched tensor ops with no Python loop over worlds, cells, affordances or meters.

Affordance-indexed tables have A + 1 rows: row A stands for "no affordance here" (it
costs nothing, pays nothing and is never open, so INTERACT there is never legal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from townlet.config.models import WorldConfig
from townlet.world.constants import (
    ACTION_DELTAS,
    FITNESS,
    HEALTH,
    INTERACT,
    METER_INDEX,
    MONEY,
    NUM_ACTIONS,
    TERMINAL_CAUSE,
    WAIT,
    MeterNames,
)

NUM_METERS = len(MeterNames)


@dataclass(frozen=True)
class WorldTables:
    width: int
    height: int
    num_cells: int
    num_affordances: int
    affordance_names: tuple[str, ...]
    ticks_per_day: int
    # grid
    cell_xy: Tensor  # [C, 2] long
    move_next: Tensor  # [C * 6] long: cell after (cell, action); illegal moves stay put
    base_mask: Tensor  # [C, 6] bool: moves that stay on the grid, INTERACT False, WAIT True
    default_cells: Tensor  # [A] long: configured cell of each affordance
    # meters
    initial: Tensor  # [8]
    drain_const: Tensor  # [8]: passive drain with fitness = 0 folded in
    drain_coupling: Tensor  # [8, 8]: drain += meters @ coupling (fitness lowers health drain)
    cascade_threshold: float
    cascade_matrix: (
        Tensor  # [8, 8]: target drop = deficit(source) @ matrix, deficit/threshold folded in
    )
    terminal_index: Tensor  # [T] long: terminal meters
    terminal_cause: Tensor  # [T] long: DeathCause for each terminal meter, in priority order
    # affordances, A + 1 rows
    action_delta: Tensor  # [(A+1) * 6, 8]: meter change of (affordance here, action), per tick
    cost: Tensor  # [A+1] money units; row A = 0 (nothing to pay)
    mask_cost: Tensor  # [A+1] money units needed to interact; row A = inf (never legal)
    bonus: Tensor  # [A+1, 8] temporal completion payout
    ticks: Tensor  # [A+1] long; row A = 1
    open_at: Tensor  # [ticks_per_day, A+1] bool: open at each tick of the day
    time_features: Tensor  # [ticks_per_day, 2]: sin, cos of the hour
    hour_of_tick: tuple[float, ...]


def hour_is_open(hours: tuple[int, int], hour: float) -> bool:
    """[open, close) in hours; close < open wraps past midnight; [0, 24] is always open."""
    start, end = hours
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def build_tables(cfg: WorldConfig, device: torch.device | str = "cpu") -> WorldTables:
    """Build on the CPU (many small writes), then move every tensor to `device` once."""
    tables = _build_cpu(cfg)
    moved = {
        f.name: getattr(tables, f.name).to(device)
        for f in fields(tables)
        if isinstance(getattr(tables, f.name), Tensor)
    }
    return replace(tables, **moved)


def _build_cpu(cfg: WorldConfig) -> WorldTables:
    device = torch.device("cpu")
    width, height = cfg.width, cfg.height
    num_cells = width * height
    affs = cfg.affordances
    num_aff = len(affs)
    f32 = dict(dtype=torch.float32, device=device)
    i64 = dict(dtype=torch.long, device=device)

    # ---- grid: cell = y * width + x
    cells = torch.arange(num_cells, **i64)
    xs, ys = cells % width, cells // width
    cell_xy = torch.stack([xs, ys], dim=1)
    move_next = torch.empty(num_cells, NUM_ACTIONS, **i64)
    base_mask = torch.zeros(num_cells, NUM_ACTIONS, dtype=torch.bool, device=device)
    for a, (dx, dy) in enumerate(ACTION_DELTAS):
        nx, ny = xs + dx, ys + dy
        inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        move_next[:, a] = torch.where(inside, ny * width + nx, cells)
        base_mask[:, a] = inside if (dx, dy) != (0, 0) else False
    base_mask[:, WAIT] = True
    default_cells = torch.tensor([a.y * width + a.x for a in affs], **i64)

    # ---- meters
    initial = torch.tensor([cfg.meters[m].initial for m in MeterNames], **f32)
    drain = [cfg.meters[m].drain for m in MeterNames]
    scaling = cfg.health_fitness_scaling
    # health drain = d * (base + low * (1 - fitness)) = d * (base + low) - d * low * fitness
    drain_const = torch.tensor(drain, **f32)
    drain_const[HEALTH] = drain[HEALTH] * (scaling.base + scaling.low_fitness)
    drain_coupling = torch.zeros(NUM_METERS, NUM_METERS, **f32)
    drain_coupling[FITNESS, HEALTH] = -drain[HEALTH] * scaling.low_fitness

    cascade_matrix = torch.zeros(NUM_METERS, NUM_METERS, **f32)
    for c in cfg.cascades:
        cascade_matrix[METER_INDEX[c.source], METER_INDEX[c.target]] += (
            c.strength / cfg.cascade_threshold
        )

    terminal = [m for m in MeterNames if cfg.meters[m].terminal]
    terminal = sorted(terminal, key=lambda m: TERMINAL_CAUSE[m])
    terminal_index = torch.tensor([METER_INDEX[m] for m in terminal], **i64)
    terminal_cause = torch.tensor([int(TERMINAL_CAUSE[m]) for m in terminal], **i64)

    # ---- affordances
    effect = torch.zeros(num_aff + 1, NUM_METERS, **f32)
    for i, a in enumerate(affs):
        for meter, value in a.effects.items():
            effect[i, METER_INDEX[meter]] = value
    cost = torch.tensor([a.cost / 100.0 for a in affs] + [0.0], **f32)
    mask_cost = cost.clone()
    mask_cost[num_aff] = math.inf
    ticks = torch.tensor([a.ticks if cfg.temporal else 1 for a in affs] + [1], **i64)
    frac = cfg.completion_bonus_fraction
    move_cost = torch.zeros(NUM_METERS, **f32)
    for meter, value in cfg.move_cost.items():
        move_cost[METER_INDEX[meter]] = -value

    action_delta = torch.zeros(num_aff + 1, NUM_ACTIONS, NUM_METERS, **f32)
    for a, (dx, dy) in enumerate(ACTION_DELTAS):
        if (dx, dy) != (0, 0):
            action_delta[:, a] = move_cost
    if cfg.temporal:
        # most of the effect per tick; cost on the first tick and bonus on completion are
        # added by the step, because they depend on the interaction's progress
        action_delta[:, INTERACT] = effect * (1.0 - frac) / ticks.unsqueeze(1).to(torch.float32)
        bonus = effect * frac
    else:
        action_delta[:, INTERACT] = effect
        action_delta[:, INTERACT, MONEY] -= cost
        bonus = torch.zeros_like(effect)

    # ---- day clock: the day has ticks_per_day ticks and 24 hours
    tpd = cfg.ticks_per_day
    hours = tuple((cfg.start_hour + k * 24.0 / tpd) % 24.0 for k in range(tpd))
    open_at = torch.zeros(tpd, num_aff + 1, dtype=torch.bool, device=device)
    for k, hour in enumerate(hours):
        for i, a in enumerate(affs):
            open_at[k, i] = hour_is_open(a.hours, hour) if cfg.temporal else True
    angle = torch.tensor(hours, dtype=torch.float64) * (2.0 * math.pi / 24.0)
    time_features = torch.stack([angle.sin(), angle.cos()], dim=1).to(**f32)

    return WorldTables(
        width=width,
        height=height,
        num_cells=num_cells,
        num_affordances=num_aff,
        affordance_names=tuple(a.name for a in affs),
        ticks_per_day=tpd,
        cell_xy=cell_xy,
        move_next=move_next.reshape(-1),
        base_mask=base_mask,
        default_cells=default_cells,
        initial=initial,
        drain_const=drain_const,
        drain_coupling=drain_coupling,
        cascade_threshold=cfg.cascade_threshold,
        cascade_matrix=cascade_matrix,
        terminal_index=terminal_index,
        terminal_cause=terminal_cause,
        action_delta=action_delta.reshape(-1, NUM_METERS),
        cost=cost,
        mask_cost=mask_cost,
        bonus=bonus,
        ticks=ticks,
        open_at=open_at,
        time_features=time_features,
        hour_of_tick=hours,
    )
