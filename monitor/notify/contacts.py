"""Contacts file: customer_id -> the people in the roles the support plans define.

Enterprise plans have a named support engineer, business plans an account support lead; any
lower_snake_case role is allowed and usable in routing as `contact:<role>`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.notify.routing import CONTACT_PREFIX

_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
KNOWN_ROLES: tuple[str, ...] = ("named_support_engineer", "account_support_lead", "technical_account_manager")


class ContactsError(ValueError):
    """The contacts file is invalid; `problems` lists every 'file: key: problem' found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid contacts file:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Contacts:
    """customer_id -> role -> email addresses."""

    source: str
    customers: dict[str, dict[str, tuple[str, ...]]]

    def addresses(self, customer_id: str | None, role: str) -> tuple[str, ...]:
        """The addresses holding `role` for the customer; empty when unknown."""
        if customer_id is None:
            return ()
        return self.customers.get(customer_id, {}).get(role, ())

    def roles(self) -> frozenset[str]:
        """Every role defined for at least one customer."""
        return frozenset(role for roles in self.customers.values() for role in roles)


EMPTY_CONTACTS = Contacts(source="<none>", customers={})


def resolve_target(contacts: Contacts, customer_id: str | None, target: str) -> tuple[str, ...]:
    """Email addresses for a routing target: a literal address, or contact:<role> via the file."""
    if target.startswith(CONTACT_PREFIX):
        return contacts.addresses(customer_id, target[len(CONTACT_PREFIX):])
    return (target,)


def _addresses(value: Any) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        return None
    if not all(isinstance(i, str) and "@" in i and not any(c.isspace() for c in i) for i in items):
        return None
    return tuple(items)


def parse_contacts(data: dict[str, Any], source: str = "<contacts>") -> Contacts:
    """Validate a parsed TOML contacts document; raise ContactsError listing every problem."""
    problems: list[str] = []
    for key in data:
        if key != "customers":
            problems.append(f"{source}: {key}: unknown key (allowed: customers)")
    table = data.get("customers", {})
    if not isinstance(table, dict):
        raise ContactsError([f"{source}: customers: expected a table of [customers.<customer_id>]"])
    customers: dict[str, dict[str, tuple[str, ...]]] = {}
    for customer_id, entry in table.items():
        where = f"customers.{customer_id}"
        if not isinstance(entry, dict):
            problems.append(f"{source}: {where}: expected a table of role = address(es)")
            continue
        roles: dict[str, tuple[str, ...]] = {}
        for role, value in entry.items():
            if role == "name":
                if not isinstance(value, str):
                    problems.append(f"{source}: {where}.name: expected a string")
                continue
            if not _ROLE_NAME.match(role):
                problems.append(f"{source}: {where}.{role}: role names are lower_snake_case")
                continue
            addresses = _addresses(value)
            if addresses is None:
                problems.append(f"{source}: {where}.{role}: expected an email address or a non-empty list of them, got {value!r}")
                continue
            roles[role] = addresses
        customers[customer_id] = roles
    if problems:
        raise ContactsError(problems)
    return Contacts(source=source, customers=customers)


def load_contacts(path: str | Path) -> Contacts:
    """Read and validate a contacts TOML file."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContactsError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ContactsError([f"{source}: not valid TOML: {exc}"]) from None
    return parse_contacts(data, source)
