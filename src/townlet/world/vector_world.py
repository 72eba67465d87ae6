"""N independent Townlet worlds stepped together as batched tensor ops.

One tick, in this fixed order (every world at once):
1. Action. A move changes the cell and costs `move_cost`; INTERACT pays the affordance's
   cost (money -= cost / 100) and applies its effect (temporal: the cost on the first tick,
   (1 - bonus fraction) * effect / ticks every tick, bonus fraction * effect on completion;
   any other action resets progress and forfeits the bonus); WAIT does nothing. Clamp.
2. Passive drain, health drain scaled by (base + low_fitness * (1 - fitness)), all of it
   times `drain_scale`. Clamp.
3. Cascades, all computed from the meters after drain: a source below the threshold drags
   its target by strength * (threshold - source) / threshold. Clamp.
4. Step counter += 1. Death if a terminal meter (energy, health) is <= 0, else truncation
   at `step_cap`.
5. Reward. Alive: `wellbeing` (mean of min(1, meter / cascade threshold)), energy * health,
   or 1.0 for `constant`, plus `alive_bonus`; with
   `sparse_reward`: 0, and +1 on reaching the step cap. The death tick pays `death_penalty` only.
Then finished worlds are reset in place (`next_observations` keeps their final observation).

Masks: moves off the grid are illegal; INTERACT is legal on an affordance the agent can afford
(money >= cost / 100 - 1e-6) that, with temporal mechanics, is open at the current hour
([open, close), wrapping past midnight). An interaction under way may always continue, even
if money ran short or the place closed meanwhile. WAIT is always legal.

Each episode starts on a uniformly random cell with the configured initial meters.
The step is a fixed number of batched ops: no Python loop over worlds, cells, affordances,
meters or cascades, and no host sync. Outputs are written in place into preallocated tensors
(the randomised-layout observation is the one path that builds fresh tensors each tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from townlet.config.models import RewardConfig, WorldConfig
from townlet.world.constants import (
    ENERGY,
    HEALTH,
    INTERACT,
    MONEY,
    NUM_ACTIONS,
    DeathCause,
    MeterNames,
)
from townlet.world.observations import LayoutFeatures, ObsLayout, obs_layout
from townlet.world.tables import NUM_METERS, WorldTables, build_tables

AFFORD_TOLERANCE = 1e-6  # money >= cost - tolerance counts as affordable (float32 rounding)


@dataclass
class StepResult:
    """Views into the world's preallocated buffers: overwritten by the next step."""

    rewards: Tensor  # [N] float32
    dones: Tensor  # [N] bool: terminated or truncated
    terminated: Tensor  # [N] bool: death (do not bootstrap)
    episode_lengths: Tensor  # [N] long, valid where dones
    episode_returns: Tensor  # [N] float32, valid where dones
    death_causes: Tensor  # [N] long DeathCause, valid where dones (ALIVE elsewhere)


