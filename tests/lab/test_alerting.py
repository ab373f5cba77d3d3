"""Alerts go all the way: a target dies, Prometheus fires, Alertmanager routes it to every
receiver the lab configures, and holds back what its inhibitions and time intervals say.

The lab's receivers (obslab/settings.py) are real servers on the controller: an SMTP relay
(STARTTLS with the lab CA, login with the smtp_password secret) and an HTTP server that
keeps every webhook payload (obslab/webhookcatcher.py), whose URLs Alertmanager reads from
the receivers' secret files. Durations are shortened for the test (InstanceDown after 10s,
group_wait 1s, the heartbeat every 10s).
"""

from __future__ import annotations

import html
import itertools
import re
import time
from collections.abc import Callable
from email.message import Message

import pytest
from conftest import proxy_request, server_get
from waiting import wait_until

from obslab import services

pytestmark = pytest.mark.lab

VICTIM = "app1"
OTHER = "web1"
HEARTBEAT_INTERVAL = 10  # obslab/settings.py: alertmanager_heartbeat


@pytest.fixture(scope="module")
def webhooks(deployed):
    """What the lab's webhook receiver (started by lab_ready, always running) has kept."""
    return services.webhook_spool()


def target_health(instance: str) -> str | None:
    for target in server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]:
        if target["labels"]["job"] == "node" and target["labels"]["instance"] == instance:
            return target["health"]
    return None


