//! The reactor: a level-triggered epoll loop over file descriptors, in the
//! spirit of Redis's ae.c. It knows descriptors, read/write interest and
//! opaque 64-bit tokens, nothing about memcached. Level-triggered like
//! libevent's persistent events, so a connection that stops early (after
//! `-R` requests) is reported again while its socket still has bytes.

use std::io;
use std::os::unix::io::RawFd;

/// What a registration wants to hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
    /// Both: a replica's feed waiting to write still reads its acks.
    ReadWrite,
    None,
}

/// One readiness report.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
    /// Hang-up or error on the descriptor.
    pub hup: bool,
}

pub struct EventLoop {
    epfd: RawFd,
    events: Vec<libc::epoll_event>,
    ready: Vec<Event>,
}

fn mask(i: Interest) -> u32 {
    match i {
        Interest::Read => (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        Interest::Write => libc::EPOLLOUT as u32,
        Interest::ReadWrite => (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP) as u32,
        Interest::None => 0,
    }
}

impl EventLoop {
    pub fn new() -> io::Result<EventLoop> {
        // SAFETY: plain syscall.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventLoop {
            epfd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            ready: Vec::with_capacity(1024),
        })
    }

    fn ctl(&self, op: i32, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: mask(interest),
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epfd, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Starts watching `fd`, reporting it with `token`.
    pub fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Stops watching `fd` (closing it does this too).
    pub fn del(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: ev is valid; an error (fd already gone) is harmless.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Waits up to `timeout_ms` (-1: forever) and returns what is ready.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<&[Event]> {
        // SAFETY: the events buffer is live and its length is passed.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms,
            )
        };
        self.ready.clear();
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(&self.ready);
            }
            return Err(e);
        }
        for ev in &self.events[..n as usize] {
            let bits = ev.events;
            self.ready.push(Event {
                token: ev.u64,
                readable: bits & (libc::EPOLLIN as u32) != 0,
                writable: bits & (libc::EPOLLOUT as u32) != 0,
                hup: bits & ((libc::EPOLLHUP | libc::EPOLLERR) as u32) != 0,
            });
        }
        Ok(&self.ready)
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // SAFETY: closing our own epoll descriptor.
        unsafe { libc::close(self.epfd) };
    }
}

/// A periodic timer checked by the loop: `due` says when it should fire.
pub struct Timer {
    interval_ms: u64,
    next_ms: u64,
}

impl Timer {
    pub fn every(interval_ms: u64, now_ms: u64) -> Timer {
        Timer {
            interval_ms,
            next_ms: now_ms + interval_ms,
        }
    }

    /// True (and re-armed) if the timer's time has come.
    pub fn fire(&mut self, now_ms: u64) -> bool {
        if now_ms >= self.next_ms {
            self.next_ms = now_ms + self.interval_ms;
            true
        } else {
            false
        }
    }

    /// Milliseconds until the timer fires.
    pub fn remaining(&self, now_ms: u64) -> u64 {
        self.next_ms.saturating_sub(now_ms)
    }
}

/// A monotonic millisecond clock for timers.
pub fn monotonic_ms() -> u64 {
    monotonic_us() / 1000
}

/// The monotonic clock in microseconds.
pub fn monotonic_us() -> u64 {
    // SAFETY: timespec is plain old data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}
