//! The dump file (`-F FILE`, and `-e FILE` for memcached's restartable
//! cache): when it is written and loaded, and what `stats` says of it.
//! doc/dump-format.md describes the bytes; doc/dump.md the behaviour an
//! operator sees.
//!
//! ```text
//!   SIGUSR2 / dump_interval        child::spawn            child
//!   request_dump ──> start_dump ─────────> write_file(FILE.tmp), fsync,
//!        │ (child running:                 rename over FILE, fsync dir,
//!        │  one more later)                "ok N B" or "error ..." on a pipe,
//!        ▼                                 _exit
//!   SIGCHLD ──> reap: waitpid, read the pipe, record the outcome,
//!               remove FILE.tmp after a failure, start the pending dump
//! ```
//!
//! The child sees the cache as it was at the instant of the fork
//! (copy-on-write), so the dump is point-in-time while the parent goes on
//! serving. Records go hottest first, so a restart with a smaller `-m`
//! keeps the items most worth keeping.
//!
//! The rooms: format.rs, the file's bytes (no cache in it); snapshot.rs,
//! the cache to records and back, and the file's safety; this file, the
//! event loop's side (SIGUSR2, the dump_interval timer, SIGCHLD, the stop,
//! the stats lines). The forked child itself is child.rs's.

pub mod format;
pub mod snapshot;

use std::fs;
use std::time::Instant;

use crate::child::{self, Child};
use crate::server::Core;
use crate::sys;

use snapshot::{dir_of, tmp_path, write_file};
pub use snapshot::{load, LoadReport, LoadStatus};

// ======================== dumping from the event loop ========================

/// Dump outcomes, reported by `stats`.
#[derive(Debug, Default, Clone)]
pub struct DumpStats {
    /// Dumps finished, ok or not.
    pub total: u64,
    pub failed: u64,
    /// "none", "ok" or "failed".
    pub last_status: &'static str,
    pub last_time: i64,
    pub last_duration_us: u64,
    pub last_items: u64,
    pub last_bytes: u64,
    pub last_fork_us: u64,
    pub load: LoadReport,
}

/// Which file the cache is kept in, and when it is written.
pub struct DumpState {
    /// Absolute path of the `-F` or `-e` file; None: no dump file.
    pub path: Option<String>,
    /// `-F`: SIGUSR2 and dump_interval write the file.
    pub on_signal: bool,
    /// `-F` without no_dump_on_shutdown: every stop writes the file;
    /// `-e`: only a graceful stop (SIGUSR1, `shutdown graceful`) does.
    pub on_stop: bool,
    pub on_graceful_stop_only: bool,
    /// `dump_interval` in seconds.
    pub interval: u32,
    /// The child writing a dump.
    child: Option<Child>,
    /// Unix time of the running dump's instant.
    child_at: i64,
    /// A dump was asked for while one ran: start one more after it.
    pending: bool,
    /// Monotonic ms of the last dump started (or of the start).
    last_start_ms: u64,
    /// Debug builds: the child sleeps this long before writing (tests).
    pub child_delay_ms: u64,
    pub stats: DumpStats,
    /// The replication position of the file loaded at start, until
    /// replication takes it (`Repl::resume`).
    pub loaded_position: Option<format::ReplPosition>,
}

impl DumpState {
    pub fn new(settings: &crate::settings::Settings) -> DumpState {
        let (path, on_signal, on_stop, graceful_only) =
            match (&settings.dump_file, &settings.memory_file) {
                (Some(f), _) => (Some(f.clone()), true, settings.dump_on_shutdown, false),
                (None, Some(e)) => (Some(e.clone()), false, true, true),
                (None, None) => (None, false, false, false),
            };
        DumpState {
            path: path.map(|p| absolute(&p)),
            on_signal,
            on_stop,
            on_graceful_stop_only: graceful_only,
            interval: settings.dump_interval,
            child: None,
            child_at: 0,
            pending: false,
            last_start_ms: crate::event::monotonic_ms(),
            child_delay_ms: 0,
            loaded_position: None,
            stats: DumpStats {
                last_status: "none",
                ..DumpStats::default()
            },
        }
    }

    pub fn in_progress(&self) -> bool {
        self.child.is_some()
    }
}

