"""End-to-end tests of the sluicectl binary: exit codes, apply, acquire,
lease, ls/show --json, rm, bench, and `top` in a real terminal (tmux).

Run by ctest (SLUICECTL is set to the built binary) or by hand:
  SLUICECTL=build/bin/sluicectl /usr/bin/python3 -m pytest tests/cli
Every test uses its own namespace "cli<pid>-<name>" and removes it after.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import stat
import time
import uuid

import pytest

SLUICECTL = os.environ.get("SLUICECTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "sluicectl")


def run(*args, timeout=30, env=None):
    return subprocess.run([SLUICECTL, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def wait_for(cond, timeout=10.0, interval=0.02):
    """Polls cond() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def ns(request):
    name = f"cli{os.getpid()}-{request.node.name[:30]}".replace("[", "-").replace("]", "")
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name)
    run("rm", "-f", "-n", name)
    yield name
    run("rm", "-f", "-n", name)


@pytest.fixture
def budget(tmp_path):
    def write(text, name="budget.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)
    return write


BASIC = """
[limiters.api]
algorithm = "gcra"
rate = 100
period = "1s"
burst = 10

[limiters.search]
algorithm = "sliding"
limit = 2
window = "1h"

[limiters.mutex]
algorithm = "lease"
holders = 1
ttl = "1s"
"""


def apply_ok(ns, path, *extra):
    r = run("apply", "-n", ns, path, *extra)
    assert r.returncode == 0, r.stderr
    return r


def test_help_on_every_verb():
    for verb in ["apply", "ls", "show", "top", "acquire", "lease", "bench", "rm"]:
        r = run(verb, "--help")
        assert r.returncode == 0, verb
        assert "Examples:" in r.stdout, verb
        assert "--namespace" in r.stdout, verb
    r = run("--help")
    assert r.returncode == 0 and "Exit status" in r.stdout


def test_usage_errors_exit_2_with_one_line():
    for args in [[], ["frobnicate"], ["acquire"], ["acquire", "x", "--permits", "0"],
                 ["acquire", "x", "--timeout", "5"], ["show"], ["bench", "x", "--procs", "0"]]:
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("sluicectl: "), (args, r.stderr)


def test_apply_reports_file_line_col_and_changes_nothing(ns, budget):
    path = budget(BASIC + """
[limiters.bad]
algorithm = "sliding"
limit = 5
window = "800"
""")
    apply_ok(ns, budget(BASIC.replace("rate = 100", "rate = 50"), "before.toml"))
    r = run("apply", "-n", ns, path)
    assert r.returncode == 2
    assert r.stderr == f"sluicectl: {path}:21:10: window: duration '800' has no unit: " \
                       "write e.g. \"800ms\" (units: ns, us, ms, s, m, h)\n"
    # The valid first limiters did not apply either.
    assert json.loads(run("show", "-n", ns, "api", "--json").stdout)["params"]["rate"] == 50
    assert run("show", "-n", ns, "bad").returncode == 2
    # On a host without the namespace, nothing at all is created.
    run("rm", "-n", ns)
    assert run("apply", "-n", ns, path).returncode == 2
    assert not os.path.exists(f"/dev/shm/sluice.{ns}")


def test_apply_twice_and_all_or_nothing(ns, budget):
    path = budget(BASIC)
    first = apply_ok(ns, path)
    assert "+ api  gcra rate=100 period=1s burst=10" in first.stdout
    second = apply_ok(ns, path)
    assert "0 changes" in second.stdout
    # New limiter first, a live change second, an algorithm change third.
    bad = budget("""
[limiters.new-one]
algorithm = "gcra"
rate = 1

[limiters.search]
algorithm = "sliding"
limit = 9
window = "1h"

[limiters.mutex]
algorithm = "window"
limit = 3
window = "1s"
""", "bad.toml")
    r = run("apply", "-n", ns, bad)
    assert r.returncode == 2
    assert r.stderr.startswith(f"sluicectl: {bad}:12:13: limiter 'mutex' already exists")
    snap = json.loads(run("ls", "-n", ns, "--json").stdout)
    names = {l["name"]: l for l in snap["limiters"]}
    assert "new-one" not in names
    assert names["search"]["params"]["limit"] == 2


def test_apply_dry_run_and_prune(ns, budget):
    apply_ok(ns, budget(BASIC))
    only_api = budget("""
[limiters.api]
algorithm = "gcra"
rate = 200
period = "1s"
burst = 10
""", "one.toml")
    dry = apply_ok(ns, only_api, "--dry-run", "--prune")
    assert "would apply" in dry.stdout and "- search" in dry.stdout
    assert json.loads(run("show", "-n", ns, "api", "--json").stdout)["params"]["rate"] == 100
    kept = apply_ok(ns, only_api)
    assert "! search" in kept.stdout and "kept" in kept.stdout
    assert run("show", "-n", ns, "search").returncode == 0
    pruned = apply_ok(ns, only_api, "--prune")
    assert "- search" in pruned.stdout
    assert run("show", "-n", ns, "search").returncode == 2
    assert json.loads(run("show", "-n", ns, "api", "--json").stdout)["params"]["rate"] == 200


def test_apply_namespace_from_file(ns, budget):
    path = budget(f'namespace = "{ns}"\nmode = "0640"\n' + BASIC)
    r = run("apply", path)
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(f"/dev/shm/sluice.{ns}").st_mode & 0o777) == "0o640"
    assert json.loads(run("ls", "-n", ns, "--json").stdout)["mode"] == "0640"


