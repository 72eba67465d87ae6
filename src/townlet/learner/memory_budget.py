"""Refuse, before anything is written, a config whose tensors cannot fit in memory.

The trainer preallocates everything big up front: the replay buffer, the worlds' batch
tensors, the world's lookup tables and the networks. Their sizes follow from the config
alone, so they are estimated here by arithmetic, without allocating anything, and compared
with the memory free on the training device. A config that asks for too much fails like any
other bad config: a ConfigError naming the field to lower and a value that fits.

The byte counts mirror the allocations in ``VectorWorld.__init__``, ``TimeMajorReplay`` and
``DQNTrainer.__init__``; ``tests/test_memory_budget.py`` holds them to real allocations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from townlet.config import ConfigError, TownletConfig, WorldConfig
from townlet.world.constants import NUM_ACTIONS
from townlet.world.tables import NUM_METERS

F32 = torch.float32.itemsize
I64 = torch.long.itemsize
BOOL = torch.bool.itemsize

# Refuse above this share of the free memory: the Python runtime, the live server, TensorBoard
# and the OS page cache need the rest, and the estimate is not exact.
USABLE_FRACTION = 0.8
# torch's kernels, thread pools and allocator caches on first use: 86-107 MiB of RSS measured
# on the CPU for a config whose tensors are a few MiB.
RUNTIME_BYTES = 128 * 2**20
# A field is named in the error when a part of the estimate it sizes takes this share.
RESPONSIBLE_SHARE = 0.25
RND_WIDTH, RND_OUT = 128, 64  # townlet.learner.rnd._embedding_net


@dataclass(frozen=True)
class _Sizes:
    """The numbers of a config that decide its memory; lowered to find values that fit."""

    num_envs: int
    replay_capacity: int
    batch_size: int
    sequence: int  # steps per sampled sequence (recurrent), 1 otherwise
    hidden_sizes: tuple[int, ...]
    recurrent: bool
    dueling: bool
    averaged: bool  # checkpoints play a moving average: one more copy of the weights
    rnd: bool
    width: int
    height: int
    vision_window: int
    full_observability: bool
    temporal: bool
    randomize: bool
    num_affordances: int
    ticks_per_day: int

    @staticmethod
    def of(config: TownletConfig) -> _Sizes:
        t, w = config.training, config.world
        recurrent = t.network.kind == "gru"
        return _Sizes(
            num_envs=t.num_envs,
            replay_capacity=t.replay_capacity,
            batch_size=t.batch_size,
            sequence=t.burn_in + t.sequence_length if recurrent else 1,
            hidden_sizes=tuple(t.network.hidden_sizes),
            recurrent=recurrent,
            dueling=t.network.dueling and not recurrent,
            averaged=t.policy_average_decay > 0,
            rnd=t.rnd.enabled,
            width=w.width,
            height=w.height,
            vision_window=w.vision_window,
            full_observability=w.observability == "full",
            temporal=w.temporal,
            randomize=w.randomize_layout,
            num_affordances=len(w.affordances),
            ticks_per_day=w.ticks_per_day,
        )

    @property
    def cells(self) -> int:
        return self.width * self.height

    @property
    def obs_dim(self) -> int:
        return _obs_dim(
            self.cells,
            self.num_affordances,
            self.full_observability,
            self.vision_window,
            self.temporal,
        )


def _obs_dim(cells: int, affordances: int, full: bool, window: int, temporal: bool) -> int:
    """As ``townlet.world.observations.obs_layout`` lays the observation out."""
    head = cells + 2 * affordances if full else window**2 * (affordances + 1) + 2
    return head + NUM_METERS + affordances + 1 + (3 if temporal else 0)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a config asks for on the training device, by part."""

    replay: int  # TimeMajorReplay, exact
    worlds: int  # per-world tensors of the world, the trainer and the random policy
    tables: int  # per-config lookup tables (on the CPU, the live player builds them too)
    networks: int  # online, target, gradients and Adam moments (and RND's when enabled)
    update: int  # one update's batch and activations
    runtime: int = RUNTIME_BYTES

    @property
    def total(self) -> int:
        return self.replay + self.worlds + self.tables + self.networks + self.update + self.runtime

    def parts(self) -> dict[str, int]:
        return {
            "replay buffer": self.replay,
            "world state": self.worlds,
            "lookup tables": self.tables,
            "networks": self.networks,
            "update batch": self.update,
            "runtime": self.runtime,
        }


