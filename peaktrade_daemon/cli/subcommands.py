"""Subcommands whose modules are imported only when they are used.

Every subcommand module pulls in what its handlers need (SQLAlchemy, the promotion engine,
numpy, aiohttp...). Importing all of them to build the parser cost every invocation about a
second and the daemon itself the RSS of libraries it never calls. :class:`LazySubcommands` is
the top-level ``add_subparsers`` action: it knows each command's name and module, and imports
the module (whose ``register(subparsers, common)`` adds the real parser) the first time that
command's parser is looked up: when argparse dispatches to it, when help lists the commands, or
when code walks ``choices``. Membership tests, which is all argparse's validation of the command
word needs, load nothing.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import ItemsView, ValuesView
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    _Base = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _Base = argparse._SubParsersAction


class _Parsers(dict[str, argparse.ArgumentParser]):
    """``{command: parser}`` where a command's parser is built on first lookup.

    Until then the key holds a blank stand-in parser, so ``in``, iteration and ``len`` (what
    argparse uses to validate the command word and to list valid choices) see every command.
    """

    def __init__(self, action: LazySubcommands) -> None:
        super().__init__()
        self._action = action

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        self._action.load(name)
        return super().__getitem__(name)

    def values(self) -> ValuesView[argparse.ArgumentParser]:  # type: ignore[override]
        """Every parser, each built first."""
        self._action.load_all()
        return super().values()

    def items(self) -> ItemsView[str, argparse.ArgumentParser]:  # type: ignore[override]
        """Every (command, parser) pair, each parser built first."""
        self._action.load_all()
        return super().items()


class LazySubcommands(_Base):
    """The ``add_subparsers`` action of the top-level parser (pass it as ``action=``), filled
    with :meth:`add_lazy` instead of ``add_parser``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = _Parsers(self)
        self.choices = self._name_parser_map
        self._pending: dict[str, tuple[str, argparse.ArgumentParser]] = {}
        self._order: dict[str, int] = {}

    def add_lazy(self, name: str, module: str, common: argparse.ArgumentParser) -> None:
        """Command ``name`` is registered by ``module.register(subparsers, common)``, called
        when the command is first needed. Commands are listed in the order added."""
        self._pending[name] = (module, common)
        self._order[name] = len(self._order)
        dict.__setitem__(self._name_parser_map, name, argparse.ArgumentParser(add_help=False))

    def load(self, name: str) -> None:
        """Import the module of command ``name`` and let it register (once; unknown names and
        commands already built are left alone)."""
        pending = self._pending.pop(name, None)
        if pending is None:
            return
        module, common = pending
        dict.__delitem__(self._name_parser_map, name)
        importlib.import_module(module).register(self, common)
        if not dict.__contains__(self._name_parser_map, name):
            raise RuntimeError(f"{module}.register() did not add the command {name!r}")
        self._keep_order()

    def load_all(self) -> None:
        """Build every command's parser (help and parser introspection need them all)."""
        for name in list(self._pending):
            self.load(name)

    def _keep_order(self) -> None:
        # A command added late would otherwise move to the end of the help and choice lists.
        def rank(name: str) -> int:
            return self._order.get(name, len(self._order))

        entries = sorted(dict.items(self._name_parser_map), key=lambda kv: rank(kv[0]))
        dict.clear(self._name_parser_map)
        dict.update(self._name_parser_map, entries)
        self._choices_actions.sort(key=lambda action: rank(action.dest))

    def _get_subactions(self) -> list[argparse.Action]:
        self.load_all()
        return super()._get_subactions()
