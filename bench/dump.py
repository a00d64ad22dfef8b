#!/usr/bin/env python3
"""Dump and load speed of the -F dump file (make bench-dump).

Fills ./memcached with N items (20-byte keys, 100-byte values by default)
using mcload, then:

  dump:  SIGUSR2, wait for the dump child to be reaped; reads
         last_dump_duration_us (fork to reap, so it includes the fsyncs),
         last_fork_us (how long the fork held the event loop),
         last_dump_bytes; repeated --rounds times.
  load:  stops the server (no dump on shutdown, so the file stays the
         measured one), starts a fresh server on the same file and reads
         load_duration_us and load_items; repeated --rounds times.
  stop:  starts a server on the file with the final dump on (the
         default), sends SIGTERM and times it until the process has
         exited: what a service manager waits for at a stop (the final
         dump in the foreground, its fsyncs, the exit); --rounds times.

Prints the median of the rounds and the file size against the payload
(keys + values). The file stays in the page cache between dump and load,
so the load reads memory, not the disk.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's process and stats helpers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--key-size", type=int, default=20)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--mem", type=int, default=1024, help="-m of the server, MB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None,
                    help="directory for the dump file (default: a new temporary one)")
    ap.add_argument("--ours", default=os.path.join(ROOT, "memcached"))
    ap.add_argument("--mcload", default=os.path.join(ROOT, "bench/loadgen/target/release/mcload"))
    return ap.parse_args(argv)


class DumpServer:
    def __init__(self, a, path, logdir, n, dump_on_shutdown=False):
        self.port = run.free_port()
        self.cmd = ["taskset", "-c", "0", a.ours, "-p", str(self.port), "-l", "127.0.0.1",
                    "-m", str(a.mem), "-F", path]
        if not dump_on_shutdown:
            self.cmd += ["-o", "no_dump_on_shutdown"]
        if os.geteuid() == 0:
            self.cmd += ["-u", "root"]
        self.log = os.path.join(logdir, f"server-{n}.log")
        self.proc = None

    def start(self, timeout=120.0):
        t0 = time.monotonic()
        self.proc = run.spawn(self.cmd, self.log)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                sys.exit(f"server exited with {self.proc.returncode}: see {self.log}")
            try:
                return run.server_stats(self.port)
            except OSError:
                time.sleep(0.02)
        sys.exit("server did not start")

    def stats(self):
        return run.server_stats(self.port)

    def stop(self):
        run.stop_process(self.proc, timeout=30)


def wait_stat(server, name, want, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = server.stats()
        if int(st.get(name, "-1")) >= want:
            return st
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {name} >= {want}")


def main(argv):
    a = parse_args(argv)
    for f in (a.ours, a.mcload):
        if not os.access(f, os.X_OK):
            sys.exit(f"{f} not found: run `make memcached loadgen` first")
    work = a.dir or tempfile.mkdtemp(prefix="mc-dump-bench.")
    path = os.path.join(work, "cache.dump")
    if os.path.exists(path):
        os.unlink(path)
    n = 0

    srv = DumpServer(a, path, work, n)
    srv.start()
    fill = ["taskset", "-c", "1", a.mcload, "--server", f"127.0.0.1:{srv.port}",
            "--conns", "50", "--depth", "16", "--keys", str(a.items),
            "--key-size", str(a.key_size), "--value-size", str(a.value_size),
            "--workload", "set", "--prefill-only"]
    print(f"filling {a.items:,} items ({a.key_size} B keys, {a.value_size} B values)...")
    res = subprocess.run(fill, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        sys.exit(f"mcload failed ({res.returncode}): {res.stderr.strip()}")
    time.sleep(0.5)     # noreply sets still in flight when mcload exits
    st = srv.stats()
    items = int(st["curr_items"])
    if items < a.items:
        print(f"warning: only {items:,} of {a.items:,} items stored")

    dumps = []
    for r in range(a.rounds):
        os.kill(srv.proc.pid, signal.SIGUSR2)
        st = wait_stat(srv, "dumps_total", r + 1)
        if st["last_dump_status"] != "ok":
            sys.exit(f"dump failed: see {srv.log}")
        dumps.append((int(st["last_dump_duration_us"]), int(st["last_fork_us"]),
                      int(st["last_dump_bytes"]), int(st["last_dump_items"])))
    srv.stop()

    loads = []
    for r in range(a.rounds):
        n += 1
        srv = DumpServer(a, path, work, n)
        st = srv.start()
        if st.get("load_status") != "ok":
            sys.exit(f"load failed: {st.get('load_status')}; see {srv.log}")
        loads.append((int(st["load_duration_us"]), int(st["load_items"])))
        srv.stop()

    stops = []
    for r in range(a.rounds):
        n += 1
        srv = DumpServer(a, path, work, n, dump_on_shutdown=True)
        srv.start()
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        try:
            code = srv.proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            srv.stop()
            sys.exit(f"the stop took more than 600 s: see {srv.log}")
        stops.append(time.monotonic() - t0)
        if code != 0:
            sys.exit(f"the stop's final dump failed (exit {code}): see {srv.log}")

    med = lambda xs: statistics.median(xs)
    file_bytes = dumps[-1][2]
    payload = dumps[-1][3] * (a.key_size + a.value_size)
    print(f"\n{'metric':<34}| {'median':>12} | rounds")
    print(f"{'dump: seconds (fork to reaped)':<34}| {med([d[0] for d in dumps]) / 1e6:>12.3f} | "
          + " ".join(f"{d[0] / 1e6:.3f}" for d in dumps))
    print(f"{'dump: fork pause, us':<34}| {med([d[1] for d in dumps]):>12,.0f} | "
          + " ".join(f"{d[1]}" for d in dumps))
    print(f"{'load: seconds':<34}| {med([l[0] for l in loads]) / 1e6:>12.3f} | "
          + " ".join(f"{l[0] / 1e6:.3f}" for l in loads))
    print(f"{'stop: seconds (SIGTERM to exit)':<34}| {med(stops):>12.3f} | "
          + " ".join(f"{s:.3f}" for s in stops))
    print(f"{'stop: seconds per GiB of file':<34}| {med(stops) / (file_bytes / 2**30):>12.3f} |")
    print(f"{'items dumped / loaded':<34}| {dumps[-1][3]:>12,} | {loads[-1][1]:,}")
    print(f"{'file bytes':<34}| {file_bytes:>12,} |")
    print(f"{'payload bytes (keys + values)':<34}| {payload:>12,} |")
    print(f"{'file / payload':<34}| {file_bytes / payload:>12.3f} |")
    if not a.dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
