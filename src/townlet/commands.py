"""``townlet``: list, follow, stop, resume, compare and remove runs from any terminal.

``sweep`` trains many runs at once on Ray (townlet.sweep); ``list`` groups its trials under
it, and ``stop`` and ``compare`` take a sweep id (``s-...``) as well as a run id.

One verb per subcommand, a run id (or a unique prefix of one) everywhere, ``--json`` for
scripts. Everything but ``run`` and ``resume`` reads the registry (``<runs-dir>/registry.sqlite``)
and the run folders only: torch and FastAPI are imported by those two alone, so ``townlet list``
answers in a blink.

Exit codes: 0 done; 1 refused or not achieved (a run that is not active, a stop that timed
out, a declined confirmation); 2 bad input (an unknown or ambiguous run id, a damaged
registry); ``run`` and ``resume`` return run_demo.py's own code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from townlet.project import DEFAULT_RUNS_DIR
from townlet.registry import (
    ACTIVE,
    Registry,
    RegistryError,
    RunRecord,
    SweepRecord,
    effective_status,
    is_sweep_id,
    pid_alive,
    sweep_status,
    this_host,
)
from townlet.registry.store import REGISTRY_FILE

LOG_FILE = "run.log"
CONFIG_COPY = "config.yaml"  # the config as the run used it, in its folder

STATUSES = ("starting", "running", "paused", "stopping", "stopped", "completed", "failed", "lost")
ENDED = ("stopped", "completed", "failed")  # recorded by the run itself as it ended
LIST_LIMIT = 20
STATUS_COLOURS = {"running": "GREEN", "paused": "YELLOW", "failed": "RED", "lost": "RED"}
FOLLOW_POLL_SECONDS = 0.2  # how often -f looks for new lines (and whether the run still runs)
STOP_POLL_SECONDS = 0.2
KILL_GRACE_SECONDS = 10.0  # after SIGTERM, before SIGKILL
STATUS_EVENTS = 10

Command = TypeVar("Command", bound=Callable[..., Any])


class Failure(click.ClickException):
    """A refusal or bad input: the message, no traceback, and an exit code scripts can trust."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TownletGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RegistryError as error:
            raise Failure(str(error), exit_code=2) from None


def runs_dir_option(command: Command) -> Command:
    return click.option(
        "--runs-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_RUNS_DIR,
        show_default="runs/",
        help="where runs are written (as run_demo.py's --runs-dir)",
    )(command)


def json_option(command: Command) -> Command:
    return click.option(
        "--json", "as_json", is_flag=True, help="print one JSON document (for scripts)"
    )(command)


