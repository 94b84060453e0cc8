"""The notifier's log lines carry case_id and event_id, never a customer id or an e-mail address.

Runs the real notifier against the real broker with e-mail targets that resolve (a contact), that
do not resolve (a role the customer lacks) and that fail (an SMTP server that is not there), and
captures every log line it writes through the shared logging setup.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from monitor.embedded_broker import EmbeddedBroker, free_port
from monitor.notify.contacts import parse_contacts
from monitor.runtime.logging import configure_logging
from tests.notify.factories import event_dict
from tests.notify.loopback import eventually, fresh_topics, metric, produce_events, running_notifier

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CUSTOMER = "ACME-SECRET-7"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


async def test_notifier_logs_no_customer_id_and_no_email_address(broker: EmbeddedBroker) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    dead_smtp = free_port()   # nothing listens there: every e-mail delivery fails and is dead-lettered
    retry = {"max_attempts": 2, "base_seconds": 0.01, "max_seconds": 0.02, "timeout_seconds": 1.0}
    routing = {
        "channels": {"email": {"kind": "email", "host": "127.0.0.1", "port": dead_smtp, "security": "none",
                               "from": "sla@monitor.example", "to": "escalations@support.example", "retry": retry}},
        "rules": [{"name": "all", "match": {}, "notify": [
            "email", {"channel": "email", "to": "contact:named_support_engineer"},
            {"channel": "email", "to": "contact:account_support_lead"}, {"channel": "email", "to": "ops.lead@corp.example"}]}],
    }
    contacts = parse_contacts({"customers": {CUSTOMER: {"name": "Acme", "named_support_engineer": "jane.doe@acme.example"}}},
                              "contacts.toml")
    topics = await fresh_topics(broker.bootstrap)
    events = [event_dict(case_id="C-LOG-1", customer_id=CUSTOMER), event_dict(case_id="C-LOG-2", type="sla.breach",
                                                                              customer_id=CUSTOMER)]
    await produce_events(broker.bootstrap, topics, events)
    async with running_notifier(broker.bootstrap, topics, routing, {}, contacts) as notifier:
        await eventually(lambda: metric(notifier, "sla_notifications_total", channel="email", outcome="dead_lettered") >= 6,
                         40, "every e-mail delivery dead-lettered")
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "contact_unresolved" for line in lines)
    assert any(line.get("event") == "dead_lettered" and line.get("case_id") == "C-LOG-2" and line.get("event_id")
               for line in lines)
    assert CUSTOMER not in text
    assert not EMAIL.search(text), EMAIL.search(text)
