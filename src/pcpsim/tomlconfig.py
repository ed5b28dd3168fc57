"""Configs as TOML: :meth:`Config.to_toml` and :meth:`Config.from_toml`.

Reading uses ``tomllib`` (``tomli`` before Python 3.11); writing uses the small
serializer below (no dependency). The layout mirrors the dataclasses::

    kernel = "5.17"
    duration = "10s"
    seed = 1

    [topology]
    nodes = 1
    cpus_per_node = 8
    isolated = []

    [[tasks]]
    kind = "periodic"
    cpus = { range = [0, 4096, 16] }
    run = { kind = "exp", mean = "2ms", sigma = 0.0 }

    [workqueue]
    workers_per_pool = 8

    [[workqueue.sources]]
    rate = 50

    [[hotplug]]
    at = "300ms"
    cpu = 7
    online = false

Rules, so that ``Config.from_toml(cfg.to_toml()) == cfg``:

- every field is written, except ``None`` values, which are left out (their
  default, None, comes back);
- integers stay integers and floats floats (``100`` and ``100.0`` differ in TOML);
- a ``range`` is written ``{ range = [start, stop, step] }`` and comes back a range;
- a :class:`Dist` is an inline table ``{ kind, mean, sigma }`` (a plain duration
  stays a plain duration);
- lists and tuples are arrays and load as lists, except in fields whose default
  is a tuple (``topology.isolated``, ``topology.offline``): those load as tuples;
- numpy scalars are written as numbers and numpy arrays as arrays (they load as
  Python ints, floats and lists).

Errors name the file (when a path was given), the key path (``tasks[2].nice``)
and the problem: an unknown key, a table where a value belongs (or the reverse),
a missing required key, any value :meth:`Config.validate` refuses, and TOML
syntax errors (:class:`TomlSyntaxError`, with the line).
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
from typing import Any

import numpy as np

from pcpsim.config import (
    Config, ConfigError, Dist, Drain, Hotplug, Memory, Reclaim, Sched, Task, Topology, WorkSource, Workqueue,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: the dataclasses a field can hold, by the name its annotation uses
_CLASSES: dict[str, type] = {c.__name__: c for c in (
    Config, Topology, Sched, Task, Dist, Memory, Reclaim, Drain, Workqueue, WorkSource, Hotplug)}
_LIST_OF = re.compile(r"^list\[(\w+)\]$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class TomlSyntaxError(ConfigError):
    """A TOML document that does not parse. ``line`` and ``column`` (1-based)
    say where, when the parser told."""

    def __init__(self, source: str | None, detail: str, line: int | None, column: int | None) -> None:
        super().__init__("", None, "valid TOML", source=source)
        self.line, self.column = line, column
        where = f"{source or '<string>'}" + (f", line {line}" if line else "")
        self.args = (f"{where}: TOML syntax error: {detail}",)


# -- writing ---------------------------------------------------------------------
def dump(cfg: Config) -> str:
    """``cfg`` as TOML text (see the module's rules)."""
    lines: list[str] = []
    _write_table(cfg, "", "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table(v: object) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, (type, Dist))


def _write_table(obj: Any, key: str, path: str, lines: list[str]) -> None:
    """The values of dataclass ``obj`` (TOML key ``key``, error path ``path``),
    then its sub-tables and arrays of tables, which TOML wants last."""
    later: list[tuple[str, Any, str, str]] = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        k = f"{key}.{f.name}" if key else f.name
        p = f"{path}.{f.name}" if path else f.name
        if v is None:
            continue
        if _is_table(v):
            later.append((f"[{k}]", v, k, p))
        elif isinstance(v, (list, tuple)) and v and all(_is_table(x) for x in v):
            later += [(f"[[{k}]]", x, k, f"{p}[{i}]") for i, x in enumerate(v)]
        else:
            lines.append(f"{f.name} = {_value(v, p)}")
    for header, v, k, p in later:
        lines += ["", header]
        _write_table(v, k, p, lines)


def _value(v: object, path: str) -> str:
    """One TOML value (inline)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))                      # 1.5, 1e+16, inf, nan: all TOML floats
    if isinstance(v, str):
        return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
                             for c in v) + '"'
    if isinstance(v, range):
        return f"{{ range = [{v.start}, {v.stop}, {v.step}] }}"
    if isinstance(v, Dist):
        return "{ " + ", ".join(f"{f.name} = {_value(getattr(v, f.name), f'{path}.{f.name}')}"
                                for f in dataclasses.fields(v) if getattr(v, f.name) is not None) + " }"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_value(x, f"{path}[{i}]") for i, x in enumerate(v)) + "]"
    raise ConfigError(path, v, "a value TOML can hold: a number, string, bool, list, range or pcpsim.Dist")


# -- reading ---------------------------------------------------------------------
def load(source: str | os.PathLike[str], *, validate: bool = True) -> Config:
    """A Config from a TOML file or TOML text (a ``str`` with a newline or ``=``
    in it, or blank, is text; any other ``str`` or path-like is a file name)."""
    is_text = isinstance(source, str) and ("\n" in source or "=" in source or not source.strip())
    name = None if is_text else os.fspath(source)
    try:
        if name is None:
            text = str(source)
        else:
            with open(name, "rb") as f:
                text = f.read().decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise TomlSyntaxError(name, f"not UTF-8 text ({e.reason} at byte {e.start})", None, None) from None
    except tomllib.TOMLDecodeError as e:
        detail = str(e)
        line, column = getattr(e, "lineno", None), getattr(e, "colno", None)
        if line is None and (m := re.search(r"at line (\d+), column (\d+)", detail)):
            line, column = int(m.group(1)), int(m.group(2))
        elif line is None and "end of document" in detail:
            line = text.count("\n") + 1
        raise TomlSyntaxError(name, detail, line, column) from None
    try:
        cfg = _build(Config, data, "")
        if validate:
            cfg.validate()
    except ConfigError as e:
        if name is None:
            raise
        raise ConfigError(e.field, e.value, e.allowed, source=name) from None
    return cfg


def _build(cls: type, data: object, path: str) -> Any:
    """An instance of dataclass ``cls`` from the TOML table ``data`` at ``path``."""
    if not isinstance(data, dict):
        raise ConfigError(path, data, f"a table of {cls.__name__} keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kw = {}
    for key, value in data.items():
        at = f"{path}.{key}" if path else key
        if key not in fields:
            raise ConfigError(at, value, f"a key of {cls.__name__}: one of " + ", ".join(fields))
        kw[key] = _field(fields[key], value, at)
    for name, f in fields.items():
        if name not in kw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{name}" if path else name, None, f"a value: {cls.__name__} needs {name}")
    return cls(**kw)


def _field(f: dataclasses.Field, value: object, at: str) -> object:
    """The Python value of field ``f`` from its TOML value."""
    kind = str(f.type)
    if kind in _CLASSES:
        return _build(_CLASSES[kind], value, at)
    if m := _LIST_OF.match(kind):
        if not isinstance(value, list):
            raise ConfigError(at, value, f"an array of {m.group(1)} tables ([[{at.rsplit('.', 1)[-1]}]] sections)")
        return [_build(_CLASSES[m.group(1)], v, f"{at}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if "Dist" in kind:
            return _build(Dist, value, at)
        if set(value) == {"range"}:
            args = value["range"]
            if isinstance(args, list) and 1 <= len(args) <= 3 and all(type(a) is int for a in args) \
                    and (len(args) < 3 or args[2] != 0):
                return range(*args)
            raise ConfigError(f"{at}.range", args, "[start, stop, step]: integers, step not 0")
        raise ConfigError(at, value, "a value, not a table (a range is { range = [start, stop, step] })")
    if isinstance(value, list) and isinstance(f.default, tuple):
        return tuple(value)
    return value
