"""Reading a program file safely: a size cap, YAML aliases that cannot blow up, short quotes.

A program comes from a marketer's editor or a config repository; a mistake (or a hostile file)
must give a clear refusal, never a worker that hangs expanding a YAML alias bomb or an error
message the size of the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from streamproc.errors import StreamprocError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the largest real programs are a few hundred campaigns, ~100 KB
MAX_NODES = 100_000  # YAML nodes once aliases are expanded (each alias counts its whole subtree)
MAX_QUOTE = 60  # characters of a value quoted in an error message


class ProgramFileError(StreamprocError, ValueError):
    """The file cannot be read as a program document (too big, unreadable, alias bomb)."""


def quote(v: object, limit: int = MAX_QUOTE) -> str:
    """`repr(v)`, cut to `limit` characters with how long it was: errors stay readable."""
    if isinstance(v, int) and v.bit_length() > 200:  # repr itself refuses past 4300 digits
        return f"an integer of {v.bit_length()} bits"
    text = repr(v)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """Nodes in `node` with every alias expanded, memoised so the count itself stays cheap."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = 1  # a recursive alias counts once here; the count below still grows
    n = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            n += _expanded_size(child, seen)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            n += _expanded_size(k, seen) + _expanded_size(v, seen)
    seen[key] = n
    return n


def parse_yaml(text: bytes | str, source: str) -> Any:
    """`yaml.safe_load`, refusing documents whose aliases expand past MAX_NODES nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise ProgramFileError(
                f"{source}: program: YAML expands to {size} nodes once its aliases are "
                f"followed (at most {MAX_NODES}): refusing a possible alias bomb")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_program_doc(path: Path) -> Any:
    """The parsed document of a YAML or JSON program file; ProgramFileError when it cannot be."""
    try:
        with path.open("rb") as fh:
            text = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProgramFileError(f"{path}: cannot read program file: {exc.strerror}") from None
    if len(text) > MAX_FILE_BYTES:
        raise ProgramFileError(f"{path}: program: file is larger than {MAX_FILE_BYTES} bytes")
    try:
        if path.suffix.lower() == ".json":
            return orjson.loads(text)
        return parse_yaml(text, str(path))
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        raise ProgramFileError(f"{path}: not valid YAML/JSON: {quote(str(exc), 300)}") from None
    except RecursionError:
        raise ProgramFileError(f"{path}: program: nested too deeply") from None