class VectorWorld:
    """Batch of independent worlds with auto-reset, seeded by a private generator."""

    num_actions: int = NUM_ACTIONS

    def __init__(
        self,
        world_cfg: WorldConfig,
        reward_cfg: RewardConfig,
        num_envs: int,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.cfg = world_cfg
        self.reward_cfg = reward_cfg
        self.num_envs = n = num_envs
        self.device = torch.device(device)
        t = build_tables(world_cfg, self.device)
        self.tables: WorldTables = t
        self.obs_spec: ObsLayout = obs_layout(world_cfg, t)
        self.obs_dim = self.obs_spec.dim
        self._features = LayoutFeatures(world_cfg, t, self.obs_spec)
        self._temporal = world_cfg.temporal
        self._randomize = world_cfg.randomize_layout
        self._generator = torch.Generator(device=self.device)
        dev = self.device
        f32 = dict(dtype=torch.float32, device=dev)
        i64 = dict(dtype=torch.long, device=dev)
        b = dict(dtype=torch.bool, device=dev)
        a = t.num_affordances

        # ---- affordance-dependent lookups, indexed by a per-world "key": the agent's cell
        # for a fixed layout (so one gather serves every world), or the id of the affordance
        # under the agent (A = none) when the layout is randomised per episode.
        if self._randomize:
            key_to_aff = torch.arange(a + 1, **i64)
        else:
            key_to_aff = torch.full((t.num_cells,), a, **i64)
            key_to_aff[t.default_cells] = torch.arange(a, **i64)
        self._delta_table = t.action_delta.view(a + 1, NUM_ACTIONS, NUM_METERS)[key_to_aff].reshape(
            -1, NUM_METERS
        )
        self._cost_k = t.cost[key_to_aff].contiguous()
        self._mask_cost_k = (t.mask_cost[key_to_aff] - AFFORD_TOLERANCE).contiguous()
        self._bonus_k = t.bonus[key_to_aff].contiguous()
        self._ticks_k = t.ticks[key_to_aff].contiguous()
        self._num_keys = key_to_aff.numel()
        self._open_k = t.open_at[:, key_to_aff].reshape(-1).contiguous()  # [tod * K + key]
        self._threshold_row = torch.full((NUM_METERS,), t.cascade_threshold, **f32)
        self._build_outcome_tables()
        # torch.where(..., out=) wants tensors, not Python scalars
        self._death_penalty = torch.tensor(reward_cfg.death_penalty, **f32)
        self._zero_long = torch.tensor(0, **i64)
        self._reward_kind = reward_cfg.per_tick
        self._wellbeing_scale = 1.0 / world_cfg.cascade_threshold

        # ---- public state
        self.meters = torch.zeros(n, NUM_METERS, **f32)
        self.positions = torch.zeros(n, 2, **i64)
        self.drain_scale = torch.ones(n, **f32)
        self.sparse_reward = torch.zeros(n, **b)
        self.observations = torch.zeros(n, self.obs_dim, **f32)
        self.next_observations = torch.zeros(n, self.obs_dim, **f32)
        self.action_masks = torch.zeros(n, NUM_ACTIONS, **b)
        self.next_action_masks = torch.zeros(n, NUM_ACTIONS, **b)  # for next_observations
        # ---- private state
        self._cell = torch.zeros(n, **i64)
        self._steps = torch.zeros(n, **i64)
        self._ep_return = torch.zeros(n, **f32)
        self._progress = torch.zeros(n, **i64)
        self._aff_cells = t.default_cells.unsqueeze(0).repeat(n, 1)
        self._aff_map = self._features.affordance_map(self._aff_cells)
        self._key = torch.zeros(n, **i64) if self._randomize else self._cell
        if not self._randomize:
            self._static_obs = self._features.compute(
                torch.arange(t.num_cells, **i64),
                t.default_cells.unsqueeze(0).expand(t.num_cells, a),
                self._aff_map[:1].expand(t.num_cells, -1),
            )
        # ---- step scratch buffers
        self._idx = torch.zeros(n, **i64)
        self._kidx = torch.zeros(n, **i64)
        self._delta = torch.zeros(n, NUM_METERS, **f32)
        self._delta2 = torch.zeros(n, NUM_METERS, **f32)
        self._scalar = torch.zeros(n, **f32)
        self._outcome = torch.zeros(n, **i64)
        self._trunc = torch.zeros(n, **i64)
        self._sparse_value = torch.zeros(n, **f32)
        self._flag = torch.zeros(n, **b)
        self._flag2 = torch.zeros(n, **b)
        self._tod = torch.zeros(n, **i64)
        self._prog = torch.zeros(n, **i64)
        self._ticks_at = torch.zeros(n, **i64)
        self._open_idx = torch.zeros(n, **i64)
        self._start = torch.zeros(n, **i64)
        self._last_cell = torch.zeros(n, **i64)  # state after the last tick, before auto-reset
        self._last_progress = torch.zeros(n, **i64)
        self.result = StepResult(
            rewards=torch.zeros(n, **f32),
            dones=torch.zeros(n, **b),
            terminated=torch.zeros(n, **b),
            episode_lengths=torch.zeros(n, **i64),
            episode_returns=torch.zeros(n, **f32),
            death_causes=torch.zeros(n, **i64),
        )
        self.reset(seed)

    def _build_outcome_tables(self) -> None:
        """Tiny tables indexed by outcome = (terminal meters at zero, as bits) + 2^T * truncated.

        Looking the tick's outcome up in them replaces a reduction over meters and several
        bool-to-number casts, which are slow for narrow tensors on CPU.
        """
        t, dev = self.tables, self.device
        terminal = t.terminal_index.numel()
        self._terminal_bits = torch.zeros(NUM_METERS, dtype=torch.float32, device=dev)
        self._terminal_bits[t.terminal_index] = 2.0 ** torch.arange(terminal, device=dev)
        self._all_terminal_bits = self._terminal_bits.sum()
        self._trunc_bit = 2**terminal
        causes, terminated, done, sparse = [], [], [], []
        for outcome in range(2 ** (terminal + 1)):
            hit = [i for i in range(terminal) if outcome >> i & 1]
            truncated = bool(outcome >> terminal & 1)
            if hit:  # terminal meters are ordered by cause priority: energy before health
                cause = int(t.terminal_cause[hit[0]])
            else:
                cause = int(DeathCause.STEP_CAP) if truncated else int(DeathCause.ALIVE)
            causes.append(cause)
            terminated.append(bool(hit))
            done.append(bool(hit) or truncated)
            sparse.append(1.0 if truncated and not hit else 0.0)
        self._cause_table = torch.tensor(causes, dtype=torch.long, device=dev)
        self._terminated_table = torch.tensor(terminated, dtype=torch.bool, device=dev)
        self._done_table = torch.tensor(done, dtype=torch.bool, device=dev)
        self._sparse_table = torch.tensor(sparse, dtype=torch.float32, device=dev)

    # ------------------------------------------------------------------ episodes

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode in every world (drain_scale and sparse_reward are kept)."""
        if seed is not None:
            self._generator.manual_seed(seed)
        everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._steps.zero_()
        self._ep_return.zero_()
        self._progress.zero_()
        self._reset_where(everyone)
        self._sync_views()

    def _sync_views(self) -> None:
        """Observations, masks and the 'last tick' view after a reset or a hand edit."""
        self._write_obs(self.observations)
        self._write_masks(self.action_masks)
        self.next_observations.copy_(self.observations)
        self.next_action_masks.copy_(self.action_masks)
        self._last_cell.copy_(self._cell)
        self._last_progress.copy_(self._progress)
        self.result.episode_lengths.copy_(self._steps)
        self.result.dones.zero_()

    def _reset_where(self, done: Tensor) -> None:
        """Fresh episode state where `done`; the others keep theirs (no data-dependent shapes)."""
        t = self.tables
        torch.randint(0, t.num_cells, (self.num_envs,), generator=self._generator, out=self._start)
        torch.where(done, self._start, self._cell, out=self._cell)
        torch.where(done.unsqueeze(1), t.initial, self.meters, out=self.meters)
        if self._randomize:
            scores = torch.rand(
                self.num_envs, t.num_cells, generator=self._generator, device=self.device
            )
            fresh = scores.topk(t.num_affordances, dim=1).indices
            torch.where(done.unsqueeze(1), fresh, self._aff_cells, out=self._aff_cells)
            self._aff_map = self._features.affordance_map(self._aff_cells)
        self._after_move()

    def _after_move(self) -> None:
        torch.index_select(self.tables.cell_xy, 0, self._cell, out=self.positions)
        if self._randomize:
            torch.gather(self._aff_map, 1, self._cell.unsqueeze(1), out=self._key.unsqueeze(1))

    # ------------------------------------------------------------------ step

    def step(self, actions: Tensor) -> StepResult:
        """Advance every world one tick; finished worlds auto-reset. See module docstring."""
        t, m, r = self.tables, self.meters, self.result
        cell, delta = self._cell, self._delta

        # 1) action: meter change looked up by (key, action), new cell by (cell, action)
        torch.add(actions, cell, alpha=NUM_ACTIONS, out=self._idx)
        kidx = self._idx
        if self._randomize:
            kidx = torch.add(actions, self._key, alpha=NUM_ACTIONS, out=self._kidx)
        torch.index_select(self._delta_table, 0, kidx, out=delta)
        if self._temporal:
            self._interaction_progress(actions)
        m.add_(delta).clamp_(0.0, 1.0)
        torch.index_select(t.move_next, 0, self._idx, out=cell)
        if self._randomize:
            torch.gather(self._aff_map, 1, cell.unsqueeze(1), out=self._key.unsqueeze(1))

        # 2) passive drain: const + meters @ coupling gives the fitness-scaled health drain
        torch.mm(m, t.drain_coupling, out=delta)
        delta.add_(t.drain_const).mul_(self.drain_scale.unsqueeze(1))
        m.sub_(delta).clamp_(0.0, 1.0)

        # 3) cascades, simultaneous: deficit below threshold times the strength matrix
        torch.sub(self._threshold_row, m, out=delta)
        delta.clamp_(min=0.0)
        torch.mm(delta, t.cascade_matrix, out=self._delta2)
        m.sub_(self._delta2).clamp_(0.0, 1.0)

        # 4) clock, death, truncation: encode the outcome as a small integer, look it up
        self._steps.add_(1)
        # meters are clamped to [0, 1], so 1 - ceil(meter) is 1 exactly when it is empty
        torch.ceil(m, out=delta)
        torch.addmv(
            self._all_terminal_bits, delta, self._terminal_bits, alpha=-1.0, out=self._scalar
        )
        self._outcome.copy_(self._scalar)
        torch.ge(self._steps, self.cfg.step_cap, out=self._trunc)
        self._outcome.add_(self._trunc, alpha=self._trunc_bit)
        torch.index_select(self._cause_table, 0, self._outcome, out=r.death_causes)
        torch.index_select(self._terminated_table, 0, self._outcome, out=r.terminated)
        torch.index_select(self._done_table, 0, self._outcome, out=r.dones)

        # 5) reward
        rew = r.rewards
        if self._reward_kind == "wellbeing":
            torch.mul(m, self._wellbeing_scale, out=delta)
            torch.mean(delta.clamp_(max=1.0), dim=1, out=rew)
        elif self._reward_kind == "constant":
            rew.fill_(1.0)
        else:
            torch.mul(m[:, ENERGY], m[:, HEALTH], out=rew)
        if self.reward_cfg.alive_bonus:
            rew.add_(self.reward_cfg.alive_bonus)
        torch.index_select(self._sparse_table, 0, self._outcome, out=self._sparse_value)
        torch.where(self.sparse_reward, self._sparse_value, rew, out=rew)
        torch.where(r.terminated, self._death_penalty, rew, out=rew)
        self._ep_return.add_(rew)
        r.episode_returns.copy_(self._ep_return)
        r.episode_lengths.copy_(self._steps)

        # final observation of this tick, then auto-reset the finished worlds
        self._write_obs(self.next_observations)
        self._write_masks(self.next_action_masks)
        self._last_cell.copy_(cell)
        if self._temporal:
            self._last_progress.copy_(self._progress)
        self._steps.masked_fill_(r.dones, 0)
        self._ep_return.masked_fill_(r.dones, 0.0)
        if self._temporal:
            self._progress.masked_fill_(r.dones, 0)
        self._reset_where(r.dones)
        self._write_obs(self.observations)
        self._write_masks(self.action_masks)
        return r

    def _interaction_progress(self, actions: Tensor) -> None:
        """Temporal INTERACT: cost on the first tick, bonus on completion, reset otherwise."""
        key, delta, prog = self._key, self._delta, self._prog
        interacting, done = self._flag, self._flag2
        torch.eq(actions, INTERACT, out=interacting)
        torch.add(self._progress, 1, out=prog)
        prog.mul_(interacting)  # any other action resets progress
        torch.eq(prog, 1, out=done)  # first tick: pay the cost
        torch.index_select(self._cost_k, 0, key, out=self._scalar)
        self._scalar.mul_(done)
        delta[:, MONEY].sub_(self._scalar)
        torch.index_select(self._ticks_k, 0, key, out=self._ticks_at)
        torch.ge(prog, self._ticks_at, out=done)  # completed: pay the bonus, start over
        bonus = self._bonus_k.index_select(0, key)
        delta.addcmul_(bonus, done.unsqueeze(1))
        torch.where(done, self._zero_long, prog, out=self._progress)

    # ------------------------------------------------------------------ observation, masks

    def _write_obs(self, out: Tensor) -> None:
        spec = self.obs_spec
        if self._randomize:
            out.copy_(self._features.compute(self._cell, self._aff_cells, self._aff_map))
        else:
            torch.index_select(self._static_obs, 0, self._cell, out=out)
        out[:, spec.meters].copy_(self.meters)
        if self._temporal:
            assert spec.time is not None and spec.progress is not None
            torch.remainder(self._steps, self.tables.ticks_per_day, out=self._tod)
            out[:, spec.time].copy_(self.tables.time_features.index_select(0, self._tod))
            ticks = self._ticks_k.index_select(0, self._key)
            torch.div(self._progress, ticks, out=out[:, spec.progress])

    def _write_masks(self, masks: Tensor) -> None:
        ok = self._flag
        torch.index_select(self.tables.base_mask, 0, self._cell, out=masks)
        torch.index_select(self._mask_cost_k, 0, self._key, out=self._scalar)
        torch.ge(self.meters[:, MONEY], self._scalar, out=ok)
        if self._temporal:
            torch.remainder(self._steps, self.tables.ticks_per_day, out=self._tod)
            torch.add(self._key, self._tod, alpha=self._num_keys, out=self._open_idx)
            ok.logical_and_(self._open_k.index_select(0, self._open_idx))
            ok.logical_or_(self._progress > 0)  # an interaction under way may always continue
        masks[:, INTERACT].copy_(ok)

    # ------------------------------------------------------------------ inspection

    def refresh(self) -> None:
        """Recompute observations and masks after editing `positions`, `meters` or state by hand."""
        t = self.tables
        xs, ys = self.positions[:, 0], self.positions[:, 1]
        if bool(((xs < 0) | (xs >= t.width) | (ys < 0) | (ys >= t.height)).any()):
            raise ValueError(f"positions must lie on the {t.width}x{t.height} grid")
        torch.add(self.positions[:, 0], self.positions[:, 1], alpha=t.width, out=self._cell)
        self.meters.clamp_(0.0, 1.0)
        if self._randomize:
            self._aff_map = self._features.affordance_map(self._aff_cells)
        self._after_move()
        self._sync_views()

    def set_time(self, env: int, step: int, progress: int = 0) -> None:
        """Set one world's step counter (and so its hour) and interaction progress; then refresh."""
        if not 0 <= step < self.cfg.step_cap:
            raise ValueError(f"step must be in 0..{self.cfg.step_cap - 1}, got {step}")
        self._steps[env] = step
        self._progress[env] = progress
        self.refresh()

    # Read-only views for baselines and tools; write through `refresh()`/`set_time()` instead.
    @property
    def cells(self) -> Tensor:
        """[N] long: the agent's cell, y * width + x."""
        return self._cell

    @property
    def affordance_cells(self) -> Tensor:
        """[N, A] long: cell of each affordance in each world, in config order."""
        return self._aff_cells

    @property
    def step_counter(self) -> Tensor:
        """[N] long: ticks taken in the current episodes."""
        return self._steps

    @property
    def interaction_progress(self) -> Tensor:
        """[N] long: ticks spent on the interaction under way (temporal), else 0."""
        return self._progress

    def open_now(self) -> Tensor:
        """[N, A] bool: which affordances are open at each world's current hour."""
        torch.remainder(self._steps, self.tables.ticks_per_day, out=self._tod)
        return self.tables.open_at.index_select(0, self._tod)[:, : self.tables.num_affordances]

    @property
    def generator(self) -> torch.Generator:
        """The world's private generator (random baselines draw from it to stay seeded)."""
        return self._generator

    def hour(self, env: int) -> float | None:
        if not self._temporal:
            return None
        return self.tables.hour_of_tick[int(self._steps[env]) % self.tables.ticks_per_day]

    def layout(self, env: int) -> list[tuple[str, int, int]]:
        """(name, x, y) of each affordance in world `env`, in config order."""
        xy = self.tables.cell_xy[self._aff_cells[env]].tolist()
        return [(name, x, y) for name, (x, y) in zip(self.tables.affordance_names, xy, strict=True)]

    def snapshot(self, env: int) -> dict[str, Any]:
        """Plain-Python view of world `env` now (after any auto-reset)."""
        return self._describe(
            cell=int(self._cell[env]),
            standing=int(self._aff_map[env, int(self._cell[env])]),
            meters=self.meters[env].tolist(),
            step=int(self._steps[env]),
            progress=int(self._progress[env]),
            mask=self.action_masks[env].tolist(),
        )

    def last_snapshot(self, env: int) -> dict[str, Any]:
        """Like `snapshot`, but of the state the last step produced, before any auto-reset.

        The live player shows this, so the final tick of an episode (the death) is visible.
        """
        a = self.tables.num_affordances
        obs = self.next_observations[env]
        tail = self.obs_spec.meters.stop
        return self._describe(
            cell=int(self._last_cell[env]),
            standing=int(obs[tail : tail + a + 1].argmax()),
            meters=obs[self.obs_spec.meters].tolist(),
            step=int(self.result.episode_lengths[env]),
            progress=int(self._last_progress[env]),
            mask=self.next_action_masks[env].tolist(),
        )

    def _describe(
        self,
        cell: int,
        standing: int,
        meters: list[float],
        step: int,
        progress: int,
        mask: list[bool],
    ) -> dict[str, Any]:
        t = self.tables
        return {
            "x": cell % t.width,
            "y": cell // t.width,
            "meters": dict(zip(MeterNames, (float(v) for v in meters), strict=True)),
            "step": step,
            "time_of_day": t.hour_of_tick[step % t.ticks_per_day] if self._temporal else None,
            # The share of the interaction under way (ticks spent / ticks it takes), as the
            # page shows it: "interacting 50%".
            "interaction_progress": (
                min(progress / int(t.ticks[standing]), 1.0) if self._temporal else None
            ),
            "standing_on": t.affordance_names[standing] if standing < t.num_affordances else None,
            "action_mask": [bool(v) for v in mask],
        }

    # ------------------------------------------------------------------ persistence

    _STATE = (
        "meters",
        "positions",
        "drain_scale",
        "sparse_reward",
        "observations",
        "next_observations",
        "action_masks",
        "next_action_masks",
        "_steps",
        "_ep_return",
        "_progress",
        "_aff_cells",
    )

    def state_dict(self) -> dict[str, Tensor]:
        """Everything needed to resume exactly, including the generator state."""
        state = {name.lstrip("_"): getattr(self, name).clone() for name in self._STATE}
        state["generator_state"] = self._generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in self._STATE:
            value = state[name.lstrip("_")]
            target: Tensor = getattr(self, name)
            if value.shape != target.shape:
                raise ValueError(
                    f"world state '{name.lstrip('_')}' has shape {tuple(value.shape)}, "
                    f"expected {tuple(target.shape)}: was it saved with another config or num_envs?"
                )
            target.copy_(value)
        self._generator.set_state(state["generator_state"])
        width = self.tables.width
        torch.add(self.positions[:, 0], self.positions[:, 1], alpha=width, out=self._cell)
        if self._randomize:
            self._aff_map = self._features.affordance_map(self._aff_cells)
        self._after_move()
        self._last_cell.copy_(self._cell)
        self._last_progress.copy_(self._progress)
        self.result.episode_lengths.copy_(self._steps)
