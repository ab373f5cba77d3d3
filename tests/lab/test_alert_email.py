"""An alert goes all the way: a target dies, Prometheus fires, Alertmanager mails the relay.

The relay is a real SMTP server on the controller (STARTTLS with the lab CA, login with
the smtp_password secret); durations are shortened for the test (InstanceDown after 10s).
"""

from __future__ import annotations

import html
import re
import time
from email.message import Message

import pytest
from conftest import server_get
from waiting import wait_until

pytestmark = pytest.mark.lab

VICTIM = "app1"


def target_health(instance: str) -> str | None:
    for target in server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]:
        if target["labels"]["job"] == "node" and target["labels"]["instance"] == instance:
            return target["health"]
    return None


def test_instance_down_mail_arrives(deployed, hosts, mail):
    wait_until(lambda: target_health(VICTIM) == "up", timeout=60, what=f"{VICTIM} up")
    rejected_before = mail.rejected_logins()
    started = time.time_ns()
    hosts[VICTIM].check_output("systemctl stop node_exporter.service")
    try:
        message = mail.wait_for(
            lambda m: "InstanceDown" in m["Subject"] and VICTIM in m["Subject"]
            and "FIRING" in m["Subject"],
            timeout=120,
            since_ns=started,
        )
        assert message is not None, (
            f"no InstanceDown mail for {VICTIM} within 120s; "
            f"subjects seen: {[m['Subject'] for m in mail.messages()]}; "
            f"rejected logins: {mail.rejected_logins()}"
        )
        assert message["To"] == "ops@lab.test"
        assert message["From"] == "alertmanager@obs.lab.test"
        assert mail.rejected_logins() == rejected_before
        text = body(message)
        # The rule's own description, with the labels filled in, reaches the reader.
        assert f"Prometheus cannot scrape the node target on {VICTIM}" in text
        assert "role monitored, env lab" in text
    finally:
        hosts[VICTIM].check_output("systemctl start node_exporter.service")
    wait_until(lambda: target_health(VICTIM) == "up", timeout=60, what=f"{VICTIM} back up")
    resolved = mail.wait_for(
        lambda m: "InstanceDown" in m["Subject"] and VICTIM in m["Subject"]
        and "RESOLVED" in m["Subject"],
        timeout=120,
        since_ns=started,
    )
    assert resolved is not None, [m["Subject"] for m in mail.messages(since_ns=started)]
    assert resolved["To"] == "ops@lab.test"


def body(message: Message) -> str:
    """The text of a mail, whatever parts it has, with HTML's line breaks and tags gone."""
    parts = message.walk() if message.is_multipart() else [message]
    text = " ".join(
        part.get_payload(decode=True).decode(errors="replace")
        for part in parts
        if part.get_content_maintype() == "text"
    )
    return " ".join(re.sub(r"<[^>]+>", " ", html.unescape(text)).split())
