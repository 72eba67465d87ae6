"""``run_demo.py --runs N --parallel P``: the sweep of ``townlet sweep CONFIG --seeds N``, with
the live page.

The single-run flags that make sense for each trial carry over (--config, --episodes,
--device, --runs-dir), and so do the page's (--host, --port, --frontend-port, --token,
--no-browser, --no-frontend, --stop-leftover): the page lists the trials and plays one of them
(orchestrator/sweep_page.py, live/sweep_view.py). Those of one run's folder (--checkpoint-dir,
--resume-run, --events), TensorBoard and a remote trainer are refused rather than silently
dropped.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from townlet.cli import announce_where_served, claim_demo_ports, page_origins
from townlet.config import ConfigError
from townlet.live.process_link import LiveServerSetup
from townlet.live.server_thread import BindError
from townlet.live.sweep_view import SweepSetup, TrialSetup
from townlet.orchestrator.console_log import configure_console_logging
from townlet.orchestrator.live_server_process import LiveServerProcess
from townlet.orchestrator.orchestrator import OrchestratorOptions
from townlet.orchestrator.settings import DEFAULT_HOST, SettingsError, resolve_settings
from townlet.orchestrator.sweep_page import SweepOrchestrator, SweepWorker
from townlet.project import PROJECT_ROOT
from townlet.sweep.cluster import ClusterError, connect
from townlet.sweep.plan import PlanError
from townlet.sweep.runner import SweepDriver, SweepOptions, SweepRefused, plan_sweep

log = logging.getLogger("townlet.sweep")

_SINGLE_RUN_ONLY = {
    "checkpoint_dir": "--checkpoint-dir",
    "resume_run": "--resume-run",
    "tensorboard": "--tensorboard",
    "events": "--events",
    "trainer_url": "--trainer-url",
}


def run_many(args: argparse.Namespace) -> int:
    configure_console_logging()
    if args.runs is None:
        log.error("--parallel goes with --runs N (N runs of the config, P at a time)")
        return 2
    if args.runs < 1:
        log.error("--runs %d: give at least 1 (e.g. --runs 5 --parallel 2)", args.runs)
        return 2
    if args.parallel is not None and args.parallel < 1:
        log.error("--parallel %d: give at least 1 (trials running at once)", args.parallel)
        return 2
    given = [flag for name, flag in _SINGLE_RUN_ONLY.items() if getattr(args, name) is not None]
    if given:
        log.error(
            "%s belong(s) to a single run and cannot go with --runs: each trial has its own "
            "folder under --runs-dir; drop %s",
            ", ".join(given),
            " ".join(given),
        )
        return 2
    parallel = args.parallel if args.parallel is not None else min(args.runs, os.cpu_count() or 1)
    options = SweepOptions(
        config_path=args.config.resolve(),
        seeds=args.runs,
        parallel=parallel,
        sets=[],
        runs_dir=args.runs_dir.resolve(),
        episodes=args.episodes,
        device=args.device,
        name=args.experiment_name,
    )
    return run_with_page(options, args)


def run_with_page(options: SweepOptions, args: argparse.Namespace) -> int:
    """Check everything, bind the ports, start Ray, register the trials, then hand the sweep
    and the page to the orchestrator; the exit code is the worse of the two."""
    try:
        plan = plan_sweep(options)
        settings = resolve_settings(
            plan.config,
            host=args.host,
            port=args.port,
            frontend_port=args.frontend_port,
            no_browser=args.no_browser,
            token=args.token,
        )
    except (SweepRefused, PlanError, ConfigError, SettingsError) as error:
        log.error("%s", error)
        return 2
    # The ports before Ray (it takes seconds to start): a busy one is said at once.
    api_socket = None
    try:
        api_socket = claim_demo_ports(settings, not args.no_frontend, args.stop_leftover)
        connection = connect(options.ray_address, num_cpus=os.cpu_count())
    except (BindError, ClusterError) as error:
        if api_socket is not None:
            api_socket.close()
        log.error("%s", error)
        return 2
    except KeyboardInterrupt:
        if api_socket is not None:
            api_socket.close()
        raise
    driver: SweepDriver | None = None
    try:
        driver = SweepDriver(options, plan, connection)
        driver.register()
        setup = LiveServerSetup(
            config=plan.config,
            checkpoint_dir=driver.sweep_dir,  # unused: each trial has its own (sweep below)
            obs_dim=0,  # unused, as checkpoint_dir
            page_origins=tuple(page_origins(settings.frontend_port)),
            run_dir=None,
            runs_dir=options.runs_dir,
            run_id=None,
            run_name=None,
            progress=None,
            training_controllable=False,
            token=settings.token,
            sweep=_sweep_setup(driver),
        )
        announce_where_served(settings, driver.sweep_dir)
    except ClusterError as error:
        api_socket.close()
        connection.close()
        log.error("%s", error)
        return 2
    except KeyboardInterrupt:
        # Before the orchestrator owns the signals: end the rows just written, then Ray.
        api_socket.close()
        if driver is not None and driver.specs:
            driver.request_stop("Ctrl+C")
            driver.schedule()
            driver.conclude()
        connection.close()
        raise
    worker = SweepWorker(driver)
    orchestrator = SweepOrchestrator(
        worker,
        connection,
        LiveServerProcess(setup, api_socket, lambda: None, None, None),
        OrchestratorOptions(
            frontend_dir=PROJECT_ROOT / "frontend",
            frontend_port=settings.frontend_port,
            open_browser=settings.open_browser,
            token=settings.token,
            page_host=None if settings.host == DEFAULT_HOST else settings.host,
            health_check_timeout=settings.health_check_timeout,
            start_frontend=not args.no_frontend,
        ),
    )
    code = orchestrator.run()
    return max(code, worker.code or 0, 1 if worker.error is not None else 0)


def _sweep_setup(driver: SweepDriver) -> SweepSetup:
    """The trials as the live server follows them: ids, seeds, folders and names."""
    names = {record.id: record.name for record in driver.registry.sweep_trials(driver.sweep_id)}
    return SweepSetup(
        sweep_id=driver.sweep_id,
        name=driver.name,
        runs_dir=driver.options.runs_dir,
        trials=tuple(
            TrialSetup(
                run_id=spec.run_id,
                index=spec.index,
                seed=spec.seed,
                setting=spec.setting_label,
                name=names.get(spec.run_id, f"{driver.name} #{spec.index}"),
                run_dir=Path(spec.run_dir),
            )
            for spec in driver.specs
        ),
    )
