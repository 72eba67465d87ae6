"""``python run_demo.py``: parse arguments, build the parts, hand them to the orchestrator."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sqlite3
import sys
from pathlib import Path

import torch
import yaml
from torch.utils.tensorboard import SummaryWriter

from townlet.checkpoints import CheckpointError
from townlet.config import ConfigError, TownletConfig, config_to_dict, load_config
from townlet.evaluation.best import BestCheckpointPin
from townlet.evaluation.log import copy_evaluations_up_to
from townlet.learner.memory_budget import check_memory_budget
from townlet.learner.trainer import DQNTrainer, TrainingProgress
from townlet.live.process_link import LiveServerSetup
from townlet.live.server_thread import BindError, PortInUseError, bind_socket
from townlet.monitoring.history import copy_history
from townlet.monitoring.rule_store import copy_rules
from townlet.orchestrator.addresses import reachable_addresses
from townlet.orchestrator.console_log import configure_console_logging
from townlet.orchestrator.evaluator import EvaluatorProcess
from townlet.orchestrator.leftovers import end_holder, find_townlet_holding
from townlet.orchestrator.live_server_process import LiveServerProcess
from townlet.orchestrator.orchestrator import Orchestrator, OrchestratorOptions
from townlet.orchestrator.page_only import PageOnly
from townlet.orchestrator.registration import (
    RunRefused,
    open_registry,
    prepare,
    register,
)
from townlet.orchestrator.run_paths import (
    RunPaths,
    check_fresh_checkpoint_dir,
    find_resume_checkpoint,
    make_run_paths,
)
from townlet.orchestrator.run_tracker import Ending
from townlet.orchestrator.settings import (
    DEFAULT_HOST,
    TOKEN_VARIABLE,
    ServerSettings,
    SettingsError,
    resolve_settings,
)
from townlet.orchestrator.tensorboard import DEFAULT_PORT as DEFAULT_TENSORBOARD_PORT
from townlet.orchestrator.training_worker import TrainingWorker
from townlet.project import DEFAULT_RUNS_DIR, PROJECT_ROOT
from townlet.registry import RegistryError, config_digest
from townlet.registry.store import REGISTRY_FILE
from townlet.run_records import evaluation_log, metrics_log

log = logging.getLogger("townlet.orchestrator")
TOKEN_FILE = "token"  # in the run folder, when the token was generated (mode 0600)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_demo.py",
        description="Train a deep-RL agent on Townlet and watch it play live in your browser.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=PROJECT_ROOT / "configs" / "level_1_full_observability.yaml",
        help="level config (YAML)",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="stop training after this many episodes in total, resumed ones included "
        "(default: until Ctrl+C)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="write and resume checkpoints here instead of runs/<config>/<time>/checkpoints",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=DEFAULT_RUNS_DIR,
        help="where runs are written (default: runs/)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="live server port (default: the config's unified_server.inference_port, 8766)",
    )
    parser.add_argument(
        "--frontend-port",
        type=int,
        default=None,
        help="web page port (default: the config's unified_server.frontend_port, 5173)",
    )
    remote = parser.add_argument_group(
        "trainer on one machine, page on another (see DEMO_README.md, 'Remote training')"
    )
    remote.add_argument(
        "--host",
        default=None,
        metavar="ADDR",
        help="serve the live server on ADDR (e.g. 0.0.0.0 or a Tailscale address; default "
        "127.0.0.1); anywhere but 127.0.0.1 needs a token, generated unless given",
    )
    remote.add_argument(
        "--token",
        default=None,
        help=f"the token every request must carry (default: ${TOKEN_VARIABLE}, else generated "
        "when --host is not 127.0.0.1); with --trainer-url: the trainer's token",
    )
    remote.add_argument(
        "--trainer-url",
        default=None,
        metavar="URL",
        help="serve only the page, for the trainer at URL (e.g. http://gpu-box:8766): nothing "
        "trains here",
    )
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="where training runs (default: the config's, normally auto)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start from scratch instead of resuming the last run of this config",
    )
    parser.add_argument(
        "--tensorboard",
        nargs="?",
        type=int,
        const=DEFAULT_TENSORBOARD_PORT,
        default=None,
        metavar="PORT",
        help=f"also start TensorBoard on the runs folder (port {DEFAULT_TENSORBOARD_PORT} "
        "unless given); the page links to it",
    )
    parser.add_argument("--name", default=None, help="a label for this run (default: the config)")
    parser.add_argument(
        "--new",
        action="store_true",
        help="start even if the same config and seed are running now",
    )
    parser.add_argument(
        "--resume-run",
        metavar="ID",
        default=None,
        help="continue that run (its folder, checkpoints and curves) under its own id",
    )
    parser.add_argument(
        "--events",
        choices=["-"],
        default=None,
        help="'-': also write the run's events (JSON lines) to stdout",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument(
        "--no-frontend",
        action="store_true",
        help="do not start the web page (training and the live server only, e.g. on a GPU box)",
    )
    parser.add_argument(
        "--stop-leftover",
        action="store_true",
        help="if an earlier Townlet still holds --port or --frontend-port, end it and start "
        "(asked interactively when run in a terminal)",
    )
    many = parser.add_argument_group("many runs at once, on Ray (see `townlet sweep --help`)")
    many.add_argument(
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="N runs of the config, seeds 0..N-1; the page lists them and plays the best",
    )
    many.add_argument(
        "--parallel", type=int, default=None, metavar="P", help="with --runs: P at a time"
    )
    many.add_argument("--experiment-name", default=None, help="with --runs: the sweep's label")
    return parser


def claim_port(port: int, flag: str, stop_leftover: bool, host: str = "127.0.0.1") -> socket.socket:
    """Bind 127.0.0.1:port; a Townlet left on it is named, and ended when the user agrees."""
    try:
        return bind_socket(host, port, flag=flag)
    except PortInUseError as error:
        holder = find_townlet_holding(port)
        if holder is None:
            raise
        what = f"port {port} is held by an earlier Townlet ({holder.describe()})"
        if not (stop_leftover or _user_agrees(f"{what}. End it now? [y/N] ")):
            raise PortInUseError(
                f"{what}: end it with --stop-leftover (it saves and stops like Ctrl+C), "
                f"`kill {holder.pid}`, or pick another port with {flag}"
            ) from error
        log.info("ending the earlier Townlet on port %d (pid %d)", port, holder.pid)
        if not end_holder(holder):
            raise PortInUseError(f"{what} and it did not end; stop it by hand") from error
    return bind_socket(host, port, flag=flag)


def claim_demo_ports(
    settings: ServerSettings, with_frontend: bool, stop_leftover: bool
) -> socket.socket:
    """The page's port checked free (Vite binds it itself) and the live server's bound: a busy
    one is said before anything slow starts. The bound socket is the caller's."""
    if with_frontend:
        claim_port(
            settings.frontend_port, "--frontend-port", stop_leftover, host=settings.host
        ).close()
    return claim_port(settings.inference_port, "--port", stop_leftover, host=settings.host)


