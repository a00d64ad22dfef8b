//! The event loop: one thread, one level-triggered epoll, C non-blocking
//! connections. It owns the phases of a run (prefill, warm-up, measured
//! window) and the counters; connections and the protocol live in conn.rs
//! and proto.rs.
//!
//! A loop turn waits for readiness, reads and parses every readable
//! connection (each completed reply frees a slot), then visits the
//! connections marked dirty on the way: it queues new requests into their
//! free slots and writes each one's queue with a single write(2).
//!
//! Closed loop: every connection keeps `depth` requests in flight; a
//! request's latency runs from its write to its parsed reply.
//! Open loop (--rate): request number s of the whole run is meant to go
//! out at start + s / rate on connection s mod C. A periodic timerfd wakes
//! the loop at those times. A request whose connection is at its depth
//! waits, and its latency still runs from the time it was meant to go out,
//! so a slow server cannot hide its queueing (coordinated omission).

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::conn::{Conn, ConnError, Pending};
use crate::dist::{KeyDist, Rng};
use crate::hist::Histogram;
use crate::keyspace::Keyspace;
use crate::opts::{Dist, Opts, Workload};
use crate::proto::{Op, Outcome};
use crate::sys::{self, Epoll, Timer, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT};

/// The epoll tokens of the loop's timers; connections use their index.
const PHASE_TOKEN: u64 = u64::MAX;
const PACER_TOKEN: u64 = u64::MAX - 1;

/// The open loop's timer fires at most this often (every 10 us): above
/// 100k requests/s, requests go out in small bursts at the ticks, each one
/// late by less than a tick, which its latency includes.
const PACER_MIN_NS: u64 = 10_000;

/// Prefill: connections used, and bytes queued per connection per write.
const PREFILL_CONNS: usize = 4;
const PREFILL_BATCH: usize = 256 * 1024;
/// A prefill whose sockets stay silent this long has stalled.
const PREFILL_STALL_NS: u64 = 30_000_000_000;

/// What the measured window counted.
#[derive(Default)]
pub struct Counters {
    /// Commands completed (a multiget of K keys is one).
    pub requests: u64,
    /// Keys asked for by get, multiget and mg: hits + misses.
    pub key_lookups: u64,
    pub hits: u64,
    pub misses: u64,
    /// set and ms completed, stored or not.
    pub sets: u64,
    /// Stores refused (NOT_STORED, NS), plus 1 if the run died of an error.
    pub errors: u64,
    pub latency: Histogram,
}

impl Counters {
    fn count(&mut self, p: &Pending, o: Outcome, now: u64) {
        self.requests += 1;
        match p.op {
            Op::Get | Op::MetaGet | Op::BinGet => {
                self.key_lookups += (o.hits + o.misses) as u64;
                self.hits += o.hits as u64;
                self.misses += o.misses as u64;
            }
            Op::Set | Op::MetaSet | Op::BinSet => self.sets += 1,
            Op::Version => {}
        }
        if o.not_stored {
            self.errors += 1;
        }
        self.latency.record(now.saturating_sub(p.start_ns));
    }
}

/// The result of a run, complete or cut short by an error.
#[derive(Default)]
pub struct Report {
    pub counters: Counters,
    /// User + system CPU seconds of mcload during the measured window.
    pub client_cpu_s: f64,
    /// Requests meant to start in the measured window with no reply by
    /// its end: at most conns * depth in the closed loop; in the open loop
    /// also those still waiting for a free slot.
    pub unfinished: u64,
    /// What ended the run early, if anything.
    pub error: Option<String>,
    /// Syscalls of the measured window: epoll_wait, read and write calls.
    /// Their ratio to requests shows how well requests were batched.
    pub waits: u64,
    pub reads: u64,
    pub writes: u64,
}

/// Chooses what each request is: its command and keys.
struct Generator {
    rng: Rng,
    keys: KeyDist,
    workload: Workload,
    /// The keys of the request being made; the multiget size long.
    scratch: Vec<u32>,
}