@click.group(cls=TownletGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Townlet runs: start, list, follow, stop, resume, compare and remove them.

    RUN is a run id, or enough of its start to be unique (`townlet list` shows ids).
    `townlet sweep` trains many runs at once on Ray; SWEEP ids start with "s-".
    """


def main() -> None:
    cli(prog_name="townlet")


# ---------------------------------------------------------------- run, resume


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(args: tuple[str, ...]) -> NoReturn:
    """Start a run: the arguments go to run_demo.py.

    `townlet run --help` lists them.
    """
    _launch(list(args))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("run_id", metavar="RUN")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@runs_dir_option
def resume(run_id: str, extra: tuple[str, ...], runs_dir: Path) -> NoReturn:
    """Continue a run that is not active, in this terminal.

    The run goes on in its own folder, under its own id, from its newest checkpoint. Flags
    after RUN go to run_demo.py (e.g. --no-browser, --episodes N).
    """
    record = _resolve(_open_registry(runs_dir), runs_dir, run_id)
    status = effective_status(record)
    if status in ACTIVE:
        raise Failure(f"run {record.id} is {status}: `townlet stop {record.id}` first")
    argv = ["--config", record.config_path, "--runs-dir", str(runs_dir), "--resume-run", record.id]
    click.echo(f"resuming run {record.id} ({record.config_name}, {status})", err=True)
    _launch([*argv, *extra])


def _launch(argv: list[str]) -> NoReturn:
    """run_demo.py in this process: its Ctrl+C handling, its exit code, its quick exit."""
    from townlet.launch import launch

    launch(argv)


# ---------------------------------------------------------------- sweep


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="seeds per setting: the config's seed, +1, +2, ...",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="trials running at once (at most; Ray's resources decide too)",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=V1,V2",
    help="sweep a config value (repeatable; trials are every combination x seeds)",
)
@click.option(
    "--episodes",
    type=click.IntRange(min=1),
    default=None,
    help="each trial stops after this many episodes",
)
@click.option(
    "--env-steps",
    default=None,
    metavar="N",
    help="each trial stops at N env steps (500k, 11.4M, ...)",
)
@click.option(
    "--milestones",
    default=None,
    metavar="N,N,...",
    help="env steps at which every trial is saved and evaluated "
    "(default 100k, 200k, 500k, 1M, 2M, 5M, ...)",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=None,
    help="each trial's device (default: CUDA when --gpus-per-run gives it a GPU)",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="HOST:PORT",
    help="run on this Ray cluster (default: a local Ray, started and stopped here)",
)
@click.option(
    "--cpus-per-run",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="CPUs Ray reserves for each trial",
)
@click.option(
    "--gpus-per-run",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="GPUs Ray gives each trial (0.5: two trials share one)",
)
@click.option(
    "--storage",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where trial folders go; every node must reach it (default: --runs-dir)",
)
@click.option("--name", default=None, help="a label for the sweep (default: the config's name)")
@runs_dir_option
def sweep(
    config: Path,
    seeds: int,
    parallel: int,
    sets: tuple[str, ...],
    episodes: int | None,
    env_steps: str | None,
    milestones: str | None,
    device: str | None,
    ray_address: str | None,
    cpus_per_run: float,
    gpus_per_run: float,
    storage: Path | None,
    name: str | None,
    runs_dir: Path,
) -> NoReturn:
    """Train many runs of CONFIG at once on Ray: seeds x --set values.

    Each trial is a run of its own (registry row, folder, checkpoints, TensorBoard, events);
    at the end every trial is evaluated greedily at each milestone and the sweep writes a
    table with 95% confidence intervals across seeds (`townlet compare SWEEP`). Ctrl+C (or
    `townlet stop SWEEP`) stops every trial with a final checkpoint.
    """
    from townlet.sweep.launch import launch_sweep
    from townlet.sweep.runner import SweepOptions

    launch_sweep(
        SweepOptions(
            config_path=config.resolve(),
            seeds=seeds,
            parallel=parallel,
            sets=list(sets),
            runs_dir=runs_dir.resolve(),
            storage=storage.resolve() if storage is not None else None,
            episodes=episodes,
            env_steps=env_steps,
            milestones=milestones,
            device=device,
            ray_address=ray_address,
            cpus_per_run=cpus_per_run,
            gpus_per_run=gpus_per_run,
            name=name,
        )
    )


# ---------------------------------------------------------------- list


@cli.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="only runs with this status (repeatable)",
)
@click.option("--config", "config_name", metavar="NAME", help="only runs of this config")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help=f"the newest N runs that are not active (default {LIST_LIMIT}; --json: all)",
)
@click.option("--all", "-a", "show_all", is_flag=True, help="every run, however many")
@runs_dir_option
@json_option
def list_runs(
    statuses: tuple[str, ...],
    config_name: str | None,
    limit: int | None,
    show_all: bool,
    runs_dir: Path,
    as_json: bool,
) -> None:
    """The runs, newest first.

    Every active run, and the newest others (20 unless --limit or --all); --json lists
    every run unless --limit is given.
    """
    now = time.time()
    if show_all or (as_json and limit is None):
        limit = None
    elif limit is None:
        limit = LIST_LIMIT
    registry = _open_registry(runs_dir)
    rows, hidden = _listed(registry, now, set(statuses or STATUSES), config_name, limit)
    if as_json:
        click.echo(json.dumps([record.as_dict(now) for record, _ in rows]))
        return
    if not rows:
        filtered = " that match" if statuses or config_name else ""
        click.echo(f"no runs{filtered} in {runs_dir}")
        return
    _print_run_table(rows, now, registry)
    if hidden:
        click.echo(
            f"{hidden:,} older runs not shown: --all shows every run, --limit N the newest N",
            err=True,
        )


def _listed(
    registry: Registry | None,
    now: float,
    wanted: set[str],
    config_name: str | None,
    limit: int | None,
) -> tuple[list[tuple[RunRecord, str]], int]:
    """(run, effective status) newest first, and how many more matched beyond ``limit``.

    Runs recorded as active are few and each needs its effective status (some are lost): all
    are read, and the active ones always listed. Of the runs that ended, only the newest
    ``limit`` are read: building records is what takes the time with thousands of runs.
    """
    if registry is None:
        return [], 0
    recorded_active = registry.runs(statuses=ACTIVE, config_name=config_name)
    live = [(record, effective_status(record, now)) for record in recorded_active]
    live = [row for row in live if row[1] in wanted]
    ended_statuses = [status for status in ENDED if status in wanted]
    ended = registry.runs(limit, statuses=ended_statuses, config_name=config_name)
    ended_total = len(ended)
    if limit is not None and ended_total == limit:
        ended_total = registry.count(statuses=ended_statuses, config_name=config_name)
    active = [row for row in live if row[1] in ACTIVE]
    others = [row for row in live if row[1] not in ACTIVE]  # lost
    others += [(record, record.status) for record in ended]
    others.sort(key=lambda row: row[0].started_at, reverse=True)
    shown = others if limit is None else others[:limit]
    hidden = len(others) - len(shown) + ended_total - len(ended)
    rows = sorted(active + shown, key=lambda row: row[0].started_at, reverse=True)
    return rows, hidden


def _print_run_table(
    rows: list[tuple[RunRecord, str]], now: float, registry: Registry | None = None
) -> None:
    header = ("ID", "NAME", "STATUS", "AGE", "EPISODE", "ENV STEPS", "STEPS/S", "GREEDY", "DEVICE")
    table = [
        (
            record.id,
            _clip(record.name, 28),
            status,
            _age(now - record.started_at),
            f"{record.episode:,}",
            _count(record.env_step),
            _rate(record.steps_per_second),
            _greedy(record.best_greedy),
            record.device or "-",
        )
        for record, status in rows
    ]
    # One format string for every line (10,000 runs are formatted in a few milliseconds);
    # the status cell is padded before it is coloured, so colours do not shift the columns.
    columns = zip(header, *table, strict=True)
    widths = [max(map(len, column)) for column in columns]
    align = ["<", "<", "", "<", ">", ">", ">", ">", ""]
    template = "  ".join(
        "{}" if not align[i] else f"{{:{align[i]}{widths[i]}}}" for i in range(len(header))
    )
    paint = _colour_statuses()
    cells = {
        status: paint(status, status.ljust(widths[2])) if paint else status.ljust(widths[2])
        for status in {*STATUSES, *(row[2] for row in table)}
    }
    lines = [template.format(*header[:2], header[2].ljust(widths[2]), *header[3:]).rstrip()]
    body = [template.format(*row[:2], cells[row[2]], *row[3:]).rstrip() for row in table]
    click.echo("\n".join(lines + _grouped_by_sweep(rows, body, now, registry)))


def _grouped_by_sweep(
    rows: list[tuple[RunRecord, str]], body: list[str], now: float, registry: Registry | None
) -> list[str]:
    """Runs of no sweep first, then each sweep under a heading line, its trials in order."""
    alone = [line for (record, _), line in zip(rows, body, strict=True) if not record.sweep_id]
    groups: dict[str, list[tuple[RunRecord, str, str]]] = {}
    for (record, status), line in zip(rows, body, strict=True):
        if record.sweep_id:
            groups.setdefault(record.sweep_id, []).append((record, status, line))
    lines = list(alone)
    for sweep_id, unordered in groups.items():
        members = sorted(unordered, key=lambda member: member[0].started_at)
        sweep = registry.get_sweep(sweep_id) if registry is not None else None
        counts: dict[str, int] = {}
        for _, status, _ in members:
            counts[status] = counts.get(status, 0) + 1
        tally = ", ".join(f"{count} {status}" for status, count in counts.items())
        if sweep is None:
            heading = f"sweep {sweep_id}: {tally}"
        else:
            heading = (
                f"sweep {sweep.id}  {sweep.name}  {_paint_one(sweep_status(sweep, now))}  "
                f"{_age(now - sweep.started_at)} ago  {sweep.trials} trial(s): {tally}"
            )
        lines += ["", heading]
        lines += [line for _, _, line in members]
    return lines


def _colour_statuses() -> Callable[[str, str], str] | None:
    """Colour the status column for a terminal; plain text for pipes, files and NO_COLOR."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return None
    import colorama

    colorama.just_fix_windows_console()

    def paint(status: str, text: str) -> str:
        name = STATUS_COLOURS.get(status)
        if name is None:
            return text
        return f"{getattr(colorama.Fore, name)}{text}{colorama.Style.RESET_ALL}"

    return paint


# ---------------------------------------------------------------- status


@cli.command()
@click.argument("run_id", metavar="RUN")
@runs_dir_option
@json_option
def status(run_id: str, runs_dir: Path, as_json: bool) -> None:
    """Everything about one run, and its latest events."""
    now = time.time()
    record = _resolve(_open_registry(runs_dir), runs_dir, run_id)
    state = effective_status(record, now)
    run_dir = _run_dir(record)
    checkpoint = record.newest_checkpoint or _newest_checkpoint_file(run_dir)
    events = _last_events(run_dir / _events_file(), STATUS_EVENTS)
    if as_json:
        data = record.as_dict(now) | {"newest_checkpoint": checkpoint}
        click.echo(json.dumps({"run": data, "events": events}, indent=2))
        return

    def when(stamp: float | None) -> str:
        if stamp is None:
            return "-"
        return f"{_local_time(stamp)} ({_age(now - stamp)} ago)"

    folder = str(run_dir) if run_dir.is_dir() else f"{run_dir} (missing)"
    fields = [
        ("run", f"{record.id}  {record.name}"),
        ("status", _paint_one(state)),
        ("how it ended", _ending(record, state, now)),
        ("config", f"{record.config_name}  ({record.config_path})"),
        ("digest", record.config_digest),
        ("seed", str(record.seed)),
        ("device", record.device or "-"),
        ("host, pid", f"{record.host}, {record.pid if record.pid is not None else '-'}"),
        ("started", when(record.started_at)),
        ("ended", when(record.ended_at)),
        ("heartbeat", when(record.heartbeat_at)),
        ("episode", f"{record.episode:,}"),
        ("env steps", f"{record.env_step:,} ({_count(record.env_step)})"),
        ("steps/s", _rate(record.steps_per_second)),
        ("best greedy", _greedy(record.best_greedy, unit=" steps survived (mean)")),
        ("checkpoint", checkpoint or "none yet"),
        ("folder", folder),
        ("stop asked", "yes" if record.stop_requested else "no"),
        ("sweep", record.sweep_id or "-"),
    ]
    if record.error:
        fields.insert(3, ("error", record.error))
    firing = record.firing_alerts() if state in ACTIVE else []
    fields.insert(2, ("alerts", _describe_alerts(firing)))
    width = max(len(label) for label, _ in fields)
    click.echo("\n".join(f"{label.ljust(width)}  {value}" for label, value in fields))
    click.echo()
    if not events:
        click.echo(f"no events yet ({run_dir / _events_file()})")
        return
    click.echo(f"latest events ({run_dir / _events_file()}):")
    for event in events:
        click.echo("  " + _describe_event(event))


def _describe_alerts(firing: list[dict[str, Any]]) -> str:
    """The alerts firing now, in one line (red: they want attention)."""
    if not firing:
        return "none firing"
    said = "; ".join(
        f"{alert.get('name', '?')} ({alert.get('severity', '?')}): {alert.get('message', '')}"
        for alert in firing
    )
    # click.echo drops the colour when the output is not a terminal.
    return click.style(f"{len(firing)} firing: {said}", fg="red")


def _ending(record: RunRecord, state: str, now: float) -> str:
    if state in ACTIVE:
        asked = ", asked to stop" if record.stop_requested else ""
        return f"not yet: {state}{asked}"
    if state == "lost":
        beat = record.heartbeat_at or record.started_at
        why = record.end_reason or (
            f"no heartbeat for {_age(now - beat)} and pid {record.pid} is gone "
            "(killed, or the machine stopped)"
        )
        return f"lost: {why}; `townlet resume {record.id}` continues from the newest checkpoint"
    return f"{state}: {record.end_reason or 'no reason recorded'}"


def _describe_event(event: dict[str, Any]) -> str:
    stamp = event.get("time")
    clock = _local_time(stamp, "%H:%M:%S") if isinstance(stamp, int | float) else "??:??:??"
    details = " ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in event.items()
        if key not in ("v", "time", "run", "event")
    )
    return f"{clock}  {event.get('event', '?'):<18}  {details}".rstrip()


