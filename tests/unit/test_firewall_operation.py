"""ufw_firewall: parse UFW's real output, converge to exactly the listed rules, keep SSH open."""

from __future__ import annotations

import subprocess

import pytest
from fakehost import run_operation

from operations.firewall import FirewallRule, SshdPorts, UfwState, ufw_firewall

# UfwState's command on a Debian 13 host, as captured (ufw status | head -n 1; the two
# DEFAULT_*_POLICY lines of /etc/default/ufw; ufw show added).
ACTIVE_HOST = """\
Status: active
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp
ufw allow from 10.99.0.10 to any port 9100 proto tcp comment 'obs: node_exporter'
ufw allow 443/tcp
ufw allow from 10.0.0.0/8 to any port 53 proto udp
"""
ACTIVE_LINES = ACTIVE_HOST.splitlines()[4:]

# The rules that host was made with, in the same order.
ACTIVE_RULES = [
    FirewallRule(22),
    FirewallRule(9100, source="10.99.0.10", comment="obs: node_exporter"),
    FirewallRule(443),
    FirewallRule(53, proto="udp", source="10.0.0.0/8"),
]

# ufw freshly installed from Debian's package: inactive, its packaged default policies,
# and `ufw show added` with no rule at all.
FRESH_INSTALL = """\
Status: inactive
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
Added user rules (see 'ufw status' for running firewall):
(None)
"""

# What pyinfra's `requires_command` guard prints when the ufw binary is absent.
UFW_MISSING = "##PYINFRA_NOCMD##"

# The fact's command ends with `ufw show added`; no command of the operation contains it.
FACT = "ufw show added"


def host_state(output: str) -> dict:
    return {FACT: output}


def operation_commands(run) -> list[str]:
    """The commands the operation ran, without the UfwState lookup."""
    assert FACT in run.commands[0], run.commands
    return run.commands[1:]


# --- UfwState -------------------------------------------------------------------------------


def test_fact_parses_an_active_host_with_its_policies_and_rules_in_order():
    assert UfwState().process(ACTIVE_HOST.splitlines()) == {
        "active": True,
        "incoming": "deny",
        "outgoing": "allow",
        "rules": ACTIVE_LINES,
    }


def test_fact_parses_an_inactive_host_without_rules():
    """`(None)`, the placeholder `ufw show added` prints, is not taken for a rule."""
    assert UfwState().process(FRESH_INSTALL.splitlines()) == {
        "active": False,
        "incoming": "deny",
        "outgoing": "allow",
        "rules": [],
    }


def test_fact_maps_reject_and_accept_policies_to_ufw_words():
    output = ["Status: active", 'DEFAULT_INPUT_POLICY="REJECT"', 'DEFAULT_OUTPUT_POLICY="DROP"']
    state = UfwState().process(output)
    assert (state["incoming"], state["outgoing"]) == ("reject", "deny")


def test_fact_default_without_ufw_is_inactive_with_no_policy_and_no_rule():
    assert UfwState.default() == {
        "active": False,
        "incoming": None,
        "outgoing": None,
        "rules": [],
    }


def test_fact_default_is_a_fresh_object_each_time():
    """process() appends to the default's rule list: it must not leak between hosts."""
    UfwState().process(ACTIVE_HOST.splitlines())
    assert UfwState.default()["rules"] == []


# --- FirewallRule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "line"), list(zip(ACTIVE_RULES, ACTIVE_LINES, strict=True)), ids=str
)
def test_added_line_is_exactly_what_ufw_show_added_prints(rule, line):
    assert rule.added_line() == line


def test_added_line_single_quotes_a_one_word_comment_like_ufw():
    assert FirewallRule(22, comment="ssh").added_line() == "ufw allow 22/tcp comment 'ssh'"


@pytest.mark.parametrize(
    ("rule", "ssh_port", "covers"),
    [
        (FirewallRule(22), 22, True),
        (FirewallRule(22, source="0.0.0.0/0"), 22, True),
        (FirewallRule(22, source="10.0.0.0/8"), 22, False),
        (FirewallRule(22, proto="udp"), 22, False),
        (FirewallRule(22), 2222, False),
    ],
    ids=["anywhere", "zero-prefix", "one-network", "udp", "other-port"],
)
def test_covers_ssh_only_for_tcp_on_the_ssh_port_from_anywhere(rule, ssh_port, covers):
    assert rule.covers_ssh(ssh_port) is covers


# --- ufw_firewall ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "ssh_ports"),
    [
        ([FirewallRule(443)], [22]),
        (
            [FirewallRule(22, source="10.99.0.1", comment="ssh from bastion"), FirewallRule(443)],
            [22],
        ),
        ([FirewallRule(22)], [2222]),
        ([FirewallRule(22)], [22, 2222]),
        ([], [22]),
        ([FirewallRule(22)], []),
    ],
    ids=[
        "no-ssh-rule",
        "ssh-from-one-source",
        "rule-on-another-port",
        "second-sshd-port",
        "no-rules",
        "no-port-known",
    ],
)
def test_refuses_a_rule_set_that_would_drop_an_ssh_port_and_runs_nothing(rules, ssh_ports):
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=rules, ssh_ports=ssh_ports)
    assert not run.succeeded
    assert run.commands == []