impl Generator {
    fn new(o: &Opts) -> Generator {
        let keys = match o.dist {
            Dist::Uniform => KeyDist::uniform(o.keys),
            Dist::Zipf => KeyDist::zipf(o.keys, o.zipf_theta),
        };
        Generator {
            rng: Rng::new(o.seed),
            keys,
            workload: o.workload,
            scratch: vec![0; keys_per_request(o.workload)],
        }
    }

    /// Makes the next request; its keys are the returned slice.
    fn next(&mut self) -> (Op, &[u32]) {
        let (op, n) = match self.workload {
            Workload::GetSet(r) => (
                if self.rng.below(100) < r as u64 {
                    Op::Get
                } else {
                    Op::Set
                },
                1,
            ),
            Workload::MultiGet(k) => (Op::Get, k as usize),
            Workload::MetaMix(r) => (
                if self.rng.below(100) < r as u64 {
                    Op::MetaGet
                } else {
                    Op::MetaSet
                },
                1,
            ),
            Workload::BinMix(r) => (
                if self.rng.below(100) < r as u64 {
                    Op::BinGet
                } else {
                    Op::BinSet
                },
                1,
            ),
        };
        for k in &mut self.scratch[..n] {
            *k = self.keys.next(&mut self.rng) as u32;
        }
        (op, &self.scratch[..n])
    }
}

fn keys_per_request(w: Workload) -> usize {
    match w {
        Workload::MultiGet(k) => k as usize,
        _ => 1,
    }
}

/// Opens `n` connections to the server, each allowing `depth` requests of
/// `kpr` keys in flight.
fn connect(server: &str, n: usize, depth: usize, kpr: usize) -> Result<Vec<Conn>, String> {
    let addr = server
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {server}"))?;
    (0..n)
        .map(|_| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("cannot connect to {server}: {e}"))?;
            Conn::new(s, depth, kpr).map_err(|e| format!("cannot set up connection: {e}"))
        })
        .collect()
}

/// Sets a connection's epoll interest to match whether it has output left.
fn watch_output(ep: &Epoll, c: &mut Conn, token: u64) -> Result<(), String> {
    let want = c.has_output();
    if want != c.want_out {
        let interest = if want { EPOLLIN | EPOLLOUT } else { EPOLLIN };
        ep.modify(c.fd(), token, interest)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        c.want_out = want;
    }
    Ok(())
}

/// Stores every key once with pipelined `set ... noreply` over a few
/// connections, then sends `version` on each and waits for its answer:
/// the server handles a connection's commands in order, so VERSION means
/// every set before it is done. Any other byte that comes back is an
/// error. Returns the seconds it took.
pub fn prefill(o: &Opts, ks: &Keyspace) -> Result<f64, String> {
    let t0 = sys::now_ns();
    let n = PREFILL_CONNS.min(o.conns).max(1);
    let mut conns = connect(&o.server, n, 1, 1)?;
    let mut ep = Epoll::new(n).map_err(|e| format!("epoll: {e}"))?;
    let total = ks.len();
    // Connection i stores keys [next[i], end[i]).
    let mut next: Vec<usize> = (0..n).map(|i| total * i / n).collect();
    let end: Vec<usize> = (0..n).map(|i| total * (i + 1) / n).collect();
    let mut finished = 0;
    let mut done = vec![false; n];
    for (i, c) in conns.iter_mut().enumerate() {
        ep.add(c.fd(), i as u64, EPOLLIN | EPOLLOUT)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        c.want_out = true;
    }
    let mut last_event = sys::now_ns();
    while finished < n {
        let ready: Vec<(u64, u32)> = ep
            .wait(1000)
            .map_err(|e| format!("epoll_wait: {e}"))?
            .collect();
        let now = sys::now_ns();
        if ready.is_empty() && now - last_event > PREFILL_STALL_NS {
            return Err(format!(
                "prefill: no progress for {} s",
                PREFILL_STALL_NS / 1_000_000_000
            ));
        }
        if !ready.is_empty() {
            last_event = now;
        }
        for (token, mask) in ready {
            let i = token as usize;
            let c = &mut conns[i];
            if mask & (EPOLLIN | EPOLLERR | EPOLLHUP) != 0 {
                c.read_replies(ks, |_, _, _| {
                    done[i] = true;
                    finished += 1;
                })
                .map_err(|e| format!("prefill: {e}"))?;
            }
            if mask & EPOLLOUT != 0 {
                while c.queued() < PREFILL_BATCH && next[i] < end[i] {
                    c.push_noreply_set(next[i] as u32, ks);
                    next[i] += 1;
                }
                if next[i] == end[i] && c.inflight() == 0 && !done[i] {
                    c.push(Op::Version, &[], 0, ks);
                }
                c.flush().map_err(|e| format!("prefill: {e}"))?;
                if next[i] == end[i] {
                    watch_output(&ep, c, token)?;
                }
            }
        }
    }
    Ok((sys::now_ns() - t0) as f64 / 1e9)
}

