//! The system layer: the few libc calls that std does not wrap. It owns
//! epoll, the timerfd that paces the open loop, CLOCK_MONOTONIC and
//! getrusage, and knows nothing of memcached. Sockets themselves are std's
//! `TcpStream`, whose `read` and `write` are already one syscall each.
//!
//! All `unsafe` of the load generator lives in this file.

use std::io;
use std::os::unix::io::RawFd;

/// Calls a libc function and turns its `-1` into the `io::Error` of errno.
/// Each use states why its arguments are valid in a `// SAFETY:` note.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
pub const EPOLLET: u32 = libc::EPOLLET as u32;

/// Returns CLOCK_MONOTONIC in nanoseconds. Every timestamp of the load
/// generator comes from here, so it can be compared with the timerfd's
/// absolute deadlines, which use the same clock.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Returns the user plus system CPU time this process has used, in
/// seconds. The load generator is one thread, so this is its own cost.
pub fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain old data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if syscall!(getrusage(libc::RUSAGE_SELF, &mut ru)).is_err() {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// An epoll instance, level-triggered: a connection that still has room
/// to read is reported again on the next wait without new bytes arriving.
pub struct Epoll {
    fd: RawFd,
    /// Filled by `wait`; its length is the most events one wait returns.
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new(max_events: usize) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        let events = vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)];
        Ok(Epoll { fd, events })
    }

    /// Starts watching `fd` for `interest`; `token` comes back with its events.
    pub fn add(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event that outlives the call.
        syscall!(epoll_ctl(self.fd, op, fd, &mut ev))?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) and returns the ready
    /// (token, events) pairs. EINTR is an empty wake-up, not an error.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<impl Iterator<Item = (u64, u32)> + '_> {
        let max = self.events.len() as libc::c_int;
        // SAFETY: `events` holds `max` writable epoll_event slots.
        let n = match syscall!(epoll_wait(
            self.fd,
            self.events.as_mut_ptr(),
            max,
            timeout_ms
        )) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // epoll_event is packed on x86_64: copy the fields out, never borrow them.
        Ok(self.events[..n].iter().map(|ev| {
            let (token, mask) = (ev.u64, ev.events);
            (token, mask)
        }))
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own `fd` and close it once.
        unsafe { libc::close(self.fd) };
    }
}

/// A non-blocking timerfd on CLOCK_MONOTONIC. It wakes the loop at the
/// phase boundaries and paces the open loop with nanosecond precision,
/// which epoll_wait's millisecond timeout cannot.
pub struct Timer {
    pub fd: RawFd,
}

impl Timer {
    pub fn new() -> io::Result<Timer> {
        let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: timerfd_create takes no pointers.
        let fd = syscall!(timerfd_create(libc::CLOCK_MONOTONIC, flags))?;
        Ok(Timer { fd })
    }

    /// Arms the timer to fire at the absolute time `at_ns` (from `now_ns`),
    /// then every `period_ns` if that is not 0. A time already past fires
    /// at once.
    pub fn arm(&mut self, at_ns: u64, period_ns: u64) -> io::Result<()> {
        let ts = |ns: u64| libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        };
        // An all-zero it_value would disarm the timer.
        let spec = libc::itimerspec {
            it_interval: ts(period_ns),
            it_value: ts(at_ns.max(1)),
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
        syscall!(timerfd_settime(
            self.fd,
            libc::TFD_TIMER_ABSTIME,
            &spec,
            std::ptr::null_mut()
        ))?;
        Ok(())
    }

    /// Consumes the expiries so far, which re-arms a periodic timer and
    /// stops level-triggered epoll from reporting it again.
    pub fn clear(&mut self) {
        let mut ticks = 0u64;
        // SAFETY: `ticks` is 8 writable bytes, the size a timerfd read needs.
        // EAGAIN (no expiry yet) needs no handling.
        let _ = syscall!(read(
            self.fd,
            &mut ticks as *mut u64 as *mut libc::c_void,
            8
        ));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: we own `fd` and close it once.
        unsafe { libc::close(self.fd) };
    }
}