def _user_agrees(question: str) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def page_origins(frontend_port: int) -> list[str]:
    """Where the page is served from: its WebSocket connections are the ones to accept."""
    return [f"http://127.0.0.1:{frontend_port}", f"http://localhost:{frontend_port}"]


def announce_where_served(settings: ServerSettings, run_dir: Path) -> None:
    """Off loopback: every address the live server answers at, and the token to use."""
    if settings.token is None:
        return
    if settings.token_source == "generated":
        token_file = write_private(run_dir / TOKEN_FILE, settings.token + "\n")
        log.info("live server token generated; it is in %s (readable only by you)", token_file)
        # On the terminal only: run.log and events.jsonl are readable by others.
        sys.stderr.write(f"    token: {settings.token}\n")
        sys.stderr.flush()
    else:
        log.info("live server token: the one from %s", settings.token_source)
    if settings.host == DEFAULT_HOST:
        return
    addresses = reachable_addresses(settings.host)
    log.info(
        "live server reachable at: %s",
        ", ".join(a.describe(settings.inference_port) for a in addresses),
    )
    remote = next((a for a in addresses if a.tailscale), addresses[0])
    log.info(
        "on the laptop: python run_demo.py --trainer-url %s --token TOKEN "
        "(or scripts/run_ui.sh --remote %s)",
        remote.describe(settings.inference_port).split(" ")[0],
        remote.address,
    )


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner may read (0600 from the start, no window)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


def remove_unused_run(paths: RunPaths) -> None:
    """Interrupted before training began: the run folder holds nothing worth keeping."""
    shutil.rmtree(paths.run_dir, ignore_errors=True)
    # runs/<config>/ and runs/ too, when this run was all they held.
    for parent in (paths.run_dir.parent, paths.run_dir.parent.parent):
        try:
            parent.rmdir()
        except OSError:  # not empty: earlier runs live there
            break


def continued_paths(run_dir: Path) -> RunPaths:
    """A continued run writes on in its own folder."""
    return RunPaths(
        run_dir=run_dir,
        checkpoint_dir=run_dir / "checkpoints",
        tensorboard_dir=run_dir / "tensorboard",
    )