def _last_events(path: Path, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` whole lines that parse, read from the end of the file."""
    events: list[dict[str, Any]] = []
    for line in reversed(_last_lines(path, count * 2 + 1)):
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
        if len(events) == count:
            break
    return events[::-1]


def _last_lines(path: Path, count: int, block: int = 64 * 1024) -> list[bytes]:
    """The last ``count`` newline-terminated lines (a torn last line is left out)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    with handle:
        end = handle.seek(0, os.SEEK_END)
        start, data = end, b""
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - block)
            handle.seek(start)
            data = handle.read(end - start)
    lines = data.split(b"\n")[:-1]  # what follows the last newline is torn (or empty)
    if start > 0:
        lines = lines[1:]  # the first piece may be the end of an older line
    return lines[-count:]


def _newest_checkpoint_file(run_dir: Path) -> str | None:
    """Checkpoint names are zero-padded, so the greatest name is the newest."""
    names = sorted((run_dir / "checkpoints").glob("ckpt_ep*_step*.pt"))
    return str(names[-1]) if names else None


# ---------------------------------------------------------------- logs, events


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("-f", "--follow", is_flag=True, help="keep printing new lines while the run runs")
@runs_dir_option
def logs(run_id: str, follow: bool, runs_dir: Path) -> None:
    """Print a run's log; -f follows it.

    Prints the run folder's run.log; with -f, new lines as they come, until the run is no
    longer active or Ctrl+C.
    """
    _print_run_file(runs_dir, run_id, LOG_FILE, follow, whole_lines=False)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("-f", "--follow", is_flag=True, help="keep printing new events while the run runs")
@runs_dir_option
def events(run_id: str, follow: bool, runs_dir: Path) -> None:
    """Print a run's events; -f follows them.

    The run folder's events.jsonl as is: one JSON object a line (whole lines only).
    """
    _print_run_file(runs_dir, run_id, _events_file(), follow, whole_lines=True)


def _print_run_file(
    runs_dir: Path, run_id: str, file_name: str, follow: bool, whole_lines: bool
) -> None:
    """Copy a run's file to stdout as bytes, as is; with ``follow``, like ``tail -f``.

    Following ends once the run is no longer active, after a last read: a run writes its
    final lines before it records its end, so nothing is missed. ``whole_lines`` holds back
    an unfinished last line (for JSON lines: a reader never gets half an object).
    """
    registry = _open_registry(runs_dir)
    record = _resolve(registry, runs_dir, run_id)
    assert registry is not None  # _resolve found the run in it
    path = _run_dir(record) / file_name
    if not path.exists() and not (follow and effective_status(record) in ACTIVE):
        raise Failure(f"run {record.id} has no {file_name} (looked for {path})")
    sys.stdout.flush()
    out = sys.stdout.buffer
    tail = _FileTail(path)
    try:
        while True:
            ended = not follow or effective_status(_current(registry, record)) not in ACTIVE
            data = tail.read()
            if whole_lines:
                data = tail.hold_partial_line(data)
            if data:
                out.write(data)
                out.flush()
            if ended:
                return  # an unfinished JSON line left at the end is torn: never completed
            time.sleep(FOLLOW_POLL_SECONDS)
    except KeyboardInterrupt:
        return  # Ctrl+C is how one stops following: exit 0, no traceback


class _FileTail:
    """New bytes of a file since the last read; starts over if it is replaced or truncated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.position = 0
        self.inode: int | None = None
        self.pending = b""

    def read(self) -> bytes:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return b""
        with handle:
            stat = os.fstat(handle.fileno())
            if stat.st_ino != self.inode or stat.st_size < self.position:
                self.inode, self.position, self.pending = stat.st_ino, 0, b""
            handle.seek(self.position)
            data = handle.read()
        self.position += len(data)
        return data

    def hold_partial_line(self, data: bytes) -> bytes:
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        return data[:cut]


# ---------------------------------------------------------------- stop


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="seconds to wait for the run to stop",
)
@click.option(
    "--force",
    is_flag=True,
    help="after the timeout, end the process: SIGTERM, then SIGKILL (this host only)",
)
@runs_dir_option
def stop(run_id: str, timeout: float, force: bool, runs_dir: Path) -> None:
    """Ask a run (or a sweep: every trial of it) to stop, and wait until it has.

    The run writes a final checkpoint and ends "stopped". Exit code 1 if it is not active,
    or has not stopped within --timeout (it stays asked to); --force then ends its process.
    """
    registry = _open_registry(runs_dir)
    if is_sweep_id(run_id):
        _stop_sweep(registry, runs_dir, run_id, timeout)
        return
    record = _resolve(registry, runs_dir, run_id)
    assert registry is not None
    state = effective_status(record)
    if state not in ACTIVE:
        raise Failure(f"run {record.id} is not active: {_ending(record, state, time.time())}")
    registry.request_stop(record.id)
    click.echo(f"asked run {record.id} to stop; waiting up to {timeout:g} s")
    try:
        ended = _wait_until_inactive(registry, record.id, timeout)
        if ended is None and force:
            ended = _force_end(registry, record)
    except KeyboardInterrupt:
        raise Failure(
            f"no longer waiting; run {record.id} has been asked to stop and will: "
            f"`townlet status {record.id}` shows when it has",
            exit_code=130,
        ) from None
    if ended is None:
        raise Failure(
            f"run {record.id} has not stopped after {timeout:g} s (it is still asked to); "
            f"wait with `townlet logs {record.id} -f`, or end it with --force"
        )
    state = effective_status(ended)
    click.echo(_ending(ended, state, time.time()))


def _stop_sweep(registry: Registry | None, runs_dir: Path, text: str, timeout: float) -> None:
    """Every trial saves and ends "stopped"; the sweep's driver then writes its results."""
    sweep = _resolve_sweep(registry, runs_dir, text)
    assert registry is not None
    state = sweep_status(sweep)
    if state not in ACTIVE:
        raise Failure(f"sweep {sweep.id} is not active: {state} ({sweep.end_reason or '-'})")
    registry.update_sweep(sweep.id, stop_requested=1)
    trials = registry.sweep_trials(sweep.id)
    for trial in trials:
        if trial.status in ACTIVE:
            registry.request_stop(trial.id)
    click.echo(
        f"asked sweep {sweep.id} ({len(trials)} trial(s)) to stop; waiting up to {timeout:g} s"
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            current = registry.get_sweep(sweep.id) or sweep
            if sweep_status(current) not in ACTIVE:
                break
            if time.monotonic() >= deadline:
                raise Failure(
                    f"sweep {sweep.id} has not stopped after {timeout:g} s (it is still asked "
                    f"to; its trials are evaluating their checkpoints): `townlet list` shows "
                    "them; wait longer with --timeout"
                )
            time.sleep(STOP_POLL_SECONDS)
    except KeyboardInterrupt:
        raise Failure(
            f"no longer waiting; sweep {sweep.id} has been asked to stop and will",
            exit_code=130,
        ) from None
    click.echo(f"sweep {sweep.id} {sweep_status(current)}: {current.end_reason or '-'}")
    for trial in registry.sweep_trials(sweep.id):
        click.echo(f"  {trial.id}  {effective_status(trial)}: {trial.end_reason or '-'}")


def _resolve_sweep(registry: Registry | None, runs_dir: Path, text: str) -> SweepRecord:
    if registry is None:
        raise Failure(f"no runs in {runs_dir} (no {REGISTRY_FILE} there)", exit_code=2)
    exact = registry.get_sweep(text)
    if exact is not None:
        return exact
    found = registry.find_sweeps(text)
    if len(found) == 1:
        return found[0]
    if not found:
        raise Failure(
            f"no sweep {text!r} in {registry.path}: `townlet list` shows sweep ids (s-...)",
            exit_code=2,
        )
    shown = ", ".join(sweep.id for sweep in found[:8])
    raise Failure(f"{text!r} matches {len(found)} sweeps: {shown}; type more of the id", 2)


def _wait_until_inactive(registry: Registry, run_id: str, seconds: float) -> RunRecord | None:
    deadline = time.monotonic() + seconds
    while True:
        record = _current(registry, run_id)
        if effective_status(record) not in ACTIVE:
            return record
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(STOP_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _force_end(registry: Registry, record: RunRecord) -> RunRecord:
    """SIGTERM (the run saves and stops, as on Ctrl+C), then SIGKILL; record a killed run.

    A killed process cannot record its own end, so this records it as ``lost`` at once
    instead of leaving every reader to wait for its heartbeat to go stale.
    """
    pid, host = record.pid, this_host()
    if record.host != host:
        raise Failure(
            f"run {record.id} runs on {record.host}, not here ({host}): --force can only "
            f"signal processes on this host; run `townlet stop {record.id} --force` there"
        )
    if pid is None or not pid_alive(pid):
        click.echo(f"pid {pid} is not running: the process is already gone")
        return _record_killed(registry, record.id, "its process was gone (stop --force)")
    argv = _command_line(pid)
    if argv is not None and not _looks_like_a_run(argv):
        raise Failure(
            f"pid {pid} is now another program ({' '.join(argv)[:80]}): not signalling it; "
            f"run {record.id}'s own process is gone"
        )
    click.echo(f"run {record.id} did not stop in time: sent SIGTERM to pid {pid}")
    _signal(pid, signal.SIGTERM)
    ended = _wait_until_gone(registry, record.id, pid, KILL_GRACE_SECONDS)
    if ended is not None:
        return ended
    how = "ended by SIGTERM from `townlet stop --force` without recording its end"
    if pid_alive(pid):
        click.echo(
            f"pid {pid} still running after {KILL_GRACE_SECONDS:g} s: sent SIGKILL; "
            "it ends without a final checkpoint and shows as lost"
        )
        _signal(pid, signal.SIGKILL)
        _wait_until_gone(registry, record.id, pid, KILL_GRACE_SECONDS)
        how = "killed (SIGKILL) by `townlet stop --force`"
    if pid_alive(pid):
        raise Failure(f"pid {pid} is still running after SIGKILL (uninterruptible I/O?)")
    return _record_killed(registry, record.id, how)


def _wait_until_gone(registry: Registry, run_id: str, pid: int, seconds: float) -> RunRecord | None:
    """The record once the run has recorded its end; None if the process went silently or
    still runs after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        record = _current(registry, run_id)
        if effective_status(record) not in ACTIVE:
            return record
        if not pid_alive(pid) or time.monotonic() >= deadline:
            return None
        time.sleep(STOP_POLL_SECONDS)


def _record_killed(registry: Registry, run_id: str, reason: str) -> RunRecord:
    record = _current(registry, run_id)
    if record.status in ACTIVE:  # its process is gone, so nothing else will write this row
        registry.finish(run_id, "lost", f"{reason}: no final checkpoint")
        record = _current(registry, run_id)
    return record


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise Failure(f"not allowed to signal pid {pid} (another user's process)") from None


def _command_line(pid: int) -> list[str] | None:
    """The process's arguments (Linux); None where they cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def _looks_like_a_run(argv: list[str]) -> bool:
    """run_demo.py, the ``townlet`` command, or ``python -m townlet...``."""
    for index, arg in enumerate(argv):
        if os.path.basename(arg) in ("run_demo.py", "townlet"):
            return True
        if arg == "-m" and argv[index + 1 : index + 2] and argv[index + 1].startswith("townlet"):
            return True
    return False


# ---------------------------------------------------------------- compare


@cli.command()
@click.argument("run_ids", metavar="RUN RUN...", nargs=-1, required=True)
@runs_dir_option
@json_option
def compare(run_ids: tuple[str, ...], runs_dir: Path, as_json: bool) -> None:
    """Runs side by side, and their config differences; or one sweep's results.

    Counters, status and greedy survival, then every config value (dotted keys) that is
    not the same in all of them. `townlet compare SWEEP` prints the sweep's table: greedy
    survival per env-step milestone, mean and 95% confidence interval across seeds.
    """
    if len(run_ids) == 1 and is_sweep_id(run_ids[0]):
        _compare_sweep(_open_registry(runs_dir), runs_dir, run_ids[0], as_json)
        return
    if len(run_ids) < 2:
        raise click.UsageError("compare needs two runs or more")
    registry = _open_registry(runs_dir)
    now = time.time()
    records = [_resolve(registry, runs_dir, run_id) for run_id in run_ids]
    configs = [_flat_config(record) for record in records]
    keys = sorted({key for config in configs for key in config if key})
    missing = object()
    differing = {}
    for key in keys:
        values = [config.get(key, missing) for config in configs]
        if len({"\0absent" if v is missing else json.dumps(v, sort_keys=True) for v in values}) > 1:
            differing[key] = values
    if as_json:
        document = {
            "runs": [record.as_dict(now) for record in records],
            "config_differences": {
                key: [None if value is missing else value for value in values]
                for key, values in differing.items()
            },
        }
        click.echo(json.dumps(document, indent=2))
        return

    def cell(value: object) -> str:
        if value is missing:
            return "(absent)"
        return _clip(value if isinstance(value, str) else json.dumps(value), 40)

    rows: list[tuple[str, list[str]]] = [
        ("run", [record.id for record in records]),
        ("name", [_clip(record.name, 28) for record in records]),
        ("config", [record.config_name for record in records]),
        ("digest", [record.config_digest[:12] for record in records]),
        ("seed", [str(record.seed) for record in records]),
        ("status", [effective_status(record, now) for record in records]),
        ("episodes", [f"{record.episode:,}" for record in records]),
        ("env steps", [_count(record.env_step) for record in records]),
        ("best greedy", [_greedy(record.best_greedy) for record in records]),
    ]
    notes = [config.get("", "") for config in configs]
    if differing:
        rows.append(("config values that differ:", []))
        rows += [(key, [cell(value) for value in values]) for key, values in differing.items()]
    _print_columns(rows)
    if not differing:
        click.echo("config values: all the same")
    for record, note in zip(records, notes, strict=True):
        if note:
            click.echo(f"note: run {record.id}: {note}")


def _compare_sweep(registry: Registry | None, runs_dir: Path, text: str, as_json: bool) -> None:
    """Rebuilt from the trials' own trial.json files: right even while the sweep runs on."""
    from dataclasses import asdict

    from townlet.sweep.results import load_outcomes, markdown_table, summarise, trials_table

    sweep = _resolve_sweep(registry, runs_dir, text)
    sweep_dir = Path(sweep.sweep_dir)
    outcomes = load_outcomes(sweep_dir)
    rows = summarise(outcomes)
    if as_json:
        document = {
            "sweep": sweep.as_dict(),
            "rows": [asdict(row) for row in rows],
            "trials": [outcome.model_dump() for outcome in outcomes],
        }
        click.echo(json.dumps(document, indent=2))
        return
    state = sweep_status(sweep)
    click.echo(f"sweep {sweep.id}  {sweep.name}  {state}  ({sweep.config_path})")
    click.echo(f"{len(outcomes)} of {sweep.trials} trial(s) have results; folder {sweep_dir}")
    click.echo()
    click.echo(markdown_table(rows))
    click.echo()
    click.echo(trials_table(outcomes))


def _print_columns(rows: list[tuple[str, list[str]]]) -> None:
    """Label, then one column per run; a row without cells is a heading of its own."""
    rows_with_cells = [(label, cells) for label, cells in rows if cells]
    label_width = max(len(label) for label, _ in rows_with_cells)
    widths = [max(len(cells[i]) for _, cells in rows_with_cells) for i in range(len(rows[0][1]))]
    for label, cells in rows:
        if not cells:
            click.echo(f"\n{label}")
            continue
        padded = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        click.echo(f"{label.ljust(label_width)}  {padded}".rstrip())


def _flat_config(record: RunRecord) -> dict[str, Any]:
    """The run's config, flattened to dotted keys; the key "" holds a note if it is partial.

    The copy in the run folder wins over ``config_path`` (the file may have changed since).
    Through the typed loader, defaults a file leaves out are filled in, so two files that
    differ only in spelling out a default compare equal; a file the loader refuses (e.g.
    from an older Townlet) is compared as written.
    """
    copy = _run_dir(record) / CONFIG_COPY
    path = copy if copy.is_file() else Path(record.config_path)
    if not path.is_file():
        return {"": f"no config found ({copy}, {record.config_path})"}
    from townlet.config import ConfigError, config_to_dict, load_config

    try:
        return _flatten(config_to_dict(load_config(path)))
    except ConfigError as error:
        import yaml

        note = f"{path} compared as written: {str(error).splitlines()[0]}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return {"": f"{path} cannot be read"}
        flat = _flatten(data) if isinstance(data, dict) else {}
        return flat | {"": note}


def _flatten(value: object, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        flat = {}
        for index, item in enumerate(value):
            flat |= _flatten(item, f"{prefix}[{index}]")
        return flat
    return {prefix: value}


# ---------------------------------------------------------------- rm


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@runs_dir_option
def rm(run_id: str, yes: bool, runs_dir: Path) -> None:
    """Delete a run that is not active, and its folder.

    Asks first unless --yes; never deletes a folder outside --runs-dir.
    """
    registry = _open_registry(runs_dir)
    record = _resolve(registry, runs_dir, run_id)
    assert registry is not None
    state = effective_status(record)
    if state in ACTIVE:
        raise Failure(f"run {record.id} is {state}: `townlet stop {record.id}` first")
    run_dir = _run_dir(record)
    root = runs_dir.resolve()
    folder = run_dir.resolve()
    if folder == root or not folder.is_relative_to(root):
        raise Failure(
            f"not deleting {run_dir}: it is not inside --runs-dir {runs_dir}; nothing was removed"
        )
    exists = folder.is_dir()
    what = f"its folder {run_dir}" if exists else "its entry (its folder is already gone)"
    if not yes:
        click.confirm(
            f"delete run {record.id} ({record.config_name}, {state}) and {what}?", abort=True
        )
    if exists:
        import shutil

        try:
            shutil.rmtree(folder)
        except OSError as error:
            raise Failure(
                f"could not delete {run_dir} ({error}); the registry entry is kept, try again"
            ) from None
    registry.remove(record.id)
    click.echo(f"deleted run {record.id}" + (f" and {run_dir}" if exists else ""))


# ---------------------------------------------------------------- shared


def _open_registry(runs_dir: Path) -> Registry | None:
    """The runs folder's registry; None when there is none yet (reading creates nothing)."""
    if not (runs_dir / REGISTRY_FILE).exists():
        return None
    return Registry(runs_dir)


def _resolve(registry: Registry | None, runs_dir: Path, text: str) -> RunRecord:
    """The run whose id is ``text`` or starts with it; anything else is exit code 2."""
    if registry is None:
        raise Failure(
            f"no runs in {runs_dir} (no {REGISTRY_FILE} there): start one with "
            "`townlet run`, or point --runs-dir at another folder",
            exit_code=2,
        )
    exact = registry.get(text)
    if exact is not None:
        return exact
    found = registry.find(text) if text else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise Failure(
            f"no run {text!r} in {registry.path}: `townlet list` shows the ids", exit_code=2
        )
    now = time.time()
    shown = ", ".join(
        f"{r.id} ({r.config_name}, {effective_status(r, now)}, {_age(now - r.started_at)} old)"
        for r in found[:8]
    )
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    raise Failure(
        f"{text!r} matches {len(found)} runs: {shown}{more}; type more of the id", exit_code=2
    )


def _current(registry: Registry, run: RunRecord | str) -> RunRecord:
    run_id = run if isinstance(run, str) else run.id
    record = registry.get(run_id)
    if record is None:
        raise Failure(f"run {run_id} was removed from the registry meanwhile")
    return record


def _events_file() -> str:
    from townlet.registry.events import EVENTS_FILE  # imports logging: not for `list`

    return EVENTS_FILE


def _run_dir(record: RunRecord) -> Path:
    return Path(record.run_dir)


def _paint_one(status: str) -> str:
    paint = _colour_statuses()
    return paint(status, status) if paint is not None else status


def _age(seconds: float) -> str:
    """3s, 4m, 2h, 5d: the largest whole unit (called once a row: kept cheap)."""
    if seconds < 60:
        return f"{max(0, int(seconds))}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _count(value: float) -> str:
    """1234 -> 1.2k, 1234567 -> 1.2M; rounding never gives 1000.0k (999,950 reads 1.0M)."""
    if value < 999.5:
        return f"{value:.0f}"
    if value < 999_950:
        return f"{value / 1e3:.1f}k"
    if value < 999_950_000:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e9:.1f}B"


def _rate(steps_per_second: float | None) -> str:
    return "-" if steps_per_second is None else _count(steps_per_second)


def _greedy(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _local_time(stamp: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(stamp))
