"""`streamproc check PROGRAM` (or `--program PROGRAM`): validate a program file and show, in
business terms, what each campaign gives; warnings never fail the check, errors do (exit 2)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a program file and show its campaigns in "
                       "business terms")
    p.add_argument("program", nargs="?", help="the program file (YAML or JSON)")
    p.add_argument("--program", dest="program_opt", metavar="PROGRAM",
                   help="the program file (same as the positional argument)")
    p.add_argument("--at", help="date or timestamp the window warnings are judged at "
                   "(default: now)")
    p.set_defaults(func=run)


def _now_us(at: str | None, program) -> int:
    import time

    from streamproc.domain.timeutil import parse_program_time

    if at is None:
        return time.time_ns() // 1000
    return parse_program_time(at, program.tz)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from streamproc.domain.program import STAGE_A_TYPES, STAGE_B_TYPES, ProgramError, load_program
    from streamproc.domain.program_describe import (
        campaign_value,
        conditions_text,
        place_errors,
        program_text,
        program_warnings,
        window_text,
    )

    path = args.program or args.program_opt
    if not path or (args.program and args.program_opt and args.program != args.program_opt):
        print("check: give one program file, as PROGRAM or --program PROGRAM", file=sys.stderr)
        return 2
    try:
        prog = load_program(path)
    except ProgramError as exc:
        print(f"program refused: {len(exc.errors)} error(s)", file=sys.stderr)
        for f in place_errors(path, exc.errors):
            print(f"  {f}", file=sys.stderr)
        return 2
    try:
        now = _now_us(args.at, prog)
    except ValueError:
        print(f"check: --at {args.at!r} is not a date or timestamp", file=sys.stderr)
        return 2
    console = Console(width=max(Console().width, 160))
    console.print(f"[bold]{prog.id}[/] ({path}) version {prog.version}, timezone "
                  f"{prog.timezone}: OK")
    for line in program_text(prog):
        console.print(f"  {line}")
    table = Table(title=f"{len(prog.campaigns)} campaigns, in calculation order "
                  "(money in major units)")
    for col in ("stage", "prio", "id", "gives", "when", "conditions"):
        table.add_column(col, overflow="fold")

    def stage(t: str) -> str:
        return "A" if t in STAGE_A_TYPES else "B" if t in STAGE_B_TYPES else "points"

    for c in sorted(prog.campaigns, key=lambda c: ({"A": 0, "B": 1, "points": 2}[stage(c.type)],
                                                   -c.priority, c.id)):
        gives = campaign_value(c) + (" (exclusive)" if c.exclusive else "")
        table.add_row(stage(c.type), str(c.priority), c.id, gives, window_text(c, prog),
                      conditions_text(c, prog))
    console.print(table)
    warnings = program_warnings(prog, path, now)
    for w in warnings:
        console.print(f"[yellow]warning[/]: {w}", highlight=False)
    console.print(f"{len(prog.campaigns)} campaigns, 0 errors, {len(warnings)} warning(s)")
    return 0