def test_apply_unreadable_file(tmp_path):
    r = run("apply", "/nonexistent/budget.toml")
    assert r.returncode == 2
    assert r.stderr == "sluicectl: /nonexistent/budget.toml: cannot read: No such file or directory\n"
    r = run("apply", str(tmp_path))
    assert r.returncode == 2 and r.stderr == f"sluicectl: {tmp_path}: cannot read: Is a directory\n"


def test_apply_from_stdin(ns):
    bad = subprocess.run([SLUICECTL, "apply", "-n", ns, "-"], input='[limiters.x]\nalgorithm = "gcra"\nrate = 0\n',
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.startswith("sluicectl: <stdin>:3:8: rate must be between 1")
    good = subprocess.run([SLUICECTL, "apply", "-n", ns, "-"], input='[limiters.x]\nalgorithm = "gcra"\nrate = 3\n',
                          capture_output=True, text=True, timeout=30)
    assert good.returncode == 0, good.stderr
    assert json.loads(run("show", "-n", ns, "x", "--json").stdout)["params"]["rate"] == 3


def test_acquire_exit_codes(ns, budget):
    apply_ok(ns, budget(BASIC))
    assert run("acquire", "-n", ns, "search").returncode == 0
    assert run("acquire", "-n", ns, "search").returncode == 0
    assert run("acquire", "-n", ns, "search").returncode == 1
    assert run("acquire", "-n", ns, "search", "--timeout", "20ms").returncode == 1
    r = run("acquire", "-n", ns, "api", "--permits", "11")
    assert r.returncode == 2 and "can never be granted" in r.stderr
    assert run("acquire", "-n", ns, "api", "--permits", "10").returncode == 0
    r = run("acquire", "-n", ns, "nope")
    assert r.returncode == 2 and "no limiter 'nope'" in r.stderr
    env = dict(os.environ, SLUICE_NAMESPACE=ns)
    assert run("acquire", "api", "--timeout", "5s", env=env).returncode == 0
    show = json.loads(run("show", "api", "--json", env=env).stdout)
    assert show["granted"] == 11 and show["denied"] == 11  # the 11-permit ask was denied


def test_lease_passes_exit_status_and_holds_the_lease(ns, budget, tmp_path):
    apply_ok(ns, budget(BASIC))
    assert run("lease", "-n", ns, "mutex", "--", "sh", "-c", "exit 7").returncode == 7
    r = run("lease", "-n", ns, "mutex", "--", "sh", "-c", 'echo "token=$SLUICE_LEASE_TOKEN"')
    assert r.returncode == 0 and re.fullmatch(r"token=\d+\n", r.stdout)
    # While CMD runs (longer than ttl=1s: the lease is renewed) nobody else
    # gets it; after CMD exits it is free at once.
    script = (f'sleep 1.5; "{SLUICECTL}" lease -n {ns} mutex --timeout 0 -- true; echo "inner=$?"')
    r = run("lease", "-n", ns, "mutex", "--", "sh", "-c", script)
    assert r.returncode == 0 and "inner=1" in r.stdout, (r.stdout, r.stderr)
    assert run("lease", "-n", ns, "mutex", "--timeout", "0", "--", "true").returncode == 0
    assert run("lease", "-n", ns, "mutex", "--", "sh", "-c", "kill -9 $$").returncode == 137
    r = run("lease", "-n", ns, "mutex", "--", "/nonexistent/cmd")
    assert r.returncode == 127 and "cannot run" in r.stderr
    r = run("lease", "-n", ns, "api", "--", "true")
    assert r.returncode == 2 and "not a lease limiter" in r.stderr


# `lease -- CMD` on an exclusive lock: the lease must never come free while
# CMD, or any process CMD started, still runs.
MUTEX = """
[limiters.mx]
algorithm = "lease"
holders = 1
ttl = "{ttl}"
reclaim = {reclaim}
"""


def proc_stat(pid):
    """(state, starttime) of a process, or None if it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def running(pid, starttime):
    """True while the process that started at `starttime` exists and is no zombie."""
    st = proc_stat(pid)
    return st is not None and st[1] == starttime and st[0] not in ("Z", "X")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def start_holder(ns, tmp_path, script, name="mx"):
    """Starts `sluicectl lease NAME -- sh -c script`; script writes the pids of
    its working processes to $PIDS. Returns (popen, {pid: starttime})."""
    pids = tmp_path / "pids"
    env = dict(os.environ, PIDS=str(pids))
    holder = subprocess.Popen([SLUICECTL, "lease", "-n", ns, name, "--", "sh", "-c", script],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: pids.exists() and pids.read_text().endswith("\n")), "CMD did not start"
    work = {int(p): proc_stat(int(p))[1] for p in pids.read_text().split()}
    return holder, work


def second_lease_while(ns, tmp_path, work, name="mx"):
    """Tries `lease --timeout 0` until granted (deadline 15 s). The second CMD
    snapshots the first CMD's processes while it holds the lease; returns the
    ones that were still running then."""
    snap = tmp_path / "snap"
    probe = "; ".join(f"cat /proc/{p}/stat" for p in work) + f" > {snap} 2>/dev/null; true"
    granted = wait_for(lambda: run("lease", "-n", ns, name, "--timeout", "0", "--",
                                   "sh", "-c", probe).returncode == 0, timeout=15)
    assert granted, "the lease never came free after CMD ended"
    live = []
    for line in snap.read_text().splitlines():
        pid = int(line.split()[0])
        fields = line.rsplit(")", 1)[1].split()
        if pid in work and fields[19] == work[pid] and fields[0] not in ("Z", "X"):
            live.append(line)
    return live


# sh plus a background worker: a grandchild of sluicectl, which PR_SET_PDEATHSIG
# on CMD alone would not reach.
WORKER = 'sleep 60 & echo "$$ $!" > "$PIDS"; wait'


@pytest.mark.parametrize("reclaim", ["true", "false"])
def test_lease_killed_sluicectl_never_frees_the_lease_while_cmd_runs(ns, budget, tmp_path,
                                                                     reclaim):
    apply_ok(ns, budget(MUTEX.format(ttl="500ms", reclaim=reclaim)))
    holder, work = start_holder(ns, tmp_path, WORKER)
    try:
        holder.kill()  # SIGKILL: sluicectl can do nothing about it
        holder.wait(timeout=10)
        assert second_lease_while(ns, tmp_path, work) == [], "two holders of a holders=1 lease"
        # CMD and its worker were killed with sluicectl.
        assert wait_for(lambda: not any(running(p, t) for p, t in work.items()))
    finally:
        for p, t in work.items():
            if running(p, t):
                os.kill(p, 9)


def test_lease_killed_guard_never_frees_the_lease_while_cmd_runs(ns, budget, tmp_path):
    apply_ok(ns, budget(MUTEX.format(ttl="500ms", reclaim="true")))
    holder, work = start_holder(ns, tmp_path, WORKER)
    try:
        guards = children(holder.pid)
        assert len(guards) == 1, guards
        os.kill(guards[0], 9)
        assert holder.wait(timeout=15) == 137
        assert "guard process" in holder.stderr.read()
        assert second_lease_while(ns, tmp_path, work) == [], "two holders of a holders=1 lease"
        assert wait_for(lambda: not any(running(p, t) for p, t in work.items()))
    finally:
        holder.kill()
        holder.wait()
        for p, t in work.items():
            if running(p, t):
                os.kill(p, 9)


def test_lease_is_held_until_cmds_background_processes_exit(ns, budget, tmp_path):
    apply_ok(ns, budget(MUTEX.format(ttl="300ms", reclaim="true")))
    stop = tmp_path / "stop"
    # CMD exits at once (status 3); what it left running still holds the lease.
    script = (f'sh -c \'while [ ! -e "{stop}" ]; do sleep 0.02; done\' & '
              'echo "$!" > "$PIDS"; exit 3')
    holder, work = start_holder(ns, tmp_path, script)
    try:
        (bg,) = work
        # Longer than ttl, and the leftover keeps running: not granted.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            assert running(bg, work[bg])
            assert run("lease", "-n", ns, "mx", "--timeout", "0", "--", "true").returncode == 1
        assert holder.poll() is None
        stop.touch()
        assert holder.wait(timeout=10) == 3
        assert run("lease", "-n", ns, "mx", "--timeout", "0", "--", "true").returncode == 0
    finally:
        stop.touch()
        holder.kill()
        holder.wait()


def test_lease_sigterm_ends_cmd_and_what_it_left_running(ns, budget, tmp_path):
    apply_ok(ns, budget(MUTEX.format(ttl="300ms", reclaim="true")))
    holder, work = start_holder(ns, tmp_path, WORKER)
    try:
        holder.terminate()
        assert holder.wait(timeout=15) == 128 + 15
        assert not any(running(p, t) for p, t in work.items())
        assert run("lease", "-n", ns, "mx", "--timeout", "0", "--", "true").returncode == 0
    finally:
        holder.kill()
        holder.wait()
        for p, t in work.items():
            if running(p, t):
                os.kill(p, 9)


def test_lease_stays_held_while_sluicectl_is_stopped(ns, budget, tmp_path):
    apply_ok(ns, budget(MUTEX.format(ttl="300ms", reclaim="true")))
    stop = tmp_path / "stop"
    script = f'echo "$$" > "$PIDS"; while [ ! -e "{stop}" ]; do sleep 0.02; done; exit 4'
    holder, work = start_holder(ns, tmp_path, script)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 1.0  # over 3 ttl without sluicectl running
        while time.monotonic() < deadline:
            assert run("lease", "-n", ns, "mx", "--timeout", "0", "--", "true").returncode == 1
        os.kill(holder.pid, signal.SIGCONT)
        stop.touch()
        assert holder.wait(timeout=10) == 4
        assert run("lease", "-n", ns, "mx", "--timeout", "0", "--", "true").returncode == 0
    finally:
        stop.touch()
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()


def test_lease_lost_by_a_stopped_guard_kills_cmd(ns, budget, tmp_path):
    apply_ok(ns, budget(MUTEX.format(ttl="200ms", reclaim="false")))
    holder, work = start_holder(ns, tmp_path, WORKER)
    try:
        (guard,) = children(holder.pid)
        os.kill(guard, signal.SIGSTOP)  # the documented residual risk: no renewals
        assert wait_for(lambda: run("lease", "-n", ns, "mx", "--timeout", "0", "--",
                                    "true").returncode == 0)
        os.kill(guard, signal.SIGCONT)  # its next renewal fails: CMD must die at once
        assert holder.wait(timeout=10) == 137
        assert "was lost" in holder.stderr.read()
        assert not any(running(p, t) for p, t in work.items())
    finally:
        holder.kill()
        holder.wait()
        for p, t in work.items():
            if running(p, t):
                os.kill(p, 9)


def test_ls_and_show_json_fields(ns, budget):
    apply_ok(ns, budget(BASIC))
    assert run("acquire", "-n", ns, "search").returncode == 0
    snap = json.loads(run("ls", "-n", ns, "--json").stdout)
    assert snap["namespace"] == ns and snap["path"] == f"/dev/shm/sluice.{ns}"
    assert [l["name"] for l in snap["limiters"]] == ["api", "search", "mutex"]
    search = snap["limiters"][1]
    for key in ["name", "algorithm", "global", "spec", "params", "steady_rate_per_s", "level",
                "granted", "denied", "asked", "waiting", "waits", "wait_ns", "demand_per_s",
                "share"]:
        assert key in search, key
    assert search["algorithm"] == "sliding"
    assert search["params"] == {"limit": 2, "window_ns": 3600 * 10**9}
    assert search["level"]["used"] == 1 and search["level"]["capacity"] == 2
    assert search["granted"] == 1 and search["share"] is None
    show = json.loads(run("show", "-n", ns, "search", "--json").stdout)
    assert show["name"] == "search" and show["granted"] == 1
    text = run("ls", "-n", ns).stdout
    assert text.startswith("NAME") and "search" in text
    r = run("show", "-n", ns, "search")
    assert r.returncode == 0 and "level:        1/2 grants in the last window" in r.stdout


def test_rm_and_attached_processes(ns, budget, tmp_path):
    assert run("rm").returncode == 2, "rm needs an explicit -n"
    apply_ok(ns, budget(BASIC))
    go = tmp_path / "go"
    # A process holding a lease keeps working after its namespace is removed.
    holder = subprocess.Popen(
        [SLUICECTL, "lease", "-n", ns, "mutex", "--", "sh", "-c",
         f'touch "{tmp_path}/held"; while [ ! -e "{go}" ]; do sleep 0.01; done; exit 3'])
    try:
        assert wait_for(lambda: (tmp_path / "held").exists())
        assert run("rm", "-n", ns).returncode == 0
        assert not os.path.exists(f"/dev/shm/sluice.{ns}")
        r = run("ls", "-n", ns)
        assert r.returncode == 2 and "does not exist" in r.stderr
        # New opens see a new segment: the lease held in the old one does not block.
        apply_ok(ns, budget(BASIC, "again.toml"))
        assert run("lease", "-n", ns, "mutex", "--timeout", "0", "--", "true").returncode == 0
        go.touch()
        assert holder.wait(timeout=10) == 3
    finally:
        holder.kill()
        holder.wait()
    assert run("rm", "-n", ns).returncode == 0
    r = run("rm", "-n", ns)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert run("rm", "-f", "-n", ns).returncode == 0


# ---- who owns a namespace, what may sit at its path, who may block whom ----

NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv(1) to run sluicectl as uid 65534")


def as_user(*args, gid=NOBODY, stdin=None, timeout=30):
    """Runs sluicectl as uid 65534 with group `gid` and no other groups."""
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={gid}", "--clear-groups",
                           SLUICECTL, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def nobody_name():
    import pwd
    try:
        return pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        return None


def test_apply_fails_cleanly_when_dev_shm_is_too_small(budget):
    """Issue 8 item 3: exit 135 (SIGBUS) and a 21 MB segment with no limiters."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs in a private mount namespace")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m does not work here")
    path = budget("""
        [limiters.a]
        algorithm = "sliding"
        limit = 1048576
        window = "1s"

        [limiters.b]
        algorithm = "sliding"
        limit = 1048576
        window = "1s"
        """)
    script = ('mount -t tmpfs -o size=8M tmpfs /dev/shm || exit 77; "$0" apply -n x "$1"; '
              'echo "rc=$?"; ls -A /dev/shm')
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, SLUICECTL, path],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 77:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr)
    assert r.stdout == "rc=2\n", (r.stdout, r.stderr)  # and nothing left in /dev/shm
    assert r.stderr.startswith("sluicectl: not enough shared memory for /dev/shm/sluice.x: it "
                               "needs 20.1 MiB"), r.stderr
    assert "/dev/shm has 8.0 MiB free of 8.0 MiB" in r.stderr, r.stderr


