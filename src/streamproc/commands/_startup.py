"""What every command that runs the engine does first: load the program and the engine, and
say plainly why not (exit 2: the program is refused; exit 3: the compiled engine is missing)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.domain.program import Program
    from streamproc.engine.calc import SaleEngine

EXIT_PROGRAM = 2
EXIT_ENGINE = 3


def load_program_and_engine(
    path: str, engine_name: str, who: str
) -> tuple[Program, SaleEngine] | int:
    """(program, engine), or the exit code after printing the reason to stderr."""
    from streamproc.domain.program import ProgramError, load_program
    from streamproc.engine.selection import CompiledEngineMissing, make_engine

    try:
        program = load_program(path)
        return program, make_engine(program, engine_name)
    except ProgramError as exc:
        print(f"{who}: program refused, not starting ({len(exc.errors)} error(s)):",
              file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return EXIT_PROGRAM
    except CompiledEngineMissing as exc:
        print(f"{who}: not starting: {exc}", file=sys.stderr)
        return EXIT_ENGINE
