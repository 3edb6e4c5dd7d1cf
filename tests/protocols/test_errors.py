"""Every exception Troupe defines derives from `TroupeError`, and `protocols.errors` lists it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import actors
import protocols
import supervision
from protocols import errors
from protocols.errors import TroupeError


def _troupe_exceptions() -> list[type[BaseException]]:
    found = []
    for package in (actors, protocols, supervision):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for _name, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                    found.append(obj)
    return found


EXCEPTIONS = _troupe_exceptions()


def test_the_walk_finds_the_known_exceptions() -> None:
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"DecodeError", "AskTimeout", "ConfigError", "UnknownInstrument"} <= names


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__qualname__)
def test_every_exception_derives_from_troupe_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, TroupeError), f"{cls.__module__}.{cls.__qualname__}"


PUBLIC = [c for c in EXCEPTIONS if not c.__name__.startswith("_") and c is not TroupeError]


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__qualname__)
def test_every_public_exception_is_listed_in_the_errors_docstring(cls: type[BaseException]) -> None:
    assert f"`{cls.__module__}.{cls.__qualname__}`" in (errors.__doc__ or "")


def test_builtin_bases_are_kept_for_callers_that_catch_them() -> None:
    from actors.portfolio.ledger import UnknownInstrument
    from protocols.codec import DecodeError

    assert issubclass(DecodeError, ValueError) and issubclass(UnknownInstrument, KeyError)
    # KeyError's own str() (the repr of its argument) still wins over the base's.
    assert str(UnknownInstrument("X")) == "'X'"