def test_fifo_or_directory_at_the_segment_path_is_refused(ns, budget):
    """Issue 8 item 7: a FIFO made ls, show, apply hang forever; a directory
    was "truncated (40 bytes)"."""
    path = f"/dev/shm/sluice.{ns}"
    file = budget(BASIC)
    os.mkfifo(path, 0o600)
    for verb in [["ls"], ["show", "api"], ["apply", file], ["apply", "--dry-run", file],
                 ["acquire", "api"]]:
        r = run(*verb, "-n", ns, timeout=5)  # TimeoutExpired: it hung
        assert r.returncode == 2, (verb, r.stderr)
        assert r.stderr == f"sluicectl: {path} is a FIFO (named pipe), not a sluice segment " \
                           "(a regular file); remove it and apply again\n", (verb, r.stderr)
    assert run("rm", "-n", ns).returncode == 0, "rm removes it"
    assert not os.path.lexists(path)
    os.mkdir(path)
    try:
        r = run("ls", "-n", ns, timeout=5)
        assert r.returncode == 2 and "is a directory, not a sluice segment" in r.stderr, r.stderr
        assert "truncated" not in r.stderr
        r = run("rm", "-f", "-n", ns)
        assert r.returncode == 2 and "remove it with rmdir" in r.stderr, r.stderr
    finally:
        os.rmdir(path)


