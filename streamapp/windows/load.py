"""Reading ``topologies/``: every ``*.py`` file's module-level aggregates, validated.

Called once at process start, before any agent exists. Files are executed with importlib from
their location (no ``sys.path`` changes, no import-time registration): whatever
:class:`~streamapp.windows.declare.Aggregate` values a module binds at its top level are its
aggregates. Files are read in name order, aggregates in the order the module defines them;
files whose name starts with ``_`` (``__init__.py``, shared helpers) are not read as topologies.

Every problem raises :class:`~streamapp.errors.TopologyError` naming the file and the field:
a declaration error, a module that fails to import (field ``<module>``, or the argument a
constructor call is missing), or an aggregate name already used (field ``name``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from streamapp.errors import TopologyError
from streamapp.windows.declare import Aggregate

_ARGUMENT = re.compile(r"argument(?:s)?:? '(\w+)'")


def load_topologies(directory: Path) -> tuple[Aggregate, ...]:
    """Every aggregate declared in ``directory``, validated, in file then definition order."""
    if not directory.is_dir():
        raise TopologyError(str(directory), "", "topologies_dir", "is not a directory")
    found: list[Aggregate] = []
    declared_in: dict[str, Path] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for aggregate in _aggregates_in(path):
            if aggregate.name in declared_in:
                where = declared_in[aggregate.name]
                reason = f"name already declared in {where}"
                raise TopologyError(str(path), aggregate.name, "name", reason)
            declared_in[aggregate.name] = path
            found.append(aggregate)
    return tuple(found)


def _aggregates_in(path: Path) -> list[Aggregate]:
    module = _execute(path)
    unique: dict[int, Aggregate] = {}
    for value in vars(module).values():
        if isinstance(value, Aggregate):
            unique.setdefault(id(value), value)  # one aggregate bound to two names counts once
    return list(unique.values())


def _execute(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"_streamapp_topology_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TopologyError(str(path), "", "<module>", "cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing in the module look themselves up here
    try:
        spec.loader.exec_module(module)
    except TopologyError as exc:
        raise dataclasses.replace(exc, file=str(path)) from exc
    except Exception as exc:
        raise _module_error(path, exc) from exc
    finally:
        sys.modules.pop(name, None)
    return module


def _module_error(path: Path, exc: Exception) -> TopologyError:
    if isinstance(exc, SyntaxError):
        reason = f"syntax error on line {exc.lineno}: {exc.msg}"
        return TopologyError(str(path), "", "<module>", reason)
    reason = f"{type(exc).__name__}: {exc}"
    match = _ARGUMENT.search(str(exc)) if isinstance(exc, TypeError) else None
    return TopologyError(str(path), "", match.group(1) if match else "<module>", reason)
