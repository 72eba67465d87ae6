"""How well the greedy agent survives after fixed wall-clock budgets of training.

Trains one agent with the level's default config (as run_demo.py would) and, each time the
training clock reaches a budget, evaluates a frozen copy of its greedy policy on the same
evaluation episodes as the random, always-WAIT and scripted baselines: at least 200 episodes,
at the config's 500-tick cap and at a 5,000-tick cap. Evaluation time is not counted against
the training budget. Prints a table and writes it to benchmarks/results/learning_<level>.md.

    python benchmarks/bench_learning.py --level level_1_full_observability --budgets 120 300 600
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402
from benchmarks.progress import progress_bar, say  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose
from tqdm import tqdm  # noqa: E402

from townlet.config import TownletConfig, load_config  # noqa: E402
from townlet.learner.evaluation import greedy_policy  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402
from townlet.world.baselines import evaluate, random_policy, scripted_policy, wait_policy  # noqa: E402

EVALUATION_SEED = 2026  # the same evaluation episodes for every policy
CAPS = (500, 5000)


def summarise(result: dict, cap: int) -> dict[str, float]:
    survival = result["survival"]
    return {
        "mean": result["mean"],
        "median": result["median"],
        "low": result["p2_5"],
        "high": result["p97_5"],
        "at_cap": sum(s >= cap for s in survival) / len(survival),
    }


def evaluate_policy(
    config: TownletConfig, make_policy, episodes: int, bar: tqdm | None = None
) -> dict[int, dict]:
    figures = {}
    for cap in CAPS:
        result = evaluate(
            config.world, config.reward, make_policy(), episodes, cap, EVALUATION_SEED
        )
        figures[cap] = summarise(result, cap)
        if bar is not None:
            bar.update()
    return figures


def row(label: str, figures: dict[int, dict]) -> str:
    cells = []
    for cap in CAPS:
        f = figures[cap]
        cells.append(
            f"{f['mean']:.0f} | {f['median']:.0f} | {f['low']:.0f}-{f['high']:.0f} | "
            f"{100 * f['at_cap']:.0f}%"
        )
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="level_1_full_observability")
    parser.add_argument("--config", type=Path, default=None, help="a config other than the level's")
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[120, 300, 600],
        help="training wall-clock seconds at which to evaluate",
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    config = load_config(args.config or ROOT / "configs" / f"{args.level}.yaml")
    torch.set_num_threads(config.training.torch_threads)
    output = args.output or ROOT / f"benchmarks/results/learning_{args.level}.md"

    header = machine_lines()
    print("\n".join(header), flush=True)
    baselines = (
        ("random", lambda: random_policy),
        ("always-WAIT", lambda: wait_policy),
        ("scripted", lambda: scripted_policy),
    )
    with progress_bar(len(baselines) * len(CAPS), "baseline evaluations") as bar:
        table = [
            row(name, evaluate_policy(config, make, args.episodes, bar)) for name, make in baselines
        ]
    print("\n".join(table), flush=True)

    longest = max(args.budgets)
    with (
        tempfile.TemporaryDirectory() as scratch,
        progress_bar(longest, "training") as bar,
    ):
        trainer = DQNTrainer(config, torch.device("cpu"), Path(scratch))
        trained = 0.0
        for budget in sorted(args.budgets):
            while trained < budget:
                start = time.perf_counter()
                for _ in range(50):
                    trainer.train_step()
                chunk = time.perf_counter() - start
                trained += chunk
                # outside the timed chunk; the last chunk overshoots the budget a little
                bar.update(min(trained, longest) - min(trained - chunk, longest))
            bar.set_description(f"evaluating after {budget:g} s")
            network = copy.deepcopy(trainer.online).eval()
            figures = evaluate_policy(config, lambda n=network: greedy_policy(n), args.episodes)
            label = (
                f"DQN after {budget / 60:g} min ({trainer.env_step / 1e6:.1f}M env steps, "
                f"{trainer.update_step:,} updates)"
            )
            table.append(row(label, figures))
            say(table[-1])
            bar.set_description("training")

    header.append(describe_busy("after the run"))
    columns = " | ".join(
        f"mean ({cap}) | median ({cap}) | 95% interval ({cap}) | reached {cap}" for cap in CAPS
    )
    markdown = "\n".join(
        [
            f"# Learning: {args.level}",
            "",
            f"Greedy survival in ticks over {args.episodes} evaluation episodes (the same episodes",
            f"for every row), at the config's cap and at a {CAPS[1]:,}-tick cap.",
            "The 95% interval is",
            "the 2.5th to 97.5th percentile of episodes. Training ran on one CPU thread at the",
            "level's default config; evaluation time is not counted in the budget.",
            "Made by `benchmarks/bench_learning.py`.",
            "",
            *header,
            "",
            f"| policy | {columns} |",
            "|---|" + "---:|" * (4 * len(CAPS)),
            *table,
            "",
        ]
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
