from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.ledger import DEAD_LETTERED, DELIVERED, DeliveryRecord, Ledger
from tests.notify.factories import notice


def record(event_id: str, target: str = "pd", kind: str = "pagerduty", outcome: str = DELIVERED,
           event_type: str = "sla.breach", resolves: tuple[str, ...] = (), cycle: int = 1) -> DeliveryRecord:
    return DeliveryRecord(event_id=event_id, target=target, channel=target, kind=kind, outcome=outcome,
                          event_type=event_type, case_id="C-1", metric="first_response", cycle=cycle,
                          attempts=1, recorded_at="2026-11-26T10:00:00Z", resolves=resolves)


def test_json_round_trip_and_key() -> None:
    rec = record("e1", resolves=("a", "b"))
    assert DeliveryRecord.from_json(rec.to_json()) == rec
    assert rec.key == b"e1|pd"


def test_seen_after_any_final_outcome() -> None:
    ledger = Ledger()
    ledger.apply(record("e1", outcome=DEAD_LETTERED))
    assert ledger.seen("e1", "pd") and not ledger.seen("e1", "other") and not ledger.seen("e2", "pd")


def test_delivered_triggers_are_open_until_a_resolve_names_them() -> None:
    ledger = Ledger()
    met = notice(type="sla.met")
    ledger.apply(record("t90", event_type="sla.near_breach"))
    ledger.apply(record("t100", event_type="sla.breach"))
    ledger.apply(record("other-cycle", cycle=2))
    ledger.apply(record("failed", outcome=DEAD_LETTERED))
    assert ledger.open_incidents("pd", met) == ("t100", "t90")
    ledger.apply(record(met.event_id, event_type="sla.met", resolves=("t100", "t90")))
    assert ledger.open_incidents("pd", met) == ()
    assert not ledger.may_need_resolve("pd", met)


def test_a_queued_trigger_makes_a_met_event_wait_for_it() -> None:
    ledger = Ledger()
    breach, met = notice(type="sla.breach"), notice(type="sla.met")
    ledger.note_pending_trigger("pd", breach)
    assert ledger.may_need_resolve("pd", met) and ledger.open_incidents("pd", met) == ()
    ledger.apply(record(breach.event_id))
    assert ledger.pending == {} and ledger.open_incidents("pd", met) == (breach.event_id,)


records = st.lists(
    st.builds(record, st.sampled_from(["e1", "e2", "e3"]), st.sampled_from(["pd", "pd2"]),
              outcome=st.sampled_from([DELIVERED, DEAD_LETTERED]),
              event_type=st.sampled_from(["sla.breach", "sla.near_breach", "sla.met"]),
              resolves=st.lists(st.sampled_from(["e1", "e2", "e3"]), max_size=2).map(tuple)),
    max_size=12,
)


@given(records, st.randoms())
def test_rebuild_does_not_depend_on_record_order(recs: list[DeliveryRecord], rnd) -> None:  # type: ignore[no-untyped-def]
    forward, shuffled = Ledger(), Ledger()
    for rec in recs:
        forward.apply(rec)
    mixed = list(recs)
    rnd.shuffle(mixed)
    for rec in mixed:
        shuffled.apply(rec)
    assert (forward.done, forward.triggered, forward.resolved) == (shuffled.done, shuffled.triggered, shuffled.resolved)