def observation_size(world: WorldConfig) -> int:
    """Length of one observation vector, without building the world."""
    return _obs_dim(
        world.width * world.height,
        len(world.affordances),
        world.observability == "full",
        world.vision_window,
        world.temporal,
    )


def replay_bytes_per_transition(obs_dim: int) -> int:
    """One slot of one world in TimeMajorReplay: both observations and their action masks,
    action, reward, flags."""
    return 2 * obs_dim * F32 + I64 + F32 + 2 * BOOL + 2 * NUM_ACTIONS * BOOL


def estimate_memory(config: TownletConfig, device: torch.device | str = "cpu") -> MemoryEstimate:
    """What building a DQNTrainer for `config` on `device` allocates, in bytes."""
    return _estimate(_Sizes.of(config), torch.device(device))


def _estimate(s: _Sizes, device: torch.device) -> MemoryEstimate:
    d, n = s.obs_dim, s.num_envs
    slots = max(s.replay_capacity // n, 2)  # as TimeMajorReplay rounds it
    replay = slots * n * replay_bytes_per_transition(d)
    worlds = _with_slack(n * _bytes_per_world(s, d))
    # On the CPU the live player's one-world copy of the tables shares the memory.
    copies = 2 if device.type == "cpu" else 1
    tables = _with_slack(copies * _table_bytes(s, d))
    update = _with_slack(s.batch_size * _bytes_per_sample(s, d))
    return MemoryEstimate(replay, worlds, tables, _network_bytes(s, d), update)


def _with_slack(n: int) -> int:
    """25% for what the itemised counts leave out: allocator rounding, small temporaries.

    Integer arithmetic, so a config asking for 10**30 worlds still gets a number back.
    """
    return n + n // 4


def _bytes_per_world(s: _Sizes, d: int) -> int:
    a, c = s.num_affordances, s.cells
    world = (
        3 * NUM_METERS * F32  # meters and two step scratch rows
        + 2 * I64  # positions
        + 6 * F32  # drain_scale, episode return, scratch, sparse value, reward, return out
        + 5 * BOOL  # sparse_reward, two flags, dones, terminated
        + 16 * I64  # cell, steps, progress, eleven scratch indices, lengths, death causes
        + 2 * NUM_ACTIONS * BOOL  # action masks now and after the step
        + 2 * d * F32  # observations, next_observations
        + a * I64  # affordance cells
        + c * I64  # affordance id per cell
    )
    if s.randomize:
        # a key of its own; per reset, fresh scores, top-k cells and a new map beside the old
        # one; per tick, an observation computed afresh through cell- and affordance-sized
        # temporaries
        world += I64 + c * (F32 + I64 + F32) + a * (F32 + I64 + 3 * F32) + d * F32
    random_policy = NUM_ACTIONS * F32 + F32 + 3 * I64
    acting = d * F32 + 2 * NUM_ACTIONS * F32 + 2 * I64 + F32  # obs copy, Q, mask, actions
    if s.recurrent:
        hidden = s.hidden_sizes[0]
        acting += hidden * F32 + 9 * hidden * F32  # carried state; encoder, gates, output
    else:
        acting += 2 * max(s.hidden_sizes) * F32  # a layer's output and its ReLU at a time
    if s.rnd:
        acting += 4 * (RND_WIDTH + RND_OUT) * F32  # two embedding nets on every world
    return world + random_policy + acting


def _table_bytes(s: _Sizes, d: int) -> int:
    """Per-config tensors of the world: with a large grid, these dominate."""
    a, c, w, tpd = s.num_affordances, s.cells, s.vision_window, s.ticks_per_day
    keys = a + 1 if s.randomize else c
    total = (
        c * c * F32  # position one-hot (built for every observability)
        + 2 * c * w * w * I64  # vision window cells and the index they are computed from
        + (s.width + w) * (s.height + w) * I64  # padded grid
        + c * (2 * I64 + 7 * I64 + 7 * BOOL)  # cell_xy, move_next, base_mask and temporaries
        + keys * (NUM_ACTIONS * NUM_METERS * F32 + NUM_METERS * F32 + 2 * F32 + 2 * I64)
        + 2 * tpd * keys * BOOL  # opening hours per key and tick of the day
        + tpd * ((a + 1) * BOOL + 2 * F32 + 3 * 8 + 32)  # clock tensors and hour floats
    )
    if not s.randomize:
        # observation of every cell, computed once; computing it copies the one-hot rows
        total += c * d * F32 + c * (c if s.full_observability else 2 * c) * F32
    return total


def _parameters(s: _Sizes, d: int) -> int:
    if s.recurrent:
        h = s.hidden_sizes[0]
        return d * h + h + 2 * (3 * h * h + 3 * h) + h * NUM_ACTIONS + NUM_ACTIONS
    count, width = 0, d
    for hidden in s.hidden_sizes:
        count += width * hidden + hidden
        width = hidden
    count += width * NUM_ACTIONS + NUM_ACTIONS
    if s.dueling:
        count += width + 1
    return count


def _network_bytes(s: _Sizes, d: int) -> int:
    # online + target + gradients + Adam's two moments: five floats per parameter, and the
    # played average's copy where there is one
    total = (5 + s.averaged) * _parameters(s, d) * F32
    if s.rnd:
        per_net = d * RND_WIDTH + RND_WIDTH + RND_WIDTH * RND_OUT + RND_OUT
        total += 5 * per_net * F32  # target, predictor, its gradients and moments
    return total


def _bytes_per_sample(s: _Sizes, d: int) -> int:
    """One sampled transition (or sequence) of an update, activations and gradients included."""
    if s.recurrent:
        steps = s.sequence + 1
        h = s.hidden_sizes[0]
        # gathered and concatenated observations, per-step fields and indices, and GRU
        # activations for online and target, forward and backward
        per_sample = 2 * steps * d * F32 + steps * 40 + steps * 40 * h * F32
    else:
        # both observations, ~12 per-sample vectors, four passes of activations
        per_sample = 2 * d * F32 + 12 * I64 + 4 * 2 * sum(s.hidden_sizes) * F32
    if s.rnd:
        per_sample += 2 * d * F32 + 4 * (RND_WIDTH + RND_OUT) * F32
    return per_sample


# ------------------------------------------------------------------ free memory


def available_memory(device: torch.device | str) -> int | None:
    """Bytes free for new tensors on `device`, or None when it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return None
        try:
            free, _total = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):
            return None
        return int(free)
    host = _meminfo_available() or _sysconf_available()
    limit = _cgroup_headroom()
    if host is None or limit is None:
        return host if limit is None else limit
    return min(host, limit)


def _meminfo_available() -> int | None:
    """Linux's own estimate of memory that can be had without swapping."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available() -> int | None:
    # Free pages where the OS reports them; else all of physical memory (macOS), which still
    # refuses a config that could never fit.
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
    return None


_CGROUP_V2 = Path("/sys/fs/cgroup")
_CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def _cgroup_headroom() -> int | None:
    """Room left under a container's memory limit; MemAvailable reports the host's.

    Page cache counts as used in the cgroup but is given back before the OOM killer acts,
    so inactive file pages are subtracted from the usage, as `docker stats` does.
    """
    for limit_file, usage_file, cache_key in (
        (_CGROUP_V2 / "memory.max", _CGROUP_V2 / "memory.current", "inactive_file"),
        (
            _CGROUP_V1 / "memory.limit_in_bytes",
            _CGROUP_V1 / "memory.usage_in_bytes",
            "total_inactive_file",
        ),
    ):
        try:
            limit_text = limit_file.read_text().strip()
            if limit_text == "max":
                return None
            limit, usage = int(limit_text), int(usage_file.read_text())
        except (OSError, ValueError):
            continue
        if limit >= 2**62:  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1
            return None
        stat_file = limit_file.parent / "memory.stat"
        try:
            for line in stat_file.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == cache_key:
                    usage -= int(value)
                    break
        except (OSError, ValueError):
            pass
        return max(limit - usage, 0)
    return None


# ------------------------------------------------------------------ the check


def check_memory_budget(
    config: TownletConfig, device: torch.device | str, source: str | None = None
) -> None:
    """Raise ConfigError when `config` asks for more memory than `device` has free.

    Pure arithmetic plus a few small file reads (under a millisecond); on CUDA, asking the
    driver for free memory starts the CUDA context the trainer would start anyway.
    """
    device = torch.device(device)
    available = available_memory(device)
    if available is None:
        return  # nothing to compare with; the allocator will have the last word
    sizes = _Sizes.of(config)
    estimate = _estimate(sizes, device)
    budget = round(available * USABLE_FRACTION)
    if estimate.total <= budget:
        return
    raise ConfigError(source or config.name, _issues(sizes, device, estimate, available, budget))


@dataclass(frozen=True)
class _Knob:
    """A field that sizes part of the estimate, how to lower it, and how to talk about it."""

    path: str
    minimum: int
    read: Callable[[_Sizes], int]
    lower: Callable[[_Sizes, int], _Sizes]
    subject: str  # what the config asks for, with its verb: "1,000 worlds need"
    fix: str  # format string for a value that fits


def _knobs(s: _Sizes) -> dict[str, _Knob]:
    transition = replay_bytes_per_transition(s.obs_dim)
    knobs = [
        _Knob(
            "training.num_envs",
            1,
            lambda x: x.num_envs,
            lambda x, v: replace(x, num_envs=v),
            f"{s.num_envs:,} worlds need",
            "use at most {:,} worlds",
        ),
        _Knob(
            "training.replay_capacity",
            1,  # and at least batch_size: see _scaled
            lambda x: x.replay_capacity,
            lambda x, v: replace(x, replay_capacity=v),
            f"{s.replay_capacity:,} transitions of {transition:,} B need",
            "use at most {:,}",
        ),
        _Knob(
            "training.batch_size",
            1,
            lambda x: x.batch_size,
            lambda x, v: replace(x, batch_size=v),
            f"batches of {s.batch_size:,} need",
            "use at most {:,}",
        ),
        _Knob(
            "training.network.hidden_sizes",
            1,
            lambda x: max(x.hidden_sizes),
            lambda x, v: replace(x, hidden_sizes=tuple(min(h, v) for h in x.hidden_sizes)),
            f"hidden layers of {list(s.hidden_sizes)} need",
            "use hidden sizes of at most {:,}",
        ),
        _Knob(
            "world.width",
            2,
            lambda x: max(x.width, x.height),
            lambda x, v: replace(x, width=min(x.width, v), height=min(x.height, v)),
            f"a {s.width:,}x{s.height:,} grid needs",
            "use a grid of at most {0:,}x{0:,} (world.width and world.height)",
        ),
        _Knob(
            "world.vision_window",
            1,
            lambda x: x.vision_window,
            lambda x, v: replace(x, vision_window=v - (v + 1) % 2),  # odd: it has a centre
            f"a {s.vision_window:,}x{s.vision_window:,} vision window needs",
            "use a window of at most {:,}",
        ),
        _Knob(
            "world.ticks_per_day",
            1,
            lambda x: x.ticks_per_day,
            lambda x, v: replace(x, ticks_per_day=v),
            f"{s.ticks_per_day:,} ticks per day need",
            "use at most {:,}",
        ),
    ]
    return {knob.path: knob for knob in knobs}


def _issues(
    s: _Sizes, device: torch.device, estimate: MemoryEstimate, available: int, budget: int
) -> list[tuple[str, str, str]]:
    summary = (
        f"in all the config asks for about {_size(estimate.total)} but {_size(available)} is "
        f"free {f'on {device}' if device.type == 'cuda' else 'in RAM'}, and Townlet uses at "
        f"most {USABLE_FRACTION:.0%} of it ({_size(budget)})"
    )
    named = _responsible(s, device, estimate, budget)
    fit = _joint_fit(s, device, list(named), budget)
    if fit is None:
        return [("", summary, "free some memory or use a machine with more")]
    issues = []
    for i, (knob, parts) in enumerate(named.items()):
        needs = " and ".join(f"{_size(size)} for the {part}" for part, size in parts)
        problem = f"{knob.subject} {needs}" + (f"; {summary}" if i == 0 else "")
        fix = knob.fix.format(knob.read(fit))
        if len(named) > 1:
            fix += " (together with the other changes listed)"
        issues.append((knob.path, problem, fix))
    return issues


def _responsible(
    s: _Sizes, device: torch.device, estimate: MemoryEstimate, budget: int
) -> dict[_Knob, list[tuple[str, int]]]:
    """The fields that size the biggest parts of the estimate, with those parts.

    Every part that takes a good share is named, and then further parts, largest first,
    until lowering every named field to its minimum would fit.
    """
    knobs = _knobs(s)
    # The replay buffer holds at least two steps per world; past that, worlds size it.
    floor = s.replay_capacity < 2 * s.num_envs
    replay = knobs["training.num_envs" if floor else "training.replay_capacity"]
    # Of the fields that size the tables, the one whose minimum shrinks them most.
    grid_knobs = [knobs[p] for p in ("world.width", "world.vision_window", "world.ticks_per_day")]
    tables = min(grid_knobs, key=lambda k: _estimate(k.lower(s, k.minimum), device).tables)
    owners = [
        ("replay buffer" + (" (two steps per world)" if floor else ""), estimate.replay, replay),
        ("world state", estimate.worlds, knobs["training.num_envs"]),
        ("update batch", estimate.update, knobs["training.batch_size"]),
        ("networks", estimate.networks, knobs["training.network.hidden_sizes"]),
        ("lookup tables", estimate.tables, tables),
    ]
    named: dict[_Knob, list[tuple[str, int]]] = {}
    for part, size, knob in sorted(owners, key=lambda owner: -owner[1]):
        if knob.read(s) <= knob.minimum:
            continue
        share = size >= RESPONSIBLE_SHARE * estimate.total
        if share or not _fits(_scaled(s, list(named), 0), device, budget):
            named.setdefault(knob, []).append((part, size))
    return named


def _scaled(s: _Sizes, knobs: list[_Knob], k: int, bits: int = 0) -> _Sizes:
    """Every knob at k / 2**bits of its value in `s`, none below its minimum."""
    out = s
    for knob in knobs:
        out = knob.lower(out, max(knob.minimum, knob.read(s) * k >> bits))
    return replace(out, replay_capacity=max(out.replay_capacity, out.batch_size))


def _fits(s: _Sizes, device: torch.device, budget: int) -> bool:
    return _estimate(s, device).total <= budget


def _joint_fit(s: _Sizes, device: torch.device, knobs: list[_Knob], budget: int) -> _Sizes | None:
    """The knobs lowered together by one factor, no further than needed; None if none fits.

    One factor for all keeps the suggestions consistent: each value fits together with the
    others, not only on its own.
    """
    if not knobs or not _fits(_scaled(s, knobs, 0), device, budget):
        return None
    # A factor k / 2**bits fine enough that one step of k moves each value by less than 1.
    bits = max(knob.read(s) for knob in knobs).bit_length() + 1
    low, high = 0, 1 << bits  # low fits; high, the config as it is, does not
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(_scaled(s, knobs, middle, bits), device, budget):
            low = middle
        else:
            high = middle
    fitted = _scaled(s, knobs, low, bits)
    # Two significant figures read better than 3,871,266 and, being lower, still fit.
    out = s
    for knob in knobs:
        value = knob.read(fitted)
        scale = 10 ** max(len(str(value)) - 2, 0)
        out = knob.lower(out, max(value // scale * scale, knob.minimum))
    return replace(out, replay_capacity=max(out.replay_capacity, out.batch_size))


def _size(n: int) -> str:
    """1,536 -> '1.5 KiB'; integers only, so even an absurd size prints without overflow."""
    if n < 1024:
        return f"{n:,} B"
    power = min((n.bit_length() - 1) // 10, 4)
    unit = 1024**power
    tenths = (n * 10 + unit // 2) // unit  # rounded to the nearest tenth
    return f"{tenths // 10:,}.{tenths % 10} {('KiB', 'MiB', 'GiB', 'TiB')[power - 1]}"
