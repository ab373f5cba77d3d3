"""The lab's settings: the data of the group ``lab`` in inventories/lab.py.

They override group_data/ for the lab's hosts only; no other inventory loads this module.
GitHub release downloads are not reachable from the lab's machines, so the lab installs
from its own release mirror: archives shaped exactly like upstream's, built from the
Debian 12 and 13 packages of the same programs (see obslab/mirror.py). The pins are the
sha256 values computed when that mirror was built.

Example::

    from obslab.settings import lab_settings
    lab_settings()["domain"]   # 'obs.lab.test'
"""

from __future__ import annotations

from typing import Any

from obslab import machines, services, victoriametrics


def lab_settings() -> dict[str, Any]:
    """The settings every lab host gets, on top of group_data/."""
    return {
        "environment": "lab",
        "artifact_source": str(services.MIRROR_DIR),
        "releases": services.mirror_releases(services.MIRROR_DIR, newest=True),
        "secrets_dir": str(services.SECRETS_DIR),
        # Short intervals: the lab is for watching things happen.
        "prometheus_scrape_interval": "5s",
        "prometheus_evaluation_interval": "5s",
        "alertmanager_group_wait": "5s",
        "alertmanager_group_interval": "10s",
        "health_gate_timeout": "30s",
        # The lab's mail relay is a catcher on the controller (obslab/mailcatcher.py) with a
        # certificate from the lab's own CA.
        "alertmanager_email": {
            "smarthost": f"{machines.GATEWAY}:{services.SMTP_PORT}",
            "sender": "alertmanager@obs.lab.test",
            "recipients": ["ops@lab.test"],
            "auth_username": services.SMTP_USERNAME,
            "require_tls": True,
            "ca_file": str(services.SMTP_IDENTITY_DIR / "ca.pem"),
        },
        # Every alert also goes to the lab's webhook receiver on the controller
        # (obslab/webhookcatcher.py), and Watchdog to its heartbeat path every 10s; an
        # alert labelled muted="always" is held back by a time interval that is always now.
        "alertmanager_receivers": {
            name: {"type": "webhook"} for name in services.WEBHOOK_RECEIVERS
        },
        "alertmanager_routes": [
            {
                "receiver": "lab-hook",
                "matchers": ['muted="always"'],
                "mute_time_intervals": ["always"],
            },
            {"receiver": "lab-hook", "continue": True},
            {"receiver": "email"},
        ],
        "alertmanager_time_intervals": {
            "always": [{"times": [{"start_time": "00:00", "end_time": "24:00"}]}]
        },
        "alertmanager_heartbeat": {"receiver": "heartbeat", "interval": "10s"},
        # A long-term store on outsider (obslab/victoriametrics.py): Prometheus writes every
        # sample to it, and scrapes it as a user's own job, each with its own login. Short
        # backoffs: the outage test watches the WAL catch up.
        "prometheus_remote_write": [
            {
                "name": victoriametrics.ENDPOINT,
                "url": victoriametrics.write_url(),
                "auth": {"type": "basic", "username": victoriametrics.WRITE_USER},
                "queue": {"min_backoff": "100ms", "max_backoff": "2s"},
            }
        ],
        "prometheus_external_labels": {"cluster": "lab"},
        "prometheus_scrape_jobs": [
            {
                "job": victoriametrics.JOB,
                "static_targets": [victoriametrics.scrape_target()],
                "metrics_path": victoriametrics.METRICS_PATH,
                "labels": {"team": "storage"},
                "auth": {"type": "basic", "username": victoriametrics.SCRAPE_USER},
            }
        ],
        # The lab's ACME CA is pebble on the controller (obslab/services.py): certbot on obs
        # gets a real certificate for the lab's domain over HTTP-01, trusting pebble's HTTPS
        # with the lab CA's bundle.
        "domain": machines.LAB_DOMAIN,
        "acme_email": "ops@lab.test",
        "acme_directory_url": services.ACME_DIRECTORY_URL,
        "acme_ca_bundle": str(services.ACME_CA_BUNDLE),
        # The controller's own requests to the proxy (invoke logs) trust pebble's root.
        "proxy_ca_file": str(services.PEBBLE_ROOT_FILE),
        # An administrator, and a user who may look but not silence (the proxy's read-only
        # default).
        "proxy_users": {
            "admin": ["prometheus", "alertmanager", "alertmanager_write", "loki", "grafana"],
            "viewer": ["prometheus", "alertmanager", "grafana"],
        },
        # In Grafana too: the administrator is its Admin, the viewer a Viewer (the default).
        "grafana_roles": {"admin": "Admin"},
        # No Alloy build can be obtained on the lab machines (obslab/grafana.py): the lab's
        # hosts ship no logs; the tests push lines to Loki through the proxy themselves.
        "alloy_enabled": False,
        # Short intervals here too: the log alerts and the retention tests watch them.
        "loki_ruler_evaluation_interval": "5s",
        "loki_compaction_interval": "10s",
        "loki_retention_delete_delay": "1s",
        # tests/lab/test_logs.py proves retention deletes on streams labelled like this.
        "loki_retention_streams": [
            {"selector": '{retention="short"}', "period": "24h", "priority": 1}
        ],
        # The lab's blackbox probes: the server's public health endpoint, over TLS from pebble.
        "blackbox_targets": [f"https://{machines.LAB_DOMAIN}/healthz"],
        "blackbox_ca_file": str(services.PEBBLE_ROOT_FILE),
        # Backups over SFTP to outsider, which stands for the storage host elsewhere; its
        # host key is in the lab's known_hosts.
        "backup_repository": services.backup_repository(),
        "backup_sftp_known_hosts": str(machines.KNOWN_HOSTS),
    }