def probe(instance: str, **labels: str) -> dict:
    """An alert as Prometheus posts it, for one of the exporters of ``instance``."""
    return {
        "labels": {
            "alertname": "LabExporterProbe",
            "instance": instance,
            "severity": "warning",
            "job": "probe",
            **labels,
        },
        "annotations": {"summary": f"probe on {instance}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def carries(payload: dict, **labels: str) -> bool:
    return any(
        all(alert["labels"].get(key) == value for key, value in labels.items())
        for alert in payload["alerts"]
    )


def instance_down(status: str) -> Callable[[dict], bool]:
    """A webhook payload of VICTIM's InstanceDown, ``status`` firing or resolved."""
    return lambda p: p["status"] == status and carries(p, alertname="InstanceDown", instance=VICTIM)


def instance_down_mail(status: str) -> Callable[[Message], bool]:
    """A mail of VICTIM's InstanceDown, ``status`` FIRING or RESOLVED (in its subject)."""
    return lambda m: all(word in m["Subject"] for word in ("InstanceDown", VICTIM, status))


def test_the_heartbeat_posts_watchdog_every_interval(webhooks):
    """Watchdog has been posted since the lab's deploy: the last three heartbeats are one
    interval apart, the last one less than an interval ago."""

    def last_beats() -> list[tuple[int, dict]]:
        recent = time.time_ns() - 4 * HEARTBEAT_INTERVAL * 10**9
        return [
            (arrived, payload)
            for arrived, payload in webhooks.payloads("heartbeat", recent)
            if carries(payload, alertname="Watchdog")
        ][-3:]

    def regular() -> bool:
        beats = [arrived / 1e9 for arrived, _ in last_beats()]
        gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
        return (
            len(beats) == 3
            and time.time() - beats[-1] <= HEARTBEAT_INTERVAL + 2
            and all(abs(gap - HEARTBEAT_INTERVAL) <= 2 for gap in gaps)
        )

    wait_until(regular, timeout=4 * HEARTBEAT_INTERVAL, what="three regular heartbeats")
    _, payload = last_beats()[-1]
    assert payload["receiver"] == "heartbeat" and payload["status"] == "firing"
    assert [alert["labels"]["alertname"] for alert in payload["alerts"]] == ["Watchdog"]
    # Watchdog goes nowhere else: it is not news.
    assert not any(carries(p, alertname="Watchdog") for _, p in webhooks.payloads("lab-hook"))


def test_a_receivers_url_is_a_secret_file_not_in_the_config(hosts):
    obs = hosts["obs"]
    for name in services.WEBHOOK_RECEIVERS:
        secret = obs.file(f"/etc/alertmanager/receivers/{name}")
        assert (secret.mode, secret.user, secret.group) == (0o640, "root", "alertmanager")
    config = obs.file("/etc/alertmanager/alertmanager.yml").content_string
    assert f":{services.WEBHOOK_PORT}/" not in config
    assert "url_file: /etc/alertmanager/receivers/lab-hook" in config


def test_instance_down_reaches_every_receiver_and_holds_back_its_hosts_alerts(
    deployed, hosts, mail, webhooks
):
    wait_until(lambda: target_health(VICTIM) == "up", timeout=60, what=f"{VICTIM} up")
    rejected_before = mail.rejected_logins()
    started = time.time_ns()
    hosts[VICTIM].check_output("systemctl stop node_exporter.service")
    probes = [probe(VICTIM), probe(OTHER), probe(OTHER, muted="always", job="muted")]
    try:
        arrival = webhooks.wait_for(
            "lab-hook", instance_down("firing"), timeout=120, since_ns=started
        )
        assert arrival is not None, f"no InstanceDown payload for {VICTIM} within 120s"
        _, payload = arrival
        assert payload["receiver"] == "lab-hook"
        assert payload["groupLabels"] == {"alertname": "InstanceDown", "instance": VICTIM}
        assert payload["externalURL"] == "https://obs.lab.test/alertmanager"
        alert = payload["alerts"][0]
        assert alert["labels"]["job"] == "node" and alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks/InstanceDown.md")

        message = mail.wait_for(instance_down_mail("FIRING"), timeout=60, since_ns=started)
        assert message is not None, (
            f"no InstanceDown mail for {VICTIM}; subjects seen: "
            f"{[m['Subject'] for m in mail.messages()]}; rejected logins: "
            f"{mail.rejected_logins()}"
        )
        assert message["Subject"] == f"[FIRING:1] InstanceDown on {VICTIM} (critical)"
        assert message["To"] == "ops@lab.test"
        assert message["From"] == "alertmanager@obs.lab.test"
        assert mail.rejected_logins() == rejected_before
        text = body(message)
        # What, where, since when and where to read on, for whoever is on call.
        assert f"Prometheus cannot scrape the node target on {VICTIM}" in text
        assert f"Where: {VICTIM}, job node, role monitored, env lab" in text
        assert re.search(r"Since: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
        assert "Runbook: https://" in text and "/InstanceDown.md" in text

        # While InstanceDown fires for VICTIM: an exporter's alert there is inhibited, the
        # same alert on OTHER is delivered, and one a time interval mutes is held back.
        posted = time.time_ns()
        assert proxy_request("POST", "/alertmanager/api/v2/alerts", json=probes).status_code == 200
        control = webhooks.wait_for(
            "lab-hook",
            lambda p: carries(p, alertname="LabExporterProbe", instance=OTHER, job="probe"),
            timeout=60,
            since_ns=posted,
        )
        assert control is not None, "the control alert on the other host was not delivered"
        # The held-back alerts' groups flush on the same group_wait as the control's: two
        # heartbeats after the control (one heartbeat interval at least) they have had
        # their chance to be sent.
        wait_until(
            lambda: len(webhooks.payloads("heartbeat", control[0])) >= 2,
            timeout=4 * HEARTBEAT_INTERVAL,
            what="two heartbeats after the control alert",
        )
        delivered = [p for _, p in webhooks.payloads("lab-hook", posted)]
        assert not any(carries(p, alertname="LabExporterProbe", instance=VICTIM) for p in delivered)
        assert not any(carries(p, alertname="LabExporterProbe", muted="always") for p in delivered)
        listed = proxy_request(
            "GET", "/alertmanager/api/v2/alerts", params={"filter": 'alertname="LabExporterProbe"'}
        ).json()
        inhibited = next(a for a in listed if a["labels"]["instance"] == VICTIM)
        assert inhibited["status"]["state"] == "suppressed"
        assert inhibited["status"]["inhibitedBy"], inhibited["status"]
    finally:
        hosts[VICTIM].check_output("systemctl start node_exporter.service")
        ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        proxy_request(
            "POST", "/alertmanager/api/v2/alerts", json=[{**p, "endsAt": ended} for p in probes]
        )
    wait_until(lambda: target_health(VICTIM) == "up", timeout=60, what=f"{VICTIM} back up")
    resolved = webhooks.wait_for(
        "lab-hook", instance_down("resolved"), timeout=120, since_ns=started
    )
    assert resolved is not None, "no resolved InstanceDown payload"
    resolved_mail = mail.wait_for(instance_down_mail("RESOLVED"), timeout=60, since_ns=started)
    assert resolved_mail is not None, [m["Subject"] for m in mail.messages(since_ns=started)]


def body(message: Message) -> str:
    """The text of a mail, whatever parts it has, with HTML's line breaks and tags gone."""
    parts = message.walk() if message.is_multipart() else [message]
    text = " ".join(
        part.get_payload(decode=True).decode(errors="replace")
        for part in parts
        if part.get_content_maintype() == "text"
    )
    return " ".join(re.sub(r"<[^>]+>", " ", html.unescape(text)).split())
