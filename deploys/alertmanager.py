"""Alertmanager on the observability server: routes alerts to e-mail, chat, paging and a
heartbeat service.

Every receiver's credential is a secret written to a file of its own in
``/etc/alertmanager/receivers/`` that alertmanager.yml names through the type's ``*_file``
field; the YAML itself holds no secret. Our notification template
(``templates/alertmanager/obsstack.tmpl``) gives every receiver the same subject and body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyinfra import host

from obsstack import secrets
from obsstack.catalog.alerting import EMAIL_RECEIVER, NOWHERE, has_secret
from obsstack.catalog.server import (
    ALERTMANAGER_CONFIG_DIR,
    ALERTMANAGER_RECEIVERS_DIR,
    ALERTMANAGER_TEMPLATES_DIR,
    RECEIVER_SECRET,
    SMTP_PASSWORD,
)
from obsstack.fields import duration_seconds
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR
from obsstack.serialize import MANAGED, yaml_file
from operations.archive import BIN_DIR
from operations.converge import ConfigFile

CA_FILE = f"{ALERTMANAGER_CONFIG_DIR}/smtp_ca.pem"
TEMPLATE_NAME = "obsstack.tmpl"
TITLE = '{{ template "obs.title" . }}'
TEXT = '{{ template "obs.text" . }}'
# The template is checked by rendering its title with amtool's example alerts. The check
# is a format string ({path}: the candidate), so the template's braces are doubled.
TEMPLATE_CHECK = (
    f"{BIN_DIR}/amtool template render --template.glob={{path}} "
    f"--template.text='{TITLE.replace('{', '{{').replace('}', '}}')}' >/dev/null"
)
# Alertmanager groups by these unless a route says otherwise: one notification per alert
# and host.
GROUP_BY = ["alertname", "instance"]


def secret_file(receiver: str) -> str:
    """Where receiver ``receiver``'s credential is kept on the server."""
    return f"{ALERTMANAGER_RECEIVERS_DIR}/{receiver}"


def receiver_config(name: str, spec: Mapping[str, Any], tls: dict) -> dict:
    """One receiver of alertmanager.yml from its settings: the type's notifier with our
    template, its credential read from its file."""
    resolved = {"send_resolved": spec.get("send_resolved", True)}
    kind = spec["type"]
    if kind == "email":
        return {
            "name": name,
            "email_configs": [
                {
                    "to": recipient,
                    **resolved,
                    "headers": {"Subject": TITLE},
                    "text": TEXT,
                    "html": "",
                    **tls,
                }
                for recipient in spec["to"]
            ],
        }
    credential = secret_file(name)
    notifier: dict[str, Any]
    if kind == "webhook":
        notifier = {"url_file": credential, "max_alerts": spec.get("max_alerts", 0)}
    elif kind == "slack":
        notifier = {"api_url_file": credential, "title": TITLE, "text": TEXT}
        if "channel" in spec:
            notifier["channel"] = spec["channel"]
    elif kind == "pagerduty":
        notifier = {
            "routing_key_file": credential,
            "description": TITLE,
            "severity": '{{ template "obs.pagerduty.severity" . }}',
            "links": [{"href": '{{ template "obs.runbook" . }}', "text": "Runbook"}],
        }
    elif kind == "teams":
        notifier = {"webhook_url_file": credential, "title": TITLE, "text": TEXT}
    elif kind == "telegram":
        notifier = {
            "bot_token_file": credential,
            "chat_id": spec["chat_id"],
            "message": TEXT,
            # Plain text: an alert's description may hold < and & that HTML would eat.
            "parse_mode": "",
        }
    elif kind == "discord":
        notifier = {"webhook_url_file": credential, "title": TITLE, "message": TEXT}
    else:
        raise ValueError(f"receiver {name!r}: unknown type {kind!r}")
    return {"name": name, NOTIFIERS[kind]: [{**notifier, **resolved}]}


NOTIFIERS = {
    "webhook": "webhook_configs",
    "slack": "slack_configs",
    "pagerduty": "pagerduty_configs",
    "teams": "msteamsv2_configs",
    "telegram": "telegram_configs",
    "discord": "discord_configs",
}