/// The measured run: warm-up, then the window, as the options say.
/// Always returns a report; `error` says whether it ran to its end.
pub fn run(o: &Opts, ks: &Keyspace) -> Report {
    let mut report = Report::default();
    let mut r = Runner {
        o,
        ks,
        gen: Generator::new(o),
        conns: Vec::new(),
        cpu0: None,
        measure_ns: 0,
        io0: (0, 0),
    };
    if let Err(e) = r.run_loop(&mut report) {
        report.counters.errors += 1;
        report.error = Some(e);
    }
    if let Some(cpu0) = r.cpu0 {
        report.client_cpu_s = sys::cpu_seconds() - cpu0;
        let (reads, writes) = r.io_calls();
        report.reads = reads - r.io0.0;
        report.writes = writes - r.io0.1;
    }
    report
}

struct Runner<'a> {
    o: &'a Opts,
    ks: &'a Keyspace,
    gen: Generator,
    conns: Vec<Conn>,
    /// CPU seconds when the measured window began, once it has.
    cpu0: Option<f64>,
    /// When the measured window begins; only requests started at or after
    /// it are counted.
    measure_ns: u64,
    /// Read and write calls made before the measured window.
    io0: (u64, u64),
}

impl Runner<'_> {
    /// Read and write calls made so far on all connections.
    fn io_calls(&self) -> (u64, u64) {
        self.conns
            .iter()
            .fold((0, 0), |(r, w), c| (r + c.reads, w + c.writes))
    }

    fn run_loop(&mut self, report: &mut Report) -> Result<(), String> {
        let o = self.o;
        let ks = self.ks;
        let nconns = o.conns;
        self.conns = connect(&o.server, nconns, o.depth, keys_per_request(o.workload))?;
        let mut ep = Epoll::new(nconns + 2).map_err(|e| format!("epoll: {e}"))?;
        for (i, c) in self.conns.iter().enumerate() {
            ep.add(c.fd(), i as u64, EPOLLIN)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
        }
        let t_start = sys::now_ns();
        self.measure_ns = t_start + (o.warmup_s * 1e9) as u64;
        let t_end = self.measure_ns + (o.duration_s * 1e9) as u64;

        // Timers wake the loop; epoll_wait itself never times out, because
        // a timeout arms a kernel timer on every wait that sleeps, and
        // programming a timer costs a VM exit on virtual machines. The
        // phase timer fires at the start and at the end of the window; it
        // is edge-triggered, so each expiry is one event and needs no read.
        let mut phase = Timer::new().map_err(|e| format!("timerfd: {e}"))?;
        ep.add(phase.fd, PHASE_TOKEN, EPOLLIN | EPOLLET)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        phase
            .arm(
                if self.measure_ns > t_start {
                    self.measure_ns
                } else {
                    t_end
                },
                0,
            )
            .map_err(|e| format!("timerfd: {e}"))?;
        // Open loop: request s of the run is meant for t_start + s * interval,
        // on connection s mod C. The schedule is periodic, so one periodic
        // timer fires at the intended times (every k-th of them when the
        // interval is below PACER_MIN_NS). The kernel re-arms a periodic
        // timerfd only when it is read, so each tick is read.
        let interval_ns = o.rate.map_or(0, |r| ((1e9 / r).round() as u64).max(1));
        let intended = |s: u64| t_start + s * interval_ns;
        let mut next_seq: u64 = 0;
        let mut pacer = match o.rate {
            Some(_) => {
                let mut t = Timer::new().map_err(|e| format!("timerfd: {e}"))?;
                ep.add(t.fd, PACER_TOKEN, EPOLLIN)
                    .map_err(|e| format!("epoll_ctl: {e}"))?;
                let period = interval_ns * PACER_MIN_NS.div_ceil(interval_ns);
                t.arm(t_start, period)
                    .map_err(|e| format!("timerfd: {e}"))?;
                Some(t)
            }
            None => None,
        };

        // Closed loop: every connection starts dirty and fills its depth.
        let mut dirty: Vec<usize> = if o.rate.is_none() {
            (0..nconns).collect()
        } else {
            Vec::new()
        };
        let mut ready: Vec<(u64, u32)> = Vec::with_capacity(nconns + 1);
        loop {
            // Queue and write new requests on every dirty connection.
            for &i in &dirty {
                let c = &mut self.conns[i];
                c.dirty = false;
                let now = sys::now_ns();
                if o.rate.is_some() {
                    while c.sent < c.due && c.has_room() {
                        let start = intended(c.sent * nconns as u64 + i as u64);
                        let (op, keys) = self.gen.next();
                        c.push(op, keys, start, ks);
                        c.sent += 1;
                    }
                } else {
                    while c.has_room() {
                        let (op, keys) = self.gen.next();
                        c.push(op, keys, now, ks);
                    }
                }
                c.flush().map_err(|e| describe(&e, i))?;
                watch_output(&ep, c, i as u64)?;
            }
            dirty.clear();

            let now = sys::now_ns();
            if self.cpu0.is_none() && now >= self.measure_ns {
                self.cpu0 = Some(sys::cpu_seconds());
                self.io0 = self.io_calls();
                report.waits = 0;
                if self.measure_ns > t_start {
                    phase.arm(t_end, 0).map_err(|e| format!("timerfd: {e}"))?;
                }
            }
            if now >= t_end {
                break;
            }

            ready.clear();
            report.waits += 1;
            ready.extend(ep.wait(-1).map_err(|e| format!("epoll_wait: {e}"))?);
            for &(token, mask) in &ready {
                if token == PHASE_TOKEN {
                    continue;
                }
                if token == PACER_TOKEN {
                    if let Some(t) = pacer.as_mut() {
                        t.clear();
                    }
                    continue;
                }
                let i = token as usize;
                let c = &mut self.conns[i];
                let mut wake = mask & EPOLLOUT != 0;
                if mask & (EPOLLIN | EPOLLERR | EPOLLHUP) != 0 {
                    let (measure_ns, counters) = (self.measure_ns, &mut report.counters);
                    let n = c
                        .read_replies(ks, |p, outcome, now| {
                            if p.start_ns >= measure_ns && now < t_end {
                                counters.count(p, outcome, now);
                            }
                        })
                        .map_err(|e| describe(&e, i))?;
                    wake |= n > 0;
                }
                if wake && !c.dirty {
                    c.dirty = true;
                    dirty.push(i);
                }
            }
            if o.rate.is_some() {
                let now = sys::now_ns();
                while intended(next_seq) <= now {
                    let i = (next_seq % nconns as u64) as usize;
                    let c = &mut self.conns[i];
                    c.due += 1;
                    if !c.dirty {
                        c.dirty = true;
                        dirty.push(i);
                    }
                    next_seq += 1;
                }
            }
        }

        let measure_ns = self.measure_ns;
        for (i, c) in self.conns.iter().enumerate() {
            report.unfinished += c.pending().filter(|p| p.start_ns >= measure_ns).count() as u64;
            report.unfinished += (c.sent..c.due)
                .filter(|&k| intended(k * nconns as u64 + i as u64) >= measure_ns)
                .count() as u64;
        }
        if o.rate.is_none() && report.counters.requests == 0 {
            return Err("no reply completed in the measured window".into());
        }
        Ok(())
    }
}

fn describe(e: &ConnError, conn: usize) -> String {
    format!("connection {conn}: {e}")
}