def test_host_without_ufw_gets_rules_in_order_then_policies_then_enable_last():
    run = run_operation(ufw_firewall, host_state(UFW_MISSING), rules=ACTIVE_RULES, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == [
        *ACTIVE_LINES,
        "ufw default deny incoming",
        "ufw default allow outgoing",
        "ufw --force enable",
    ]


def test_fresh_install_gets_rules_and_enable_but_keeps_its_matching_policies():
    run = run_operation(ufw_firewall, host_state(FRESH_INSTALL), rules=ACTIVE_RULES, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == [*ACTIVE_LINES, "ufw --force enable"]


def test_host_that_already_matches_runs_no_command():
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=ACTIVE_RULES, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == []


def test_extra_rule_on_the_host_is_deleted_by_its_spec_without_the_comment():
    wanted = [rule for rule in ACTIVE_RULES if rule.port != 9100]
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=wanted, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == [
        "ufw delete allow from 10.99.0.10 to any port 9100 proto tcp"
    ]


def test_rules_are_added_before_any_delete_and_policies_and_enable_come_after():
    """An inactive host that allows all inbound, with a stale rule and a missing one."""
    host = (
        "Status: inactive\n"
        'DEFAULT_INPUT_POLICY="ACCEPT"\n'
        'DEFAULT_OUTPUT_POLICY="ACCEPT"\n'
                "Added user rules (see 'ufw status' for running firewall):\n"
        "ufw allow 22/tcp\n"
        "ufw allow 8080/tcp comment 'old dashboard'\n"
    )
    rules = [FirewallRule(22), FirewallRule(443, comment="obs: https")]
    run = run_operation(ufw_firewall, host_state(host), rules=rules, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == [
        "ufw allow 443/tcp comment 'obs: https'",
        "ufw delete allow 8080/tcp",
        "ufw default deny incoming",
        "ufw --force enable",
    ]


def test_active_host_with_its_rules_but_an_allowing_policy_only_gets_the_policy_fixed():
    host = ACTIVE_HOST.replace('DEFAULT_INPUT_POLICY="DROP"', 'DEFAULT_INPUT_POLICY="ACCEPT"')
    run = run_operation(ufw_firewall, host_state(host), rules=ACTIVE_RULES, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == ["ufw default deny incoming"]


def test_host_with_a_one_word_comment_ssh_rule_is_left_alone():
    host = ACTIVE_HOST.replace("ufw allow 22/tcp", "ufw allow 22/tcp comment 'ssh'")
    rules = [FirewallRule(22, comment="ssh"), *ACTIVE_RULES[1:]]
    run = run_operation(ufw_firewall, host_state(host), rules=rules, ssh_ports=[22])
    assert not any(c.startswith("ufw delete allow 22/tcp") for c in run.commands), run.commands
    assert operation_commands(run) == []


def test_ssh_rule_from_zero_network_never_deletes_the_ssh_rule_ufw_shows():
    rules = [FirewallRule(22, source="0.0.0.0/0"), *ACTIVE_RULES[1:]]
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=rules, ssh_ports=[22])
    assert "ufw delete allow 22/tcp" not in run.commands


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        ("10.0.0.5/32", "10.0.0.5"),
        ("10.0.0.7/8", "10.0.0.0/8"),
        ("10.99.0.10", "10.99.0.10"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("0.0.0.0/0", None),
    ],
)
def test_sources_are_written_as_ufw_stores_them(source, stored):
    """Otherwise the rule ufw prints would not match ours: re-added, then deleted, forever."""
    assert FirewallRule(9100, source=source).ufw_source == stored


def test_sshd_ports_come_from_its_own_sockets_and_ssh_socket(tmp_path):
    """SshdPorts' script, by bash, against stand-ins for ss and systemctl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_ins = {
        "ss": (
            "cat <<'EOF'\n"
            'LISTEN 0 128 0.0.0.0:2222 0.0.0.0:* users:(("sshd",pid=120,fd=3))\n'
            'LISTEN 0 128 [::]:2222 [::]:* users:(("sshd",pid=120,fd=4))\n'
            'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=9,fd=6))\n'
            "EOF"
        ),
        "systemctl": (
            'case "$1 $2" in "is-active ssh.socket") echo active;; "is-active sshd.socket")'
            ' echo inactive;; "show -p") echo "[::]:22 (Stream)";; esac'
        ),
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", SshdPorts().command()],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert SshdPorts().process(result.stdout.splitlines()) == [22, 2222]
    (bin_dir / "ss").write_text("#!/bin/sh\nexit 1\n")
    failed = subprocess.run(
        ["bash", "-c", SshdPorts().command()], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=False,
    )
    assert failed.returncode != 0, "a failing ss must fail the fact, never mean 'no sshd'"


def test_a_comment_with_a_quote_is_refused():
    with pytest.raises(ValueError, match="no quote characters"):
        FirewallRule(22, comment="it's ssh")


def test_a_changed_comment_is_updated_in_place_never_deleted():
    """ufw updates the comment of an existing rule when it is added again; deleting by spec
    afterwards would remove the rule itself."""
    renamed = [
        FirewallRule(rule.port, rule.proto, rule.source, "renamed") if rule.port == 443 else rule
        for rule in ACTIVE_RULES
    ]
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=renamed, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == ["ufw allow 443/tcp comment 'renamed'"]


def test_rules_with_the_same_spec_keep_the_first_comment_only():
    duplicated = [*ACTIVE_RULES, FirewallRule(443, comment="a duplicate from the user")]
    run = run_operation(ufw_firewall, host_state(ACTIVE_HOST), rules=duplicated, ssh_ports=[22])
    assert run.succeeded
    assert operation_commands(run) == []
