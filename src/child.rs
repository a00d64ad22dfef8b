//! A forked child that does one piece of work off the event loop and
//! reports how it went: the dump's writer now, a replica's full sync next.
//! It knows nothing of what the work is.
//!
//! ```text
//!   parent                          child (a copy-on-write copy of the parent)
//!   spawn(work) ──fork()──────────> detach (dies with the parent, no fds
//!     │ Child {pid, report_fd,       but the pipe's write end), work(),
//!     │        started}              "ok <report>\n" exit 0, or
//!     ▼                              "error <why>\n" exit 1
//!   SIGCHLD ──> reap(&mut slot): waitpid(pid, WNOHANG) on this child's
//!               pid only; once it has ended, read the report: Ended
//! ```
//!
//! Each owner keeps its own `Option<Child>` and reaps only its own pid,
//! so two owners never take each other's child or exit status (a
//! `waitpid(-1)` would); on SIGCHLD server.rs asks every owner to reap.
//! The system calls are sys.rs's.

use std::io::{self, Read, Write};
use std::os::unix::io::RawFd;
use std::time::Instant;

use crate::sys::{self, ChildExit};

/// A child process running, as its parent sees it.
pub struct Child {
    pub pid: i32,
    /// Read end of the pipe the child reports on.
    report_fd: RawFd,
    /// When the fork was asked for.
    pub started: Instant,
    /// Microseconds the fork took (the parent stalls that long: page
    /// tables are copied).
    pub fork_us: u64,
}

/// How a child ended and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: ChildExit,
    /// The report line as the child wrote it; empty if it died first.
    pub report: String,
    /// Microseconds from the fork to the reap.
    pub duration_us: u64,
}

impl Ended {
    /// The words after `ok` when the child exited 0 and said `ok`;
    /// otherwise why it failed: its `error` line, or how it died, with
    /// `what` naming the process ("the dump process exited with status 2").
    pub fn outcome(&self, what: &str) -> Result<&str, String> {
        let msg = &self.report;
        let mut words = msg.split_whitespace();
        if let (ChildExit::Exited(0), Some("ok")) = (self.exit, words.next()) {
            return Ok(msg.trim()["ok".len()..].trim_start());
        }
        Err(match self.exit {
            _ if msg.starts_with("error ") => msg["error ".len()..].trim_end().to_string(),
            ChildExit::Signaled(s) => format!("the {} process was killed by signal {}", what, s),
            ChildExit::Exited(s) => format!("the {} process exited with status {}", what, s),
        })
    }
}

/// Forks a child that runs `work` and reports on a pipe: `ok <report>`
/// and exit status 0 when `work` returns Ok, `error <why>` and status 1
/// when it returns Err. The child sees memory as it was at the fork, runs
/// without the parent's connections and listeners, and dies with the
/// parent. Err says why no child was started.
pub fn spawn(work: impl FnOnce() -> Result<String, String>) -> Result<Child, String> {
    let (rd, wr) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => return Err(format!("cannot create a pipe: {}", e)),
    };
    let parent = sys::getpid();
    let started = Instant::now();
    let pid = match sys::fork() {
        Ok(pid) => pid,
        Err(e) => {
            sys::close(rd);
            sys::close(wr);
            return Err(format!("fork failed: {}", e));
        }
    };
    if pid == 0 {
        // The child: work, report, exit.
        sys::detach_child(parent, wr);
        let (msg, status) = match work() {
            Ok(report) => (format!("ok {}\n", report), 0),
            Err(e) => (format!("error {}\n", e), 1),
        };
        let mut f = sys::file_from_fd(wr);
        let _ = f.write_all(msg.as_bytes());
        sys::exit_now(status);
    }
    let fork_us = started.elapsed().as_micros() as u64;
    sys::close(wr);
    Ok(Child {
        pid,
        report_fd: rd,
        started,
        fork_us,
    })
}

/// SIGCHLD, for the owner of `slot`: if its child has ended, takes it out
/// of the slot and returns how it ended. Ok(None) when there is no child
/// or it still runs; Err when waitpid failed (the child stays).
pub fn reap(slot: &mut Option<Child>) -> io::Result<Option<Ended>> {
    let pid = match slot {
        Some(c) => c.pid,
        None => return Ok(None),
    };
    let exit = match sys::try_wait(pid)? {
        Some(e) => e,
        None => return Ok(None),
    };
    let child = slot.take().expect("child checked above");
    Ok(Some(child.ended(exit)))
}

impl Child {
    /// Waits for the child to end (a stop that lets the work finish).
    pub fn wait(self) -> Ended {
        let exit = sys::wait(self.pid).unwrap_or(ChildExit::Signaled(0));
        self.ended(exit)
    }

    /// Kills the child and waits for it (a stop that abandons the work);
    /// its report is not read.
    pub fn kill(self) {
        sys::kill(self.pid, libc::SIGKILL);
        let _ = sys::wait(self.pid);
        sys::close(self.report_fd);
    }

    /// Reads the report of a child that has ended and closes the pipe.
    fn ended(self, exit: ChildExit) -> Ended {
        let mut report = String::new();
        let _ = sys::file_from_fd(self.report_fd).read_to_string(&mut report);
        Ended {
            exit,
            report,
            duration_us: self.started.elapsed().as_micros() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(exit: ChildExit, report: &str) -> Ended {
        Ended {
            exit,
            report: report.to_string(),
            duration_us: 0,
        }
    }

    #[test]
    fn outcome_reads_the_report_and_the_exit() {
        assert_eq!(
            ended(ChildExit::Exited(0), "ok 3 140\n").outcome("dump"),
            Ok("3 140")
        );
        assert_eq!(
            ended(ChildExit::Exited(1), "error disk full\n").outcome("dump"),
            Err("disk full".to_string())
        );
        assert_eq!(
            ended(ChildExit::Signaled(9), "").outcome("dump"),
            Err("the dump process was killed by signal 9".to_string())
        );
        assert_eq!(
            ended(ChildExit::Exited(0), "").outcome("sync"),
            Err("the sync process exited with status 0".to_string())
        );
    }

    #[test]
    fn a_child_reports_and_is_reaped_by_pid() {
        let mut ok = Some(spawn(|| Ok("7 words".to_string())).unwrap());
        let mut failed = Some(spawn(|| Err("no room".to_string())).unwrap());
        let mut ends = Vec::new();
        while ok.is_some() || failed.is_some() {
            for slot in [&mut ok, &mut failed] {
                if let Some(e) = reap(slot).unwrap() {
                    ends.push(e.outcome("test").map(str::to_string));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        ends.sort();
        assert_eq!(
            ends,
            [Ok("7 words".to_string()), Err("no room".to_string())]
        );
    }
}
