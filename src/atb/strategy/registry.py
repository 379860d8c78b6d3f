"""Find a strategy by built-in name or load one from a user's Python file."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from atb.errors import UserInputError
from atb.strategy.base import Strategy

BUILTIN_MODULES = {
    "sma_cross": "atb.strategy.builtin.sma_cross",
    "rsi_reversion": "atb.strategy.builtin.rsi_reversion",
    "donchian_breakout": "atb.strategy.builtin.donchian_breakout",
    "bollinger_reversion": "atb.strategy.builtin.bollinger_reversion",
    "momentum_rotation": "atb.strategy.builtin.momentum_rotation",
}


class StrategyNotFoundError(UserInputError):
    """No built-in of that name, or a strategy file that does not define one usable class."""


def builtin_names() -> list[str]:
    return list(BUILTIN_MODULES)


def _strategy_classes(module: object) -> list[type[Strategy]]:
    found = []
    for _, value in inspect.getmembers(module, inspect.isclass):
        if (
            issubclass(value, Strategy)
            and value is not Strategy
            and value.__module__ == getattr(module, "__name__", "")
        ):
            found.append(value)
    return found


def load_builtin(name: str) -> type[Strategy]:
    module_name = BUILTIN_MODULES.get(name)
    if module_name is None:
        hint = difflib.get_close_matches(name, BUILTIN_MODULES, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise StrategyNotFoundError(
            f"unknown strategy {name!r}{extra} (built-ins: {', '.join(BUILTIN_MODULES)}; or give a .py file)"
        )
    module = importlib.import_module(module_name)
    for cls in _strategy_classes(module):
        if cls.name == name:
            return cls
    raise StrategyNotFoundError(f"built-in module {module_name} defines no strategy named {name!r}")


def load_file(path: Path, class_name: str | None = None) -> type[Strategy]:
    """Import a user's strategy file; it must define exactly one Strategy subclass (or name one)."""
    if not path.is_file():
        raise StrategyNotFoundError(f"strategy file {path} does not exist")
    module_name = f"atb_user_strategy_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyNotFoundError(f"cannot import {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StrategyNotFoundError(f"error importing {path}: {type(exc).__name__}: {exc}") from exc
    classes = _strategy_classes(module)
    if class_name:
        classes = [c for c in classes if c.__name__ == class_name]
    if not classes:
        raise StrategyNotFoundError(
            f"{path} defines no Strategy subclass" + (f" named {class_name}" if class_name else "")
        )
    if len(classes) > 1:
        names = ", ".join(c.__name__ for c in classes)
        raise StrategyNotFoundError(f"{path} defines several strategies ({names}); pick one with FILE.py:ClassName")
    return classes[0]


def resolve(spec: str) -> type[Strategy]:
    """`sma_cross`, `path/to/file.py` or `path/to/file.py:ClassName`."""
    path_part, _, class_name = spec.partition(":") if ".py:" in spec else (spec, "", "")
    if path_part.endswith(".py") or "/" in path_part:
        return load_file(Path(path_part), class_name or None)
    return load_builtin(spec)