@needs_root
def test_apply_refuses_a_namespace_another_user_created(ns, budget):
    """Issue 8 item 8: root's apply wrote into a segment another user owned."""
    decoy = '[limiters.decoy]\nalgorithm = "gcra"\nrate = 1\n'
    r = as_user("apply", "-n", ns, "-", stdin=decoy)
    assert r.returncode == 0, r.stderr
    path = budget(BASIC)
    name = nobody_name()
    whose = f"uid {NOBODY}" + (f" ({name})" if name else "")
    for extra in [[], ["--dry-run"]]:
        r = run("apply", "-n", ns, path, *extra)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"sluicectl: /dev/shm/sluice.{ns} belongs to {whose}, "
                                   "not to uid 0"), r.stderr
        assert f"(sluicectl rm -n {ns}, as that user or as root) and apply again" in r.stderr
    names = [l["name"] for l in json.loads(run("ls", "-n", ns, "--json").stdout)["limiters"]]
    assert names == ["decoy"], "nothing of root's went into it"
    # What the message says works: that user (or root) removes it, then apply.
    assert as_user("rm", "-n", ns).returncode == 0
    apply_ok(ns, path)
    assert os.stat(f"/dev/shm/sluice.{ns}").st_uid == 0


@needs_root
def test_group_workers_attach_but_cannot_apply(ns, budget):
    apply_ok(ns, budget('mode = "0660"\n' + BASIC))
    # A worker in the segment's group (gid 0 here) uses it...
    r = as_user("acquire", "-n", ns, "api", gid=0)
    assert r.returncode == 0, r.stderr
    assert as_user("ls", "-n", ns, gid=0).returncode == 0
    # ...but cannot apply to it: that is the owner's.
    r = as_user("apply", "-n", ns, "-", gid=0, stdin=BASIC.replace("rate = 100", "rate = 1"))
    assert r.returncode == 2 and "belongs to uid 0" in r.stderr, r.stderr
    assert json.loads(run("show", "-n", ns, "api", "--json").stdout)["params"]["rate"] == 100


