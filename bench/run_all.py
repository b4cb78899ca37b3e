#!/usr/bin/python3
"""Runs every sluice benchmark side by side and writes docs/benchmarks.md.

Usage (from the repository root, after building everything):
    /usr/bin/python3 bench/run_all.py [BUILD_DIR] [--runs N] [--quick]
                                      [--pydir DIR] [--sluicectl PATH]

BUILD_DIR defaults to build/. Builds nothing: it runs BUILD_DIR/bin/
sluice_bench_micro, sluice_bench, sluice_bench_zmq_server, sluicectl (if
built) and the Python module in BUILD_DIR/python (if built). It starts the
peers itself on 127.0.0.1 (redis-server on a free port with persistence off,
the ZeroMQ fixed-window server) and stops them when done. Each measurement is
repeated --runs times (default 5); figures are medians over the runs and
every comparison is a ratio taken within one run. Plots are gnuplot SVGs in
docs/img/. Benchmarks are not tests: nothing here fails on a timing.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

import costs_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"[run_all {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_json(cmd, timeout=600):
    """Runs cmd, returns the JSON objects it printed one per line."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Peers:
    """redis-server and the ZeroMQ window server, on free 127.0.0.1 ports."""

    def __init__(self, bindir):
        self.procs = []
        self.redis_port = self.zmq_port = None
        redis = shutil.which("redis-server")
        if redis:
            port = free_port()
            p = subprocess.Popen([redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            if self._wait_redis(port):
                self.redis_port = port
            else:
                log("redis-server did not answer PING; Redis row skipped")
        else:
            log("redis-server not found; Redis row skipped")
        port = free_port()
        p = subprocess.Popen([os.path.join(bindir, "sluice_bench_zmq_server"), "--port", str(port),
                              "--max-seconds", "3600"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        time.sleep(0.3)
        if p.poll() is None:
            self.zmq_port = port

    @staticmethod
    def _wait_redis(port):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            clock = f.read().strip()
    except OSError:
        clock = "unknown"
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    try:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "lib"],
                               capture_output=True, text=True).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except OSError:
        dirty = []
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
            "clocksource": clock, "rev": rev, "dirty": dirty}


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_seconds():
    """(busy CPU seconds of the whole machine, CPU seconds of this script and
    its waited-for children), to tell how much other work ran meanwhile."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


# ---------------------------------------------------------------- measuring

def run_once(a, bindir, peers, q):
    """One run of everything. Returns a dict of lists of JSON rows."""
    r = {}
    sb = os.path.join(bindir, "sluice_bench")
    log("micro (Google Benchmark)")
    out = subprocess.run([os.path.join(bindir, "sluice_bench_micro"), "--benchmark_format=json",
                          f"--benchmark_min_time={0.05 if q else 0.5}"],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    r["micro"] = {b["name"]: b for b in json.loads(out)["benchmarks"]}
    log("latency (sluice and peers)")
    cmd = [sb, "latency", "--samples", "20000" if q else "200000",
           "--net-samples", "2000" if q else "20000"]
    if peers.redis_port:
        cmd += ["--redis-port", str(peers.redis_port)]
    if peers.zmq_port:
        cmd += ["--zmq-port", str(peers.zmq_port)]
    r["latency"] = run_json(cmd)
    log("contention")
    r["contention"] = run_json([sb, "contention", "--procs", "1,2,4,8",
                                "--seconds", "0.2" if q else "1"])
    log("waking")
    r["waking"] = []
    for rate, secs in ((1000, 2), (10000, 1), (100000, 0.5)):
        for slack in (0, 1):
            for raw in ("0", "1"):
                r["waking"] += run_json([sb, "waking", "--rate", str(rate), "--slack", str(slack),
                                         "--raw", raw, "--seconds", str(secs / 4 if q else secs)])
    log("lease hand-over")
    r["handover"] = []
    for slack in (0, 1):
        r["handover"] += run_json([sb, "handover", "--ttl-us", "1000", "--slack", str(slack),
                                   "--samples", "200" if q else "2000"])
    log("blocked waiters")
    r["blocked"] = run_json([sb, "blocked-cpu", "--waiters", "8", "--seconds", "0.3" if q else "1"])
    log("accuracy")
    r["accuracy"] = []
    for burst in ("1000", "100"):
        r["accuracy"] += run_json([sb, "accuracy", "--algo", "gcra", "--rate", "100000", "--burst", burst,
                                   "--procs", "2", "--seconds", "1" if q else "10"])
    r["accuracy"] += run_json([sb, "accuracy", "--algo", "sliding", "--limit", "1000",
                               "--window-ms", "100", "--procs", "2", "--seconds", "1" if q else "5"])
    r["python"] = run_python(a.pydir, q)
    r["sluicectl"] = run_sluicectl(a.sluicectl, q)
    r["fleet"] = run_fleet(bindir, q)
    if os.access(os.path.join(bindir, "sluice_bench_costs"), os.X_OK):
        log("costs at the limit (issue 13)")
        r["costs"] = costs_report.run(bindir, q)
    return r


# "... = 245938 per second (24594 host refreshes/s); mean share 92.2"
FLEET_ROW = re.compile(r"= (\d+) per second \((\d+) host refreshes/s\)")


def run_fleet(bindir, q):
    """The allotter's refreshes per second (sluice_bench_fleet), when built."""
    binary = os.path.join(bindir, "sluice_bench_fleet")
    if not os.path.exists(binary):
        return None
    log("fleet allotter")
    out = subprocess.run([binary, "--seconds", "5" if q else "30"], check=True, capture_output=True,
                         text=True, timeout=600).stdout
    m = FLEET_ROW.search(out)
    return {"per_s": int(m.group(1)), "hosts_per_s": int(m.group(2))} if m else None


# "try_acquire() granted   median   140 ns/call (  90 net of baseline), ..."
PY_ROW = re.compile(r"^(.+?)\s+(?:median\s+)?(\d+) ns/call\s*\(\s*(-?\d+)(?: ns)? net of baseline\)")


def run_python(pydir, q):
    """try_acquire from Python: bench/python_overhead.py (median of batches)."""
    script = os.path.join(ROOT, "bench", "python_overhead.py")
    env = dict(os.environ, PYTHONPATH=pydir)
    probe = subprocess.run(["/usr/bin/python3", "-c", "import sluice"], env=env,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return {"skipped": f"module not importable from {pydir}: "
                           + (probe.stderr.strip().splitlines() or ["?"])[-1]}
    if not os.path.exists(script):
        return {"skipped": "bench/python_overhead.py missing"}
    log("python")
    cmd = ["/usr/bin/python3", script] + (["--calls", "20000", "--repeats", "5"] if q else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"skipped": "python_overhead.py failed: " + out.stderr.strip()[-200:]}
    rows = {}
    for line in out.stdout.splitlines():
        m = PY_ROW.match(line)
        if m:
            rows[m.group(1).strip()] = {"ns": float(m.group(2)), "net": float(m.group(3))}
    return {"rows": rows}


def run_sluicectl(ctl, q):
    """`sluicectl bench` on a gcra limiter: the CLI's own load generator."""
    if not os.path.exists(ctl):
        return {"skipped": "sluicectl not built"}
    ns = f"runall{os.getpid()}"
    budget = os.path.join("/tmp", f"sluice-runall-{os.getpid()}.toml")
    with open(budget, "w") as f:
        f.write(f'namespace = "{ns}"\n\n[limiters.bench]\nalgorithm = "gcra"\nrate = 100000\n'
                'period = "1s"\nburst = 100\n')
    try:
        ap = subprocess.run([ctl, "apply", budget], capture_output=True, text=True, timeout=60)
        if ap.returncode != 0:
            return {"skipped": "sluicectl apply failed: " + (ap.stderr or ap.stdout).strip()[-200:]}
        log("sluicectl bench")
        out = subprocess.run([ctl, "bench", "-n", ns, "bench", "--procs", "2", "--duration",
                              "1s" if q else "3s"], capture_output=True, text=True, timeout=120)
        return {"text": out.stdout.strip(), "rc": out.returncode}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"skipped": f"sluicectl bench failed: {e}"}
    finally:
        os.unlink(budget)
        shm = f"/dev/shm/sluice.{ns}"
        if os.path.exists(shm):
            subprocess.run([ctl, "rm", "-n", ns, "-f"], capture_output=True)
            if os.path.exists(shm):
                os.unlink(shm)


# ---------------------------------------------------------------- summarising

def summarise(runs):
    s = {}
    # Micro: cpu_time per benchmark, ratio to the floor within each run.
    names = list(runs[0]["micro"].keys())
    s["micro"] = {}
    for n in names:
        vals = [r["micro"][n]["cpu_time"] for r in runs if n in r["micro"]]
        ratios = [r["micro"][n]["cpu_time"] / r["micro"]["BM_Floor"]["cpu_time"] for r in runs
                  if n in r["micro"]]
        s["micro"][n] = {"ns": med(vals), "ratio": med(ratios)}
    # Latency percentiles; ratios to sluice-gcra within each run.
    s["latency"] = {}
    targets = [row["target"] for row in runs[0]["latency"]]
    for t in targets:
        rows = [next(x for x in r["latency"] if x["target"] == t) for r in runs]
        ratio50, ratio99 = [], []
        for r, row in zip(runs, rows):
            g = next(x for x in r["latency"] if x["target"] == "sluice-gcra")
            ratio50.append(row["p50_ns"] / max(g["p50_ns"], 1e-9))
            ratio99.append(row["p99_ns"] / max(g["p99_ns"], 1e-9))
        s["latency"][t] = {k: med([row[k] for row in rows]) for k in
                           ("p50_ns", "p99_ns", "p999_ns", "mean_ns", "timer_overhead_ns")}
        s["latency"][t]["ratio50"] = med(ratio50)
        s["latency"][t]["ratio99"] = med(ratio99)
    # Contention.
    s["contention"] = {}
    for row in runs[0]["contention"]:
        key = (row["regime"], row["procs"])
        rows = [next(x for x in r["contention"] if (x["regime"], x["procs"]) == key) for r in runs]
        s["contention"][key] = {k: med([x[k] for x in rows]) for k in
                                ("sluice_per_s", "robust_mutex_per_s", "floor_per_s", "ratio")}
        s["contention"][key]["floor_ratio"] = med([x["sluice_per_s"] / x["floor_per_s"] for x in rows])
        s["contention"][key]["ratio_runs"] = [x["ratio"] for x in rows]
        s["cores"] = row["cores"]
    # Waking and hand-over.
    s["waking"], s["waking_raw"] = {}, {}
    for row in runs[0]["waking"]:
        key = (row["rate"], row["slack_ns"])
        what = row["what"]
        rows = [next(x for x in r["waking"] if (x["rate"], x["slack_ns"], x["what"]) == key + (what,))
                for r in runs]
        s["waking" if what == "gcra" else "waking_raw"][key] = {
            k: med([x[k] for x in rows]) for k in
            ("p50_us", "p99_us", "p999_us", "max_us", "wakeups", "achieved_per_s")}
    s["handover"] = {}
    for row in runs[0]["handover"]:
        key = (row["slack_ns"], row["measure"])
        rows = [next(x for x in r["handover"] if (x["slack_ns"], x["measure"]) == key) for r in runs]
        s["handover"][key] = {k: med([x[k] for x in rows]) for k in
                              ("p50_us", "p99_us", "p999_us", "max_us", "wakeups")}
    s["blocked"] = {}
    for row in runs[0]["blocked"]:
        rows = [next(x for x in r["blocked"] if x["kind"] == row["kind"]) for r in runs]
        s["blocked"][row["kind"]] = {"waiters": row["waiters"],
                                     "cpu_us_per_s": med([x["cpu_us_per_s"] for x in rows]),
                                     "cpu_us_per_s_max": max(x["cpu_us_per_s"] for x in rows),
                                     "switches_per_s": med([x["switches_per_s"] for x in rows])}
    s["accuracy"] = {}
    for algo in ("gcra", "gcra-100", "sliding"):
        match = {"gcra": lambda x: x["algo"] == "gcra" and x["burst"] == 1000,
                 "gcra-100": lambda x: x["algo"] == "gcra" and x["burst"] == 100,
                 "sliding": lambda x: x["algo"] == "sliding"}[algo]
        rows = [next(x for x in r["accuracy"] if match(x)) for r in runs]
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
        s["accuracy"][algo] = {k: med([x[k] for x in rows]) for k in keys}
        s["accuracy"][algo]["violations_total"] = sum(x["violations"] for x in rows)
        if algo.startswith("gcra"):
            s["accuracy"][algo]["error_pct_runs"] = [x["error_pct"] for x in rows]
        else:
            s["accuracy"][algo]["util_runs"] = [x["utilisation_pct"] for x in rows]
    py = [r["python"] for r in runs]
    if "rows" in py[0]:
        s["python"] = {n: {"ns": med([p["rows"][n]["ns"] for p in py if n in p.get("rows", {})]),
                           "net": med([p["rows"][n]["net"] for p in py if n in p.get("rows", {})])}
                       for n in py[0]["rows"]}
    else:
        s["python_skipped"] = py[0]["skipped"]
    s["sluicectl"] = runs[-1]["sluicectl"]
    fleet = [r["fleet"] for r in runs if r.get("fleet")]
    if fleet:
        s["fleet"] = {k: med([f[k] for f in fleet]) for k in ("per_s", "hosts_per_s")}
    s["costs"] = costs_report.summarise([r.get("costs") for r in runs])
    return s


# ---------------------------------------------------------------- plots

def gnuplot(script, name):
    if not shutil.which("gnuplot"):
        log("gnuplot not found; no plots")
        return False
    if os.environ.get("RUN_ALL_PNG"):  # for previewing: PNG instead of SVG
        script = script.replace("set terminal svg", "set terminal png").replace(".svg", ".png")
        name = name.replace(".svg", ".png")
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    log(f"wrote {name}")
    return True


LAT_LABELS = [("floor", "floor (clock+CAS)"), ("sluice-gcra", "sluice gcra"),
              ("sluice-window", "sluice window"), ("sluice-sliding", "sluice sliding"),
              ("sluice-lease", "sluice lease"), ("std-mutex-bucket", "std::mutex bucket"),
              ("robust-mutex-bucket", "robust pthread mutex (shm)"),
              ("redis-lua-gcra", "Redis Lua GCRA"), ("zmq-window-server", "ZeroMQ window server")]


def plots(s, imgdir):
    os.makedirs(imgdir, exist_ok=True)
    made = {}
    dat = os.path.join(imgdir, ".latency.dat")
    with open(dat, "w") as f:
        for t, label in LAT_LABELS:
            if t in s["latency"]:
                v = s["latency"][t]
                f.write(f'"{label}" {max(v["p50_ns"], 1):.1f} {max(v["p99_ns"], 1):.1f}\n')
    made["latency"] = gnuplot(f"""
set terminal svg size 860,420 font "sans,11" background "white"
set output "{imgdir}/latency.svg"
set title "Decision latency, uncontended (ns, log scale; lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [1:*]
set ylabel "ns per decision"
set xtics rotate by -25 scale 0
set key top left
set grid ytics
plot "{dat}" using 2:xtic(1) title "p50" lc rgb "#3b7dd8", '' using 3 title "p99" lc rgb "#e0823d"
""", "latency.svg")
    dat = os.path.join(imgdir, ".contention.dat")
    with open(dat, "w") as f:
        for regime in ("grant", "saturated"):
            for (rg, p), v in sorted(s["contention"].items()):
                if rg == regime:
                    f.write(f'{p} {v["sluice_per_s"] / 1e6:.3f} {v["robust_mutex_per_s"] / 1e6:.3f} '
                            f'{v["floor_per_s"] / 1e6:.3f}\n')
            f.write("\n\n")
    made["contention"] = gnuplot(f"""
set terminal svg size 1000,420 font "sans,11" background "white"
set output "{imgdir}/contention.svg"
set title "One limiter, N processes ({s['cores']} cores): aggregate decisions/s"
set xlabel "processes"
set ylabel "million decisions per second"
set logscale x 2
set xtics (1,2,4,8)
set yrange [0:*]
set grid
set xrange [0.8:10]
set key outside right top vertical
plot "{dat}" index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb "#3b7dd8" title "sluice gcra, every call granted", \\
     "{dat}" index 0 using 1:3 with linespoints lw 2 pt 5 lc rgb "#e0823d" title "robust mutex bucket, every call granted", \\
     "{dat}" index 1 using 1:2 with linespoints lw 2 dt 2 pt 7 lc rgb "#3b7dd8" title "sluice gcra, saturated (denials)", \\
     "{dat}" index 1 using 1:3 with linespoints lw 2 dt 2 pt 5 lc rgb "#e0823d" title "robust mutex bucket, saturated", \\
     "{dat}" index 0 using 1:4 with lines lw 1 lc rgb "#888888" title "floor: clock + CAS on one word"
""", "contention.svg")
    dat = os.path.join(imgdir, ".waking.dat")
    with open(dat, "w") as f:
        for rate in (1000, 10000, 100000):
            row = [f'"{rate // 1000}k/s"']
            for slack in (50000, 1):
                v = next((v for (r, sl), v in s["waking"].items()
                          if r == rate and (sl == 1) == (slack == 1)), None)
                row += [f'{max(v["p50_us"], 0.01):.2f}', f'{max(v["p99_us"], 0.01):.2f}'] if v else ["0", "0"]
            f.write(" ".join(row) + "\n")
    made["waking"] = gnuplot(f"""
set terminal svg size 760,400 font "sans,11" background "white"
set output "{imgdir}/waking.svg"
set title "gcra Acquire wake-up lateness (us, log scale) by rate and timer slack"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set ylabel "us late"
set grid ytics
set key top left
plot "{dat}" using 2:xtic(1) title "p50, default slack" lc rgb "#9ab8e6", \\
     '' using 3 title "p99, default slack" lc rgb "#3b7dd8", \\
     '' using 4 title "p50, slack 1 ns" lc rgb "#f0b98a", \\
     '' using 5 title "p99, slack 1 ns" lc rgb "#e0823d"
""", "waking.svg")
    for f in (".latency.dat", ".contention.dat", ".waking.dat"):
        os.unlink(os.path.join(imgdir, f))
    if s.get("costs"):
        made["costs"] = costs_report.plot(s["costs"], imgdir, gnuplot)
    return made


# ---------------------------------------------------------------- report

def fmt_ns(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e4:
        return f"{v / 1e3:.1f} us"
    if v >= 1e3:
        return f"{v / 1e3:.2f} us"
    return f"{v:.0f} ns"


def yes(ok):
    return "met" if ok else "**missed**"


def report(s, m, a, started, finished, load_before, other, made):
    L = []
    w = L.append
    mi = s["micro"]
    floor_ns = mi["BM_Floor"]["ns"]
    gcra_ratio = mi["BM_Gcra"]["ratio"]
    cont2 = s["contention"].get(("grant", 2), {}).get("ratio")
    cont2_sat = s["contention"].get(("saturated", 2), {}).get("ratio")
    gacc = s["accuracy"]["gcra"]
    sacc = s["accuracy"]["sliding"]
    hand99 = s["handover"].get((1, "grant"), {}).get("p99_us")
    hand99_def = next((v["p99_us"] for (sl, meas), v in s["handover"].items()
                       if sl != 1 and meas == "grant"), None)
    blocked_max = max(v["cpu_us_per_s"] for k, v in s["blocked"].items() if k != "poll")
    py = s.get("python", {}).get("try_acquire() granted")
    loaded = other > 0.1  # the load average also counts this script's own earlier work
    w("# sluice benchmarks")
    w("")
    shown = []  # the command line, less where the outputs went
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("--out", "--json"):
            skip = True
        elif not arg.startswith(("--out=", "--json=")):
            shown.append(arg)
    w("Generated by `/usr/bin/python3 bench/run_all.py " + " ".join(shown) +
      f"` (do not edit by hand). Every figure is the median of {a.runs} runs; every "
      "comparison is a ratio taken within one run, then the median of those ratios. "
      "Benchmarks are not tests: nothing in the test suite depends on these timings.")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {m['cpu']}, **{m['cores']} cores** (a virtual machine; clocksource `{m['clocksource']}`)")
    w(f"- Kernel: Linux {m['kernel']}")
    w(f"- Commit: `{m['rev']}`" + (f" plus uncommitted changes to {', '.join(f'`{d}`' for d in m['dirty'])}"
                                    if m["dirty"] else "") + f", run {started} to {finished} UTC")
    w(f"- Load: 1-minute load average {load_before:.2f} when the run started; other work used "
      f"{other * 100:.0f}% of the machine's CPU during the run"
      + (" — **the machine was loaded by other work during this run; latency tails, contention "
         "and wake-up figures are pessimistic**" if loaded else " (quiet)"))
    w("- Per-call timing here has a granularity of about 10 ns (both the vDSO clock and the TSC "
      "as this VM exposes them), so per-call p50/p99 of in-process operations are rounded; the "
      "Google Benchmark means (thousands of calls per timing) are the precise figures.")
    w("")
    w("## Headline: targets from issues 5, 10 and 11")
    w("")
    w("| measure | target | result | |")
    w("|---|---|---|---|")
    w(f"| gcra try_acquire vs floor (clock read + CAS on a shared mapping) | <= 1.15x | "
      f"{gcra_ratio:.2f}x ({mi['BM_Gcra']['ns']:.1f} ns vs {floor_ns:.1f} ns) | {yes(gcra_ratio <= 1.15)} |")
    if cont2 is not None:
        w(f"| 2 processes, aggregate decisions/s vs robust-mutex peer | >= 2.2x | {cont2:.2f}x when every "
          f"call is granted; {cont2_sat:.2f}x when saturated (denials) | "
          f"{yes(cont2 >= 2.2)} / {yes(cont2_sat >= 2.2)} |")
    if hand99 is not None:
        w(f"| lease hand-over lateness at ttl, p99 (timer slack 1 ns) | <= 50 us | {hand99:.1f} us "
          f"(default slack: {hand99_def:.1f} us) | {yes(hand99 <= 50)} |")
    wk = {(r, sl == 1): v for (r, sl), v in s["waking"].items()}
    if all((r, True) in wk and (r, False) in wk for r in (1000, 10000, 100000)):
        cells = ", ".join(f"{r // 1000}k/s: {wk[(r, True)]['p99_us']:.0f} us ({wk[(r, False)]['p99_us']:.0f} us)"
                          for r in (1000, 10000, 100000))
        ok = all(wk[(r, True)]["p99_us"] <= 50 for r in (1000, 10000, 100000))
        w(f"| gcra `Acquire` wake-up lateness p99, slack 1 ns (default slack) | <= 50 us | {cells} | {yes(ok)} |")
    w(f"| CPU used by blocked waiters | ~0 | {blocked_max:.1f} us of CPU per second "
      f"(8 waiters, worst kind) | {yes(blocked_max < 1000)} |")
    w(f"| gcra achieved vs configured rate, 10 s saturating (rate 100000/s, burst 1000) | within 0.1% | "
      f"{gacc['error_pct']:+.3f}% (burst 100: {s['accuracy']['gcra-100']['error_pct']:+.3f}%) | "
      f"{yes(abs(gacc['error_pct']) <= 0.1)} |")
    w(f"| sliding-window utilisation | (report) | {sacc['utilisation_pct']:.2f}% of the bound, "
      f"{sacc['violations_total']} violations | |")
    if py is not None:
        w(f"| Python try_acquire | <= 300 ns | {py['ns']:.0f} ns per call ({py['net']:.0f} ns net of an "
          f"empty Python call) | {yes(py['ns'] <= 300)} |")
    else:
        w(f"| Python try_acquire | <= 300 ns | skipped: {s.get('python_skipped')} | |")
    if "BM_GcraGlobal" in mi:
        gg = mi["BM_GcraGlobal"]
        w(f"| global (fleet) gcra try_acquire with its share in force vs floor (issue 10) | <= 1.2x | "
          f"{gg['ratio']:.2f}x ({gg['ns']:.1f} ns vs {floor_ns:.1f} ns; `BM_GcraGlobal`) | "
          f"{yes(gg['ratio'] <= 1.2)} |")
    if "fleet" in s:
        w(f"| allotter refreshes answered, one core, 1,000 hosts x 10 resources (issue 11) | "
          f">= 100,000 host-resource refreshes/s | {s['fleet']['per_s']:,.0f}/s "
          f"({s['fleet']['hosts_per_s']:,.0f} host refreshes/s; `build/bin/sluice_bench_fleet`) | "
          f"{yes(s['fleet']['per_s'] >= 100000)} |")
    if s.get("costs"):
        costs_report.headline(s["costs"], w, yes)
    w("")
    w("## Decision latency, uncontended")
    w("")
    w("Google Benchmark (`build/bin/sluice_bench_micro`), CPU time per call, one thread; every "
      "call takes the grant path (a CAS), except where marked. The floor is one "
      "`clock_gettime(CLOCK_MONOTONIC)` plus one CAS on a word in a `MAP_SHARED` mapping.")
    w("")
    w("| benchmark | ns per call | x floor |")
    w("|---|---|---|")
    desc = {
        "BM_Clock": "clock_gettime(CLOCK_MONOTONIC) alone",
        "BM_Floor": "**floor**: clock read + CAS on a shared word",
        "BM_Gcra": "sluice gcra `TryAcquire` (granted)",
        "BM_GcraDenied": "sluice gcra `TryAcquire` (denied, no CAS)",
        "BM_Window": "sluice window `TryAcquire`",
        "BM_Sliding": "sluice sliding `TryAcquire` (limit 1024)",
        "BM_LeaseTry": "sluice lease `TryAcquire` (holders 64, ttl 1 us)",
        "BM_SlidingDenied/8": "sluice sliding denied, limit 8 (scans the ring)",
        "BM_SlidingDenied/100": "sluice sliding denied, limit 100",
        "BM_SlidingDenied/1000": "sluice sliding denied, limit 1000",
        "BM_LeasePair": "sluice lease grant + release (lock/unlock pair)",
        "BM_CApiGcra": "sluice gcra through the C API `sluice_try_acquire`",
        "BM_GcraCore": "attribution: lib's `gcra::TryAcquire` alone (+ clock)",
        "BM_GcraInlineReplica": "attribution: the same GCRA step inlined",
        "BM_StdMutexBucket": "peer: token bucket behind `std::mutex`",
        "BM_RobustMutexBucket": "peer: token bucket behind a robust process-shared pthread mutex",
    }
    for n, v in mi.items():
        w(f"| {desc.get(n, n)} | {v['ns']:.1f} | {v['ratio']:.2f} |")
    w("")
    core, rep = mi.get("BM_GcraCore"), mi.get("BM_GcraInlineReplica")
    if core and rep:
        w(f"Where gcra's time goes: the GCRA step itself (`gcra::TryAcquire` plus the clock read) "
          f"costs {core['ns']:.1f} ns ({core['ratio']:.2f}x the floor; inlined: {rep['ratio']:.2f}x), so "
          f"the other {mi['BM_Gcra']['ns'] - core['ns']:.0f} ns of `Limiter::TryAcquire` are the "
          "handle layer in `lib/src/limiter.cc`: the parameter-change check, per-handle counting "
          "and returning the 24-byte `Decision`. A denied sliding decision scans the ring, so its "
          "cost grows with `limit` (rows `sliding denied`).")
        w("")
    w("### Against the peers: per-call latency")
    w("")
    w("`build/bin/sluice_bench latency`: every call timed individually (fenced TSC; the median "
      "cost of an empty timing pair, "
      f"{s['latency']['floor']['timer_overhead_ns']:.0f} ns, subtracted). The peers are started by "
      "the script on 127.0.0.1: Redis (`redis-server --save '' --appendonly no`) running GCRA as a "
      "Lua script called with EVALSHA over hiredis, and the classic fixed-window counter server "
      "behind ZeroMQ REQ/REP (`bench/zmq_window_server.cc`). Ratio = peer / sluice gcra, per run.")
    w("")
    w("| limiter | p50 | p99 | p99.9 | p50 vs sluice gcra | p99 vs sluice gcra |")
    w("|---|---|---|---|---|---|")
    for t, label in LAT_LABELS:
        if t not in s["latency"]:
            continue
        v = s["latency"][t]
        w(f"| {label} | {fmt_ns(v['p50_ns'])} | {fmt_ns(v['p99_ns'])} | {fmt_ns(v['p999_ns'])} | "
          f"{v['ratio50']:.2f}x | {v['ratio99']:.2f}x |")
    if made.get("latency"):
        w("")
        w("![decision latency](img/latency.svg)")
    w("")
    w("## Contention: one limiter, N processes")
    w("")
    w(f"`sluice_bench contention`: N forked processes call try_acquire on one limiter for 1 s. "
      "Two regimes: *grant* (rate 1e9/s: every decision is a grant, i.e. a write every process "
      "must CAS: the worst case for a lock-free word) and *saturated* (rate 1000/s: nearly every "
      "decision is a denial, as when demand exceeds the limit; sluice denies without writing, the "
      "mutex bucket still locks). The floor is N processes doing clock read + CAS on one shared "
      f"word. **This machine has {s['cores']} cores**, so 4 and 8 processes are oversubscribed: "
      "that is where a lock holder gets preempted. The mutex peer is the most favourable one "
      "possible (a few instructions under the lock; nginx's limit_req also walks a tree there).")
    w("")
    w("| regime | processes | sluice gcra | robust-mutex bucket | sluice / mutex | floor | sluice / floor |")
    w("|---|---|---|---|---|---|---|")
    for (rg, p), v in sorted(s["contention"].items()):
        w(f"| {rg} | {p} | {v['sluice_per_s'] / 1e6:.2f} M/s | {v['robust_mutex_per_s'] / 1e6:.2f} M/s | "
          f"{v['ratio']:.2f}x | {v['floor_per_s'] / 1e6:.2f} M/s | {v['floor_ratio']:.2f} |")
    g1, g2 = s["contention"].get(("grant", 1)), s["contention"].get(("grant", 2))
    if g1 and g2:
        w("")
        w(f"When every call is a write, a second process adds little to anything that updates one "
          f"shared word per decision: the floor itself goes from {g1['floor_per_s'] / 1e6:.1f} M/s to "
          f"{g2['floor_per_s'] / 1e6:.1f} M/s ({g2['floor_per_s'] / g1['floor_per_s']:.2f}x), because the "
          "cache line has to move between the cores on every decision. The mutex bucket is then "
          "either as fast (the two processes rarely collide) or much slower (they collide, and "
          "every collision is a futex sleep and wake-up), from one run to the next: sluice / mutex "
          "at 2 processes per run: " + ", ".join(f"{x:.2f}x" for x in g2["ratio_runs"]) + ". When "
          "the limiter is saturated, sluice's denials only read the line and scale with the "
          "cores, while every mutex decision still takes the lock.")
    if made.get("contention"):
        w("")
        w("![contention](img/contention.svg)")
    w("")
    w("## Waking")
    w("")
    w("`sluice_bench waking`: one caller loops gcra `Acquire(1)` (burst 1). The reserved grant "
      "time of call k is g_k = max(now_k, g_(k-1) + T); lateness = return time - g_k, over the "
      "calls that slept. Run with the default timer slack (50 us) and with "
      "`prctl(PR_SET_TIMERSLACK, 1)`. \"achieved\" shows what lateness costs a burst-1 limiter: a "
      "caller that wakes later than one period loses that turn (use burst > 1 at high rates).")
    w("")
    w("| rate | timer slack | wake-ups | p50 | p99 | p99.9 | achieved | clock_nanosleep alone: p50 / p99 |")
    w("|---|---|---|---|---|---|---|---|")
    for (rate, slack), v in sorted(s["waking"].items()):
        raw = s["waking_raw"].get((rate, slack))
        rawcell = f"{raw['p50_us']:.1f} us / {raw['p99_us']:.1f} us" if raw else "n/a"
        w(f"| {rate:,}/s | {'1 ns' if slack == 1 else f'{slack // 1000} us (default)'} | "
          f"{v['wakeups']:.0f} | {v['p50_us']:.1f} us | {v['p99_us']:.1f} us | {v['p999_us']:.1f} us | "
          f"{v['achieved_per_s']:,.0f}/s | {rawcell} |")
    w("")
    w("The last column is the platform's own floor: the same sleep schedule with "
      "`clock_nanosleep(TIMER_ABSTIME)` alone, no limiter, in the same run. Where sluice's "
      "lateness matches it, the time is the kernel's and the VM's wake-up, not the library's.")
    if made.get("waking"):
        w("")
        w("![waking](img/waking.svg)")
    w("")
    w("Lease hand-over (`sluice_bench handover`): holders 1, ttl 1 ms; the caller holds a lease "
      "and blocks in `AcquireLease` until it lapses (nobody releases). grant = new lease's "
      "`granted_ns` - old lease's `expires_ns`; return = when `AcquireLease` returned.")
    w("")
    w("| timer slack | measure | samples | p50 | p99 | p99.9 | max |")
    w("|---|---|---|---|---|---|---|")
    for (slack, meas), v in sorted(s["handover"].items(), key=lambda kv: (-kv[0][0], kv[0][1])):
        w(f"| {'1 ns' if slack == 1 else f'{slack // 1000} us (default)'} | {meas} | {v['wakeups']:.0f} | "
          f"{v['p50_us']:.1f} us | {v['p99_us']:.1f} us | {v['p999_us']:.1f} us | {v['max_us']:.1f} us |")
    w("")
    w("Blocked waiters (`sluice_bench blocked-cpu`): 8 processes blocked on an exhausted limiter "
      "for 1 s; CPU from `/proc/PID/schedstat`, wake-ups from the context-switch counters. The "
      "control row is one process polling `TryAcquire` instead of blocking (1e6 us/s = one core).")
    w("")
    w("| blocked in | waiters | CPU used (us per second, median / worst run) | context switches per second |")
    w("|---|---|---|---|")
    for kind, v in s["blocked"].items():
        call = {"gcra": "gcra `Acquire`", "sliding": "sliding `Acquire`", "lease": "`AcquireLease`",
                "poll": "control: polling `TryAcquire` in a loop"}.get(kind, kind)
        w(f"| {call} | {v['waiters']} | {v['cpu_us_per_s']:.1f} / {v['cpu_us_per_s_max']:.1f} | "
          f"{v['switches_per_s']:.1f} |")
    w("")
    w("## Accuracy")
    w("")
    w("`sluice_bench accuracy`: 2 processes call try_acquire as fast as they can; every grant's "
      "time is logged and the merged log checked with `sluice::CheckGuarantee` (the checker "
      "`sluicectl bench` and the stress tests use).")
    w("")
    w("| limiter | duration | grants | result | guarantee violations (all runs) |")
    w("|---|---|---|---|---|")
    for g in (gacc, s["accuracy"]["gcra-100"]):
        w(f"| gcra rate=100000/s burst={g['burst']:.0f} | {g['seconds']:.0f} s | {g['grants']:,.0f} | achieved "
          f"{g['achieved_per_s']:,.1f}/s = {g['error_pct']:+.4f}% vs configured (runs: "
          + ", ".join(f"{x:+.4f}%" for x in g["error_pct_runs"]) + f") | {g['violations_total']} |")
    w(f"| sliding limit=1000 window=100ms | {sacc['seconds']:.0f} s | {sacc['grants']:,.0f} | "
      f"utilisation {sacc['utilisation_pct']:.2f}% of what the bound allows ({sacc['allowed']:,.0f}) | "
      f"{sacc['violations_total']} |")
    w("")
    w("Achieved gcra rate = (grants - burst) / duration. A rate limiter can only fall short of its "
      "rate when demand pauses for longer than burst/rate (capacity is not banked beyond the "
      "burst): with burst 1000 that is 10 ms, with burst 100 only 1 ms, so the burst-100 row also "
      "counts every moment both demand processes were descheduled at once (the machine has 2 "
      "cores). The burst-1000 row is the limiter's rate accuracy; the guarantee held in both.")
    w("")
    if s.get("costs"):
        costs_report.section(s["costs"], w, made.get("costs"))
    w("## Python")
    w("")
    if "python" in s:
        w("`bench/python_overhead.py` (median of batches, `/usr/bin/python3`, module from "
          f"`{a.pydir}`):")
        w("")
        w("| call | ns per call | net of an empty Python call |")
        w("|---|---|---|")
        for n, v in s["python"].items():
            w(f"| `{n}` | {v['ns']:.0f} | {v['net']:.0f} |")
    else:
        w(f"Skipped: {s['python_skipped']}. Build the module (`SLUICE_BUILD_PYTHON=ON`) and rerun.")
    w("")
    w("## Memory")
    w("")
    mem = s["memory"]
    base = next(x for x in mem if x["bench"] == "memory")
    w(f"From `lib/src/layout.h` (`sluice_bench memory`), confirmed by the arena growth of each "
      f"`Define`. A segment is a {base['header_bytes']} B header, a slot table of "
      f"`capacity` x {base['slot_bytes']} B (`SlotLayout`, 4 cache lines, allocated up front), and "
      f"an arena (default {base['default_total_bytes'] / 2**20:.1f} MiB in all for capacity "
      f"{base['default_capacity']}).")
    w("")
    w("| limiter | slot table | arena (measured) |")
    w("|---|---|---|")
    for x in mem:
        if x["bench"] == "memory-define":
            w(f"| {x['limiter']} | {x['slot_bytes']} B | {x['arena_bytes']:,} B |")
    w("")
    w(f"Per limiter: {base['slot_bytes']} B slot + {base['params_bytes']} B `ParamsRecord` = "
      f"{base['slot_bytes'] + base['params_bytes']} B. Per sliding-window permit: 8 B (one "
      f"`int64` grant time) plus one {base['ring_header_bytes']} B ring header, 64-byte aligned. "
      f"Per lease holder: {base['holder_bytes']} B. Each live parameter change writes a new "
      f"{base['params_bytes']} B record (the arena is never compacted).")
    w("")
    ctl = s.get("sluicectl", {})
    if "text" in ctl:
        w("## `sluicectl bench` (same limiter, the CLI's load generator)")
        w("")
        w("```")
        w(ctl["text"])
        w("```")
        w("")
    w("## Reproduce")
    w("")
    w("```sh")
    w("cmake -S . -B build && cmake --build build -j")
    w("/usr/bin/python3 bench/run_all.py build        # ~9 minutes; writes this file and docs/img/")
    w("build/bin/sluice_bench_micro                   # the Google Benchmark part alone")
    w("```")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default="build", help="build directory (default: build)")
    ap.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    ap.add_argument("--quick", action="store_true", help="short measurements, for checking the script")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--json", help="also save the raw runs here")
    ap.add_argument("--pydir", help="where the sluice Python module is (default BUILD_DIR/python)")
    ap.add_argument("--sluicectl", help="sluicectl to run (default BUILD_DIR/bin/sluicectl)")
    a = ap.parse_args()
    bindir = os.path.join(a.build, "bin")
    a.pydir = a.pydir or os.path.join(a.build, "python")
    a.sluicectl = a.sluicectl or os.path.join(bindir, "sluicectl")
    for exe in ("sluice_bench", "sluice_bench_micro", "sluice_bench_zmq_server"):
        if not os.access(os.path.join(bindir, exe), os.X_OK):
            sys.exit(f"run_all: {bindir}/{exe} not found; build first "
                     f"(cmake -S . -B {a.build} && cmake --build {a.build})")
    m = machine()
    load_before = loadavg()
    busy0, mine0 = cpu_seconds()
    t0 = time.time()
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    log(f"machine: {m}; load {load_before}")
    peers = Peers(bindir)
    runs = []
    try:
        log(f"peers: redis on {peers.redis_port}, zmq on {peers.zmq_port}")
        for i in range(a.runs):
            log(f"run {i + 1}/{a.runs}")
            runs.append(run_once(a, bindir, peers, a.quick))
    finally:
        peers.stop()
    busy1, mine1 = cpu_seconds()
    # Share of the machine's CPU that other work used while we ran.
    other = max(0.0, (busy1 - busy0) - (mine1 - mine0)) / ((time.time() - t0) * (os.cpu_count() or 1))
    load_after = loadavg()
    finished = datetime.datetime.utcnow().strftime("%H:%M")
    s = summarise(runs)
    s["memory"] = run_json([os.path.join(bindir, "sluice_bench"), "memory"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": m, "runs": runs}, f, indent=1, default=str)
    made = plots(s, os.path.join(os.path.dirname(a.out), "img"))
    text = report(s, m, a, started, finished, load_before, other, made)
    with open(a.out, "w") as f:
        f.write(text)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
