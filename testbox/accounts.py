"""Login accounts as callers give them: ``{"plugin": "uos", "name": "jdoe", "password": "..."}``.

The provisioning API (``POST /instances``) and a running ICAT's ``POST /testbox/accounts``
take lists of these; both refuse anything else with a message that says what is wrong.
An account's ICAT user name is ``plugin/name`` (``uos/jdoe``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Authenticator mnemonics and account names: no "/" (it separates them in the ICAT user
#: name), no ":" (it separates name and password on the icat-testbox command line), no
#: spaces or control characters.
_PLUGIN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,190}")
MAX_PASSWORD_LENGTH = 1024
MAX_ACCOUNTS = 1000
_FIELDS = ("plugin", "name", "password")


class AccountError(ValueError):
    """An account description that is not acceptable; the message says why."""


@dataclass(frozen=True)
class Account:
    plugin: str
    name: str
    password: str

    @property
    def user_name(self) -> str:
        """The ICAT user name, ``plugin/name``."""
        return f"{self.plugin}/{self.name}"


def parse_accounts(value: Any, what: str = "users") -> list[Account]:
    """A JSON list of account objects, each with exactly ``plugin``, ``name`` and ``password``."""
    if not isinstance(value, list):
        raise AccountError(f"{what} must be a list of {{plugin, name, password}} objects")
    if len(value) > MAX_ACCOUNTS:
        raise AccountError(f"{what}: at most {MAX_ACCOUNTS} accounts")
    accounts = []
    for index, item in enumerate(value):
        where = f"{what}[{index}]"
        if not isinstance(item, dict):
            raise AccountError(f"{where} must be an object with plugin, name and password")
        unknown = sorted(set(item) - set(_FIELDS))
        missing = [f for f in _FIELDS if f not in item]
        if unknown or missing:
            raise AccountError(f"{where}: " + "; ".join(
                ([f"unknown fields: {', '.join(unknown)}"] if unknown else [])
                + ([f"missing fields: {', '.join(missing)}"] if missing else [])))
        plugin, name, password = (item[f] for f in _FIELDS)
        _check(_PLUGIN, plugin, f"{where}.plugin", "letters, digits, '_', '.' or '-'")
        _check(_NAME, name, f"{where}.name", "letters, digits, '_', '.', '@', '+' or '-'")
        if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_LENGTH:
            raise AccountError(f"{where}.password must be a string of 1 to {MAX_PASSWORD_LENGTH} characters")
        accounts.append(Account(plugin, name, password))
    twice = sorted({a.user_name for a in accounts if [b.user_name for b in accounts].count(a.user_name) > 1})
    if twice:
        raise AccountError(f"{what}: {', '.join(twice)} given more than once")
    return accounts


def parse_user_names(value: Any, what: str = "root_users") -> list[str]:
    """A JSON list of ICAT user names ``plugin/name``."""
    if not isinstance(value, list) or len(value) > MAX_ACCOUNTS:
        raise AccountError(f"{what} must be a list of at most {MAX_ACCOUNTS} user names plugin/name")
    names = []
    for index, item in enumerate(value):
        plugin, sep, name = item.partition("/") if isinstance(item, str) else ("", "", "")
        if not sep or not _PLUGIN.fullmatch(plugin) or not _NAME.fullmatch(name):
            raise AccountError(f"{what}[{index}] must be a user name plugin/name, like db/jdoe")
        names.append(item)
    return names


def _check(pattern: re.Pattern[str], value: Any, where: str, allowed: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AccountError(f"{where} must be a non-empty string of {allowed}")
