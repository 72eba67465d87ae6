"""Observation layout and the layout-dependent part of the observation.

Float32 vector, in this order:
- full:    position one-hot [C] | offset of each affordance (dx/width, dy/height) [2A] |
           meters [8] | standing-on one-hot [A+1, last = none]
- partial: vision window, per cell one-hot over [A+1, last = off-grid] (empty = zeros) |
           position (x/(width-1), y/(height-1)) [2] | meters [8] | standing-on one-hot [A+1]
- temporal adds: sin, cos of the hour [2] | interaction progress / ticks [1]

Everything except the meters, the clock and the progress is a function of the agent's cell
and the affordance layout. With a fixed layout the world precomputes it per cell once and
each step is one row gather plus a copy of the meters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from townlet.config.models import WorldConfig
from townlet.world.tables import NUM_METERS, WorldTables


@dataclass(frozen=True)
class ObsLayout:
    dim: int
    meters: slice
    time: slice | None  # sin, cos of the hour (temporal only)
    progress: int | None  # column of interaction progress (temporal only)


def obs_layout(cfg: WorldConfig, tables: WorldTables) -> ObsLayout:
    a = tables.num_affordances
    if cfg.observability == "full":
        head = tables.num_cells + 2 * a
    else:
        head = cfg.vision_window**2 * (a + 1) + 2
    meters = slice(head, head + NUM_METERS)
    dim = head + NUM_METERS + a + 1
    if not cfg.temporal:
        return ObsLayout(dim=dim, meters=meters, time=None, progress=None)
    return ObsLayout(dim=dim + 3, meters=meters, time=slice(dim, dim + 2), progress=dim + 2)


class LayoutFeatures:
    """Computes the observation columns that depend on (agent cell, affordance layout)."""

    def __init__(self, cfg: WorldConfig, tables: WorldTables, layout: ObsLayout) -> None:
        self.cfg = cfg
        self.t = tables
        self.layout = layout
        device = tables.cell_xy.device
        a, c = tables.num_affordances, tables.num_cells
        self.position_one_hot = torch.eye(c, device=device)
        self.standing_one_hot = torch.eye(a + 1, device=device)
        self.grid_scale = torch.tensor(
            [tables.width, tables.height], dtype=torch.float32, device=device
        )
        self.position_scale = self.grid_scale - 1.0
        # Window: index a padded grid of cell ids (off-grid = C), one row per agent cell.
        w = cfg.vision_window
        r = w // 2
        pw, ph = tables.width + 2 * r, tables.height + 2 * r
        padded = torch.full((ph, pw), c, dtype=torch.long, device=device)
        padded[r : r + tables.height, r : r + tables.width] = torch.arange(c, device=device).view(
            tables.height, tables.width
        )
        xs, ys = tables.cell_xy[:, 0], tables.cell_xy[:, 1]
        dy, dx = torch.meshgrid(
            torch.arange(w, device=device), torch.arange(w, device=device), indexing="ij"
        )
        offsets = (dy * pw + dx).reshape(1, -1)
        self.window_cells = padded.reshape(-1)[(ys * pw + xs).unsqueeze(1) + offsets]  # [C, w*w]
        # ids: 0..A-1 affordance, A empty (zeros), A+1 off-grid (its own channel, A)
        self.window_one_hot = torch.zeros(a + 2, a + 1, device=device)
        self.window_one_hot[:a, :a] = torch.eye(a, device=device)
        self.window_one_hot[a + 1, a] = 1.0

    def affordance_map(self, aff_cells: Tensor) -> Tensor:
        """[M, A] affordance cells -> [M, C] affordance id per cell (A where none)."""
        m, a = aff_cells.shape
        out = torch.full((m, self.t.num_cells), a, dtype=torch.long, device=aff_cells.device)
        ids = torch.arange(a, device=aff_cells.device).expand(m, a)
        return out.scatter_(1, aff_cells, ids)

    def compute(self, cell: Tensor, aff_cells: Tensor, aff_map: Tensor) -> Tensor:
        """[M, dim] observation with zeros where the meters, clock and progress go."""
        m = cell.shape[0]
        a = self.t.num_affordances
        out = torch.zeros(m, self.layout.dim, device=cell.device)
        head = self.layout.meters.start
        standing = aff_map.gather(1, cell.unsqueeze(1)).squeeze(1)
        tail = self.layout.meters.stop
        out[:, tail : tail + a + 1] = self.standing_one_hot.index_select(0, standing)
        agent_xy = self.t.cell_xy.index_select(0, cell).to(torch.float32)
        if self.cfg.observability == "full":
            c = self.t.num_cells
            out[:, :c] = self.position_one_hot.index_select(0, cell)
            aff_xy = self.t.cell_xy[aff_cells].to(torch.float32)  # [M, A, 2]
            out[:, c:head] = ((aff_xy - agent_xy.unsqueeze(1)) / self.grid_scale).reshape(m, 2 * a)
        else:
            off_grid = torch.full((m, 1), a + 1, dtype=torch.long, device=cell.device)
            ids = torch.cat([aff_map, off_grid], dim=1).gather(
                1, self.window_cells.index_select(0, cell)
            )
            window = self.window_one_hot.index_select(0, ids.reshape(-1)).reshape(m, -1)
            out[:, : head - 2] = window
            out[:, head - 2 : head] = agent_xy / self.position_scale
        return out