/// The path made absolute against the current directory, so a daemon's
/// chdir("/") does not move the file.
fn absolute(path: &str) -> String {
    let p = std::path::Path::new(path);
    if p.is_absolute() {
        return path.to_string();
    }
    match std::env::current_dir() {
        Ok(d) => d.join(p).display().to_string(),
        Err(_) => path.to_string(),
    }
}

/// Checks at start, as the user the server runs as (after `-u`) and before
/// anything is loaded, that the dump file's directory exists and that this
/// user may create and remove files in it: otherwise every dump would fail
/// hours later (and `-e` could not remove its file), with nothing said at
/// start. A missing directory is EX_USAGE, an unwritable one EX_CANTCREAT.
pub fn check_dir(path: &str) -> Result<(), sys::Fatal> {
    let dir = dir_of(path);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(sys::Fatal::new(
                sys::EX_USAGE,
                format!("dump file {}: {} is not a directory", path, dir),
            ))
        }
        Err(e) => {
            return Err(sys::Fatal::new(
                sys::EX_USAGE,
                format!("dump file {}: directory {}: {}", path, dir, e),
            ))
        }
    }
    sys::check_writable_dir(&dir).map_err(|e| {
        sys::Fatal::new(
            sys::EX_CANTCREAT,
            format!(
                "dump file {}: directory {} is not writable by user {}: {}",
                path,
                dir,
                sys::user_name(),
                e.desc()
            ),
        )
    })
}

/// SIGUSR2: dump now, or once more after the running dump.
pub fn request_dump(core: &mut Core) {
    if core.dump.path.is_none() || !core.dump.on_signal {
        log::warn!("SIGUSR2: no dump file configured (-F FILE)");
        return;
    }
    if core.dump.child.is_some() {
        core.dump.pending = true;
        return;
    }
    start_dump(core);
}

/// The one-second timer: a periodic dump when `dump_interval` is due.
pub fn on_timer(core: &mut Core, now_ms: u64) {
    let d = &core.dump;
    if d.interval == 0 || d.child.is_some() {
        return;
    }
    if now_ms.saturating_sub(d.last_start_ms) >= d.interval as u64 * 1000 {
        start_dump(core);
    }
}

fn start_dump(core: &mut Core) {
    let path = match &core.dump.path {
        Some(p) => p.clone(),
        None => return,
    };
    core.cache.tick();
    core.dump.last_start_ms = crate::event::monotonic_ms();
    let delay = core.dump.child_delay_ms;
    // The stream covers every change the snapshot holds.
    crate::repl::master::stream_changes(core);
    let position = core.repl.position();
    let cache = &core.cache;
    let spawned = child::spawn(|| {
        // The child: write the snapshot; spawn reports and exits.
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        write_file(cache, position, &path).map(|t| format!("{} {}", t.records, t.file_bytes))
    });
    let child = match spawned {
        Ok(c) => c,
        Err(why) => {
            record_failure(core, 0, &why);
            return;
        }
    };
    core.dump.stats.last_fork_us = child.fork_us;
    log::info!(
        "dump to {} started (child {}, fork took {} us)",
        path,
        child.pid,
        core.dump.stats.last_fork_us
    );
    core.dump.child = Some(child);
    core.dump.child_at = core.cache.clock().now_unix();
}

/// SIGCHLD: reaps the dump child if it ended, records how it went, starts
/// the dump asked for meanwhile.
pub fn reap(core: &mut Core) {
    let ended = match child::reap(&mut core.dump.child) {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(e) => {
            let pid = core.dump.child.as_ref().map_or(0, |c| c.pid);
            log::warn!("waitpid on dump child {}: {}", pid, e);
            return;
        }
    };
    finish_child(core, ended);
    if core.dump.pending {
        core.dump.pending = false;
        start_dump(core);
    }
}

/// Records how the dump child ended: "ok <items> <bytes>" or why not.
fn finish_child(core: &mut Core, ended: child::Ended) {
    let duration = ended.duration_us;
    let path = core.dump.path.clone().unwrap_or_default();
    match ended.outcome("dump") {
        Ok(report) => {
            let mut words = report.split_whitespace();
            let items = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let bytes = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let at = core.dump.child_at;
            record_success(core, at, duration, items, bytes, false);
        }
        Err(why) => {
            // A child that died mid-write leaves its .tmp behind.
            remove_tmp(&path);
            record_failure(core, duration, &why);
        }
    }
}

