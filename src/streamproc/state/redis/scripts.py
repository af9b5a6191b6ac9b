"""The Lua scripts' sources, read once at import: a script that checks a customer's version gets
the one `version_of` (lua/state_version.lua) prepended instead of a copy of its own."""

from __future__ import annotations

from importlib import resources

_LUA = resources.files("streamproc.state.redis").joinpath("lua")


def lua_script(name: str, *preludes: str) -> str:
    """The text of `lua/<name>`, after the text of each prelude file (shared functions)."""
    return "".join(_LUA.joinpath(p).read_text() + "\n" for p in (*preludes, name))
