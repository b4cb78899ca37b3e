"""The fleet daemons' metrics ports, end to end on 127.0.0.1: a real
sluice-allotter and two sluice-forwarders with --metrics, real segments,
grants driven through sluicectl; both /metrics scraped and parsed with
prometheus_client's parser, names, types and values checked against what
the test did. Then the allotter's status page, opened in headless Chromium
(DOM and screenshot). Bad --metrics values exit 2 with one line.

Run by ctest (SLUICE_BIN_DIR is set) or by hand:
  SLUICE_BIN_DIR=build/bin /usr/bin/python3 -m pytest tests/fleet/test_fleet_metrics.py
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
import zlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

BIN = os.environ.get("SLUICE_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
SLUICECTL = os.path.join(BIN, "sluicectl")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=20.0, interval=0.05):
    """Polls cond() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def get(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def try_get(port, path="/metrics"):
    try:
        return get(port, path)[2]
    except (OSError, urllib.error.URLError):
        return None


def scrape(port):
    """{(sample name, frozenset(labels)): value} and {family: type}."""
    status, ctype, text = get(port)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), ctype
    values, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in values, key
            values[key] = s.value
    return values, types


def val(values, name, **labels):
    return values[(name, frozenset(labels.items()))]


class Daemons:
    """Daemons started by a test, stopped (SIGTERM, then checked) after."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, *args):
        log = open(self.tmp / f"{name}.log", "w")
        p = subprocess.Popen([os.path.join(BIN, name.split(".")[0]), *args],
                             stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append((name, p))
        return p

    def log(self, name):
        return (self.tmp / f"{name}.log").read_text()

    def stop_all(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def daemons(tmp_path):
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


@pytest.fixture
def namespaces():
    made = []

    def make(tag):
        ns = f"fm{os.getpid()}-{tag}"
        subprocess.run([SLUICECTL, "rm", "-f", "-n", ns], capture_output=True)
        made.append(ns)
        return ns
    yield make
    for ns in made:
        subprocess.run([SLUICECTL, "rm", "-f", "-n", ns], capture_output=True)


ALLOTTER = """\
listen = "127.0.0.1:{port}"
[resources.api]
algorithm = "sliding"
limit = 100
window = "1s"
lease = "1s"
refresh = "250ms"
reserved = 10
fallback_for = "1s"
"""

BUDGET = """\
namespace = "{ns}"
[limiters.api]
algorithm = "sliding"
global = true
window = "1s"
[limiters.local]
algorithm = "sliding"
limit = 5
window = "1h"
[allotter]
address = "127.0.0.1:{port}"
"""


def start_fleet(tmp_path, daemons, namespaces, hosts):
    """An allotter and one forwarder per host, all with --metrics; returns
    the allotter's metrics port and {host: (namespace, metrics port)}."""
    port, aport = free_port(), free_port()
    (tmp_path / "allotter.toml").write_text(ALLOTTER.format(port=port))
    daemons.start("sluice-allotter", "--config", str(tmp_path / "allotter.toml"),
                  "--metrics", f"127.0.0.1:{aport}")
    out = {}
    for h in hosts:
        ns, mport = namespaces(h), free_port()
        budget = tmp_path / f"budget-{h}.toml"
        budget.write_text(BUDGET.format(ns=ns, port=port))
        daemons.start(f"sluice-forwarder.{h}", "--budget", str(budget), "--host-id", h,
                      "--metrics", f"127.0.0.1:{mport}")
        out[h] = (ns, mport)
    assert wait_for(lambda: try_get(aport)), daemons.log("sluice-allotter")
    for h, (_, mport) in out.items():
        assert wait_for(lambda: try_get(mport)), daemons.log(f"sluice-forwarder.{h}")
    return aport, out


