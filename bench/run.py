#!/usr/bin/env python3
"""Benchmark driver for `make bench`: our server against Debian's memcached.

Every scenario starts each server fresh, pinned to one CPU with taskset, fills
it with the load generator `mcload` (pinned to another CPU), warms it up, then
measures throughput, latency and the server's own CPU time per request.  Both
servers are measured alternately within each round; the table shows medians
over the rounds, the ratio ours/memcached and whether the target is met.

Standard library only (Python 3.11).  See bench/README for the options and how
to read the output.
"""

import argparse
import atexit
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
DEFAULT_OURS = os.path.join(REPO, "memcached")
DEFAULT_REF = "/usr/bin/memcached"
DEFAULT_MCLOAD = os.path.join(BENCH_DIR, "loadgen", "target", "release", "mcload")
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
SCHEMA = 1

SERVERS = ("ours", "memcached")


class BenchError(Exception):
    """The benchmark itself could not be carried out (not a missed target)."""


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

# Load scenarios: one mcload workload each.  `mem` is the -m given to both
# servers, large enough that the prefilled key set is never evicted.
LOAD_SCENARIOS = {
    "a": dict(desc="getset:90, depth 1, 50 conns, 100 B values, uniform",
              workload="getset:90", conns=50, depth=1, keys=1_000_000,
              quick_keys=100_000, key_size=32, value_size=100, mem=1024),
    "b": dict(desc="getset:90, depth 16, 50 conns, 100 B values, uniform",
              workload="getset:90", conns=50, depth=16, keys=1_000_000,
              quick_keys=100_000, key_size=32, value_size=100, mem=1024),
    "c": dict(desc="set only, depth 16, 50 conns, 1 KiB values, uniform",
              workload="set", conns=50, depth=16, keys=200_000,
              quick_keys=50_000, key_size=32, value_size=1024, mem=1024),
    "d": dict(desc="multiget:16 (one get, 16 keys), depth 1, 50 conns, 100 B values",
              workload="multiget:16", conns=50, depth=1, keys=1_000_000,
              quick_keys=100_000, key_size=32, value_size=100, mem=1024),
    "e": dict(desc="meta get (mg <key> v f), depth 16, 50 conns, 100 B values",
              workload="mg", conns=50, depth=16, keys=1_000_000,
              quick_keys=100_000, key_size=32, value_size=100, mem=1024),
    "g": dict(desc="binary protocol get/set (bgbs:90), depth 16, 50 conns, 100 B values",
              workload="bgbs:90", conns=50, depth=16, keys=1_000_000,
              quick_keys=100_000, key_size=32, value_size=100, mem=1024),
}
MEM_SCENARIO = dict(desc="RSS per item after prefill: 20 B keys, 100 B values, -m 1024",
                    keys=1_000_000, quick_keys=200_000, key_size=20,
                    value_size=100, mem=1024, conns=50, depth=16)
IDLE_SCENARIO = dict(desc="idle connections",
                     conns=10_000, maxconns=11_000, mem=64)
# Replication, ours only (memcached has none).  r: the master's throughput
# in the workloads of b and c with one replica of ours attached against the
# same master with none; the replica runs on the client CPU, next to mcload.
REPL_SCENARIO = dict(desc="master with one replica attached vs. none, workloads of b and c; "
                          "replica on the client CPU",
                     workloads=("b", "c"))
# The two columns of r: the master with a replica, and alone.
REPL_PAIR = ("replica", "alone")
# r: how long a lag sample waits for the replica's answer.
REPLICA_ANSWER_TIMEOUT = 1.0
# s: a full sync of a prefilled master to an empty replica while mcload
# writes to the master; `rate` 0 is a closed loop (as fast as it answers).
SYNC_SCENARIO = dict(desc="full sync to an empty replica while the master takes sets",
                     workload="set", conns=50, depth=1, rate=0, keys=1_000_000,
                     quick_keys=1_000_000, key_size=32, value_size=100, mem=1024)
# s: mcload writes this long before `rep_replicaof`, and for SYNC_WINDOW
# seconds after it; a sync that takes longer is still timed (until
# --sync-timeout), with fewer writes at its end.
SYNC_LEAD = 1.0
SYNC_WINDOW = 5.0
ALL_SCENARIOS = ("a", "b", "c", "d", "e", "g", "f", "m", "r", "s")
EQUAL_LOAD_FRACTION = 0.5
# A run during which other processes used more than this fraction of a CPU
# on the two pinned CPUs is flagged as disturbed.
DISTURBED_FRAC = 0.05

# Targets: (scenario metric id, comparison, bound).  The ratio is ours/memcached.
TARGETS = {
    "a.cpu_us_per_req": ("<=", 0.6),
    "b.ops_per_sec": (">=", 2.0),
    "e.ops_per_sec": (">=", 2.0),
    "c.ops_per_sec": (">=", 1.3),
    "d.ops_per_sec": (">=", 1.3),
    "a_eq.p99_us": ("<=", 1.0),
    "m.rss_bytes_per_item": ("<=", 0.8),
    "f.rss_total_kb": ("<=", 1.0),
    # r: ratio (master with one replica) / (master alone).
    "rb.ops_per_sec": (">=", 0.9),
    "rc.ops_per_sec": (">=", 0.9),
}
# Targets on a value rather than a ratio (scenario s).
ABS_TARGETS = {
    "s.sync_s": ("<", 2.0),
}


# --------------------------------------------------------------------------
# Child processes: always stopped by pid, whatever happens
# --------------------------------------------------------------------------

_children = {}          # pid -> Popen, servers and load generators alive
_libc = None


def _die_with_parent():
    """preexec_fn: ask the kernel to SIGKILL the child if this script dies
    without getting a chance to clean up (for example on SIGKILL)."""
    try:
        _libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(cmd, log_path):
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    log = open(log_path, "wb")
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_die_with_parent if _libc else None)
    finally:
        log.close()
    _children[p.pid] = p
    return p


def stop_process(p, timeout=5.0):
    """SIGTERM the pid, then SIGKILL it if it has not exited after `timeout`."""
    try:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
    finally:
        _children.pop(p.pid, None)


def _stop_all_children():
    for p in list(_children.values()):
        try:
            stop_process(p, 3.0)
        except Exception:
            pass


def _on_signal(signum, _frame):
    # Turn SIGTERM/SIGHUP into an exception so every `finally` runs.
    raise SystemExit(128 + signum)


atexit.register(_stop_all_children)


# --------------------------------------------------------------------------
# Small helpers: /proc, sockets, formatting
# --------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid, reaped_children=False):
    """utime+stime of the whole process (all threads), in seconds; with
    reaped_children, plus that of the children it has reaped (a master's
    snapshot child)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15,
    # cutime and cstime 16 and 17.
    n = 4 if reaped_children else 2
    return sum(int(x) for x in fields[11:11 + n]) / CLK_TCK


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def pinned_cpu_busy_s(cpus):
    """user+nice+system seconds spent so far on the given CPUs (/proc/stat).
    irq/softirq are left out: loopback traffic is accounted there, not to
    the processes that cause it."""
    names = {f"cpu{c}" for c in cpus}
    total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in names:
                    total += int(parts[1]) + int(parts[2]) + int(parts[3])
    except (OSError, ValueError, IndexError):
        return None
    return total / CLK_TCK


def wait_quiet(cpus, max_wait=15.0):
    """Wait (at most max_wait seconds) until the given CPUs stay idle for a
    second: less than DISTURBED_FRAC of a CPU used there."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        b0 = pinned_cpu_busy_s(cpus)
        time.sleep(1.0)
        b1 = pinned_cpu_busy_s(cpus)
        if b0 is None or b1 is None or b1 - b0 <= DISTURBED_FRAC:
            return