@needs_root
def test_rm_without_permission_says_permission_denied(ns, budget):
    """Issue 8 item 10: "does not exist", and rm -f exited 0 leaving the file."""
    apply_ok(ns, budget(BASIC))
    for flags in [[], ["-f"]]:
        r = as_user("rm", *flags, "-n", ns)
        assert r.returncode == 2, (flags, r.stderr)
        assert r.stderr.startswith(f"sluicectl: permission denied: cannot remove "
                                   f"/dev/shm/sluice.{ns} (it belongs to uid 0"), r.stderr
    assert os.path.exists(f"/dev/shm/sluice.{ns}")


def test_world_writable_mode_needs_opt_in(ns, budget):
    """Issue 8 item 11: 0666 let anyone on the host deny service, silently."""
    path = budget('mode = "0666"\n' + BASIC)
    r = run("apply", "-n", ns, path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"sluicectl: {path}:1:8: mode 0666 is world-writable"), r.stderr
    assert "allow_world_writable = true" in r.stderr
    assert not os.path.exists(f"/dev/shm/sluice.{ns}")
    apply_ok(ns, budget('mode = "0666"\nallow_world_writable = true\n' + BASIC, "optin.toml"))
    assert stat.S_IMODE(os.stat(f"/dev/shm/sluice.{ns}").st_mode) == 0o666