def save_effective_config(config: TownletConfig, run_dir: Path) -> None:
    """The config as this run used it (overrides applied): `townlet compare` reads it."""
    try:
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8"
        )
    except OSError as error:
        log.warning("could not write %s/config.yaml: %s", run_dir, error)


def trainer_progress_none() -> TrainingProgress:
    return TrainingProgress(0, 0, 0.0, 0.0, None, None, running=False)


def continue_records(resumed_checkpoint: Path, run_dir: Path, env_step: int) -> None:
    """Start a resumed run's charts with the history its checkpoint continues.

    The earlier run's records past ``env_step`` (written after its last checkpoint, before a
    crash) are left out: training replays that stretch from the checkpoint.
    """
    earlier = resumed_checkpoint.parent.parent
    if earlier == run_dir or not earlier.is_dir():
        return
    try:
        metrics_log(earlier).copy_up_to(metrics_log(run_dir).path, env_step)
        copy_evaluations_up_to(evaluation_log(earlier).path, evaluation_log(run_dir).path, env_step)
        # history.sqlite (the system panel's samples, and the charts' points, which carry on
        # or are stored again from the logs copied above: copy_history) and the alert rules
        # edited during the earlier run.
        copy_history(earlier, run_dir)
        copy_rules(earlier, run_dir)
    except (OSError, sqlite3.Error) as error:
        log.warning("the charts will start at this run: could not copy %s (%s)", earlier, error)


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto"
        )
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def apply_overrides(config: TownletConfig, args: argparse.Namespace) -> TownletConfig:
    updates = {}
    if args.episodes is not None:
        if args.episodes < 1:
            raise SystemExit("--episodes must be at least 1")
        updates["total_episodes"] = args.episodes
    if args.device is not None:
        updates["device"] = args.device
    if not updates:
        return config
    return config.model_copy(update={"training": config.training.model_copy(update=updates)})


