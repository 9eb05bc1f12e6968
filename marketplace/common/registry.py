"""Every app's error codes and audit actions, collected from its ``codes`` module.

Each installed app may have ``<app>/codes.py`` with ``class ErrorCode(StrEnum)`` (the
problem+json codes it raises) and ``class AuditAction(StrEnum)`` (the audit actions it
records); see ``marketplace.common.codes``. The registry finds them through
``django.apps.apps.get_app_configs()``, so the core never imports a domain app by name, and
refuses a value declared twice (in two apps, or twice in one enum). A code's HTTP status and
meaning come from its app's ``ERRORS`` mapping when it has one, else from the ``DomainError``
subclasses that raise it. docs/CODES.md is rendered from here (``make docs``).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from marketplace.common.codes import ErrorSpec
from marketplace.common.errors import DomainError

CODE_FORMAT = re.compile(r"^[a-z][a-z0-9_]*$")
ACTION_FORMAT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class RegistryError(ImproperlyConfigured):
    """A code or action declared twice, or not in its format."""


@dataclass(frozen=True)
class CodeEntry:
    code: str
    app: str
    statuses: tuple[int, ...]  # empty when no spec and no exception class says
    meaning: str


@dataclass(frozen=True)
class ActionEntry:
    action: str
    app: str


@dataclass(frozen=True)
class Registry:
    errors: Mapping[str, CodeEntry]
    actions: Mapping[str, ActionEntry]


@dataclass(frozen=True)
class AppCodes:
    """One app's declarations, as read from its ``codes`` module."""

    app: str
    error_codes: tuple[str, ...]
    actions: tuple[str, ...]
    specs: Mapping[str, ErrorSpec]


def _members(module: ModuleType, name: str) -> tuple[str, ...]:
    enum = getattr(module, name, None)
    if enum is None:
        return ()
    if not (isinstance(enum, type) and issubclass(enum, StrEnum)):
        raise RegistryError(f"{module.__name__}.{name} must be a StrEnum")
    aliases = [key for key, member in enum.__members__.items() if member.name != key]
    if aliases:
        raise RegistryError(f"{module.__name__}.{name} declares a value twice: {aliases}")
    return tuple(str(member) for member in enum)


def read_module(app: str, module: ModuleType) -> AppCodes:
    specs = getattr(module, "ERRORS", None) or {}
    return AppCodes(
        app=app,
        error_codes=_members(module, "ErrorCode"),
        actions=_members(module, "AuditAction"),
        specs={str(code): spec for code, spec in specs.items()},
    )


def installed_codes() -> list[AppCodes]:
    """The ``codes`` module of every installed app that has one, in INSTALLED_APPS order."""
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.codes"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but imports something missing: a real error
            continue
        if hasattr(module, "ErrorCode") or hasattr(module, "AuditAction"):
            found.append(read_module(config.name, module))
    return found


def _claim(owners: dict[str, str], value: str, app: str, pattern: re.Pattern[str]) -> None:
    if not pattern.match(value):
        raise RegistryError(f"{app}: {value!r} does not match {pattern.pattern}")
    if value in owners:
        raise RegistryError(f"{value!r} is declared by both {owners[value]} and {app}")
    owners[value] = app


def raisers() -> dict[str, list[type[DomainError]]]:
    """Code -> the ``DomainError`` subclasses that set it, among those imported so far."""
    found: dict[str, list[type[DomainError]]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "code" in cls.__dict__:
            found.setdefault(str(cls.code), []).append(cls)
    return found


def _entry(
    code: str, app: str, spec: ErrorSpec | None, classes: list[type[DomainError]]
) -> CodeEntry:
    if spec is not None:
        return CodeEntry(code, app, (spec.status,), spec.meaning)
    statuses = tuple(sorted({cls.status_code for cls in classes}))
    details = [cls.__dict__.get("default_detail") or cls.__doc__ or "" for cls in classes]
    return CodeEntry(code, app, statuses, next((d for d in details if d), ""))


def collect(
    declared: Iterable[AppCodes], raised_by: Mapping[str, list[type[DomainError]]]
) -> Registry:
    """Check the declarations (each value once, in its format) and index them."""
    error_owner: dict[str, str] = {}
    action_owner: dict[str, str] = {}
    errors: dict[str, CodeEntry] = {}
    actions: dict[str, ActionEntry] = {}
    for app_codes in declared:
        for code in app_codes.error_codes:
            _claim(error_owner, code, app_codes.app, CODE_FORMAT)
            spec = app_codes.specs.get(code)
            errors[code] = _entry(code, app_codes.app, spec, raised_by.get(code, []))
        for action in app_codes.actions:
            _claim(action_owner, action, app_codes.app, ACTION_FORMAT)
            actions[action] = ActionEntry(action, app_codes.app)
    return Registry(errors=errors, actions=actions)


@functools.cache
def registry() -> Registry:
    """The project's registry. Loads the URLconf first, which imports every app's views and so
    their services and exception classes, whose statuses describe the apps' own codes."""
    importlib.import_module(settings.ROOT_URLCONF)
    return collect(installed_codes(), raisers())


def undeclared_codes() -> list[str]:
    """Codes some ``DomainError`` subclass raises that no app declares (should be none)."""
    known = registry().errors
    return sorted(code for code in raisers() if code not in known)


def check_codes(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """System check (``manage.py check``, every test run): the registry builds."""
    try:
        registry()
    except RegistryError as exc:
        return [Error(str(exc), id="common.E001")]
    return []


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(reg: Registry) -> str:
    """docs/CODES.md: every error code with its status and meaning, every audit action."""
    lines = [
        "# Error codes and audit actions",
        "",
        "Generated from the code registry (`marketplace/common/registry.py`) by `make docs`;",
        "do not edit by hand. Each app declares its own in `<app>/codes.py`: `ErrorCode` (the",
        "problem+json `code`s it raises) and `AuditAction` (the audit actions it records).",
        "",
        "## Error codes",
        "",
        "| code | status | app | meaning |",
        "|---|---|---|---|",
    ]
    for entry in reg.errors.values():
        status = ", ".join(str(s) for s in entry.statuses) or "-"
        lines.append(f"| `{entry.code}` | {status} | {entry.app} | {_cell(entry.meaning)} |")
    lines += ["", "## Audit actions", "", "| action | app |", "|---|---|"]
    lines += [f"| `{entry.action}` | {entry.app} |" for entry in reg.actions.values()]
    return "\n".join(lines) + "\n"