def children_cpu_s():
    """CPU time of all children reaped so far (here: finished mcload runs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_until(sock, terminator, limit=1 << 20):
    buf = b""
    while not buf.endswith(terminator):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed, got {buf[:80]!r}")
        buf += chunk
        if len(buf) > limit:
            raise ConnectionError("reply too long")
    return buf


def server_stats(port, group="", timeout=5.0):
    """`stats` (or `stats GROUP`, e.g. "replication") as a dict."""
    cmd = f"stats {group}".strip().encode() + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd)
        reply = recv_until(s, b"END\r\n").decode("ascii", "replace")
    stats = {}
    for line in reply.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            stats[parts[1]] = parts[2]
    return stats


def fmt_num(v, kind):
    if v is None:
        return "-"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "us":
        return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"
    if kind == "cpu":
        return f"{v:.2f}"
    if kind == "secs":
        return f"{v:.2f}"
    if kind == "pct":
        return f"{v * 100:.0f}%"
    return f"{v:,.3g}"


def fmt_opt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def fmt_secs(v):
    return f"{v:g}"


def run_text(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip()
    except Exception as e:           # informational only
        return f"unavailable ({e})"


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

class Server:
    """One server process.  `cpu` defaults to --server-cpu; `extra` are more
    options (a replica's `-o replicaof=...`); `role` names the log file
    when two servers of one kind run at once (master and replica)."""

    def __init__(self, kind, cfg, mem_mb, maxconns, tag, cpu=None, extra=(), role=None):
        self.kind = kind
        self.cfg = cfg
        self.port = free_port()
        binary = cfg.ours if kind == "ours" else cfg.reference
        cpu = cfg.server_cpu if cpu is None else cpu
        cmd = ["taskset", "-c", str(cpu), binary]
        if kind == "memcached":
            cmd += ["-t", "1"]
        cmd += ["-p", str(self.port), "-l", "127.0.0.1", "-m", str(mem_mb),
                "-c", str(maxconns)] + list(extra)
        if os.geteuid() == 0:
            cmd += ["-u", "root"]   # memcached refuses to run as root without -u
        self.cmd = cmd
        self.what = role or kind
        self.log_path = os.path.join(cfg.workdir, f"{tag}-{self.what}-server.log")
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    | " + l for l in lines[-n:])
        except OSError:
            return ""

    def start(self, timeout=15.0):
        self.proc = spawn(self.cmd, self.log_path)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.exit_note()}\n    (before accepting connections; "
                                 f"command: {' '.join(self.cmd)})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"version\r\n")
                    if recv_until(s, b"\r\n").startswith(b"VERSION"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.what} server did not accept connections on "
                                 f"port {self.port} within {timeout:g}s\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)

    def exit_note(self):
        if self.proc is None or self.proc.poll() is None:
            return ""
        rc = self.proc.returncode
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        tail = self.log_tail()
        return f"{self.what} server {how}" + (f"\n{tail}" if tail else "")

    def wait_items(self, expected, timeout=30.0):
        """Wait until curr_items reaches `expected` (noreply sets may still be in
        flight when the loader exits) or stops growing; return the stats."""
        deadline = time.monotonic() + timeout
        last, stable_since = -1, time.monotonic()
        while True:
            st = server_stats(self.port)
            items = int(st.get("curr_items", "0"))
            if items >= expected:
                return st
            now = time.monotonic()
            if items != last:
                last, stable_since = items, now
            elif now - stable_since > 1.0 or now > deadline:
                return st
            time.sleep(0.1)


# --------------------------------------------------------------------------
# Load generator
# --------------------------------------------------------------------------

class McloadResult:
    def __init__(self, rc, data, output, cmd):
        self.rc, self.data, self.output, self.cmd = rc, data, output, cmd

    @property
    def ok(self):
        """Exit status 0 and JSON without "error" (mcload writes no JSON
        after a successful --prefill-only)."""
        if self.rc != 0 or (self.data is not None and "error" in self.data):
            return False
        return self.data is not None or "--prefill-only" in self.cmd

    def describe(self):
        if self.data and self.data.get("error"):
            return str(self.data["error"])
        tail = "\n".join("    | " + l for l in self.output.splitlines()[-10:])
        return f"mcload exited with status {self.rc}\n{tail}"


def run_mcload(cfg, port, args, timeout, tag, sample=None, every=0.5):
    """Run mcload to its end and return its McloadResult.  With `sample`,
    call it every `every` seconds while mcload runs (it must not raise)."""
    return finish_mcload(start_mcload(cfg, port, args, tag), timeout, sample, every)


def start_mcload(cfg, port, args, tag):
    """Start mcload in the background; finish_mcload waits for it."""
    json_path = os.path.join(cfg.workdir, f"{tag}.json")
    log_path = os.path.join(cfg.workdir, f"{tag}.log")
    if os.path.exists(json_path):
        os.unlink(json_path)
    cmd = (["taskset", "-c", str(cfg.client_cpu), cfg.mcload,
            "--server", f"127.0.0.1:{port}"] + args + ["--json", json_path])
    return spawn(cmd, log_path), cmd, json_path, log_path


def finish_mcload(handle, timeout, sample=None, every=0.5):
    p, cmd, json_path, log_path = handle
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                left = max(0.0, deadline - time.monotonic())
                rc = p.wait(min(every, left) if sample else left)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
                sample()
    except subprocess.TimeoutExpired:
        stop_process(p, 2.0)
        raise BenchError(f"mcload did not finish within {timeout:g}s: {' '.join(cmd)}")
    except BaseException:
        stop_process(p, 2.0)
        raise
    finally:
        _children.pop(p.pid, None)
    with open(log_path, "rb") as f:
        output = f.read().decode("utf-8", "replace")
    data = None
    try:
        with open(json_path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        pass
    return McloadResult(rc, data, output, cmd)


def mcload_base_args(p, keys, seed):
    return ["--conns", str(p["conns"]), "--depth", str(p["depth"]),
            "--keys", str(keys), "--key-size", str(p["key_size"]),
            "--value-size", str(p["value_size"]), "--dist", "uniform",
            "--workload", p.get("workload", "set"), "--seed", str(seed)]


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------

def classify_failure(kind, server, res, what):
    """A load-generator error against a live `ours` server is taken as a
    command we do not support yet; anything else is a benchmark failure."""
    if kind == "ours" and server.alive() and res.data and res.data.get("error"):
        return "unsupported", f"{what}: {res.describe()}"
    note = server.exit_note()
    return "failed", f"{what}: {res.describe()}" + (f"\n    {note}" if note else "")


def prefill(cfg, server, p, keys, seed, tag):
    """Fill the server and return (status, error, info) with RSS per item."""
    rss0 = proc_rss_kb(server.pid)
    args = mcload_base_args(p, keys, seed) + ["--prefill-only"]
    res = run_mcload(cfg, server.port, args, cfg.prefill_timeout, f"{tag}-prefill")
    if not res.ok:
        status, err = classify_failure(server.kind, server, res, "prefill")
        return status, err, {}
    st = server.wait_items(keys)
    rss1 = proc_rss_kb(server.pid)
    items = int(st.get("curr_items", "0"))
    info = dict(rss_before_kb=rss0, rss_after_prefill_kb=rss1, curr_items=items,
                evictions=int(st.get("evictions", "0")),
                rss_bytes_per_item=(rss1 - rss0) * 1024 / keys)
    if items < keys:
        info["warning"] = f"only {items} of {keys} keys stored after prefill"
    return "ok", None, info


def failed(rec, server, exc):
    """Record a failed measurement. OSError/ValueError come from /proc or a
    socket, typically because the server died; say so if it did."""
    msg = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
    note = "" if isinstance(exc, BenchError) else server.exit_note()
    rec.update(status="failed", error=msg + (f"\n    {note}" if note else ""))
    return rec


# --------------------------------------------------------------------------
# Replication probes (scenarios r and s)
# --------------------------------------------------------------------------

def parse_feed(line):
    """`addr=...,state=online,ack=N,lag=N` (a master's replicaN stat) as a
    dict with ack and lag as ints."""
    feed = dict(kv.split("=", 1) for kv in line.split(",") if "=" in kv)
    for k in ("ack", "lag"):
        if k in feed:
            feed[k] = int(feed[k])
    return feed


def repl_offsets(master, replica):
    """The replica's `stats replication`, then the master's, asked in that
    order: master repl_offset - replica repl_offset is then an upper bound
    of how far the replica was behind when it was asked.  replica may be
    None (a master alone is asked the same way, so both runs of r carry
    the same probe)."""
    # A replica busy applying a heavy stream can take seconds to answer.
    rst = server_stats(replica.port, "replication", timeout=30.0) if replica else {}
    mst = server_stats(master.port, "replication")
    return mst, rst


def repl_sample(master, replica, t0):
    """One sample of the replica's lag during a measured run: the master's
    `stats replication` (its offset, and its replica0 line with lag=),
    then the replica's, then the master's again, so that the second master
    offset - the replica's is an upper bound of the lag when the replica
    answered.  The replica gets REPLICA_ANSWER_TIMEOUT seconds to answer:
    one too busy applying the stream to serve its clients shows as such
    (`replica_silent`) instead of stalling the sampling.  A master alone
    is asked once.  Never raises (a server that stops answering is noted,
    and found out after the run)."""
    smp = dict(t=round(time.monotonic() - t0, 3))
    try:
        mst = server_stats(master.port, "replication")
        smp["master_offset"] = int(mst.get("repl_offset", 0))
        if not replica:
            return smp
        if "replica0" in mst:
            smp["replica0"] = mst["replica0"]
            feed = parse_feed(mst["replica0"])
            smp["state"], smp["ack_lag"] = feed.get("state"), feed.get("lag")
        t1 = time.monotonic()
        try:
            rst = server_stats(replica.port, "replication", timeout=REPLICA_ANSWER_TIMEOUT)
        except TimeoutError:
            smp["replica_answer_ms"] = (time.monotonic() - t1) * 1000
            smp["replica_silent"] = True
            return smp
        smp["replica_answer_ms"] = (time.monotonic() - t1) * 1000
        mst = server_stats(master.port, "replication")
        smp["replica_offset"] = int(rst.get("repl_offset", 0))
        smp["lag"] = int(mst.get("repl_offset", 0)) - smp["replica_offset"]
        smp["link"] = rst.get("master_link_status")
    except (OSError, ValueError) as e:
        smp["error"] = f"{type(e).__name__}: {e}"
    return smp


def foreign_replica(mst, ours):
    """On a shared machine a replica started elsewhere, whose master once
    had the port the benchmark's master now has, may attach to it and
    take a full sync.  Given the master's `stats replication` and how many
    replicas the benchmark attached (0 or 1), say so if there are more."""
    attached = int(mst.get("connected_replicas", 0))
    syncs = int(mst.get("sync_full", 0))
    lines = sum(1 for k in mst if re.fullmatch(r"replica\d+", k))
    if max(attached, lines) > ours or (ours == 0 and syncs > 0):
        return (f"a replica from outside the benchmark attached to the master (it has "
                f"{max(attached, lines)} replicas and made {syncs} full syncs; the benchmark "
                f"attached {ours})")
    return None


def wait_caught_up(master, replica, timeout, when):
    """Wait until the replica's link is up and it has applied the stream up
    to the master's offset as read when the wait began (pings advance it
    once a second, so "equal" would chase a moving target); returns the
    seconds it took.  Raises BenchError, saying where the replica stands,
    if that takes longer than `timeout`."""
    t0 = time.monotonic()
    target = int(server_stats(master.port, "replication").get("repl_offset", 0))
    while True:
        mst, rst = repl_offsets(master, replica)
        if (rst.get("master_link_status") == "up"
                and int(rst.get("repl_offset", -1)) >= target):
            return time.monotonic() - t0
        for srv in (master, replica):
            if not srv.alive():
                raise BenchError(f"replication {when}: {srv.exit_note()}")
        if time.monotonic() - t0 > timeout:
            raise BenchError(
                f"the replica did not catch up {when} within {timeout:g} s: master offset "
                f"{mst.get('repl_offset')} (was {target}), replica offset "
                f"{rst.get('repl_offset')}, link {rst.get('master_link_status')}, "
                f"master's view: {mst.get('replica0', 'no replica attached')}, "
                f"sync_full {mst.get('sync_full')}, replicas_dropped "
                f"{mst.get('replicas_dropped')}\n{replica.log_tail()}")
        time.sleep(0.02)


def repl_after_run(master, replica, samples, t0):
    """What a measured run of r leaves to report, called as soon as mcload
    has exited: how long the replica then took to apply everything the
    master had streamed by then, the lag samples taken during the run
    (the last one, a fraction of a second before mcload ended, is the lag
    at the end of the run), the stream's rate over them, and one more
    sample once the replica has caught up."""
    out = dict(repl_samples=samples)
    if replica:
        # First, while nothing else has asked the replica anything: from
        # the master's offset now, right after mcload exited, until the
        # replica has applied that much.
        out["catchup_ms"] = wait_caught_up(master, replica, 60.0,
                                           "after the measured run") * 1000
    after = repl_sample(master, replica, t0)
    out["repl_after"] = after
    mst = server_stats(master.port, "replication")
    out["master_sync_full"] = int(mst.get("sync_full", 0))
    out["master_replicas_dropped"] = int(mst.get("replicas_dropped", 0))
    foreign = foreign_replica(mst, 1 if replica else 0)
    if foreign:
        out["foreign_replica"] = foreign
    if not replica:
        return out
    # Two measures of the lag, both upper bounds of the true one: the
    # master's lag= (its offset minus what the replica acknowledged, taken
    # inside the master at one instant) and master offset - replica offset
    # (which also counts the stream made while the stats request waited
    # its turn in the busy master).
    timed = [smp for smp in samples if "master_offset" in smp]
    lags = [smp["lag"] for smp in timed if "lag" in smp]
    acks = [smp["ack_lag"] for smp in timed if smp.get("ack_lag") is not None]
    answers = [smp["replica_answer_ms"] for smp in timed if "replica_answer_ms" in smp]
    last = timed[-1] if timed else {}
    out.update(ack_lag_max=max(acks) if acks else None,
               ack_lag_median=statistics.median(acks) if acks else None,
               ack_lag_end=last.get("ack_lag"),
               lag_max=max(lags) if lags else None,
               lag_median=statistics.median(lags) if lags else None,
               lag_end=last.get("lag"), lag_end_t=last.get("t"),
               feed_end=last.get("replica0"),
               lag_after=after.get("lag"), ack_lag_after=after.get("ack_lag"),
               replica_answer_max_ms=max(answers) if answers else None,
               replica_silent_samples=sum(1 for smp in samples if smp.get("replica_silent")),
               samples=len(samples))
    if len(timed) >= 2 and timed[-1]["t"] > timed[0]["t"]:
        rate = ((timed[-1]["master_offset"] - timed[0]["master_offset"])
                / (timed[-1]["t"] - timed[0]["t"]))
        out["stream_mb_per_sec"] = rate / 1e6
        # How far behind the replica was in time, at worst: the largest
        # lag= over the rate at which the master made stream.
        if rate > 0 and acks:
            out["ack_lag_max_ms"] = max(acks) / rate * 1000
    notes = []
    bad = [smp for smp in samples + [after]
           if smp.get("error") or smp.get("state") != "online"
           or smp.get("link", "up") != "up"]
    if bad:
        notes.append(f"{len(bad)} of {len(samples) + 1} samples found the link not up/online "
                     f"(first: {bad[0]})")
    if out["replica_silent_samples"]:
        notes.append(f"the replica left `stats replication` unanswered for "
                     f"{REPLICA_ANSWER_TIMEOUT:g} s in {out['replica_silent_samples']} of "
                     f"{len(samples)} samples")
    if out["master_sync_full"] != 1 or out["master_replicas_dropped"]:
        notes.append(f"the master made {out['master_sync_full']} full syncs and dropped "
                     f"{out['master_replicas_dropped']} replicas (expected 1 and 0)")
    if notes:
        out["repl_warning"] = "; ".join(notes)
    return out


def run_load(cfg, kind, name, p, rnd, rate=None, with_replica=None):
    """One load measurement.  with_replica (scenario r, ours only): True
    attaches a replica of ours, pinned to the client CPU, before the
    prefill, and samples its lag during the measured run; False measures
    the same master alone (the replication stats are sampled the same
    way, so both runs carry the same probe).  The record's `server` is
    then "replica" or "alone"."""
    keys = p["keys_used"]
    label = kind if with_replica is None else REPL_PAIR[0 if with_replica else 1]
    tag = f"r{rnd}-{name}"
    rec = dict(scenario=name, server=label, round=rnd, workload=p["workload"],
               conns=p["conns"], depth=p["depth"], keys=keys,
               key_size=p["key_size"], value_size=p["value_size"], rate=rate,
               status="ok", error=None)
    seed = 1000 + rnd
    server = Server(kind, cfg, p["mem"], max(1024, p["conns"] + 100), tag,
                    role=None if with_replica is None else f"master-{label}")
    replica = None
    try:
        server.start()
        if with_replica:
            replica = Server(kind, cfg, p["mem"], 1024, tag, cpu=cfg.client_cpu,
                             extra=["-o", f"replicaof=127.0.0.1:{server.port}"],
                             role="replica")
            replica.start()
            wait_caught_up(server, replica, 30.0, "after its start")
        status, err, info = prefill(cfg, server, p, keys, seed, f"{tag}-{label}")
        rec.update(info)
        if status != "ok":
            rec.update(status=status, error=err)
            return rec
        if replica:
            rec["prefill_catchup_s"] = wait_caught_up(server, replica, 120.0,
                                                      "after the prefill")
        run_args = mcload_base_args(p, keys, seed) + ["--warmup", "0"]
        if rate:
            run_args += ["--rate", str(int(rate))]
        if cfg.warmup > 0:
            res = run_mcload(cfg, server.port, run_args + ["--duration", fmt_secs(cfg.warmup)],
                             cfg.warmup + 60, f"{tag}-{label}-warmup")
            if not res.ok:
                status, err = classify_failure(kind, server, res, "warm-up")
                rec.update(status=status, error=err)
                return rec
        pinned = (cfg.server_cpu, cfg.client_cpu)
        samples, sample, every = [], None, None
        if with_replica is not None:
            t_run = time.monotonic()
            every = min(0.5, max(0.1, cfg.duration / 20))
            sample = lambda: samples.append(repl_sample(server, replica, t_run))
        busy0, kids0 = pinned_cpu_busy_s(pinned), children_cpu_s()
        cpu0 = proc_cpu_s(server.pid)
        rcpu0 = proc_cpu_s(replica.pid) if replica else 0.0
        t0 = time.monotonic()
        res = run_mcload(cfg, server.port, run_args + ["--duration", fmt_secs(cfg.duration)],
                         cfg.duration + 60, f"{tag}-{label}-run", sample=sample, every=every)
        wall = time.monotonic() - t0
        cpu1 = proc_cpu_s(server.pid) if server.alive() else None
        rcpu1 = (proc_cpu_s(replica.pid) if replica.alive() else None) if replica else 0.0
        busy1, kids1 = pinned_cpu_busy_s(pinned), children_cpu_s()
        if not res.ok:
            status, err = classify_failure(kind, server, res, "measured run")
            rec.update(status=status, error=err)
            return rec
        if cpu1 is None:
            raise BenchError(f"measured run: {server.exit_note()}")
        if rcpu1 is None:
            raise BenchError(f"measured run: replica: {replica.exit_note()}")
        if with_replica is not None:
            rec.update(repl_after_run(server, replica, samples, t_run))
            if replica:
                rec["replica_cpu_s"] = rcpu1 - rcpu0
                rec["replica_cpu_util"] = (rcpu1 - rcpu0) / wall if wall > 0 else None
        d = res.data
        rec["mcload"] = d
        requests = d.get("requests") or 0
        lat = d.get("latency_us") or {}
        rec.update(
            ops_per_sec=d.get("ops_per_sec"),
            requests=requests,
            p50_us=lat.get("p50"), p99_us=lat.get("p99"), p999_us=lat.get("p999"),
            server_cpu_s=cpu1 - cpu0, wall_s=wall,
            server_cpu_util=(cpu1 - cpu0) / wall if wall > 0 else None,
            cpu_us_per_req=(cpu1 - cpu0) * 1e6 / requests if requests else None,
            client_cpu_s=d.get("client_cpu_s"),
            client_cpu_util=(d["client_cpu_s"] / d["duration_s"]
                             if d.get("client_cpu_s") is not None and d.get("duration_s")
                             else None),
            mcload_errors=d.get("errors"))
        if busy0 is not None and busy1 is not None and wall > 0:
            # CPU time on the two pinned CPUs not used by the server, its
            # replica or mcload: other processes competing with the measurement.
            other = (busy1 - busy0) - (cpu1 - cpu0) - (rcpu1 - rcpu0) - (kids1 - kids0)
            rec["other_cpu_frac"] = max(0.0, other / wall)
            if rec["other_cpu_frac"] > DISTURBED_FRAC:
                rec["warning"] = (f"other processes used {rec['other_cpu_frac'] * 100:.0f}% of a "
                                  f"CPU on CPUs {cfg.server_cpu},{cfg.client_cpu} during the run")
        lookups = d.get("key_lookups") or 0
        if lookups and d.get("misses"):
            rec["miss_ratio"] = d["misses"] / lookups
        return rec
    except (BenchError, OSError, ValueError) as e:
        if replica and not replica.alive():
            return failed(rec, replica, e)
        return failed(rec, server, e)
    finally:
        if replica:
            replica.stop()
        server.stop()


def ask(sock, cmd, ends=1):
    """Send `cmd` on an open connection and read until `ends` replies
    ending in END (stats, get) have arrived."""
    sock.sendall(cmd)
    buf = b""
    while buf.count(b"END\r\n") < ends or not buf.endswith(b"END\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed, got {buf[:80]!r}")
        buf += chunk
    return buf.decode("ascii", "replace")


def procs_cpu_s(pids):
    """CPU seconds of these processes and the children they reaped, or None
    if one of them is gone."""
    try:
        return sum(proc_cpu_s(pid, reaped_children=True) for pid in pids)
    except (OSError, ValueError):
        return None


def stats_of(text):
    return {parts[1]: parts[2] for parts in (l.split(" ", 2) for l in text.splitlines())
            if len(parts) == 3 and parts[0] == "STAT"}


def time_full_sync(master, replica, marker, timeout):
    """Make the empty `replica` a replica of `master` with rep_replicaof and
    time, from that command: when the master has the replica attached
    (`started`; the marker key is then set on the master, a write made
    after the sync started: `marker_stored`), when the master's feed is
    `online` (the snapshot is sent: `snapshot_sent`), when the replica's
    link is `up` and when the marker is readable on the replica
    (`readable`).  The master and the replica are polled every 10 ms, each
    from its own thread, since a replica loading a snapshot answers only
    when it is done; each state is timed when its reply arrived.  Returns
    the times in seconds (None for what did not happen within `timeout`)
    and the last stats seen of each."""
    t = dict(started=None, marker_stored=None, snapshot_sent=None, up=None, readable=None)
    last = dict(master={}, replica={})
    errors = []
    done = threading.Event()

    def poll_master(ms, t0):
        try:
            while not done.is_set() and time.monotonic() - t0 < timeout:
                mst = stats_of(ask(ms, b"stats replication\r\n"))
                now = time.monotonic() - t0
                last["master"] = mst
                feed = parse_feed(mst["replica0"]) if "replica0" in mst else {}
                if t["started"] is None and (feed or int(mst.get("sync_full", 0)) > 0):
                    t["started"] = now
                    ms.sendall(b"set " + marker + b" 0 0 5\r\nfresh\r\n")
                    reply = recv_until(ms, b"\r\n")
                    if reply != b"STORED\r\n":
                        raise BenchError(f"set of the marker key answered {reply!r}")
                    t["marker_stored"] = time.monotonic() - t0
                if feed.get("state") == "online":
                    t["snapshot_sent"] = now
                    return
                time.sleep(0.01)
        except (BenchError, OSError, ValueError) as e:
            errors.append(e)

    with socket.create_connection(("127.0.0.1", master.port), timeout=10) as ms, \
            socket.create_connection(("127.0.0.1", replica.port), timeout=10) as rs:
        t0 = time.monotonic()
        rs.sendall(f"rep_replicaof 127.0.0.1 {master.port}\r\n".encode())
        reply = recv_until(rs, b"\r\n")
        if reply != b"OK\r\n":
            raise BenchError(f"rep_replicaof answered {reply!r}")
        poller = threading.Thread(target=poll_master, args=(ms, t0), daemon=True)
        poller.start()
        get_marker = b"get " + marker + b"\r\n"
        rs.settimeout(max(10.0, timeout))     # a replica loading a snapshot answers late
        try:
            while time.monotonic() - t0 < timeout and not errors:
                text = ask(rs, b"stats replication\r\n" + get_marker, ends=2)
                now = time.monotonic() - t0
                rst = stats_of(text)
                last["replica"] = rst
                if t["up"] is None and rst.get("master_link_status") == "up":
                    t["up"] = now
                if t["readable"] is None and t["marker_stored"] is not None \
                        and f"VALUE {marker.decode()} " in text:
                    t["readable"] = now
                if t["up"] is not None and t["readable"] is not None:
                    break
                for srv in (master, replica):
                    if not srv.alive():
                        raise BenchError(f"full sync: {srv.exit_note()}")
                time.sleep(0.01)
        finally:
            done.set()
            poller.join(15)
    if errors:
        raise errors[0]
    return t, last


def sync_log_facts(master, replica):
    """The snapshot's size and the times the servers log with -v (for the
    record; None when a line is missing)."""
    facts = dict(snapshot_bytes=None, snapshot_made_ms=None, replica_load_ms=None,
                 replica_loaded_items=None)
    try:
        with open(master.log_path, "rb") as f:
            mlog = f.read().decode("utf-8", "replace")
        with open(replica.log_path, "rb") as f:
            rlog = f.read().decode("utf-8", "replace")
    except OSError:
        return facts
    m = re.search(r"sending a snapshot of (\d+) bytes \(made in (\d+) ms\)", mlog)
    if m:
        facts.update(snapshot_bytes=int(m.group(1)), snapshot_made_ms=int(m.group(2)))
    m = re.search(r"done: (\d+) items loaded in (\d+) ms", rlog)
    if m:
        facts.update(replica_loaded_items=int(m.group(1)), replica_load_ms=int(m.group(2)))
    return facts


def run_sync(cfg, p, rnd):
    """Scenario s: prefill a master, start an empty server on the client
    CPU, start mcload writing to the master, and after SYNC_LEAD seconds
    make the empty server its replica (rep_replicaof) and time the full
    sync until the replica serves a key written after the sync started."""
    keys = p["keys_used"]
    tag = f"r{rnd}-s"
    rec = dict(scenario="s", server="ours", round=rnd, workload=p["workload"],
               conns=p["conns"], depth=p["depth"], rate=p["rate"] or None, keys=keys,
               key_size=p["key_size"], value_size=p["value_size"], status="ok", error=None)
    seed = 1000 + rnd
    master = Server("ours", cfg, p["mem"], 1024, tag, extra=["-v"], role="master")
    replica = Server("ours", cfg, p["mem"], 1024, tag, cpu=cfg.client_cpu, extra=["-v"],
                     role="replica")
    load = None
    try:
        master.start()
        replica.start()
        status, err, info = prefill(cfg, master, p, keys, seed, f"{tag}-master")
        rec.update(curr_items=info.get("curr_items"), warning=info.get("warning"))
        if status != "ok":
            rec.update(status="failed", error=err)
            return rec
        args = mcload_base_args(p, keys, seed) + [
            "--warmup", "0", "--duration", fmt_secs(SYNC_LEAD + SYNC_WINDOW)]
        if p["rate"]:
            args += ["--rate", str(int(p["rate"]))]
        load = start_mcload(cfg, master.port, args, f"{tag}-writes")
        time.sleep(SYNC_LEAD)
        if load[0].poll() is not None:
            raise BenchError(f"mcload writing during the sync ended early "
                             f"(status {load[0].returncode}); see {load[3]}")
        foreign = foreign_replica(server_stats(master.port, "replication"), 0)
        if foreign:
            rec.update(status="failed", error=foreign, foreign_replica=foreign)
            return rec
        marker = f"replbench:marker:{rnd}".encode()
        pids = (master.pid, replica.pid, load[0].pid)
        pinned = (cfg.server_cpu, cfg.client_cpu)
        busy0, cpu0, w0 = pinned_cpu_busy_s(pinned), procs_cpu_s(pids), time.monotonic()
        t, last = time_full_sync(master, replica, marker, cfg.sync_timeout)
        busy1, cpu1, wall = pinned_cpu_busy_s(pinned), procs_cpu_s(pids), time.monotonic() - w0
        if None not in (busy0, busy1, cpu0, cpu1) and wall > 0:
            # As in run_load: CPU time on the pinned CPUs that neither server
            # (nor the master's snapshot child) nor mcload used.
            rec["other_cpu_frac"] = max(0.0, ((busy1 - busy0) - (cpu1 - cpu0)) / wall)
            if rec["other_cpu_frac"] > DISTURBED_FRAC:
                rec["warning"] = (f"other processes used {rec['other_cpu_frac'] * 100:.0f}% "
                                  f"of a CPU on CPUs {cfg.server_cpu},{cfg.client_cpu} "
                                  "during the sync")
        rec["timeline_s"] = t
        rec.update(started_s=t["started"], snapshot_sent_s=t["snapshot_sent"],
                   link_up_s=t["up"], readable_s=t["readable"])
        mst, rst = last.get("master", {}), last.get("replica", {})
        if t["up"] is None or t["readable"] is None:
            raise BenchError(
                f"the replica did not serve the new data within {cfg.sync_timeout:g} s of "
                f"rep_replicaof: master saw rep_sync after {t['started']} s, snapshot sent "
                f"after {t['snapshot_sent']} s, link {rst.get('master_link_status')} "
                f"(up after {t['up']} s), marker readable: {t['readable'] is not None}; "
                f"master's view: {mst.get('replica0', 'no replica attached')}\n"
                f"{replica.log_tail()}")
        rec["sync_s"] = max(t["up"], t["readable"])
        # mcload wrote during the whole sync only if it was done in the window.
        rec["writes_cover_sync"] = rec["sync_s"] <= SYNC_WINDOW
        res = finish_mcload(load, SYNC_WINDOW + 60)
        load = None
        if not res.ok:
            raise BenchError(f"mcload writing during the sync: {res.describe()}")
        d = res.data
        rec["mcload"] = d
        rec.update(write_ops_per_sec=d.get("ops_per_sec"),
                   write_p99_us=(d.get("latency_us") or {}).get("p99"),
                   mcload_errors=d.get("errors"))
        rec["catchup_after_writes_ms"] = wait_caught_up(
            master, replica, 60.0, "after the writes stopped") * 1000
        mst = server_stats(master.port, "replication")
        rst = server_stats(replica.port)
        rec.update(latest_fork_usec=int(mst.get("latest_fork_usec", 0)),
                   sync_buffer_peak=int(mst.get("sync_buffer_peak", 0)),
                   master_sync_full=int(mst.get("sync_full", 0)),
                   master_replicas_dropped=int(mst.get("replicas_dropped", 0)),
                   replica_curr_items=int(rst.get("curr_items", 0)))
        rec.update(sync_log_facts(master, replica))
        foreign = foreign_replica(mst, 1)
        if foreign:
            rec["foreign_replica"] = foreign
        if rec["replica_curr_items"] < rec["curr_items"] or rec["master_sync_full"] != 1:
            rec["repl_warning"] = (f"replica holds {rec['replica_curr_items']:,} items, master "
                                   f"{rec['curr_items']:,}; master made "
                                   f"{rec['master_sync_full']} full syncs (expected 1)")
        return rec
    except (BenchError, OSError, ValueError) as e:
        return failed(rec, replica if not replica.alive() else master, e)
    finally:
        if load is not None:
            stop_process(load[0], 2.0)
        replica.stop()
        master.stop()


def run_memory(cfg, kind, p, rnd):
    keys = p["keys_used"]
    tag = f"r{rnd}-m"
    rec = dict(scenario="m", server=kind, round=rnd, keys=keys, key_size=p["key_size"],
               value_size=p["value_size"], status="ok", error=None)
    server = Server(kind, cfg, p["mem"], 1024, tag)
    try:
        server.start()
        status, err, info = prefill(cfg, server, p, keys, 1000 + rnd, f"{tag}-{kind}")
        rec.update(info)
        if status != "ok":
            rec.update(status=status, error=err)
        return rec
    except (BenchError, OSError, ValueError) as e:
        return failed(rec, server, e)
    finally:
        server.stop()


def open_idle_connections(port, n, batch=500):
    """Open up to n connections, each answering `version`, so the server has
    really accepted them.  Returns (sockets, error or None)."""
    socks, err = [], None
    try:
        while len(socks) < n and err is None:
            chunk = []
            for _ in range(min(batch, n - len(socks))):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(15)
                try:
                    s.connect(("127.0.0.1", port))
                    s.sendall(b"version\r\n")
                except OSError as e:
                    s.close()
                    err = f"connect #{len(socks) + len(chunk) + 1}: {e}"
                    break
                chunk.append(s)
            for s in chunk:
                try:
                    reply = recv_until(s, b"\r\n")
                except OSError as e:
                    reply = f"{e}".encode()
                if not reply.startswith(b"VERSION"):
                    err = err or f"connection #{len(socks) + 1}: {reply[:60]!r}"
                    s.close()
                    continue
                socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks, err


def run_idle(cfg, kind, p, rnd):
    n = p["conns_used"]
    rec = dict(scenario="f", server=kind, round=rnd, status="ok", error=None,
               conns_requested=n)
    server = Server(kind, cfg, p["mem"], p["maxconns"], f"r{rnd}-f")
    socks = []
    try:
        server.start()
        time.sleep(0.2)
        rss0 = proc_rss_kb(server.pid)
        socks, err = open_idle_connections(server.port, n)
        time.sleep(0.5)
        if not server.alive():
            raise BenchError(server.exit_note())
        rss1 = proc_rss_kb(server.pid)
        opened = len(socks)
        rec.update(conns_open=opened, rss_before_kb=rss0, rss_total_kb=rss1,
                   rss_bytes_per_conn=(rss1 - rss0) * 1024 / opened if opened else None)
        if err:
            rec["warning"] = f"opened {opened} of {n} connections ({err})"
            if opened < n:
                rec.update(status="failed", error=rec["warning"])
        return rec
    except (BenchError, OSError, ValueError) as e:
        return failed(rec, server, e)
    finally:
        for s in socks:
            s.close()
        server.stop()


# --------------------------------------------------------------------------
# Summary and table
# --------------------------------------------------------------------------

def metric_rows(name, p, equal_rate=None):
    """(metric id, label, record field, format) for one scenario."""
    if name in LOAD_SCENARIOS:
        label = f"({name}) {p['workload']} d{p['depth']}"
        rows = [(f"{name}.ops_per_sec", f"{label} ops/s", "ops_per_sec", "int"),
                (f"{name}.cpu_us_per_req", f"{label} server CPU us/req", "cpu_us_per_req", "cpu"),
                (f"{name}.p50_us", f"{label} p50 us", "p50_us", "us"),
                (f"{name}.p99_us", f"{label} p99 us", "p99_us", "us")]
        if p["value_size"] == 100:
            rows.append((f"{name}.rss_bytes_per_item", f"{label} RSS B/item (prefill)",
                         "rss_bytes_per_item", "int"))
        return rows
    if name == "a_eq":
        label = f"(a) open loop {equal_rate:,.0f} ops/s"
        return [("a_eq.ops_per_sec", f"{label}: achieved ops/s", "ops_per_sec", "int"),
                ("a_eq.p50_us", f"{label}: p50 us", "p50_us", "us"),
                ("a_eq.p99_us", f"{label}: p99 us", "p99_us", "us")]
    if name == "m":
        return [("m.rss_bytes_per_item",
                 f"(m) RSS B/item, {p['key_size']} B key + {p['value_size']} B value",
                 "rss_bytes_per_item", "int")]
    if name == "f":
        n = p["conns_used"]
        return [("f.rss_total_kb", f"(f) RSS KiB with {n:,} idle conns", "rss_total_kb", "int"),
                ("f.rss_bytes_per_conn", "(f) RSS B per idle conn", "rss_bytes_per_conn", "int")]
    if name in ("rb", "rc"):
        label = f"(r) {name[1]}: {p['workload']} d{p['depth']}"
        return [(f"{name}.ops_per_sec", f"{label} master ops/s", "ops_per_sec", "int"),
                (f"{name}.cpu_us_per_req", f"{label} master CPU us/req", "cpu_us_per_req",
                 "cpu"),
                (f"{name}.p50_us", f"{label} p50 us", "p50_us", "us"),
                (f"{name}.p99_us", f"{label} p99 us", "p99_us", "us"),
                (f"{name}.client_cpu_util", f"{label} mcload CPU", "client_cpu_util", "pct"),
                (f"{name}.replica_cpu_util", f"{label} replica CPU", "replica_cpu_util", "pct"),
                (f"{name}.ack_lag_median", f"{label} replica lag B (lag=), median sample",
                 "ack_lag_median", "int"),
                (f"{name}.ack_lag_max", f"{label} replica lag B (lag=), max sample",
                 "ack_lag_max", "int"),
                (f"{name}.ack_lag_end", f"{label} replica lag B (lag=), last sample",
                 "ack_lag_end", "int"),
                (f"{name}.lag_median", f"{label} replica lag B (offsets), median sample",
                 "lag_median", "int"),
                (f"{name}.lag_max", f"{label} replica lag B (offsets), max sample",
                 "lag_max", "int"),
                (f"{name}.lag_end", f"{label} replica lag B (offsets), last sample",
                 "lag_end", "int"),
                (f"{name}.stream_mb_per_sec", f"{label} stream MB/s", "stream_mb_per_sec",
                 "num"),
                (f"{name}.ack_lag_max_ms", f"{label} replica lag ms, max lag= / stream rate",
                 "ack_lag_max_ms", "us"),
                (f"{name}.replica_answer_max_ms",
                 f"{label} replica's stats answer ms, slowest sample",
                 "replica_answer_max_ms", "us"),
                (f"{name}.replica_silent_samples",
                 f"{label} samples the replica left unanswered {REPLICA_ANSWER_TIMEOUT:g} s",
                 "replica_silent_samples", "int"),
                (f"{name}.catchup_ms", f"{label} replica caught up after mcload exited, ms",
                 "catchup_ms", "us")]
    if name == "s":
        label = "(s)"
        return [("s.sync_s", f"{label} full sync, s: rep_replicaof to new key read", "sync_s",
                 "secs"),
                ("s.started_s", f"{label}   master attached the replica, s", "started_s",
                 "secs"),
                ("s.snapshot_sent_s", f"{label}   snapshot sent (feed online), s",
                 "snapshot_sent_s", "secs"),
                ("s.link_up_s", f"{label}   replica link up, s", "link_up_s", "secs"),
                ("s.snapshot_made_ms", f"{label} snapshot written by the child, ms",
                 "snapshot_made_ms", "int"),
                ("s.replica_load_ms", f"{label} replica loaded the snapshot, ms",
                 "replica_load_ms", "int"),
                ("s.snapshot_bytes", f"{label} snapshot bytes", "snapshot_bytes", "int"),
                ("s.latest_fork_usec", f"{label} latest_fork_usec (fork pause)",
                 "latest_fork_usec", "int"),
                ("s.sync_buffer_peak", f"{label} sync_buffer_peak, bytes", "sync_buffer_peak",
                 "int"),
                ("s.write_ops_per_sec", f"{label} sets/s the master answered meanwhile",
                 "write_ops_per_sec", "int"),
                ("s.catchup_after_writes_ms", f"{label} replica caught up after the writes, ms",
                 "catchup_after_writes_ms", "int"),
                ("s.replica_curr_items", f"{label} items on the replica after", "replica_curr_items",
                 "int")]
    return []


def summarize(records, name, rows, pair=SERVERS):
    """Medians per metric for the two columns of `pair` (ours and memcached,
    or for r the master with a replica and alone), their ratio, and the
    ratio against TARGETS."""
    out = []
    for mid, label, field, kind in rows:
        entry = dict(id=mid, label=label, format=kind)
        if pair != SERVERS:
            entry["columns"] = list(pair)
        for srv in pair:
            recs = [r for r in records if r["scenario"] == name and r["server"] == srv]
            # A row where ours is "unsupported" still has valid prefill numbers.
            vals = [r[field] for r in recs
                    if r["status"] in ("ok", "unsupported") and r.get(field) is not None]
            statuses = {r["status"] for r in recs}
            if vals:
                entry[srv] = statistics.median(vals)
                entry[f"{srv}_status"] = "ok"
            else:
                entry[srv] = None
                entry[f"{srv}_status"] = ("unsupported" if "unsupported" in statuses else
                                          "failed" if "failed" in statuses else
                                          "-" if statuses == {"ok"} else "not run")
            entry[f"{srv}_values"] = vals
        o, m = entry[pair[0]], entry[pair[1]]
        entry["ratio"] = o / m if o is not None and m else None
        tgt = TARGETS.get(mid)
        entry["target"] = f"{tgt[0]} {tgt[1]}" if tgt else None
        if tgt and entry["ratio"] is not None:
            r = entry["ratio"]
            entry["met"] = (r <= tgt[1]) if tgt[0] == "<=" else (r >= tgt[1])
        else:
            entry["met"] = None
        out.append(entry)
    return out


def summarize_abs(records, name, rows):
    """Scenario s, ours alone: the median of each metric and the rounds'
    values, checked against ABS_TARGETS."""
    out = []
    for mid, label, field, kind in rows:
        recs = [r for r in records if r["scenario"] == name]
        vals = [r[field] for r in recs if r["status"] == "ok" and r.get(field) is not None]
        statuses = {r["status"] for r in recs}
        entry = dict(id=mid, label=label, format=kind, absolute=True,
                     value=statistics.median(vals) if vals else None, values=vals,
                     status="ok" if vals else "failed" if "failed" in statuses else
                     "-" if statuses == {"ok"} else "not run")
        tgt = ABS_TARGETS.get(mid)
        entry["target"] = f"{tgt[0]} {tgt[1]:g}" if tgt else None
        if tgt and entry["value"] is not None:
            v = entry["value"]
            entry["met"] = {"<": v < tgt[1], "<=": v <= tgt[1],
                            ">": v > tgt[1], ">=": v >= tgt[1]}[tgt[0]]
        else:
            entry["met"] = None
        out.append(entry)
    return out


def met_cell(e):
    if e["target"] is None:
        return ""
    if e["met"] is None:
        return "n/a"
    return "yes" if e["met"] else "NO"


def print_table(summary):
    """One table per kind of row: ours against memcached; r, the master with
    a replica against alone; s, absolute values."""
    groups = [
        ([e for e in summary if "columns" not in e and not e.get("absolute")],
         SERVERS, ["metric", "ours", "memcached", "ratio", "target", "met?"]),
        ([e for e in summary if "columns" in e],
         REPL_PAIR, ["metric", "with replica", "alone", "ratio", "target", "met?"]),
    ]
    first = True
    for entries, pair, head in groups:
        if entries:
            if not first:
                print()
            print_rows(entries, pair, head)
            first = False
    entries = [e for e in summary if e.get("absolute")]
    if entries:
        if not first:
            print()
        head = ["metric", "median", "rounds", "target", "met?"]
        lines = [[e["label"], fmt_num(e["value"], e["format"]) if e["value"] is not None
                  else e["status"], " ".join(fmt_num(v, e["format"]) for v in e["values"]),
                  e["target"] or "", met_cell(e)] for e in entries]
        widths = [max(len(r[i]) for r in lines + [head]) for i in range(len(head))]
        fmt = lambda row: " | ".join([row[0].ljust(widths[0]), row[1].rjust(widths[1]),
                                      row[2].ljust(widths[2]), row[3].ljust(widths[3]),
                                      row[4]]).rstrip()
        print(fmt(head))
        print("-+-".join("-" * w for w in widths))
        for row in lines:
            print(fmt(row))


def print_rows(summary, pair, head):
    lines = []
    for e in summary:
        def cell(srv):
            if e[srv] is not None:
                return fmt_num(e[srv], e["format"])
            return e[f"{srv}_status"]
        ratio = f"{e['ratio']:.2f}" if e["ratio"] is not None else "-"
        lines.append([e["label"], cell(pair[0]), cell(pair[1]), ratio,
                      e["target"] or "", met_cell(e)])
    widths = [max(len(r[i]) for r in lines + [head]) for i in range(len(head))]

    def fmt(row):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 4)]
        cells += [row[4].ljust(widths[4]), row[5].ljust(widths[5])]
        return " | ".join(cells).rstrip()
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for row in lines:
        print(fmt(row))


def why_missing(entry):
    pair = entry.get("columns", SERVERS)
    for srv in pair:
        st = entry.get(f"{srv}_status", "-")
        if st == "-":           # no value by design (r's lag rows when alone)
            return "-"
        if st != "ok":
            return st if srv == pair[0] else f"{srv} {st}"
    return "-"


def print_compare(old, new):
    print(f"\nCompared with {old.get('_path', 'earlier run')}:")
    for tag, r in (("old", old), ("new", new)):
        print(f"  {tag}: {r.get('timestamp')} commit {str(r.get('git', {}).get('commit'))[:12]}"
              f"{' (dirty)' if r.get('git', {}).get('dirty') else ''}"
              f" on {r.get('machine', {}).get('cpu_model')} x{r.get('machine', {}).get('nproc')}")
    old_by_id = {e["id"]: e for e in old.get("summary", [])}
    head = ["metric", "old ratio", "new ratio", "change", "old ours", "new ours", "target"]
    rows = []
    for e in new.get("summary", []):
        o = old_by_id.get(e["id"])
        if o is None:
            continue
        kind = e.get("format", "num")
        if e.get("absolute"):
            # Scenario s has no ratio: the change is that of the value.
            v0, v1 = o.get("value"), e.get("value")
            change = f"{(v1 / v0 - 1) * 100:+.1f}%" if v0 and v1 is not None else "-"
            rows.append([e["label"], "-", "-", change, fmt_num(v0, kind), fmt_num(v1, kind),
                         e.get("target") or ""])
            continue
        r0, r1 = o.get("ratio"), e.get("ratio")
        change = f"{(r1 / r0 - 1) * 100:+.1f}%" if r0 and r1 is not None else "-"
        first = e.get("columns", SERVERS)[0]      # "ours", or r's "replica"
        v0, v1 = o.get(first), e.get(first)
        if r0 is None and r1 is None and v0 and v1 is not None:
            # A row with one column only (r's replica lag): the change is
            # that of the value.
            change = f"{(v1 / v0 - 1) * 100:+.1f}%"
        rows.append([e["label"], f"{r0:.2f}" if r0 is not None else why_missing(o),
                     f"{r1:.2f}" if r1 is not None else why_missing(e), change,
                     fmt_num(o.get(first), kind), fmt_num(e.get(first), kind),
                     e.get("target") or ""])
    if not rows:
        print("  (no metric in common)")
        return
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda row: " | ".join([row[0].ljust(widths[0])] +
                                 [row[i].rjust(widths[i]) for i in range(1, 6)] +
                                 [row[6]]).rstrip()
    print(fmt(head))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


# --------------------------------------------------------------------------
# Setup checks
# --------------------------------------------------------------------------

def die(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def check_prerequisites(cfg):
    if not (os.path.isfile(cfg.ours) and os.access(cfg.ours, os.X_OK)):
        die(f"{cfg.ours} not found: build it first with `make memcached` "
            "(`make bench` does this)")
    if not (os.path.isfile(cfg.mcload) and os.access(cfg.mcload, os.X_OK)):
        die(f"load generator {cfg.mcload} not found: build it with "
            "`cargo build --release --manifest-path bench/loadgen/Cargo.toml` "
            "(`make bench` does this)")
    if shutil.which("taskset") is None:
        die("`taskset` not found: install util-linux (apt-get install util-linux)")
    if not os.path.exists(cfg.reference):
        if cfg.reference != DEFAULT_REF:
            die(f"reference server {cfg.reference} not found")
        if os.geteuid() != 0:
            die(f"{DEFAULT_REF} not found: install Debian's memcached "
                "(sudo apt-get install memcached) and run again")
        log(f"{DEFAULT_REF} not found: running `apt-get update && apt-get install -y "
            "memcached` to install Debian's memcached as the reference server "
            "(the package may also start a memcached service on port 11211; "
            "the benchmark uses its own ports and does not touch it)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "memcached"]):
            if subprocess.run(cmd, env=env).returncode != 0:
                die(f"`{' '.join(cmd)}` failed")
        if not os.path.exists(cfg.reference):
            die(f"{DEFAULT_REF} still missing after apt-get install")
    allowed = os.sched_getaffinity(0)
    for what, cpu in (("server", cfg.server_cpu), ("client", cfg.client_cpu)):
        if cpu not in allowed:
            die(f"CPU {cpu} for the {what} is not available (usable CPUs: "
                f"{sorted(allowed)}); choose others with --server-cpu/--client-cpu")
    if cfg.server_cpu == cfg.client_cpu:
        log("warning: server and load generator share one CPU; numbers will be "
            "much lower than with two")


def raise_nofile(want):
    """Raise RLIMIT_NOFILE so this script (and the servers it starts, which
    inherit it) can hold `want` descriptors.  Returns the soft limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError):
        return soft
    return new