def check_resumable(state: dict, checkpoint: Path, config: TownletConfig) -> None:
    """Refuse a checkpoint trained on a different world, before anything is written."""
    saved = state["config"]
    current = config_to_dict(config)
    for section in ("world", "reward"):
        if saved.get(section) != current[section]:
            raise CheckpointError(
                f"{checkpoint} was trained with a different `{section}` section than "
                f"{config.name}; start over with --fresh (the old run stays in runs/)"
            )
    if saved["training"]["network"] != current["training"]["network"]:
        raise CheckpointError(
            f"{checkpoint} holds a {saved['training']['network']} network but the config asks "
            f"for {current['training']['network']}: put it back or use --fresh"
        )
    if saved["training"]["num_envs"] != config.training.num_envs:
        raise CheckpointError(
            f"{checkpoint} was trained with training.num_envs={saved['training']['num_envs']}, "
            f"the config now says {config.training.num_envs}: put it back or use --fresh"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs is not None or args.parallel is not None:
        from townlet.sweep.from_run_demo import run_many

        return run_many(args)
    # Absolute from here on: the registry is read from other directories (townlet resume).
    args.config, args.runs_dir = args.config.resolve(), args.runs_dir.resolve()
    if args.checkpoint_dir is not None:
        args.checkpoint_dir = args.checkpoint_dir.resolve()
    configure_console_logging()
    try:
        config = apply_overrides(load_config(args.config), args)
        settings = resolve_settings(
            config,
            host=args.host,
            port=args.port,
            frontend_port=args.frontend_port,
            no_browser=args.no_browser,
            trainer_url=args.trainer_url,
            token=args.token,
        )
    except (ConfigError, SettingsError) as error:
        log.error("%s", error)
        return 2
    if settings.page_only:
        return PageOnly(settings, PROJECT_ROOT / "frontend").run(settings.open_browser)

    # Everything that can fail on bad input is checked before the run folder is created:
    # which run this is, both ports, the device, and the checkpoint to resume from.
    digest = config_digest(config_to_dict(config))
    registry = open_registry(args.runs_dir, create=False)
    try:
        plan = prepare(registry, digest, config.seed, args.resume_run, allow_twin=args.new)
    except (RunRefused, RegistryError) as error:
        log.error("%s", error)
        return 2
    continued_dir = Path(plan.continued.run_dir) if plan.continued is not None else None
    if continued_dir is not None:
        args.checkpoint_dir = continued_dir / "checkpoints"
    api_socket = None
    try:
        api_socket = claim_demo_ports(settings, not args.no_frontend, args.stop_leftover)
        device = resolve_device(config.training.device)
        check_memory_budget(config, device, source=str(args.config))
        if args.fresh and args.checkpoint_dir is not None:
            check_fresh_checkpoint_dir(args.checkpoint_dir)
        resume = (
            None
            if args.fresh
            else find_resume_checkpoint(
                args.runs_dir, args.config.stem, args.checkpoint_dir, map_location=device
            )
        )
        if resume is not None:
            check_resumable(resume.state, resume.path, config)
    except (BindError, CheckpointError, ConfigError) as error:
        if api_socket is not None:
            api_socket.close()
        log.error("%s", error)
        return 2
    except KeyboardInterrupt:
        if api_socket is not None:
            api_socket.close()
        raise

    torch.set_num_threads(config.training.torch_threads)
    if plan.registry is None and not (args.runs_dir / REGISTRY_FILE).exists():
        plan.registry = open_registry(args.runs_dir, create=True)  # the first run here
    paths = (
        continued_paths(continued_dir)
        if continued_dir is not None
        else make_run_paths(args.runs_dir, args.config.stem, args.checkpoint_dir)
    )
    tracker = register(
        plan,
        paths,
        name=args.name or config.name,
        config_path=args.config,
        config_name=config.name,
        digest=digest,
        seed=config.seed,
        device=str(device),
        events_stream=sys.stdout if args.events == "-" else None,
    )
    save_effective_config(config, paths.run_dir)
    tracker.started(str(device), str(args.config), digest)
    writer: SummaryWriter | None = None
    try:
        writer = SummaryWriter(log_dir=str(paths.tensorboard_dir))
        trainer = DQNTrainer(
            config, device, paths.checkpoint_dir, writer, metrics=metrics_log(paths.run_dir)
        )
        if resume is not None:
            trainer.load_state_dict(resume.state)
            log.info(
                "resuming from %s (episode %d, env step %d); --fresh starts over",
                resume.path,
                trainer.episode,
                trainer.env_step,
            )
            if continued_dir is None:
                continue_records(resume.path, paths.run_dir, trainer.env_step)
        # The best evaluated checkpoint is kept whatever keep_last says (evaluation/best.py).
        tracker.watch_evaluations(BestCheckpointPin(trainer.catalog).offer)
        # The live server runs in a process of its own (no turns for the interpreter lock
        # with training); the checkpoints its players hold are pinned in the trainer's catalog.
        server = LiveServerProcess(
            LiveServerSetup(
                config=config,
                checkpoint_dir=paths.checkpoint_dir,
                obs_dim=trainer.world.obs_dim,
                page_origins=tuple(page_origins(settings.frontend_port)),
                run_dir=paths.run_dir,
                runs_dir=args.runs_dir,
                run_id=tracker.run_id,
                run_name=tracker.record.name,
                progress=trainer.progress(),
                training_controllable=True,
                token=settings.token,
            ),
            api_socket,
            trainer.progress,
            trainer,
            trainer.catalog,
            on_alert=tracker.alert,  # events.jsonl and the registry
        )
    except KeyboardInterrupt:
        # Nothing trained or saved yet: leave no empty run folder behind (nor its row).
        if writer is not None:
            writer.close()
        api_socket.close()
        if continued_dir is None:
            tracker.forget()
            remove_unused_run(paths)
        else:
            tracker.finish(Ending("stopped", "stopped before start"), trainer_progress_none(), None)
        raise
    log.info("config %s on %s; writing to %s", config.name, device, paths.run_dir)
    announce_where_served(settings, paths.run_dir)
    if args.tensorboard is None:
        log.info("TensorBoard: add --tensorboard, or run tensorboard --logdir %s", args.runs_dir)
    evaluator = (
        EvaluatorProcess(args.config, paths.checkpoint_dir, evaluation_log(paths.run_dir).path)
        if config.evaluation.enabled
        else None
    )
    orchestrator = Orchestrator(
        TrainingWorker(trainer, writer),
        server,
        OrchestratorOptions(
            frontend_dir=PROJECT_ROOT / "frontend",
            frontend_port=settings.frontend_port,
            open_browser=settings.open_browser,
            token=settings.token,
            page_host=None if settings.host == DEFAULT_HOST else settings.host,
            health_check_timeout=settings.health_check_timeout,
            start_frontend=not args.no_frontend,
            tensorboard_port=args.tensorboard,
            tensorboard_logdir=args.runs_dir,
        ),
        evaluator,
        tracker,
    )
    code = orchestrator.run()
    tracker.finish(orchestrator.ending(), trainer.progress(), orchestrator.newest_checkpoint())
    return code


if __name__ == "__main__":
    sys.exit(main())
