from monitor.notify.contacts import parse_contacts
from monitor.notify.ledger import DELIVERED, DeliveryRecord, Ledger
from monitor.notify.plan import plan_deliveries
from monitor.notify.routing import parse_routing
from tests.notify.factories import notice

ROUTING = parse_routing({
    "channels": {
        "hook": {"kind": "webhook", "url": "http://127.0.0.1/h", "secret_env": "S"},
        "pd": {"kind": "pagerduty", "routing_key_env": "K"},
        "mail": {"kind": "email", "host": "127.0.0.1", "from": "sla@x.example", "to": "esc@x.example"},
    },
    "rules": [
        {"match": {"plan": "*enterprise*"}, "notify": [{"channel": "mail", "to": "contact:named_support_engineer"}], "continue": True},
        {"match": {"type": "sla.breach"}, "notify": ["hook", "pd", "mail"]},
        {"notify": ["hook"]},
    ],
})
CONTACTS = parse_contacts({"customers": {"acme": {"named_support_engineer": ["nse@x.example", "nse@x.example"]}}})


def targets(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.target for d in plan.deliveries]


def test_resolves_contacts_into_addresses() -> None:
    plan = plan_deliveries(notice(type="sla.breach"), ROUTING, CONTACTS, Ledger())
    assert targets(plan) == ["mail>contact:named_support_engineer", "hook", "pd", "mail"]
    assert plan.deliveries[0].addresses == ("nse@x.example",)
    assert plan.deliveries[3].addresses == ("esc@x.example",)


def test_unknown_customer_contact_is_reported_not_delivered() -> None:
    plan = plan_deliveries(notice(customer_id="nobody"), ROUTING, CONTACTS, Ledger())
    assert targets(plan) == ["hook"] and [r.key for r in plan.unresolved] == ["mail>contact:named_support_engineer"]


def test_already_recorded_targets_are_duplicates() -> None:
    event = notice(type="sla.breach", plan="adobe-online")
    ledger = Ledger()
    ledger.apply(DeliveryRecord(event_id=event.event_id, target="hook", channel="hook", kind="webhook", outcome=DELIVERED,
                                event_type=event.type, case_id="C-1", metric="first_response", cycle=1, attempts=1,
                                recorded_at="2026-11-26T10:00:00Z"))
    plan = plan_deliveries(event, ROUTING, CONTACTS, ledger)
    assert targets(plan) == ["pd", "mail"] and [r.key for r in plan.duplicates] == ["hook"]


def test_met_goes_to_pagerduty_only_when_it_has_an_incident_to_resolve() -> None:
    met = notice(type="sla.met", plan="adobe-online")
    ledger = Ledger()
    assert targets(plan_deliveries(met, ROUTING, CONTACTS, ledger)) == []
    breach = notice(type="sla.breach", plan="adobe-online")
    ledger.note_pending_trigger("pd", breach)
    assert targets(plan_deliveries(met, ROUTING, CONTACTS, ledger)) == ["pd"]
    other_cycle = notice(type="sla.met", plan="adobe-online", cycle=2)
    assert targets(plan_deliveries(other_cycle, ROUTING, CONTACTS, ledger)) == []


def test_met_resolves_alertmanager_alerts_it_triggered() -> None:
    routing = parse_routing({"channels": {"am": {"kind": "alertmanager", "url": "http://127.0.0.1:9093"}},
                             "rules": [{"notify": ["am"]}]})
    met, breach = notice(type="sla.met"), notice(type="sla.breach")
    ledger = Ledger()
    assert targets(plan_deliveries(met, routing, CONTACTS, ledger)) == []
    ledger.apply(DeliveryRecord(event_id=breach.event_id, target="am", channel="am", kind="alertmanager", outcome=DELIVERED,
                                event_type=breach.type, case_id="C-1", metric="first_response", cycle=1, attempts=1,
                                recorded_at="2026-11-26T10:00:00Z"))
    assert targets(plan_deliveries(met, routing, CONTACTS, ledger)) == ["am"]
    assert ledger.open_incidents("am", met) == (breach.event_id,)
