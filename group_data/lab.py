"""Settings for the local lab (inventories/lab.py), overriding all.py for its hosts.

GitHub release downloads are not reachable from the lab's machines, so the lab installs
from its own release mirror: archives shaped exactly like upstream's, built from the
Debian 12 and 13 packages of the same programs (see obsstack/mirror.py). The pins are the
sha256 values computed when that mirror was built.
"""

from obsstack import lab as _lab
from obsstack import labdata as _labdata

environment = "lab"
artifact_source = str(_labdata.MIRROR_DIR)
releases = _labdata.mirror_releases(_labdata.MIRROR_DIR, newest=True)
secrets_dir = str(_labdata.SECRETS_DIR)

# Short intervals: the lab is for watching things happen.
prometheus_scrape_interval = "5s"
prometheus_evaluation_interval = "5s"
alertmanager_group_wait = "5s"
alertmanager_group_interval = "10s"
health_gate_timeout = "30s"

# The lab's mail relay is a catcher on the controller (obsstack/mailcatcher.py) with a
# certificate from the lab's own CA.
alertmanager_email = {
    "smarthost": f"{_lab.GATEWAY}:{_labdata.SMTP_PORT}",
    "sender": "alertmanager@obs.lab.test",
    "recipients": ["ops@lab.test"],
    "auth_username": _labdata.SMTP_USERNAME,
    "require_tls": True,
    "ca_file": str(_labdata.SMTP_IDENTITY_DIR / "ca.pem"),
}

# The lab's ACME CA is pebble on the controller (obsstack/labdata.py): certbot on obs gets
# a real certificate for the lab's domain over HTTP-01, trusting pebble's HTTPS with the
# lab CA's bundle.
domain = _lab.LAB_DOMAIN
acme_email = "ops@lab.test"
acme_directory_url = _labdata.ACME_DIRECTORY_URL
acme_ca_bundle = str(_labdata.ACME_CA_BUNDLE)

# An administrator, and a user who may look but not silence (the proxy's read-only default).
proxy_users = {
    "admin": ["prometheus", "alertmanager", "alertmanager_write"],
    "viewer": ["prometheus", "alertmanager"],
}

# The lab's blackbox probes: the server's public health endpoint, over TLS from pebble.
blackbox_targets = [f"https://{_lab.LAB_DOMAIN}/healthz"]
blackbox_ca_file = str(_labdata.PEBBLE_ROOT_FILE)