def watchdog_route(heartbeat: Mapping[str, str] | None) -> dict:
    """Watchdog's route, first of all: to the heartbeat receiver at every interval, or to
    nowhere. Alertmanager sends at each group interval once the repeat interval has
    passed since the last send; a repeat interval a little shorter makes every one send."""
    route: dict[str, Any] = {"matchers": ['alertname="Watchdog"']}
    if not heartbeat:
        return {"receiver": NOWHERE, **route}
    interval = int(duration_seconds(heartbeat["interval"]))
    return {
        "receiver": heartbeat["receiver"],
        **route,
        "group_wait": "0s",
        "group_interval": f"{interval}s",
        "repeat_interval": f"{max(1, interval * 9 // 10)}s",
    }


def config(settings: Mapping[str, Any]) -> dict:
    """alertmanager.yml from the server's settings."""
    email = settings["alertmanager_email"]
    receivers = [{"name": NOWHERE}]
    tls: dict = {}
    top: dict[str, Any] = {}
    if email:
        smtp = {
            "smtp_smarthost": email["smarthost"],
            "smtp_from": email["sender"],
            "smtp_require_tls": email["require_tls"],
        }
        if email["auth_username"]:
            smtp |= {
                "smtp_auth_username": email["auth_username"],
                "smtp_auth_password_file": SMTP_PASSWORD.kept_in,
            }
        top["global"] = smtp
        tls = {"tls_config": {"ca_file": CA_FILE}} if email["ca_file"] else {}
        receivers.append(
            receiver_config(EMAIL_RECEIVER, {"type": "email", "to": email["recipients"]}, tls)
        )
    receivers += [
        receiver_config(name, spec, tls)
        for name, spec in settings["alertmanager_receivers"].items()
    ]
    intervals = settings["alertmanager_time_intervals"]
    return {
        **top,
        "templates": [f"{ALERTMANAGER_TEMPLATES_DIR}/*.tmpl"],
        "route": {
            "receiver": settings["alertmanager_default_receiver"],
            "group_by": GROUP_BY,
            "group_wait": settings["alertmanager_group_wait"],
            "group_interval": settings["alertmanager_group_interval"],
            "repeat_interval": settings["alertmanager_repeat_interval"],
            "routes": [
                watchdog_route(settings["alertmanager_heartbeat"]),
                *settings["alertmanager_routes"],
            ],
        },
        "inhibit_rules": settings["alertmanager_inhibit_rules"],
        **(
            {
                "time_intervals": [
                    {"name": name, "time_intervals": spans} for name, spans in intervals.items()
                ]
            }
            if intervals
            else {}
        ),
        "receivers": receivers,
    }


def config_files() -> tuple[ConfigFile, ...]:
    """The relay's password and CA when it needs them, the receivers' credentials, our
    notification template, then alertmanager.yml."""
    settings = host.data.dict()
    store = repo_path(host.data.secrets_dir)
    email = settings["alertmanager_email"]
    files = []
    if email and email["auth_username"]:
        password = secrets.read(SMTP_PASSWORD.name, store)
        files.append(ConfigFile(SMTP_PASSWORD.kept_in, password, secret=True))
    if email and email["ca_file"]:
        files.append(ConfigFile(CA_FILE, repo_path(email["ca_file"]).read_text(), mode="0644"))
    for name, spec in settings["alertmanager_receivers"].items():
        if has_secret(spec):
            credential = secrets.read(RECEIVER_SECRET.name_for(name), store)
            files.append(ConfigFile(secret_file(name), credential, secret=True))
    files.append(
        ConfigFile(
            f"{ALERTMANAGER_TEMPLATES_DIR}/{TEMPLATE_NAME}",
            (TEMPLATES_DIR / "alertmanager" / TEMPLATE_NAME).read_text(),
            validate=TEMPLATE_CHECK,
            mode="0644",
        )
    )
    files.append(
        ConfigFile(
            f"{ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
            yaml_file(config(settings), MANAGED),
            validate=f"{BIN_DIR}/amtool check-config {{path}}",
        )
    )
    return tuple(files)