def machine_info():
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    return dict(nproc=os.cpu_count(), usable_cpus=sorted(os.sched_getaffinity(0)),
                cpu_model=cpu_model, kernel=platform.release(),
                machine=platform.machine(), mem_total_kb=mem_kb,
                hostname=platform.node(), python=platform.python_version())


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


def cpu_busy(interval=1.0):
    """Fraction of all CPUs busy over `interval` seconds (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])      # idle+iowait, total without guest
    try:
        i0, t0 = sample()
        time.sleep(interval)
        i1, t1 = sample()
        return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else None
    except (OSError, ValueError, IndexError):
        return None


def git_info():
    commit = run_text(["git", "-C", REPO, "rev-parse", "HEAD"])
    status = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True)
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return dict(commit=commit, dirty=dirty)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Benchmark our memcached against Debian's memcached (see bench/README).")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds, each measuring both servers alternately (default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true",
                    help="fast smoke run: 1 round, short runs, fewer keys (about a minute)")
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                    help="comma-separated subset of a,b,c,d,e,g,f,m,r,s (default: all)")
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds of each measured run (default 10, --quick 2)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of the discarded warm-up run before it (default 2, --quick 1)")
    ap.add_argument("--keys", type=int, default=None,
                    help="override the number of keys of every scenario")
    ap.add_argument("--idle-conns", type=int, default=IDLE_SCENARIO["conns"],
                    help="idle connections for scenario f (default 10000)")
    ap.add_argument("--compare", metavar="FILE",
                    help="print ratio changes against an earlier results JSON")
    ap.add_argument("--current", metavar="FILE",
                    help="with --compare: compare FILE instead of running the benchmark")
    ap.add_argument("--ours", default=DEFAULT_OURS, help="our server binary (default ./memcached)")
    ap.add_argument("--reference", default=DEFAULT_REF,
                    help="reference memcached binary (default /usr/bin/memcached)")
    ap.add_argument("--mcload", default=DEFAULT_MCLOAD, help="load generator binary")
    ap.add_argument("--server-cpu", type=int, default=0, help="CPU the server is pinned to (0)")
    ap.add_argument("--client-cpu", type=int, default=1, help="CPU mcload is pinned to (1)")
    ap.add_argument("--results-dir", default=RESULTS_DIR,
                    help="where results JSON files go (default bench/results)")
    ap.add_argument("--retries", type=int, default=2,
                    help="repeat a measured run up to N times when other processes took "
                         "CPU time on the pinned CPUs during it (default 2)")
    ap.add_argument("--sync-rate", type=int, default=SYNC_SCENARIO["rate"],
                    help="scenario s: sets/s mcload sends to the master during the full "
                         "sync (default 0: closed loop, as fast as it answers)")
    ap.add_argument("--sync-timeout", type=float, default=60.0,
                    help="scenario s: give up on a full sync after this many seconds (60)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the server and mcload logs even when all went well")
    a = ap.parse_args(argv)
    if a.current and not a.compare:
        ap.error("--current needs --compare")
    a.rounds = a.rounds if a.rounds is not None else (1 if a.quick else 3)
    a.duration = a.duration if a.duration is not None else (2.0 if a.quick else 10.0)
    a.warmup = a.warmup if a.warmup is not None else (1.0 if a.quick else 2.0)
    if a.rounds < 1 or a.duration <= 0 or a.warmup < 0 or a.retries < 0:
        ap.error("--rounds >= 1, --duration > 0, --warmup >= 0 and --retries >= 0 please")
    chosen = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    bad = [s for s in chosen if s not in ALL_SCENARIOS]
    if bad:
        ap.error(f"unknown scenario(s) {','.join(bad)}; choose from {','.join(ALL_SCENARIOS)}")
    a.scenario_list = [s for s in ALL_SCENARIOS if s in chosen]
    a.prefill_timeout = 600.0
    if a.sync_rate < 0 or a.sync_timeout <= 0:
        ap.error("--sync-rate >= 0 and --sync-timeout > 0 please")
    return a


def load_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read {path}: {e}")
    data["_path"] = path
    return data


def scenario_params(cfg, name):
    if name == "r":
        p = dict(REPL_SCENARIO)
        p["loads"] = {w: scenario_params(cfg, w) for w in p["workloads"]}
        return p
    if name == "s":
        p = dict(SYNC_SCENARIO)
        p["keys_used"] = cfg.keys or (p["quick_keys"] if cfg.quick else p["keys"])
        p["rate"] = cfg.sync_rate
        how = f"open loop {p['rate']:,} sets/s" if p["rate"] else "closed loop"
        p["desc"] = (f"{p['desc']} ({p['workload']}, {how}, {p['conns']} conns, "
                     f"{p['key_size']} B keys, {p['value_size']} B values); replica on the "
                     "client CPU")
        return p
    if name in LOAD_SCENARIOS or name == "m":
        p = dict(LOAD_SCENARIOS[name] if name != "m" else MEM_SCENARIO)
        p["keys_used"] = cfg.keys or (p["quick_keys"] if cfg.quick else p["keys"])
        return p
    p = dict(IDLE_SCENARIO)
    p["conns_used"] = cfg.idle_conns
    return p


def main(argv):
    cfg = parse_args(argv)
    if cfg.current:
        print_compare(load_json(cfg.compare), load_json(cfg.current))
        return 0
    old = load_json(cfg.compare) if cfg.compare else None

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    check_prerequisites(cfg)

    params = {name: scenario_params(cfg, name) for name in cfg.scenario_list}
    if "f" in params:
        f = params["f"]
        f["maxconns"] = max(f["maxconns"], f["conns_used"] + 1000)
        want = f["maxconns"] + 100
        got = raise_nofile(want)     # the servers inherit this limit
        if got < want:
            usable = max(0, min(f["conns_used"], got - 200))
            log(f"note: could only raise the open-file limit to {got} (wanted {want}); "
                f"scenario f starts the servers with -c {got} and opens {usable} "
                f"connections instead of {f['conns_used']}")
            f["maxconns"], f["conns_used"] = got, usable
        f["desc"] = f"idle connections (each sent `version`), -c {f['maxconns']}, -m {f['mem']}"

    cfg.workdir = tempfile.mkdtemp(prefix="mcbench-")
    started = datetime.datetime.now(datetime.timezone.utc)
    versions = dict(ours=run_text([cfg.ours, "-V"]), memcached=run_text([cfg.reference, "-V"]),
                    ours_banner=run_text([cfg.ours, "-h"]).splitlines()[0:1])
    machine = machine_info()
    machine["loadavg_at_start"] = loadavg()
    machine["cpu_busy_before"] = busy = cpu_busy()
    if busy is not None and busy > 0.10:
        log(f"warning: the CPUs were {busy * 100:.0f}% busy just before starting: other "
            "work on this machine will make the numbers noisy")
    log(f"bench: ours {cfg.ours} ({versions['ours']}) vs {cfg.reference} -t 1 "
        f"({versions['memcached']}); mcload {cfg.mcload}")
    log(f"bench: {cfg.rounds} round(s), {fmt_secs(cfg.warmup)} s warm-up + "
        f"{fmt_secs(cfg.duration)} s measured per run, scenarios {','.join(cfg.scenario_list)}; "
        f"server on CPU {cfg.server_cpu}, mcload on CPU {cfg.client_cpu}; logs in {cfg.workdir}")
    for name in cfg.scenario_list:
        p = params[name]
        extra = (f", {p['keys_used']:,} keys" if "keys_used" in p
                 else f", {p['conns_used']:,} connections" if "conns_used" in p
                 else "")
        log(f"  ({name}) {p['desc']}{extra}")
        if name == "r":
            log(f"      master on CPU {cfg.server_cpu}; replica and mcload on CPU "
                f"{cfg.client_cpu}")

    records = []
    unsupported = set()   # (scenario) where ours answered with a protocol error
    failures = []

    def note(rec):
        records.append(rec)
        who = f"[round {rec['round']}/{cfg.rounds}] ({rec['scenario']}) {rec['server']:>9}"
        if rec["status"] != "ok":
            log(f"{who}: {rec['status'].upper()}: {rec['error']}")
            if rec["status"] == "failed":
                failures.append(f"({rec['scenario']}) {rec['server']} round {rec['round']}: "
                                f"{rec['error'].splitlines()[0] if rec['error'] else ''}")
            else:
                unsupported.add(rec["scenario"])
            return
        bits = []
        if rec.get("ops_per_sec") is not None:
            bits.append(f"{rec['ops_per_sec']:,.0f} ops/s")
            if rec.get("cpu_us_per_req") is not None:
                bits.append(f"CPU {rec['cpu_us_per_req']:.2f} us/req "
                            f"({rec['server_cpu_util'] * 100:.0f}% busy)")
            bits.append(f"p50 {fmt_num(rec.get('p50_us'), 'us')} us, "
                        f"p99 {fmt_num(rec.get('p99_us'), 'us')} us")
        if rec.get("rss_bytes_per_item") is not None:
            bits.append(f"RSS {rec['rss_bytes_per_item']:.0f} B/item")
        if rec.get("rss_total_kb") is not None:
            bits.append(f"{rec['conns_open']:,} conns: RSS {rec['rss_total_kb']:,} KiB, "
                        f"{rec['rss_bytes_per_conn']:.0f} B/conn")
        if rec.get("catchup_ms") is not None:
            bits.append(f"replica lag= max {fmt_opt(rec['ack_lag_max'], ',')} B "
                        f"({fmt_opt(rec.get('ack_lag_max_ms'), '.1f')} ms of stream), last "
                        f"{fmt_opt(rec['ack_lag_end'], ',')} B; offsets max "
                        f"{fmt_opt(rec['lag_max'], ',')} B, last "
                        f"{fmt_opt(rec['lag_end'], ',')} B; "
                        f"caught up {rec['catchup_ms']:.1f} ms after mcload exited; "
                        f"replica CPU {rec['replica_cpu_util'] * 100:.0f}%")
        if rec.get("sync_s") is not None:
            t = rec["timeline_s"]
            bits.append(f"full sync {rec['sync_s']:.2f} s (master attached it at "
                        f"{t['started']:.2f} s, snapshot sent {fmt_opt(t['snapshot_sent'])} s, "
                        f"link up {t['up']:.2f} s, new key readable {t['readable']:.2f} s); "
                        f"fork {rec['latest_fork_usec']:,} us, sync buffer peak "
                        f"{rec['sync_buffer_peak']:,} B; writes {rec['write_ops_per_sec']:,.0f} "
                        f"sets/s, replica caught up {rec['catchup_after_writes_ms']:.0f} ms "
                        "after they stopped")
        for key in ("warning", "repl_warning"):
            if rec.get(key):
                bits.append(f"WARNING {rec[key]}")
        if rec.get("mcload_errors"):
            bits.append(f"WARNING mcload counted {rec['mcload_errors']} errors")
        if rec.get("miss_ratio", 0) > 0.01:
            bits.append(f"WARNING {rec['miss_ratio'] * 100:.1f}% misses")
        log(f"{who}: " + "; ".join(bits))

    def measure(run):
        """Run a load measurement; while other processes disturbed it, run it
        again (fresh server) up to --retries times; keep the least disturbed."""
        best = None
        for attempt in range(cfg.retries + 1):
            rec = run()
            rec["attempts"] = attempt + 1
            if rec.get("foreign_replica"):
                # Replication scenarios: another process's replica on the
                # master's port; fresh servers get other ports.
                if attempt < cfg.retries:
                    log(f"[round {rec['round']}/{cfg.rounds}] ({rec['scenario']}) "
                        f"{rec['server']:>9}: {rec['foreign_replica']}, measuring again")
                    continue
                rec["warning"] = rec["foreign_replica"]
                return rec
            frac = rec.get("other_cpu_frac")
            if rec["status"] != "ok" or frac is None or frac <= DISTURBED_FRAC:
                return rec
            if best is None or frac < best["other_cpu_frac"]:
                best = rec
            if attempt < cfg.retries:
                log(f"[round {rec['round']}/{cfg.rounds}] ({rec['scenario']}) "
                    f"{rec['server']:>9}: other processes used {frac * 100:.0f}% of a CPU "
                    f"during the run, measuring again")
                wait_quiet((cfg.server_cpu, cfg.client_cpu))
        best["attempts"] = cfg.retries + 1
        return best

    def order(rnd):
        # ABBA: alternate which server goes first so drift hits both equally.
        return SERVERS if rnd % 2 == 1 else tuple(reversed(SERVERS))

    equal_rate = None
    t_start = time.monotonic()
    try:
        for rnd in range(1, cfg.rounds + 1):
            for name in cfg.scenario_list:
                p = params[name]
                if name == "r":
                    # Ours with and without a replica, alternating which goes first.
                    for w in p["workloads"]:
                        for with_replica in (True, False) if rnd % 2 == 1 else (False, True):
                            note(measure(lambda: run_load(cfg, "ours", "r" + w, p["loads"][w],
                                                          rnd, with_replica=with_replica)))
                    continue
                if name == "s":
                    note(measure(lambda: run_sync(cfg, p, rnd)))
                    continue
                for kind in order(rnd):
                    if kind == "ours" and name in unsupported:
                        continue
                    if name in LOAD_SCENARIOS:
                        note(measure(lambda: run_load(cfg, kind, name, p, rnd)))
                    elif name == "m":
                        note(run_memory(cfg, kind, p, rnd))
                    elif name == "f":
                        note(run_idle(cfg, kind, p, rnd))

        # p99 at equal offered load for (a): open loop at half the lower
        # closed-loop throughput, the same rate for both servers.
        if "a" in params:
            med = {}
            for kind in SERVERS:
                vals = [r["ops_per_sec"] for r in records if r["scenario"] == "a"
                        and r["server"] == kind and r["status"] == "ok"]
                med[kind] = statistics.median(vals) if vals else None
            if all(med.values()):
                equal_rate = int(EQUAL_LOAD_FRACTION * min(med.values()))
                log(f"bench: (a) at equal offered load: open loop at {equal_rate:,} ops/s "
                    f"({EQUAL_LOAD_FRACTION:.0%} of the lower closed-loop throughput)")
                for rnd in range(1, cfg.rounds + 1):
                    for kind in order(rnd):
                        note(measure(lambda: run_load(cfg, kind, "a_eq", params["a"], rnd,
                                                      rate=equal_rate)))
            else:
                log("bench: skipping (a) at equal offered load: no closed-loop (a) "
                    "throughput for both servers")
    except (KeyboardInterrupt, SystemExit) as e:
        _stop_all_children()
        log("\nbench: interrupted; servers stopped, no results written")
        return e.code if isinstance(e, SystemExit) and isinstance(e.code, int) else 130
    finally:
        _stop_all_children()

    elapsed = time.monotonic() - t_start
    summary = []
    for name in cfg.scenario_list:
        if name == "r":
            for w in params["r"]["workloads"]:
                summary += summarize(records, "r" + w,
                                     metric_rows("r" + w, params["r"]["loads"][w]), REPL_PAIR)
            continue
        if name == "s":
            summary += summarize_abs(records, "s", metric_rows("s", params["s"]))
            continue
        summary += summarize(records, name, metric_rows(name, params[name]))
        if name == "a" and equal_rate:
            summary += summarize(records, "a_eq", metric_rows("a_eq", params["a"], equal_rate))

    print()
    print(f"Results: medians of {cfg.rounds} round(s); ratio = ours / memcached "
          f"(memcached -t 1, both pinned to one CPU)"
          + ("; for (r), ratio = our master with one replica / the same master alone"
             if "r" in params else "") + f". Took {elapsed:.0f} s.")
    print_table(summary)
    met = [e for e in summary if e["met"] is not None]
    print(f"\nTargets met: {sum(1 for e in met if e['met'])} of {len(met)} measured"
          f" ({sum(1 for e in summary if e['target']) - len(met)} not measurable).")
    if unsupported:
        for name in sorted(unsupported):
            rec = next(r for r in records if r["scenario"] == name and r["status"] == "unsupported")
            print(f"({name}) ours: unsupported: {rec['error'].splitlines()[0]}")
    measured = [r for r in records if r.get("other_cpu_frac") is not None]
    disturbed = [r for r in measured if r["other_cpu_frac"] > DISTURBED_FRAC]
    if disturbed:
        print(f"\nNote: {len(disturbed)} of {len(measured)} measured runs shared CPUs "
              f"{cfg.server_cpu},{cfg.client_cpu} with other processes (up to "
              f"{max(r['other_cpu_frac'] for r in disturbed) * 100:.0f}% of a CPU); "
              f"their numbers are unreliable even after {cfg.retries} retries. "
              "Rerun on an idle machine.")
    if failures:
        print("\nBenchmark FAILURES (see logs in " + cfg.workdir + "):")
        for f in failures:
            print("  " + f)

    finished = datetime.datetime.now(datetime.timezone.utc)
    machine["loadavg_at_end"] = loadavg()
    result = dict(
        schema=SCHEMA,
        timestamp=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        elapsed_s=round(elapsed, 1),
        machine=machine,
        git=git_info(),
        versions=versions,
        binaries=dict(ours=cfg.ours, memcached=cfg.reference, mcload=cfg.mcload),
        settings=dict(rounds=cfg.rounds, quick=cfg.quick, duration_s=cfg.duration,
                      warmup_s=cfg.warmup, scenarios=cfg.scenario_list,
                      server_cpu=cfg.server_cpu, client_cpu=cfg.client_cpu,
                      retries=cfg.retries, disturbed_frac=DISTURBED_FRAC,
                      equal_load_rate=equal_rate, argv=argv),
        scenarios={name: {k: v for k, v in params[name].items()} for name in cfg.scenario_list},
        summary=summary,
        raw=records,
        failures=failures,
    )
    os.makedirs(cfg.results_dir, exist_ok=True)
    path = os.path.join(cfg.results_dir, finished.strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    latest = os.path.join(cfg.results_dir, "latest.json")
    shutil.copyfile(path, latest)
    show = lambda x: os.path.relpath(x) if not os.path.relpath(x).startswith("..") else x
    print(f"\nResults written to {show(path)} and {show(latest)}")

    if old is not None:
        result["_path"] = path
        print_compare(old, result)

    if failures:
        return 1
    if not cfg.keep_logs:
        shutil.rmtree(cfg.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
