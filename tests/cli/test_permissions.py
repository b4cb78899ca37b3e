"""sluicectl as another user (docs/security.md): who may read, use and apply
to a namespace. Runs as root and drops to uid 65534 with
`setpriv --reuid=nobody --regid=nogroup --clear-groups` (plus a supplementary
group where a test needs one); skipped, never failed, when not root.

Run by ctest (cli.permissions) or by hand:
  SLUICECTL=build/bin/sluicectl /usr/bin/python3 -m pytest tests/cli/test_permissions.py
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import textwrap

import pytest

SLUICECTL = os.environ.get("SLUICECTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "sluicectl")
NOBODY = 65534       # nobody / nogroup on Debian
TEAM = 4242          # a workers' group; needs no /etc/group entry

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv(1) to run sluicectl as uid 65534")

BUDGET = """
mode = "{mode}"
{world}

[limiters.api]
algorithm = "gcra"
rate = 100
period = "1s"
burst = 10

[limiters.mutex]
algorithm = "lease"
holders = 1
ttl = "1s"
"""


def budget(mode, rate=100, world=False):
    text = BUDGET.format(mode=mode, world="allow_world_writable = true" if world else "")
    return textwrap.dedent(text).replace("rate = 100", f"rate = {rate}")


def run(*args, stdin=None):
    return subprocess.run([SLUICECTL, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def as_nobody(*args, groups=(), stdin=None):
    """sluicectl as uid 65534, gid 65534, with only `groups` as supplementary groups."""
    drop = ["--groups=" + ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", *drop,
                           SLUICECTL, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def ns(request):
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"perm{os.getpid()}-{request.node.name[:30]}")
    run("rm", "-f", "-n", name)
    yield name
    run("rm", "-f", "-n", name)


def path_of(ns):
    return f"/dev/shm/sluice.{ns}"


def digest(ns):
    with open(path_of(ns), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def apply_as_root(ns, mode, group=None):
    r = run("apply", "-n", ns, "-", stdin=budget(mode))
    assert r.returncode == 0, r.stderr
    if group is not None:
        os.chown(path_of(ns), -1, group)  # what an admin's chgrp does
    return r


def assert_denied(r, what):
    assert r.returncode == 2, (what, r.stdout, r.stderr)
    assert "ermission denied" in r.stderr, (what, r.stderr)


def test_owner_only_segment_is_closed_to_other_users(ns):
    apply_as_root(ns, "0600", group=TEAM)
    for groups in [(), (TEAM,)]:
        for verb in [["ls"], ["ls", "--json"], ["show", "api"], ["show", "api", "--json"],
                     ["acquire", "api"]]:
            assert_denied(as_nobody(*verb, "-n", ns, groups=groups), (verb, groups))


def test_group_mode_works_for_a_supplementary_member(ns):
    apply_as_root(ns, "0660", group=TEAM)
    r = as_nobody("acquire", "-n", ns, "api", groups=(TEAM,))
    assert r.returncode == 0, r.stderr
    r = as_nobody("ls", "-n", ns, "--json", groups=(TEAM,))
    assert r.returncode == 0, r.stderr
    assert [l["name"] for l in json.loads(r.stdout)["limiters"]] == ["api", "mutex"]
    r = as_nobody("show", "-n", ns, "api", groups=(TEAM,))
    assert r.returncode == 0, r.stderr
    # Not a member (nogroup only): nothing.
    assert_denied(as_nobody("acquire", "-n", ns, "api"), "non-member acquire")
    assert_denied(as_nobody("ls", "-n", ns), "non-member ls")


def test_group_read_only_mode_allows_inspection_only(ns):
    apply_as_root(ns, "0640", group=TEAM)
    for verb in [["ls"], ["ls", "--json"], ["show", "api"], ["show", "api", "--json"]]:
        r = as_nobody(*verb, "-n", ns, groups=(TEAM,))
        assert r.returncode == 0, (verb, r.stderr)
    # Deciding writes the segment: refused, and nothing changes.
    before = digest(ns)
    r = as_nobody("acquire", "-n", ns, "api", groups=(TEAM,))
    assert r.returncode == 2, r.stderr
    assert digest(ns) == before


def test_apply_never_widens_a_mode(ns):
    apply_as_root(ns, "0600")
    for extra in [["--dry-run"], []]:
        r = run("apply", "-n", ns, *extra, "-", stdin=budget("0660"))
        assert r.returncode == 0, r.stderr
        assert "note: segment mode is 0600, file says 0660" in r.stdout + r.stderr, r.stdout
        assert os.stat(path_of(ns)).st_mode & 0o777 == 0o600
    assert_denied(as_nobody("ls", "-n", ns, groups=(0,)), "group root after apply 0660")


def test_apply_never_writes_another_users_segment(ns):
    # nobody's own namespace (0644: root and everyone may read it).
    r = as_nobody("apply", "-n", ns, "-", stdin=budget("0644"))
    assert r.returncode == 0, r.stderr
    assert os.stat(path_of(ns)).st_uid == NOBODY
    before = digest(ns)
    changed = budget("0600", rate=1)
    for extra in [[], ["--dry-run"], ["--prune"]]:
        r = run("apply", "-n", ns, *extra, "-", stdin=changed)
        assert r.returncode == 2 and "belongs to uid 65534" in r.stderr, (extra, r.stderr)
        assert digest(ns) == before, extra
    # Root may still read it (0644): inspection is not writing.
    r = run("show", "-n", ns, "api", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["params"]["rate"] == 100, r.stderr
    assert digest(ns) == before


def test_group_member_cannot_apply_to_the_owners_segment(ns):
    apply_as_root(ns, "0660", group=TEAM)
    before = digest(ns)
    changed = budget("0666", rate=1, world=True)
    for extra in [[], ["--prune"]]:
        r = as_nobody("apply", "-n", ns, *extra, "-", groups=(TEAM,), stdin=changed)
        assert r.returncode == 2 and "belongs to uid 0" in r.stderr, (extra, r.stderr)
    assert digest(ns) == before
    assert os.stat(path_of(ns)).st_mode & 0o777 == 0o660