def acquire(ns, name):
    r = subprocess.run([SLUICECTL, "acquire", "-n", ns, name], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0


def drive(ns, name, grants, timeout=30.0):
    """Asks one permit at a time until `grants` were granted; returns
    (granted, denied)."""
    granted = denied = 0
    deadline = time.monotonic() + timeout
    while granted < grants:
        assert time.monotonic() < deadline, f"only {granted} grants of {name} in {timeout}s"
        if acquire(ns, name):
            granted += 1
        else:
            denied += 1
        time.sleep(0.02)
    return granted, denied


def test_both_daemons_serve_metrics_that_parse_and_match(tmp_path, daemons, namespaces):
    aport, hosts = start_fleet(tmp_path, daemons, namespaces, ["ha", "hb"])
    ns_a, port_a = hosts["ha"]
    ns_b, port_b = hosts["hb"]
    # Host a asks for the global limiter until it is granted 12 (it is
    # denied while the allotter learns); 7 asks of a local limit of 5.
    granted, denied = drive(ns_a, "api", 12)
    local = [acquire(ns_a, "local") for _ in range(7)]
    assert local == [True] * 5 + [False] * 2

    api = dict(namespace=ns_a, limiter="api")
    loc = dict(namespace=ns_a, limiter="local")

    # Scrapes at a moment both hosts are refreshing (the machine may be
    # loaded: a late refresh lets a share lapse for a moment).
    def healthy_forwarder():
        f, t = scrape(port_a)
        share = val(f, "sluice_limiter_share_stage", stage="share", **api) == 1
        return (f, t) if share and val(f, "sluice_forwarder_connected") == 1 else None
    got = wait_for(healthy_forwarder)
    assert got, "host a's forwarder never refreshing: " + daemons.log("sluice-forwarder.ha")
    fa, ta = got
    fb, _ = scrape(port_b)

    def healthy_allotter():
        a, t = scrape(aport)
        r = dict(resource="api")
        live = val(a, "sluice_allotter_resource_hosts", **r) == 2
        return (a, t) if live and val(a, "sluice_allotter_fallbacks", **r) == 0 else None
    got = wait_for(healthy_allotter)
    assert got, "never two live hosts: " + daemons.log("sluice-allotter")
    al, tal = got

    # The forwarder: every limiter of its namespace, global or not.
    for fam in ("sluice_limiter_granted", "sluice_limiter_denied", "sluice_limiter_asked",
                "sluice_limiter_waits", "sluice_limiter_wait_seconds",
                "sluice_forwarder_refreshes", "sluice_forwarder_refresh_errors",
                "sluice_limiter_refresh_errors"):
        assert ta[fam] == "counter", fam
    for fam in ("sluice_limiter_waiting", "sluice_limiter_level", "sluice_limiter_bound",
                "sluice_limiter_demand", "sluice_limiter_share", "sluice_limiter_share_epoch",
                "sluice_limiter_fallback", "sluice_limiter_share_stage",
                "sluice_limiter_lease_age_seconds", "sluice_forwarder_epoch"):
        assert ta[fam] == "gauge", fam
    assert val(fa, "sluice_limiter_granted_total", **api) == granted
    assert val(fa, "sluice_limiter_denied_total", **api) == denied
    assert val(fa, "sluice_limiter_asked_total", **api) == granted + denied
    assert val(fa, "sluice_limiter_granted_total", **loc) == 5
    assert val(fa, "sluice_limiter_denied_total", **loc) == 2
    assert val(fa, "sluice_limiter_asked_total", **loc) == 7
    assert val(fa, "sluice_limiter_level", **loc) == 5
    assert val(fa, "sluice_limiter_bound", **loc) == 5
    assert val(fa, "sluice_limiter_waiting", **loc) == 0
    assert val(fa, "sluice_limiter_wait_seconds_total", **loc) == 0
    assert ("sluice_limiter_share", frozenset(loc.items())) not in fa  # global ones only
    assert val(fa, "sluice_limiter_share", **api) > 0
    assert val(fa, "sluice_limiter_share_stage", stage="share", **api) == 1
    assert val(fa, "sluice_limiter_share_stage", stage="none", **api) == 0
    assert val(fa, "sluice_limiter_fallback", **api) == 0
    # The share in force came from a refresh sent less than a lease ago.
    assert 0 <= val(fa, "sluice_limiter_lease_age_seconds", **api) < 1
    assert 0 <= val(fa, "sluice_limiter_stage_remaining_seconds", **api) <= 1
    # A refresh can fail under load (a 1 s deadline); the allotter answered
    # no error for the limiter itself, so its count is the forwarder's.
    assert val(fa, "sluice_limiter_refresh_errors_total", **api) == val(
        fa, "sluice_forwarder_refresh_errors_total")
    assert val(fa, "sluice_forwarder_connected") == 1
    assert val(fa, "sluice_forwarder_info", namespace=ns_a, host="ha") == 1
    epoch = val(al, "sluice_allotter_epoch")
    assert epoch > 0
    assert val(fa, "sluice_forwarder_epoch") == epoch
    assert val(fa, "sluice_limiter_share_epoch", **api) == epoch
    assert val(fb, "sluice_limiter_granted_total", namespace=ns_b, limiter="api") == 0

    # The allotter: per resource and host; waste and headroom.
    for fam in ("sluice_allotter_refreshes", "sluice_allotter_refused"):
        assert tal[fam] == "counter", fam
    for fam in ("sluice_allotter_limit", "sluice_allotter_wanted", "sluice_allotter_handed_out",
                "sluice_allotter_waste", "sluice_allotter_headroom", "sluice_allotter_learning",
                "sluice_allotter_hosts", "sluice_allotter_epoch", "sluice_allotter_host_share",
                "sluice_allotter_leading"):
        assert tal[fam] == "gauge", fam
    assert val(al, "sluice_allotter_leading") == 1  # alone: always the leader
    r = dict(resource="api")
    assert val(al, "sluice_allotter_limit", **r) == 100
    assert val(al, "sluice_allotter_reserved", **r) == 10
    assert val(al, "sluice_allotter_learning", **r) == 0
    assert val(al, "sluice_allotter_hosts") == 2
    assert val(al, "sluice_allotter_resource_hosts", **r) == 2
    assert val(al, "sluice_allotter_fallbacks", **r) == 0
    assert val(al, "sluice_allotter_refused_total") == 0
    assert val(al, "sluice_allotter_refreshes_total") >= (
        val(fa, "sluice_forwarder_refreshes_total") + val(fb, "sluice_forwarder_refreshes_total"))
    host = {h: {k: val(al, f"sluice_allotter_host_{k}", host=h, **r)
                for k in ("share", "fallback", "in_force", "want", "committed")}
            for h in ("ha", "hb")}
    assert host["ha"]["want"] > 0 and host["hb"]["want"] == 0  # b never asked
    assert host["ha"]["share"] > 0
    assert host["ha"]["fallback"] + host["hb"]["fallback"] <= 10
    assert val(al, "sluice_allotter_wanted", **r) == pytest.approx(
        host["ha"]["want"] + host["hb"]["want"])
    handed = sum(h["in_force"] for h in host.values())
    committed = sum(h["committed"] for h in host.values())
    assert val(al, "sluice_allotter_handed_out", **r) == handed
    assert val(al, "sluice_allotter_committed", **r) == committed <= 100
    assert val(al, "sluice_allotter_headroom", **r) == 100 - committed
    waste = sum(max(0, h["in_force"] - h["want"]) for h in host.values())
    assert val(al, "sluice_allotter_waste", **r) == pytest.approx(waste)
    assert val(al, "sluice_allotter_waste", **r) >= host["hb"]["in_force"]

    # Only the routes served; a daemon with a scrape connection open still
    # stops at once.
    with pytest.raises(urllib.error.HTTPError) as e:
        get(port_a, "/nope")
    assert e.value.code == 404
    conns = []
    for p in (port_a, aport):
        c = http.client.HTTPConnection("127.0.0.1", p, timeout=5)
        c.request("GET", "/metrics")
        assert c.getresponse().read()
        conns.append(c)  # kept open (keep-alive)
    for name, p in daemons.procs:
        p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        assert p.wait(timeout=5) == 0, daemons.log(name)
        assert time.monotonic() - t0 < 3, name
    for c in conns:
        c.close()


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.1:", ":9100", "127.0.0.1:70000",
                                   "127.0.0.1:9x", "::1:9100"])