/// Removes the `.tmp` a dead child left, if it is a file (never a
/// directory or anything else someone put there).
fn remove_tmp(path: &str) {
    let tmp = tmp_path(path);
    if fs::symlink_metadata(&tmp)
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        let _ = fs::remove_file(&tmp);
    }
}

/// Records a dump that succeeded and logs it: with `-v` for a dump made
/// while serving, whatever the verbosity for the final dump at a stop
/// (`at_stop`), so the log shows what a stop cost.
fn record_success(
    core: &mut Core,
    at: i64,
    duration_us: u64,
    items: u64,
    bytes: u64,
    at_stop: bool,
) {
    let s = &mut core.dump.stats;
    s.total += 1;
    s.last_status = "ok";
    s.last_time = at;
    s.last_duration_us = duration_us;
    s.last_items = items;
    s.last_bytes = bytes;
    let line = format!(
        "{}dump to {}: {} items, {} bytes in {:.3} s",
        if at_stop { "final " } else { "" },
        core.dump.path.as_deref().unwrap_or(""),
        items,
        bytes,
        duration_us as f64 / 1e6
    );
    if at_stop {
        eprintln!("{}", line);
    } else {
        log::info!("{}", line);
    }
}

fn record_failure(core: &mut Core, duration_us: u64, why: &str) {
    let s = &mut core.dump.stats;
    s.total += 1;
    s.failed += 1;
    s.last_status = "failed";
    s.last_duration_us = duration_us;
    log::error!(
        "dump to {} failed: {}",
        core.dump.path.as_deref().unwrap_or(""),
        why
    );
}

/// The stop. If this kind of stop writes a final dump, a running dump is
/// abandoned (its snapshot is older than the cache now) and the final one
/// written in this process; otherwise a running dump is waited for, since
/// it was asked for. Returns false if the final dump failed.
pub fn at_stop(core: &mut Core, graceful: bool) -> bool {
    let d = &core.dump;
    let final_dump = d.path.is_some() && d.on_stop && (graceful || !d.on_graceful_stop_only);
    if let Some(child) = core.dump.child.take() {
        if final_dump {
            child.kill();
            remove_tmp(core.dump.path.as_deref().unwrap_or(""));
            log::info!("running dump abandoned for the final dump");
        } else {
            log::info!("waiting for the running dump to finish");
            let ended = child.wait();
            finish_child(core, ended);
        }
    }
    if !final_dump {
        return true;
    }
    core.cache.tick();
    let path = core.dump.path.clone().unwrap_or_default();
    let at = core.cache.clock().now_unix();
    let started = Instant::now();
    crate::repl::master::stream_changes(core);
    let position = core.repl.position();
    match write_file(&core.cache, position, &path) {
        Ok(t) => {
            let us = started.elapsed().as_micros() as u64;
            record_success(core, at, us, t.records, t.file_bytes, true);
            true
        }
        Err(e) => {
            record_failure(core, started.elapsed().as_micros() as u64, &e);
            false
        }
    }
}

/// The dump and load lines of `stats` (only when a dump file is set).
pub fn append_stats(core: &Core, out: &mut Vec<u8>) {
    use crate::stats::append_stat;
    let d = &core.dump;
    if d.path.is_none() {
        return;
    }
    let s = &d.stats;
    append_stat(out, "dump_in_progress", d.in_progress() as u8);
    append_stat(out, "dumps_total", s.total);
    append_stat(out, "dumps_failed", s.failed);
    append_stat(out, "last_dump_status", s.last_status);
    append_stat(out, "last_dump_time", s.last_time);
    append_stat(out, "last_dump_duration_us", s.last_duration_us);
    append_stat(out, "last_dump_items", s.last_items);
    append_stat(out, "last_dump_bytes", s.last_bytes);
    append_stat(out, "last_fork_us", s.last_fork_us);
    let l = &s.load;
    append_stat(out, "load_status", l.status.name());
    append_stat(out, "load_items", l.items);
    append_stat(out, "load_bytes", l.bytes);
    append_stat(out, "load_expired", l.expired);
    append_stat(out, "load_too_large", l.too_large);
    append_stat(out, "load_no_memory", l.no_memory);
    append_stat(out, "load_duration_us", l.duration_us);
}
