"""in_config_tree: the check sees the candidate at the live path, the real tree never does.

These tests run the generated command for real (a private mount namespace, as on a host).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from prerequisites import require

from operations.config import CANDIDATE_SUFFIX, in_config_tree


@pytest.fixture(autouse=True)
def mount_namespaces() -> None:
    require(
        os.geteuid() == 0 and shutil.which("unshare") is not None,
        "needs root and util-linux unshare (mount namespaces)",
    )

COPIES = "/run/obs-check.*"


class Tree:
    """A config directory (its name needs quoting) with a live file, a neighbour and a
    candidate named as managed_config names it."""

    def __init__(self, root: Path, live_content: str | None = "OLD\n") -> None:
        self.directory = root / "nginx conf.d"
        self.directory.mkdir()
        self.live = self.directory / "site.conf"
        self.other = self.directory / "other.conf"
        self.candidate = Path(str(self.live) + CANDIDATE_SUFFIX)
        if live_content is not None:
            self.live.write_text(live_content)
        self.other.write_text("OTHER\n")
        self.candidate.write_text("NEW\n")

    def listing(self) -> dict[str, str]:
        return {path.name: path.read_text() for path in self.directory.iterdir()}

    def check(self, check: str) -> subprocess.CompletedProcess:
        command = in_config_tree(str(self.live), check).format(
            path=shlex.quote(str(self.candidate))
        )
        return subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, timeout=60, check=False
        )


def q(path: Path) -> str:
    return shlex.quote(str(path))


@pytest.fixture
def copies_before():
    return set(glob.glob(COPIES))


def test_check_sees_the_candidate_content_at_the_live_path(tmp_path, copies_before):
    tree = Tree(tmp_path)
    before = tree.listing()
    result = tree.check(f"grep -qx NEW {q(tree.live)}")
    assert result.returncode == 0, result.stderr
    assert tree.listing() == before
    assert tree.live.read_text() == "OLD\n"
    assert set(glob.glob(COPIES)) == copies_before


def test_check_sees_the_other_files_of_the_directory_but_not_the_candidate_name(tmp_path):
    tree = Tree(tmp_path)
    result = tree.check(
        f"grep -qx OTHER {q(tree.other)} && test ! -e {q(tree.candidate)} && ls {q(tree.directory)}"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["other.conf", "site.conf"]


def test_throwaway_copy_is_removed_and_the_real_tree_is_untouched(tmp_path, copies_before):
    """Whatever the check writes lands in the copy, and the copy is gone afterwards."""
    tree = Tree(tmp_path)
    before = tree.listing()
    result = tree.check(f'touch {q(tree.directory / "scratch")} && echo "$copy"')
    assert result.returncode == 0, result.stderr
    copy = result.stdout.strip()
    assert copy.startswith("/run/obs-check.")
    assert not os.path.exists(copy)
    assert tree.listing() == before
    assert set(glob.glob(COPIES)) == copies_before


def test_failing_check_returns_non_zero_with_its_stderr_and_cleans_up(tmp_path, copies_before):
    tree = Tree(tmp_path)
    before = tree.listing()
    result = tree.check(
        f"echo 'nginx: [emerg] unknown directive \"bogus\"' >&2; grep -qx OLD {q(tree.live)}"
    )
    assert result.returncode != 0
    assert 'nginx: [emerg] unknown directive "bogus"' in result.stderr
    assert tree.listing() == before
    assert set(glob.glob(COPIES)) == copies_before


def test_exit_status_of_the_check_is_kept(tmp_path):
    tree = Tree(tmp_path)
    assert tree.check("exit 3").returncode == 3


def test_first_deploy_without_a_live_file_checks_the_candidate_at_the_live_path(
    tmp_path, copies_before
):
    tree = Tree(tmp_path, live_content=None)
    before = tree.listing()
    result = tree.check(f"grep -qx NEW {q(tree.live)} && grep -qx OTHER {q(tree.other)}")
    assert result.returncode == 0, result.stderr
    assert not tree.live.exists()
    assert tree.listing() == before
    assert set(glob.glob(COPIES)) == copies_before


def test_check_with_braces_and_quotes_survives_managed_configs_formatting(tmp_path):
    """managed_config calls str.format on validate: the check's own braces must survive."""
    tree = Tree(tmp_path)
    result = tree.check(f"awk '{{ exit ($0 != \"NEW\") }}' {q(tree.live)}")
    assert result.returncode == 0, result.stderr