def test_bad_metrics_address_exits_2_with_one_line(tmp_path, value):
    (tmp_path / "a.toml").write_text(ALLOTTER.format(port=free_port()))
    (tmp_path / "b.toml").write_text(BUDGET.format(ns="fm-never", port=1))
    for argv in ([os.path.join(BIN, "sluice-allotter"), "--config", str(tmp_path / "a.toml")],
                 [os.path.join(BIN, "sluice-forwarder"), "--budget", str(tmp_path / "b.toml")]):
        r = subprocess.run(argv + ["--metrics", value], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "want HOST:PORT" in r.stderr, r.stderr


def test_metrics_port_in_use_fails(tmp_path, namespaces):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        (tmp_path / "a.toml").write_text(ALLOTTER.format(port=free_port()))
        r = subprocess.run([os.path.join(BIN, "sluice-allotter"), "--config",
                            str(tmp_path / "a.toml"), "--metrics", f"127.0.0.1:{taken}"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{taken}" in r.stderr, r.stderr


# ---- the status page in headless Chromium ----

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path, *args):
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=5000", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def png_pixels(path):
    """(width, height, rows of RGB(A) tuples) of an 8-bit RGB or RGBA,
    non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color, _, _, interlace = hdr
    assert depth == 8 and color in (2, 6) and interlace == 0, hdr
    bpp = 3 if color == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_status_page_renders_live_figures_in_chromium(tmp_path, daemons, namespaces):
    aport, hosts = start_fleet(tmp_path, daemons, namespaces, ["page-host"])
    ns, _ = hosts["page-host"]
    drive(ns, "api", 5)

    def ready():
        st = json.loads(get(aport, "/status.json")[2])
        r = st["resources"][0]
        shares = r["history"]["hosts"].get("page-host", {}).get("in_force", [])
        return st if r["hosts"] and r["hosts"][0]["in_force"] > 0 and any(shares) else None
    st = wait_for(ready)
    assert st, get(aport, "/status.json")[2]
    status, ctype, html = get(aport, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # no external assets

    url = f"http://127.0.0.1:{aport}/"
    dom = chromium(tmp_path, "--dump-dom", url)
    # The script ran, fetched /status.json and drew the live figures.
    assert f'<b id="epoch">{st["epoch"]}</b>' in dom, dom[:3000]
    assert '<b id="hosts">1</b>' in dom
    section = re.search(r'<section data-resource="api">.*?</section>', dom, re.S)
    assert section, dom[:3000]
    sec = section.group(0)
    assert '<b class="limit">100</b>' in sec
    assert '<b class="reserved">10</b>' in sec
    assert '<b class="fallbacks">0</b>' in sec
    row = re.search(r'<tr data-host="page-host">.*?</tr>', sec, re.S)
    assert row, sec
    in_force = re.search(r'<td class="in_force">(\d+)</td>', row.group(0))
    assert in_force and int(in_force.group(1)) > 0, row.group(0)
    assert re.search(r'<path d="M[^"]+"[^>]*data-host="page-host" data-series="in_force"', sec)
    assert re.search(r'data-host="page-host" data-series="want"', sec)

    shot = tmp_path / "status.png"
    chromium(tmp_path, "--window-size=1000,700", f"--screenshot={shot}", url)
    w, h, rows = png_pixels(shot)
    assert (w, h) == (1000, 700)
    # The first host's colour (#1f77b4): its legend square and its chart line.
    blue = sum(1 for row in rows for px in row
               if abs(px[0] - 0x1f) < 24 and abs(px[1] - 0x77) < 24 and abs(px[2] - 0xb4) < 24)
    assert blue > 60, f"{blue} pixels of the host's colour"
