"""Read logs from Loki through the proxy, as a user does (``invoke logs``).

A LogQL query goes to ``https://<domain>/loki/api/v1/query_range`` of the inventory's
observability server, logged in as a proxy user with the ``loki`` permission (the first
such user of ``proxy_users`` unless one is named), whose password comes from the secrets
store; the certificate is checked against the system's CAs, or ``proxy_ca_file``.

Example::

    from obsstack.logs import query_logs
    for line in query_logs("inventories/lab.py", '{host="web1", job="journal"}', since="1h"):
        print(line.time, line.labels.get("unit"), line.text)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import requests

from obsstack import secrets
from obsstack.catalog.server import LOKI, PROXY_PASSWORD
from obsstack.inventory import repo_path
from obsstack.session import describe_inventory
from obsstack.settings import SettingsError, parse_duration
from obsstack.worker import in_worker

QUERY_TIMEOUT_SECONDS = 60


class LogQueryError(Exception):
    """Loki or the proxy refused the query, or could not be reached."""


@dataclass(frozen=True)
class LogLine:
    time: str  # UTC, ISO 8601 with nanoseconds cut to microseconds
    labels: dict[str, str]
    text: str

    def as_dict(self) -> dict:
        return asdict(self)


@in_worker
def query_logs(
    inventory: str, query: str, since: str = "1h", limit: int = 100, user: str | None = None
) -> list[LogLine]:
    """The newest ``limit`` lines ``query`` selects within ``since``, oldest first."""
    server = next(
        (host for host in describe_inventory(inventory) if "observability" in host.groups), None
    )
    if server is None:
        raise SettingsError(f"{inventory}: no host in the group observability: no Loki to ask")
    data = server.data
    readers = [name for name, allowed in data["proxy_users"].items() if LOKI.proxy.name in allowed]
    if user is None and not readers:
        raise SettingsError(
            f"{inventory}: no user of proxy_users has the {LOKI.proxy.name!r} permission"
        )
    user = user or readers[0]
    if user not in readers:
        raise SettingsError(f"{inventory}: proxy user {user!r} lacks the 'loki' permission")
    password = secrets.read(PROXY_PASSWORD.name_for(user), repo_path(data["secrets_dir"]))
    end = time.time_ns()
    start = end - int(parse_duration(since) * 1e9)
    try:
        answer = requests.get(
            f"https://{data['domain']}/loki/api/v1/query_range",
            params={"query": query, "start": start, "end": end, "limit": limit,
                    "direction": "backward"},
            auth=(user, password),
            verify=str(repo_path(data["proxy_ca_file"])) if data.get("proxy_ca_file") else True,
            timeout=QUERY_TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise LogQueryError(f"cannot reach https://{data['domain']}/loki/: {error}") from error
    if answer.status_code != 200:
        raise LogQueryError(f"Loki answered {answer.status_code}: {answer.text.strip()[:500]}")
    return parse_streams(answer.json())


def parse_streams(answer: dict) -> list[LogLine]:
    """The lines of a ``query_range`` answer of streams, oldest first."""
    if answer.get("data", {}).get("resultType") != "streams":
        raise LogQueryError("the query is not a log query (it returned no streams)")
    lines = [
        (int(stamp), stream["stream"], text)
        for stream in answer["data"]["result"]
        for stamp, text in stream["values"]
    ]
    return [
        LogLine(
            datetime.fromtimestamp(stamp / 1e9, UTC).isoformat(timespec="microseconds"),
            labels,
            text,
        )
        for stamp, labels, text in sorted(lines, key=lambda line: line[0])
    ]
