"""Baseline policies every benchmark reports beside the learner, and their evaluation.

A policy is `policy(world) -> actions [N] long`, reading the world's tensors. All three are
vectorised: a fixed number of tensor ops per call, whatever the number of worlds.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from townlet.config.models import RewardConfig, WorldConfig
from townlet.world.constants import (
    DOWN,
    ENERGY,
    INTERACT,
    LEFT,
    METER_INDEX,
    MONEY,
    NUM_ACTIONS,
    RIGHT,
    UP,
    WAIT,
    DeathCause,
)
from townlet.world.vector_world import VectorWorld

Policy = Callable[[VectorWorld], Tensor]

# lcm(1..6): every count of legal actions divides it, so a uniform draw in [0, 60) picks a
# uniformly random legal action from one table row.
_TABLE_WIDTH = 60


def random_action_table(device: torch.device | str = "cpu") -> Tensor:
    """[64 * 60] long. Row: mask bits (bit i set = action i legal); entry j: the
    (j mod #legal)-th legal action, so a uniform j in [0, 60) is a uniform legal action."""
    table = torch.full((2**NUM_ACTIONS, _TABLE_WIDTH), WAIT, dtype=torch.long)
    for bits in range(1, 2**NUM_ACTIONS):
        legal = [a for a in range(NUM_ACTIONS) if bits >> a & 1]
        table[bits] = torch.tensor([legal[j % len(legal)] for j in range(_TABLE_WIDTH)])
    return table.reshape(-1).to(device)


class RandomLegalActions:
    """Uniform over legal actions: one integer draw per world and one table lookup, in place."""

    def __init__(self, world: VectorWorld, generator: torch.Generator | None = None) -> None:
        n, dev = world.num_envs, world.device
        self.generator = generator if generator is not None else world.generator
        self.table = random_action_table(dev)
        self.bit_weights = 2.0 ** torch.arange(NUM_ACTIONS, dtype=torch.float32, device=dev)
        self._mask_f = torch.zeros(n, NUM_ACTIONS, dtype=torch.float32, device=dev)
        self._bits_f = torch.zeros(n, dtype=torch.float32, device=dev)
        self._bits = torch.zeros(n, dtype=torch.long, device=dev)
        self._draw = torch.zeros(n, dtype=torch.long, device=dev)
        self.actions = torch.zeros(n, dtype=torch.long, device=dev)

    def __call__(self, world: VectorWorld) -> Tensor:
        # mask bits via a float mat-vec: cheaper than integer ops on a narrow [N, 6] on CPU
        self._mask_f.copy_(world.action_masks)
        torch.mv(self._mask_f, self.bit_weights, out=self._bits_f)
        self._bits.copy_(self._bits_f)
        torch.randint(0, _TABLE_WIDTH, self._draw.shape, generator=self.generator, out=self._draw)
        torch.add(self._draw, self._bits, alpha=_TABLE_WIDTH, out=self._draw)
        return torch.index_select(self.table, 0, self._draw, out=self.actions)


_random_cache: weakref.WeakKeyDictionary[VectorWorld, RandomLegalActions] = (
    weakref.WeakKeyDictionary()
)
_scripted_cache: weakref.WeakKeyDictionary[VectorWorld, ScriptedPolicy] = (
    weakref.WeakKeyDictionary()
)


def random_policy(world: VectorWorld) -> Tensor:
    """Uniform over legal actions, drawn from the world's generator (so seeded with it)."""
    policy = _random_cache.get(world)
    if policy is None:
        policy = _random_cache[world] = RandomLegalActions(world)
    return policy(world)


def wait_policy(world: VectorWorld) -> Tensor:
    """Always WAIT: survives exactly 191 ticks on level 1, the bar a learner must pass."""
    return torch.full((world.num_envs,), WAIT, dtype=torch.long, device=world.device)


def scripted_policy(world: VectorWorld) -> Tensor:
    """Greedy hand-written policy; see ScriptedPolicy."""
    policy = _scripted_cache.get(world)
    if policy is None:
        policy = _scripted_cache[world] = ScriptedPolicy(world)
    return policy(world)


class ScriptedPolicy:
    """Walk to the affordance that restores the most urgent need, then use it.

    Needs, most urgent first (the first that holds picks the target): finish an interaction
    under way (temporal: walking away forfeits the bonus); energy too low for the walk to
    Bed plus a margin; money below a night's sleep (Job); health low (Doctor, else Hospital);
    hunger (HomeMeal); dirt (Shower); money short (Job); social, mood or fitness low (Park,
    free); energy below half (Bed). Otherwise WAIT, the cheapest action. Paid needs keep the
    price of a Bed in reserve, and thresholds sit above the cascade threshold so cascades
    rarely start. Next moves come from a precomputed [cell, cell] table.
    """

    ENERGY_MARGIN = 0.25
    ENERGY_PER_STEP = 0.012  # move cost + drain, with room for cascades
    EMERGENCY_WORK_ENERGY = 0.2
    HEALTH_LOW = 0.5
    SATIATION_LOW = 0.4
    HYGIENE_LOW = 0.4
    MONEY_LOW = 0.4
    WORK_MIN_ENERGY = 0.4
    LEISURE_LOW: ClassVar[dict[str, float]] = {"social": 0.45, "mood": 0.5, "fitness": 0.6}
    LEISURE_MIN_ENERGY = 0.35
    REST_BELOW = 0.55

    def __init__(self, world: VectorWorld) -> None:
        t = world.tables
        names = t.affordance_names
        missing = [n for n in ("Bed", "HomeMeal", "Shower", "Job") if n not in names]
        if missing:
            raise ValueError(f"scripted policy needs affordances {missing}, which the config lacks")
        self.ids = {name: i for i, name in enumerate(names)}
        self.cost = t.cost[:-1].tolist()  # money units, per affordance
        self.none = t.num_affordances
        # next action from every cell towards every cell: close the larger gap first
        xy = t.cell_xy
        dx = xy[:, 0].view(1, -1) - xy[:, 0].view(-1, 1)  # [from, to]
        dy = xy[:, 1].view(1, -1) - xy[:, 1].view(-1, 1)
        horizontal = dx.abs() >= dy.abs()
        move = torch.full_like(dx, INTERACT)
        move = torch.where((dy < 0) & ~horizontal, UP, move)
        move = torch.where((dy > 0) & ~horizontal, DOWN, move)
        move = torch.where((dx < 0) & horizontal, LEFT, move)
        move = torch.where((dx > 0) & horizontal, RIGHT, move)
        self.next_move = move.reshape(-1)
        self.distance = (dx.abs() + dy.abs()).to(torch.float32).reshape(-1)
        self.num_cells = t.num_cells

    def __call__(self, world: VectorWorld) -> Tensor:
        m = world.meters
        cell = world.cells
        aff_cells = world.affordance_cells
        open_now = world.open_now()
        money, energy = m[:, MONEY], m[:, ENERGY]
        ids = self.ids
        bed = self.cost[ids["Bed"]]

        def affordable(name: str, reserve: float = 0.0) -> Tensor:
            i = ids[name]
            return open_now[:, i] & (money >= self.cost[i] + reserve - 1e-6)

        def distance(name: str) -> Tensor:
            return self.distance.index_select(0, cell * self.num_cells + aff_cells[:, ids[name]])

        def low(meter: str, threshold: float) -> Tensor:
            return m[:, METER_INDEX[meter]] < threshold

        # (condition, target), most urgent first
        rules: list[tuple[Tensor, int]] = []
        tired = energy < self.ENERGY_MARGIN + self.ENERGY_PER_STEP * distance("Bed")
        rules.append((tired & affordable("Bed"), ids["Bed"]))
        broke = (money < bed - 1e-6) & (energy > self.EMERGENCY_WORK_ENERGY) & affordable("Job")
        rules.append((broke, ids["Job"]))
        for name in ("Doctor", "Hospital"):
            if name in ids:
                rules.append((low("health", self.HEALTH_LOW) & affordable(name, bed), ids[name]))
        rules.append(
            (low("satiation", self.SATIATION_LOW) & affordable("HomeMeal", bed), ids["HomeMeal"])
        )
        rules.append((low("hygiene", self.HYGIENE_LOW) & affordable("Shower", bed), ids["Shower"]))
        work = (money < self.MONEY_LOW) & (energy > self.WORK_MIN_ENERGY) & affordable("Job")
        rules.append((work, ids["Job"]))
        if "Park" in ids:
            leisure = torch.zeros_like(money, dtype=torch.bool)
            for meter, threshold in self.LEISURE_LOW.items():
                leisure |= low(meter, threshold)
            leisure &= (energy > self.LEISURE_MIN_ENERGY) & affordable("Park")
            rules.append((leisure, ids["Park"]))
        rules.append(((energy < self.REST_BELOW) & affordable("Bed"), ids["Bed"]))

        target = torch.full_like(cell, self.none)
        for cond, aff in reversed(rules):
            target = torch.where(cond, aff, target)
        # an interaction under way is finished first: walking away forfeits its bonus
        on_cell = aff_cells == cell.unsqueeze(1)
        standing = torch.where(on_cell.any(1), on_cell.to(torch.long).argmax(1), self.none)
        target = torch.where(world.interaction_progress > 0, standing, target)

        has_target = target != self.none
        target_cell = aff_cells.gather(1, torch.where(has_target, target, 0).unsqueeze(1)).squeeze(
            1
        )
        target_cell = torch.where(has_target, target_cell, cell)
        action = self.next_move.index_select(0, cell * self.num_cells + target_cell)
        # arrived: INTERACT when it is legal and wanted, otherwise WAIT
        use = has_target & world.action_masks[:, INTERACT]
        return torch.where((action == INTERACT) & ~use, WAIT, action)


class EvaluationStopped(Exception):
    """``should_stop`` answered True between two world steps: the evaluation was abandoned."""


@dataclass(frozen=True)
class FirstEpisodes:
    """How each world's first episode ended."""

    survival: Tensor  # [N] long: ticks survived (the step cap for worlds that reached it)
    causes: Tensor  # [N] long DeathCause: ENERGY, HEALTH or STEP_CAP

    def cause_counts(self) -> dict[str, int]:
        """'energy' / 'health' / 'step_cap' -> how many worlds ended so (zeros included)."""
        counts = torch.bincount(self.causes, minlength=len(DeathCause)).tolist()
        return {str(cause): counts[cause] for cause in DeathCause if cause != DeathCause.ALIVE}


def run_first_episodes(
    world_cfg: WorldConfig,
    reward_cfg: RewardConfig,
    policy: Policy,
    episodes: int,
    step_cap: int,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> FirstEpisodes:
    """Play ``episodes`` worlds in parallel until each has ended its first episode.

    ``should_stop`` is asked before every world step; when it answers True the run is
    abandoned with ``EvaluationStopped`` (an evaluator that must exit promptly).
    """
    if step_cap < 1:
        raise ValueError(f"step_cap must be >= 1, got {step_cap}")
    cfg = world_cfg.model_copy(update={"step_cap": step_cap})
    world = VectorWorld(cfg, reward_cfg, episodes, seed=seed)
    finished = torch.zeros(episodes, dtype=torch.bool)
    survival = torch.zeros(episodes, dtype=torch.long)
    causes = torch.full((episodes,), int(DeathCause.ALIVE), dtype=torch.long)
    for _ in range(step_cap):
        if should_stop is not None and should_stop():
            raise EvaluationStopped
        result = world.step(policy(world))
        first = result.dones & ~finished
        survival = torch.where(first, result.episode_lengths, survival)
        causes = torch.where(first, result.death_causes, causes)
        finished |= result.dones
        if bool(finished.all()):
            break
    return FirstEpisodes(survival=survival, causes=causes)


def evaluate(
    world_cfg: WorldConfig,
    reward_cfg: RewardConfig,
    policy: Policy,
    episodes: int,
    step_cap: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Survival of `policy` over `episodes` worlds run in parallel, one episode each."""
    survival = run_first_episodes(world_cfg, reward_cfg, policy, episodes, step_cap, seed).survival
    values = survival.to(torch.float64)
    q = torch.quantile(values, torch.tensor([0.5, 0.025, 0.975], dtype=torch.float64)).tolist()
    return {
        "mean": float(values.mean()),
        "median": q[0],
        "p2_5": q[1],
        "p97_5": q[2],
        "survival": survival.tolist(),
    }


__all__ = [
    "EvaluationStopped",
    "FirstEpisodes",
    "Policy",
    "RandomLegalActions",
    "ScriptedPolicy",
    "evaluate",
    "random_action_table",
    "random_policy",
    "run_first_episodes",
    "scripted_policy",
    "wait_policy",
]