def test_a_readers_flock_blocks_no_one(ns, budget):
    """Issue 8 item 9: a reader holding LOCK_EX made every attach fail after 5 s."""
    import fcntl
    apply_ok(ns, budget(BASIC))
    fd = os.open(f"/dev/shm/sluice.{ns}", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = time.monotonic()
        apply_ok(ns, budget(BASIC.replace("rate = 100", "rate = 50"), "changed.toml"))
        assert run("acquire", "-n", ns, "api").returncode == 0
        assert run("ls", "-n", ns).returncode == 0
        assert time.monotonic() - start < 2.0, "waited for the reader's lock"
    finally:
        os.close(fd)


def test_bench_checks_the_guarantee(ns, budget):
    apply_ok(ns, budget("""
[limiters.hot]
algorithm = "sliding"
limit = 50
window = "100ms"
"""))
    r = run("bench", "-n", ns, "hot", "--procs", "3", "--duration", "500ms", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"guarantee  \d+ grants, 0 violations of sliding limit=50 window=100ms", r.stdout), r.stdout
    assert re.search(r"latency    p50 \S+  p99 \S+  p999 \S+", r.stdout)
    granted = int(re.search(r"granted    (\d+) permits", r.stdout).group(1))
    assert 0 < granted <= 300  # at most 50 per 100ms in 500ms (+1 window of slack)


def test_inspector_works_while_hundreds_of_processes_hammer(ns, budget):
    apply_ok(ns, budget("""
[limiters.hot]
algorithm = "gcra"
rate = 1000
period = "10ms"
burst = 100
"""))
    # Sanitizer builds fork and start slowly: 100 would outlast the run.
    sanitized = "1" in (os.environ.get("SLUICE_TSAN"), os.environ.get("SLUICE_ASAN"))
    procs = "16" if sanitized else "100"
    bench = subprocess.Popen([SLUICECTL, "bench", "-n", ns, "hot", "--procs", procs, "--duration", "1500ms"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []

        def grants_visible():
            r = run("ls", "-n", ns, "--json")
            assert r.returncode == 0, r.stderr
            granted = json.loads(r.stdout)["limiters"][0]["granted"]
            seen.append(granted)
            return granted > 0 and bench.poll() is None

        assert wait_for(grants_visible, timeout=20), seen
        assert run("show", "-n", ns, "hot").returncode == 0
        out, err = bench.communicate(timeout=60)
        assert bench.returncode == 0, out + err
        assert "0 violations" in out
    finally:
        bench.kill()
        bench.wait()


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10)


def test_top_in_a_real_terminal(ns, budget):
    apply_ok(ns, budget(BASIC))
    sock = f"sluice-cli-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    cmd = f'"{SLUICECTL}" top -n {ns} --ascii -i 100ms; echo "top exited $?"; sleep 60'
    try:
        r = tmux(sock, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "t", cmd)
        assert r.returncode == 0, r.stderr

        def screen():
            return tmux(sock, "capture-pane", "-p", "-t", "t").stdout

        assert wait_for(lambda: f"namespace {ns}" in screen()), screen()
        s = screen()
        assert all(len(line) <= 80 for line in s.splitlines())
        assert "RATE/s" in s and "DENY/s" in s and "WAIT" in s and "q: quit" in s
        for name in ["api", "search", "mutex"]:
            assert re.search(rf"^{name} ", s, re.M), s
        # Counters and levels follow what the limiters do.
        assert run("acquire", "-n", ns, "search").returncode == 0
        assert run("acquire", "-n", ns, "search").returncode == 0
        assert wait_for(lambda: re.search(r"^search .* 2/2 ", screen(), re.M)), screen()
        # The sparkline fills in once a bucket of history exists.
        assert wait_for(lambda: re.search(r"^api .*\s[_.:=+*#-]+\s*$", screen(), re.M), timeout=15), screen()
        tmux(sock, "send-keys", "-t", "t", "q")
        assert wait_for(lambda: "top exited 0" in screen()), screen()
        assert "RATE/s" not in screen(), "alternate screen restored"
    finally:
        tmux(sock, "kill-server")
        sock_path = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", sock)
        if os.path.exists(sock_path):
            os.unlink(sock_path)


# --- issue 8: hostile input: clear errors (exit 2), never a crash ---

def test_apply_refuses_endless_input(ns):
    r = run("apply", "-n", ns, "/dev/zero")
    assert r.returncode == 2
    assert r.stderr == "sluicectl: /dev/zero: larger than 1 MiB, the most a budget file may hold\n"
    with open("/dev/zero", "rb") as zero:
        r = subprocess.run([SLUICECTL, "apply", "-n", ns, "-"], stdin=zero, capture_output=True,
                           text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr == "sluicectl: <stdin>: larger than 1 MiB, the most a budget file may hold\n"


@pytest.mark.parametrize("permits", ["4", "100000000", "1073741824"])
def test_acquire_above_capacity_fails_at_once(ns, budget, permits):
    apply_ok(ns, budget('[limiters.sl]\nalgorithm = "sliding"\nlimit = 3\nwindow = "1s"\n'))
    t0 = time.monotonic()
    r = run("acquire", "-n", ns, "sl", "--permits", permits, "--timeout", "1s")
    assert r.returncode == 2, r.stderr
    assert "can never be granted" in r.stderr and r.stderr.count("\n") == 1
    assert time.monotonic() - t0 < 0.9  # not after the timeout


@pytest.mark.parametrize("timeout", ["18446744074509551616ns", "18446744073709551617s",
                                     "184467440737095516161s"])
def test_acquire_rejects_overflowing_timeouts(ns, budget, timeout):
    apply_ok(ns, budget('[limiters.sl]\nalgorithm = "sliding"\nlimit = 3\nwindow = "1s"\n'))
    r = run("acquire", "-n", ns, "sl", "--timeout", timeout)
    assert r.returncode == 2 and "too large" in r.stderr, r.stderr


def test_apply_rejects_overflowing_durations(ns, budget):
    path = budget('[limiters.sl]\nalgorithm = "sliding"\nlimit = 3\nwindow = "18446744074509551616ns"\n')
    r = run("apply", "-n", ns, path)
    assert r.returncode == 2 and r.stderr.startswith(f"sluicectl: {path}:4:10: window: duration")
    assert "too large" in r.stderr


def test_blocking_acquire_on_a_lease_limiter(ns, budget):
    apply_ok(ns, budget('[limiters.m]\nalgorithm = "lease"\nholders = 2\nttl = "1s"\n'))
    assert run("acquire", "-n", ns, "m", "--permits", "2").returncode == 0
    assert run("acquire", "-n", ns, "m", "--timeout", "10ms").returncode == 1
    assert run("acquire", "-n", ns, "m", "--permits", "2", "--timeout", "10s").returncode == 0
    r = run("acquire", "-n", ns, "m", "--permits", "3", "--timeout", "forever")
    assert r.returncode == 2 and "can never be granted" in r.stderr


FLEET = """
[limiters.fleet]
algorithm = "sliding"
global = true
limit = 5
window = "1h"

[limiters.local]
algorithm = "sliding"
limit = 5
window = "1h"
"""


def test_share_sets_a_global_limiters_amount(ns, budget):
    apply_ok(ns, budget(FLEET))
    # No share yet: amount 0, denied (not granted), shown as such.
    assert run("acquire", "-n", ns, "fleet", "--timeout", "0").returncode == 1
    show = json.loads(run("show", "-n", ns, "fleet", "--json").stdout)
    assert show["share"]["stage"] == "none" and show["share"]["amount"] == 0
    assert show["share"]["cap"] == 5
    r = run("share", "-n", ns, "fleet", "3", "--for", "1h", "--fallback", "1")
    assert r.returncode == 0, r.stderr
    assert "limit=3" in r.stdout
    assert [run("acquire", "-n", ns, "fleet", "--timeout", "0").returncode
            for _ in range(4)] == [0, 0, 0, 1]
    show = json.loads(run("show", "-n", ns, "fleet", "--json").stdout)
    share = show["share"]
    assert share["stage"] == "share" and share["amount"] == 3 and share["epoch"] == 0
    assert 0 < share["ends_in_ns"] <= 3600 * 10**9
    text = run("show", "-n", ns, "fleet").stdout
    assert re.search(r"share:\s+3 \(share, ends in ", text), text
    # Above the cap: cut to it. An epoch older than the one in force: refused.
    assert run("share", "-n", ns, "fleet", "50", "--epoch", "4").returncode == 0
    assert json.loads(run("show", "-n", ns, "fleet", "--json").stdout)["share"]["amount"] == 5
    r = run("share", "-n", ns, "fleet", "2", "--epoch", "3")
    assert r.returncode == 2 and "older than the one in force" in r.stderr
    # Not a global limiter; a bad amount; a bad duration: usage errors.
    r = run("share", "-n", ns, "local", "2")
    assert r.returncode == 2 and "not a global limiter" in r.stderr
    assert run("share", "-n", ns, "fleet", "-1").returncode == 2
    assert run("share", "-n", ns, "fleet", "2", "--for", "soon").returncode == 2
    assert json.loads(run("show", "-n", ns, "fleet", "--json").stdout)["share"]["amount"] == 5


def test_share_lapses_to_its_fallback_with_nobody_around(ns, budget):
    apply_ok(ns, budget(FLEET))
    assert run("share", "-n", ns, "fleet", "3", "--for", "300ms", "--fallback", "1",
               "--fallback-for", "1h").returncode == 0
    wait_for(lambda: json.loads(run("show", "-n", ns, "fleet", "--json").stdout)
             ["share"]["stage"] == "fallback")
    # The first decision past the end applies the fallback: 1 (none used yet).
    assert [run("acquire", "-n", ns, "fleet", "--timeout", "0").returncode
            for _ in range(2)] == [0, 1]
