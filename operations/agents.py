"""What a monitored host runs that an agent watches, read during the deploy: pyinfra facts.

The same detection script and parsers as ``obsstack.agents`` (which the deploy pipeline
runs before it deploys, so that every wave and a rollback see one answer), for a plain
``pyinfra INVENTORY deploys/site.py`` with ``agents = "auto"``. An answer that cannot be
read fails the fact, and the deploy stops: nothing is deployed on a guess.

Example (a deploy file)::

    from operations.agents import DetectedAgents, ServedPools
    host.get_fact(DetectedAgents)  # {'agents': ['nginx', 'php_fpm'], 'pools': [...]}
    host.get_fact(ServedPools)  # [{'php': '8.4', 'pool': 'www'}]
"""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError
from typing_extensions import override

from obsstack.agents import DETECTION_SCRIPT, DetectionError, parse_detected, served_pools
from operations.fpm_pools import POOLS_SCRIPT


class DetectedAgents(FactBase[dict[str, Any] | None]):
    """
    Returns the agents the host's installed services call for, and the PHP-FPM pools the
    php_fpm agent would serve; None when the host's answer could not be read.

    .. code:: python

        {"agents": ["nginx", "php_fpm"], "pools": [{"php": "8.4", "pool": "www"}]}
    """

    shell_executable = "bash"

    @staticmethod
    def default() -> dict[str, Any] | None:
        return None

    @override
    def command(self) -> str:
        return DETECTION_SCRIPT + POOLS_SCRIPT

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        text = "\n".join(output) + "\n"
        try:
            agents = parse_detected(text)
            pools = served_pools(text) if "php_fpm" in agents else []
        except DetectionError as error:
            raise FactProcessError(str(error)) from error
        return {"agents": agents, "pools": pools}


class ServedPools(FactBase[list[dict[str, str]] | None]):
    """
    Returns the PHP-FPM pools the php_fpm agent serves on the host; None when the host's
    answer could not be read.

    .. code:: python

        [{"php": "8.4", "pool": "www"}]
    """

    shell_executable = "bash"

    @staticmethod
    def default() -> list[dict[str, str]] | None:
        return None

    @override
    def command(self) -> str:
        return POOLS_SCRIPT

    @override
    def process(self, output: list[str]) -> list[dict[str, str]]:
        try:
            return served_pools("\n".join(output) + "\n")
        except DetectionError as error:
            raise FactProcessError(str(error)) from error
