from pathlib import Path

import pytest

from monitor.notify.contacts import ContactsError, load_contacts, parse_contacts, resolve_target

EXAMPLE = Path(__file__).parents[2] / "monitor" / "notify" / "example-contacts.toml"


def test_example_maps_customers_to_plan_roles() -> None:
    contacts = load_contacts(EXAMPLE)
    assert contacts.addresses("acme", "named_support_engineer") == ("jane.doe@support.example.com",)
    assert len(contacts.addresses("globex", "account_support_lead")) == 2
    assert contacts.addresses("globex", "named_support_engineer") == ()
    assert contacts.addresses(None, "named_support_engineer") == ()
    assert {"named_support_engineer", "account_support_lead"} <= contacts.roles()


def test_resolve_target_literal_or_role() -> None:
    contacts = parse_contacts({"customers": {"acme": {"named_support_engineer": "n@x.example"}}})
    assert resolve_target(contacts, "acme", "contact:named_support_engineer") == ("n@x.example",)
    assert resolve_target(contacts, "unknown", "contact:named_support_engineer") == ()
    assert resolve_target(contacts, None, "duty@x.example") == ("duty@x.example",)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"customers": {"acme": {"named_support_engineer": "not-an-address"}}},
         "contacts.toml: customers.acme.named_support_engineer: expected an email"),
        ({"customers": {"acme": {"Named Engineer": "a@b"}}},
         "contacts.toml: customers.acme.Named Engineer: role names are lower_snake_case"),
        ({"customers": {"acme": "a@b"}}, "contacts.toml: customers.acme: expected a table"),
        ({"customer": {}}, "contacts.toml: customer: unknown key"),
        ({"customers": {"acme": {"account_support_lead": []}}}, "contacts.toml: customers.acme.account_support_lead: expected"),
    ],
)
def test_validation_names_file_key_and_problem(data: dict, expected: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ContactsError) as info:
        parse_contacts(data, "contacts.toml")
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_every_problem_of_the_file_is_reported_at_once() -> None:
    data = {"customers": {"acme": {"Bad Role": "a@b.example", "lead": "nope", "name": 3}, "globex": "x"}, "extra": 1}
    with pytest.raises(ContactsError) as info:
        parse_contacts(data, "c.toml")
    assert sorted(info.value.problems) == sorted([
        "c.toml: customers.acme.name: expected a string",
        "c.toml: customers.acme.Bad Role: role names are lower_snake_case",
        "c.toml: customers.acme.lead: expected an email address or a non-empty list of them, got 'nope'",
        "c.toml: customers.globex: expected a table of role = address(es)",
        "c.toml: extra: unknown key (allowed: customers)",
    ])
