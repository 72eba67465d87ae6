"""Two checkpoints side by side: the same world, the same morning, played by each.

Both sides are ordinary live players with the same seed, so their worlds reset to the same
layout and the same starting meters every episode. They step in lockstep: a side whose
episode has ended waits (showing how it ended) until the other one ends too, then both start
the next episode together.
"""

from __future__ import annotations

from dataclasses import dataclass

from townlet.checkpoints import CheckpointCatalog
from townlet.config import TownletConfig
from townlet.live.player import LivePlayer, LoadedPolicy
from townlet.live.protocol import CompareStarted, CompareState, Message, State

COMPARE_SEED = 777  # not the live view's seed: a different morning from the main view


@dataclass
class _Side:
    player: LivePlayer
    last: State | None = None
    open: bool = False  # its episode is running


class Comparison:
    def __init__(
        self,
        config: TownletConfig,
        catalog: CheckpointCatalog,
        left: LoadedPolicy,
        right: LoadedPolicy,
    ) -> None:
        self.sides = [
            _Side(LivePlayer(config, catalog.directory, COMPARE_SEED, catalog, f"compare-{name}"))
            for name in ("left", "right")
        ]
        for side, policy in zip(self.sides, (left, right), strict=True):
            side.player.switch_now(policy)
        self.left, self.right = left, right

    def started(self) -> CompareStarted:
        layout = self.sides[0].player.layout()
        return CompareStarted(
            seed=COMPARE_SEED,
            affordances=layout,
            left=self.left.announcement,
            right=self.right.announcement,
        )

    def tick(self) -> CompareState:
        """One step of both worlds (a new episode for both once both have ended)."""
        if not any(side.open for side in self.sides):
            for side in self.sides:
                self._advance(side)  # starts the next episode: step 0 of the same morning
        else:
            for side in self.sides:
                if side.open:
                    self._advance(side)
        left, right = (side.last for side in self.sides)
        assert left is not None and right is not None
        return CompareState(step=max(left.step, right.step), left=left, right=right)

    def _advance(self, side: _Side) -> None:
        messages: list[Message] = side.player.tick()
        for message in messages:
            if isinstance(message, State):
                side.last = message
        side.open = side.player.episode_open

    def close(self) -> None:
        for side in self.sides:
            side.player.release()
