"""Contacts file: customer_id -> the people in the roles the support plans define.

Enterprise plans have a named support engineer, business plans an account support lead; any
lower_snake_case role is allowed and usable in routing as `contact:<role>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.notify.config_file import file_problems, read_toml
from monitor.notify.routing import CONTACT_PREFIX, ROLE_NAME

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


def _addresses(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if (not isinstance(items, list) or not items
            or not all(isinstance(i, str) and "@" in i and not any(c.isspace() for c in i) for i in items)):
        raise ValueError(f"expected an email address or a non-empty list of them, got {value!r}")
    return tuple(items)


def _role_name(role: str) -> str:
    if not ROLE_NAME.match(role):
        raise ValueError("role names are lower_snake_case")
    return role


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _customers(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("expected a table of [customers.<customer_id>]")
    return value


#: One role's holders: an address or a non-empty list of them (a list of one is normalised to a tuple).
Addresses = Annotated[tuple[str, ...], BeforeValidator(_addresses)]
#: A role usable in routing as `contact:<role>`.
RoleName = Annotated[str, AfterValidator(_role_name)]


class CustomerModel(BaseModel):
    """[customers.<customer_id>]: an optional display name, then `<role> = address(es)`."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[RoleName, Addresses] = Field(init=False)  # the roles: names and addresses validated

    name: Annotated[str, BeforeValidator(_name)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _table(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("expected a table of role = address(es)")
        return data

    def roles(self) -> dict[str, tuple[str, ...]]:
        """role -> addresses."""
        return dict(self.__pydantic_extra__ or {})


class ContactsModel(BaseModel):
    """The whole contacts file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: Annotated[dict[str, CustomerModel], BeforeValidator(_customers)] = Field(default_factory=dict)


def parse_contacts(data: dict[str, Any], source: str = "<contacts>") -> Contacts:
    """Validate a parsed TOML contacts document (pydantic); raise ContactsError listing every problem."""
    try:
        model = ContactsModel.model_validate(data)
    except ValidationError as exc:
        raise ContactsError(file_problems(source, exc, ContactsModel, data)) from None
    return Contacts(source=source, customers={cid: entry.roles() for cid, entry in model.customers.items()})


def load_contacts(path: str | Path) -> Contacts:
    """Read and validate a contacts TOML file."""
    data, problem = read_toml(path)
    if data is None:
        raise ContactsError([problem or f"{path}: cannot read"])
    return parse_contacts(data, str(path))
