import random

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


def in_order_and_shuffled(recs: list[DeliveryRecord], rnd: random.Random) -> tuple[Ledger, Ledger]:
    """Two ledgers fed the same records, one in order and one shuffled."""
    forward, shuffled = Ledger(), Ledger()
    for rec in recs:
        forward.apply(rec)
    mixed = list(recs)
    rnd.shuffle(mixed)
    for rec in mixed:
        shuffled.apply(rec)
    return forward, shuffled


records = st.lists(
    st.builds(record, st.sampled_from(["e1", "e2", "e3"]), st.sampled_from(["pd", "pd2"]),
              outcome=st.sampled_from([DELIVERED, DEAD_LETTERED]),
              event_type=st.sampled_from(["sla.breach", "sla.near_breach", "sla.met"]),
              resolves=st.lists(st.sampled_from(["e1", "e2", "e3"]), max_size=2).map(tuple)),
    max_size=12,
)


@given(records, st.randoms())
def test_rebuild_does_not_depend_on_record_order(recs: list[DeliveryRecord], rnd) -> None:  # type: ignore[no-untyped-def]
    forward, shuffled = in_order_and_shuffled(recs, rnd)
    assert (forward.done, forward.triggered, forward.resolved) == (shuffled.done, shuffled.triggered, shuffled.resolved)


def am_record(event_type: str, at: str = "2026-11-26T10:00:00Z", outcome: str = DELIVERED, case_id: str = "C-1",
              channel: str = "am") -> DeliveryRecord:
    event = None if event_type == "sla.met" else {"type": event_type, "at": at, "case_id": case_id}
    return DeliveryRecord(event_id=f"{case_id}-{event_type}-{at}", target=channel, channel=channel, kind="alertmanager",
                          outcome=outcome, event_type=event_type, case_id=case_id, metric="first_response", cycle=1,
                          attempts=1, recorded_at=at, event=event)


def test_alertmanager_records_keep_their_event_and_others_do_not_write_one() -> None:
    rec = am_record("sla.breach")
    assert DeliveryRecord.from_json(rec.to_json()) == rec and rec.event is not None
    assert b'"event"' not in record("e1").to_json()   # earlier records (no event) still read
    assert DeliveryRecord.from_json(record("e1").to_json()).event is None


def test_firing_alerts_keep_the_latest_stage_until_a_met_ends_them() -> None:
    ledger = Ledger()
    ledger.apply(am_record("sla.near_breach", at="2026-11-26T10:00:00Z"))
    ledger.apply(am_record("sla.breach", at="2026-11-26T11:00:00Z"))
    ledger.apply(am_record("sla.breach", case_id="C-2"))
    ledger.apply(am_record("sla.breach", case_id="C-3", outcome=DEAD_LETTERED))
    ledger.apply(am_record("sla.breach", case_id="C-4", channel="other-am"))
    firing = ledger.firing_alerts("am")
    assert set(firing) == {("C-1", "first_response", 1), ("C-2", "first_response", 1)}
    assert firing[("C-1", "first_response", 1)]["type"] == "sla.breach"
    ledger.apply(am_record("sla.met"))
    assert set(ledger.firing_alerts("am")) == {("C-2", "first_response", 1)}


alert_records = st.lists(
    st.builds(am_record, st.sampled_from(["sla.near_breach", "sla.breach", "sla.overdue", "sla.met"]),
              at=st.sampled_from(["2026-11-26T10:00:00Z", "2026-11-26T11:00:00Z"]),
              outcome=st.sampled_from([DELIVERED, DEAD_LETTERED]), case_id=st.sampled_from(["C-1", "C-2"])),
    max_size=10,
)


@given(alert_records, st.randoms())
def test_firing_alerts_do_not_depend_on_record_order(recs: list[DeliveryRecord], rnd) -> None:  # type: ignore[no-untyped-def]
    forward, shuffled = in_order_and_shuffled(recs, rnd)
    assert forward.firing_alerts("am") == shuffled.firing_alerts("am")
    ended = {r.case_id for r in recs if r.event_type == "sla.met" and r.outcome == DELIVERED}
    assert not ended & {case for case, _, _ in forward.firing_alerts("am")}
