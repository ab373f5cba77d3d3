"""A plain ``pyinfra INVENTORY deploys/site.py`` detects the agents of ``agents = "auto"``
hosts itself (facts), and stops without planning anything when it cannot read them.

Through the ``@fake`` connector (``production_plan``): the detection script's answer is
scripted, everything else answers as a stock Debian server.
"""

from __future__ import annotations

import sys

from production_plan import SERVER, WEB, plan

DETECTION = "systemctl list-unit-files --no-legend --type=service"


def test_the_agents_found_on_a_host_are_deployed_and_scraped(tmp_path):
    planned = plan(
        sys.executable,
        tmp_path,
        data={"agents": "auto"},
        responses={DETECTION: ["@agent nginx", "@detected"]},
    )
    assert planned.returncode == 0, planned.log[-3000:]
    assert "Unit file /etc/systemd/system/nginx_exporter.service" in planned.hosts[WEB]
    assert "MySQL account obs_exporter@localhost" not in planned.hosts[WEB]
    assert "prometheus: /etc/prometheus/file_sd/nginx.yml" in planned.hosts[SERVER]
    assert "prometheus: /etc/prometheus/file_sd/mysql.yml" not in planned.hosts[SERVER]


def test_an_answer_cut_short_plans_nothing_anywhere(tmp_path):
    planned = plan(
        sys.executable,
        tmp_path,
        data={"agents": "auto"},
        responses={DETECTION: ["@agent nginx"]},  # no end marker
    )
    assert planned.returncode != 0
    assert planned.hosts == {}
    assert "cannot tell which agents it runs" in planned.log
