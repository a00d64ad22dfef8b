//! The thin layer over libc/nix. Every `unsafe` call into the C library
//! lives here, each with a `// SAFETY:` note, so the rest of the server
//! deals in `io::Result`s and plain values.
//!
//! Three parts: sockets (listen, accept, read, writev, their addresses;
//! datagrams with their sender's address), signals (the signalfd the event
//! loop watches), and the process: becoming a daemon, the pid file,
//! dropping root, locking memory, resource limits, and telling systemd
//! the server is ready (`sd_notify`). epoll itself is in
//! event.rs. `WouldBlock` and `Interrupted` come back as errors of those
//! kinds; callers treat them as states.
//!
//! `main` calls these in memcached's order, because some need root and
//! some must come before others:
//!
//! ```text
//!   raise_core_limit()   if -r         needs root to lift the hard limit
//!   raise_nofile(-c)                   needs root to lift the hard limit
//!   drop_privileges(-u)                root is gone from here on
//!   check_writable_dir   if -F/-e      the dump directory, as that user
//!   daemonize(-r, -v)    if -d
//!   lock_memory()        if -k         a failure is only a warning
//!   ignore_sigpipe()
//!   ... slabs, hash table, dump load, bind ...
//!   write_pidfile(-P)    with or without -d; remove_pidfile(-P) at exit
//!   sd_notify("READY=1") if $NOTIFY_SOCKET
//! ```
//!
//! Failures that end the start-up come back as `Fatal`, carrying the exit
//! status memcached uses for them (sysexits.h), so main prints one line and
//! exits with the same status memcached would.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::RawFd;

use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{self, SockaddrLike, SockaddrStorage};
use nix::unistd::{self, ForkResult, Pid, User};

/// Turns a libc return value of -1 into the current `errno` as io::Error.
macro_rules! cvt {
    ($e:expr) => {{
        let r = $e;
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }};
}

// ======================== sockets ========================

fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // sockaddr type; we write exactly one sockaddr_in into it.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live i32 and its exact size.
    cvt!(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Opens a non-blocking socket of `kind` (SOCK_STREAM or SOCK_DGRAM) bound
/// to `addr`; a stream socket also listens with `backlog`.
pub fn inet_listen(addr: &SocketAddr, kind: i32, backlog: i32) -> io::Result<RawFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain syscall with constant arguments.
    let fd =
        cvt!(unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    let res = (|| {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if family == libc::AF_INET6 {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        if kind == libc::SOCK_STREAM {
            setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
            setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        }
        let (ss, len) = sockaddr_of(addr);
        // SAFETY: ss holds a valid sockaddr of length len.
        cvt!(unsafe { libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) })?;
        if kind == libc::SOCK_STREAM {
            // SAFETY: plain syscall on our own fd.
            cvt!(unsafe { libc::listen(fd, backlog) })?;
        }
        Ok(fd)
    })();
    if res.is_err() {
        close(fd);
    }
    res
}

/// Starts a non-blocking TCP connection to `addr` (a replica to its
/// master). The connection completes when the fd turns writable; its
/// outcome is then read with `socket_error`.
pub fn tcp_connect(addr: &SocketAddr) -> io::Result<RawFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain syscall with constant arguments.
    let fd = cvt!(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    let _ = setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    let (ss, len) = sockaddr_of(addr);
    // SAFETY: ss holds a valid sockaddr of length len.
    let r = unsafe { libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            close(fd);
            return Err(e);
        }
    }
    Ok(fd)
}

/// The pending error of a socket (SO_ERROR): how a non-blocking connect
/// ended.
pub fn socket_error(fd: RawFd) -> io::Result<()> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for getsockopt to write.
    cvt!(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut v as *mut _ as *mut libc::c_void,
            &mut len,
        )
    })?;
    if v == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(v))
    }
}

/// write(2) of `buf`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a live slice.
    cvt!(unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) })
        .map(|n| n as usize)
}

/// Opens a listening unix socket at `path` with permission bits `mode`,
/// replacing a stale socket file left by an earlier run.
pub fn unix_listen(path: &str, mode: u32, backlog: i32) -> io::Result<RawFd> {
    let cpath = CString::new(path)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
    // SAFETY: plain syscall with constant arguments.
    let fd = cvt!(unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    let res = (|| {
        // SAFETY: sockaddr_un is plain old data; zero is valid.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = cpath.as_bytes_with_nul();
        if bytes.len() > sun.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unix socket path too long",
            ));
        }
        for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // The socket file gets its mode from the umask at bind time.
        // SAFETY: umask cannot fail; bind gets a valid sockaddr_un.
        let old = unsafe { libc::umask(!(mode & 0o777) & 0o777) };
        let r = cvt!(unsafe {
            libc::bind(
                fd,
                &sun as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        });
        // SAFETY: restores the previous mask.
        unsafe { libc::umask(old) };
        r?;
        // SAFETY: plain syscall on our own fd.
        cvt!(unsafe { libc::listen(fd, backlog) })?;
        Ok(fd)
    })();
    if res.is_err() {
        close(fd);
    }
    res
}

/// Accepts one connection, non-blocking and close-on-exec. Returns the
/// descriptor and, for an IP client, its address (memcached records it at
/// accept time, so it is known even after the peer has reset).
pub fn accept(fd: RawFd) -> io::Result<(RawFd, Option<SocketAddr>)> {
    // SAFETY: zeroed bytes are a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid for writes and len holds ss's size.
    let cfd = cvt!(unsafe {
        libc::accept4(
            fd,
            &mut ss as *mut libc::sockaddr_storage as *mut libc::sockaddr,
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: accept4 filled `len` bytes of ss with a socket address.
    let addr = unsafe {
        SockaddrStorage::from_raw(
            &ss as *const libc::sockaddr_storage as *const libc::sockaddr,
            Some(len),
        )
    };
    let peer = match addr.as_ref().map(sock_name_of) {
        Some(SockName::Inet(a)) => Some(a),
        _ => None,
    };
    Ok((cfd, peer))
}

/// One end of a socket, as `stats conns` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockName {
    Inet(SocketAddr),
    /// A unix socket's path (empty for an unnamed socket).
    Unix(Vec<u8>),
    /// Another address family (its number; 0 for no address at all).
    Other(i32),
}

impl SockName {
    /// The address family number.
    pub fn family(&self) -> i32 {
        match self {
            SockName::Inet(SocketAddr::V4(_)) => libc::AF_INET,
            SockName::Inet(SocketAddr::V6(_)) => libc::AF_INET6,
            SockName::Unix(_) => libc::AF_UNIX,
            SockName::Other(af) => *af,
        }
    }
}

fn sock_name_of(ss: &SockaddrStorage) -> SockName {
    if let Some(a) = ss.as_sockaddr_in() {
        SockName::Inet(SocketAddr::V4((*a).into()))
    } else if let Some(a) = ss.as_sockaddr_in6() {
        SockName::Inet(SocketAddr::V6((*a).into()))
    } else if let Some(a) = ss.as_unix_addr() {
        let path = a
            .path()
            .map(|p| p.as_os_str().as_encoded_bytes().to_vec())
            .unwrap_or_default();
        SockName::Unix(path)
    } else {
        SockName::Other(ss.family().map_or(0, |f| f as i32))
    }
}

/// The local address of socket `fd` (getsockname).
pub fn sock_name(fd: RawFd) -> io::Result<SockName> {
    let ss: SockaddrStorage = socket::getsockname(fd)?;
    Ok(sock_name_of(&ss))
}

/// The peer address of connected socket `fd` (getpeername).
pub fn peer_name(fd: RawFd) -> io::Result<SockName> {
    let ss: SockaddrStorage = socket::getpeername(fd)?;
    Ok(sock_name_of(&ss))
}

/// read(2) into `buf`; Ok(0) is end of file.
#[inline]
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a live writable slice.
    cvt!(unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) })
        .map(|n| n as usize)
}

/// writev(2) of `iov`; the caller keeps every buffer alive across the call.
#[inline]
pub fn writev(fd: RawFd, iov: &[libc::iovec]) -> io::Result<usize> {
    // SAFETY: every iovec points into memory the caller keeps alive and
    // unmodified for the duration of the call; count fits IOV_MAX.
    cvt!(unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) }).map(|n| n as usize)
}

/// The address a datagram came from, kept in the kernel's own form so a
/// reply goes back to exactly that address (IPv4 or IPv6, scope included)
/// without a round trip through `SocketAddr`.
#[derive(Clone, Copy)]
pub struct PeerAddr {
    ss: libc::sockaddr_storage,
    /// Bytes of `ss` in use; 0 before any datagram was received.
    len: libc::socklen_t,
}

impl PeerAddr {
    /// No address yet.
    pub fn none() -> PeerAddr {
        PeerAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            ss: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }
}

/// Receives one datagram into `buf` and records its sender in `from`.
/// Returns the datagram's length (a datagram longer than `buf` is cut to
/// it; callers size `buf` for the largest datagram UDP can carry).
pub fn recv_from(fd: RawFd, buf: &mut [u8], from: &mut PeerAddr) -> io::Result<usize> {
    from.len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: buf is a live writable slice of the given length; `from.ss`
    // is a sockaddr_storage and `from.len` its size, as recvfrom expects.
    let r = cvt!(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            0,
            &mut from.ss as *mut _ as *mut libc::sockaddr,
            &mut from.len,
        )
    });
    if r.is_err() {
        from.len = 0;
    }
    r.map(|n| n as usize)
}

/// Sends `buf` as one datagram to `to`. Returns the bytes sent.
pub fn send_to(fd: RawFd, buf: &[u8], to: &PeerAddr) -> io::Result<usize> {
    // SAFETY: buf is a live slice; `to.ss` holds a sockaddr of `to.len`
    // bytes filled by recvfrom or sockaddr_of.
    cvt!(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            0,
            &to.ss as *const _ as *const libc::sockaddr,
            to.len,
        )
    })
    .map(|n| n as usize)
}

fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live i32 and its exact size.
    cvt!(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut val as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(val)
}

/// Asks for the largest send buffer the system allows on a UDP socket, so
/// a reply of many datagrams rarely finds the buffer full (memcached does
/// the same). Linux quietly caps the request at `net.core.wmem_max`.
/// Returns the buffer size before and after.
pub fn maximize_sndbuf(fd: RawFd) -> io::Result<(i32, i32)> {
    const SNDBUF_WANTED: i32 = 256 * 1024 * 1024;
    let before = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
    if before < SNDBUF_WANTED {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, SNDBUF_WANTED)?;
    }
    let after = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
    Ok((before, after))
}

/// Closes a descriptor, ignoring errors (nothing useful can be done).
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own.
    unsafe { libc::close(fd) };
}

// ======================== memory ========================

/// Hints the CPU to start loading the cache line at `p`. Used to overlap
/// the hash table and item header misses of a pipelined batch.
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and never reads
    // into a register, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

// ======================== signals ========================

/// The signals the event loop handles through a signalfd.
pub const HANDLED_SIGNALS: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGHUP,
    libc::SIGCHLD,
];

/// Blocks the handled signals and returns a non-blocking signalfd that
/// reports them, so signals arrive as events of the loop, never in the
/// middle of a command.
pub fn signal_fd() -> io::Result<RawFd> {
    // SAFETY: sigset_t is initialised by sigemptyset before use; the
    // calls only read and write that local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in HANDLED_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        cvt!(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut()
        ))?;
        cvt!(libc::signalfd(
            -1,
            &set,
            libc::SFD_NONBLOCK | libc::SFD_CLOEXEC
        ))
    }
}

/// Reads one pending signal number from a signalfd, if any.
pub fn read_signal(fd: RawFd) -> io::Result<Option<i32>> {
    // SAFETY: signalfd_siginfo is plain old data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most `size` bytes into `info`.
    match cvt!(unsafe { libc::read(fd, &mut info as *mut _ as *mut libc::c_void, size) }) {
        Ok(n) if n as usize == size => Ok(Some(info.ssi_signo as i32)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// CPU time used by this process: (user, system) in microseconds.
pub fn rusage() -> (u64, u64) {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

// ======================== process ========================

/// Exit status for a command-line problem (sysexits.h `EX_USAGE`).
pub const EX_USAGE: i32 = 64;
/// Exit status for an input file that cannot be read (sysexits.h
/// `EX_NOINPUT`).
pub const EX_NOINPUT: i32 = 66;
/// Exit status for an unknown user (sysexits.h `EX_NOUSER`).
pub const EX_NOUSER: i32 = 67;
/// Exit status for a failed system call (sysexits.h `EX_OSERR`).
pub const EX_OSERR: i32 = 71;
/// Exit status for an output file that cannot be created: a dump
/// directory the server's user cannot write (sysexits.h `EX_CANTCREAT`).
pub const EX_CANTCREAT: i32 = 73;
/// Exit status when the last dump at shutdown failed (sysexits.h
/// `EX_IOERR`).
pub const EX_IOERR: i32 = 74;

/// File descriptors kept on top of `-c` connections when raising the open
/// file limit: stdio, listeners, epoll and signal fds, a dump child's pipe,
/// replication links. memcached sets the limit to exactly `-c`; a little
/// room here means the last client connections do not fail on an fd the
/// server needed for itself.
pub const NOFILE_HEADROOM: usize = 32;

/// A start-up step that failed: `msg` is the one line to print on stderr,
/// `status` the exit status to leave with.
#[derive(Debug, PartialEq, Eq)]
pub struct Fatal {
    pub status: i32,
    pub msg: String,
}

impl Fatal {
    pub fn new(status: i32, msg: String) -> Fatal {
        Fatal { status, msg }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Sets a signal's disposition to "ignore".
fn ignore_signal(sig: Signal) -> io::Result<()> {
    let act = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler, so no code of ours can ever run
    // in signal context; replacing whatever disposition was there is safe.
    unsafe { signal::sigaction(sig, &act) }?;
    Ok(())
}

/// Ignores SIGPIPE, so that writing to a connection the client closed gives
/// `EPIPE` (a normal close) instead of killing the server. Called once at
/// start; memcached treats a failure as fatal (`EX_OSERR`).
pub fn ignore_sigpipe() -> io::Result<()> {
    ignore_signal(Signal::SIGPIPE)
}

/// Detaches from the terminal as memcached's `-d` does: ignores SIGHUP (so
/// the hang-up of the session being left cannot kill us), forks and lets the
/// parent exit 0 at once, starts a new session, changes to `/` unless
/// `nochdir`, and points stdin, stdout and stderr at /dev/null unless
/// `noclose`.
///
/// memcached passes `-r` as `nochdir` (core files then land in the starting
/// directory) and `-v` as `noclose` (verbose output stays on the terminal),
/// so main calls `daemonize(s.maxcore, s.verbose > 0)`.
///
/// Must be called while the process has one thread: after `fork` only the
/// calling thread exists in the child. Returns in the child only; errors are
/// the failed step's (memcached exits with status 1 then).
pub fn daemonize(nochdir: bool, noclose: bool) -> io::Result<()> {
    ignore_signal(Signal::SIGHUP)?;
    // SAFETY: the process is single-threaded here (documented requirement),
    // so the child's copy of every lock and of the allocator is consistent.
    if let ForkResult::Parent { .. } = unsafe { unistd::fork() }? {
        // SAFETY: _exit ends the parent without running destructors or
        // flushing stdio buffers, which the child holds copies of and will
        // use itself.
        unsafe { libc::_exit(0) };
    }
    unistd::setsid()?;
    if !nochdir {
        std::env::set_current_dir("/")?;
    }
    if !noclose {
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        for target in 0..=2 {
            unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&devnull), target)?;
        }
        // `devnull` closes here; 0, 1 and 2 keep their copies.
    }
    Ok(())
}

/// Writes our pid and a newline to `path`, going through `path.tmp` and a
/// rename so a reader never sees a half-written file. memcached writes the
/// pid file with or without `-d`, and carries on if it cannot: the caller
/// prints the returned message and goes on.
pub fn write_pidfile(path: &str) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id()))
        .map_err(|e| format!("-P: could not write the pid file {tmp}: {e}"))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| format!("-P: could not rename the pid file {tmp} to {path}: {e}"))
}

/// Removes the pid file at exit. A failure is reported, not fatal.
pub fn remove_pidfile(path: &str) -> Result<(), String> {
    std::fs::remove_file(path).map_err(|e| format!("-P: could not remove the pid file {path}: {e}"))
}

/// If `path` names a pid file whose process is still alive, returns that
/// pid, so main can warn (as memcached does) before overwriting it.
pub fn pidfile_running_pid(path: &str) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 {
        return None;
    }
    // Signal 0 only asks whether the process exists; EPERM means it does
    // but belongs to someone else.
    match signal::kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => Some(pid),
        Err(_) => None,
    }
}

/// True if the process runs as root (real or effective uid 0).
pub fn is_root() -> bool {
    unistd::getuid().is_root() || unistd::geteuid().is_root()
}

/// Gives up root for `username` (`-u`). Started as root (real or effective),
/// the server refuses to run without `-u`, as memcached does; otherwise it
/// clears the supplementary groups and takes the user's gid, then uid. Not
/// started as root, `-u` is ignored, as in memcached.
///
/// Errors: no `-u` as root (`EX_USAGE`), unknown user (`EX_NOUSER`), a
/// failed setgroups/setgid/setuid (`EX_OSERR`). A setgroups refused with
/// EPERM means we are already short of that privilege; memcached prints a
/// warning and goes on, and so do we.
pub fn drop_privileges(username: Option<&str>) -> Result<(), Fatal> {
    if !is_root() {
        return Ok(());
    }
    let name = match username {
        Some(n) if !n.is_empty() => n,
        _ => {
            return Err(Fatal::new(
                EX_USAGE,
                "-u: started as root; give -u <user> to run as".to_string(),
            ))
        }
    };
    let user = match User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(Fatal::new(
                EX_NOUSER,
                format!("-u {name}: no such user to switch to"),
            ))
        }
        Err(e) => {
            return Err(Fatal::new(
                EX_OSERR,
                format!("-u {name}: cannot look up the user: {e}"),
            ))
        }
    };
    match unistd::setgroups(&[]) {
        Ok(()) => {}
        Err(Errno::EPERM) => {
            eprintln!(
                "warning: -u {name}: could not drop supplementary groups: {}",
                Errno::EPERM
            )
        }
        Err(e) => {
            return Err(Fatal::new(
                EX_OSERR,
                format!("-u {name}: could not drop supplementary groups: {e}"),
            ))
        }
    }
    // The gid goes first: after setuid we could no longer change it.
    unistd::setgid(user.gid)
        .and_then(|()| unistd::setuid(user.uid))
        .map_err(|e| {
            Fatal::new(
                EX_OSERR,
                format!("-u {name}: could not become this user: {e}"),
            )
        })
}

/// Checks that this process, as the user it now runs as, may create and
/// remove files in `dir` (write and search permission, and a file system
/// mounted read-write): access(2) with W_OK|X_OK. Called after `-u` has
/// dropped root, so the answer is the one a dump child will get.
/// The error is the bare errno, so the message can read as strerror().
pub fn check_writable_dir(dir: &str) -> Result<(), Errno> {
    unistd::access(dir, unistd::AccessFlags::W_OK | unistd::AccessFlags::X_OK)
}

/// The name of the user this process runs as (its effective uid), or
/// `uid N` when the user has no name.
pub fn user_name() -> String {
    let uid = unistd::geteuid();
    match User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid {}", uid),
    }
}

/// Tells the service manager the state of the server (systemd's
/// sd_notify protocol): sends `msg`, for example "READY=1\nSTATUS=...", in
/// one datagram to the unix socket named by $NOTIFY_SOCKET. A name
/// starting with `@` is in the abstract namespace. Returns Ok(false)
/// without $NOTIFY_SOCKET (not started by systemd with Type=notify); an
/// error names the socket and the reason.
pub fn sd_notify(msg: &str) -> Result<bool, String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let bytes = path.as_bytes();
    let fail = |e: Errno| format!("NOTIFY_SOCKET={}: {}", path.to_string_lossy(), e.desc());
    let addr = match bytes.split_first() {
        Some((b'@', name)) => socket::UnixAddr::new_abstract(name),
        Some((b'/', _)) => socket::UnixAddr::new(bytes),
        _ => return Err(fail(Errno::EINVAL)),
    }
    .map_err(fail)?;
    let fd = socket::socket(
        socket::AddressFamily::Unix,
        socket::SockType::Datagram,
        socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail)?;
    socket::sendto(
        fd.as_raw_fd(),
        msg.as_bytes(),
        &addr,
        socket::MsgFlags::empty(),
    )
    .map_err(fail)?;
    Ok(true)
}

/// Locks all present and future pages in memory (`-k`). memcached only warns
/// when this fails (commonly RLIMIT_MEMLOCK or a missing CAP_IPC_LOCK) and
/// runs on, so main prints e.g. "warning: -k: mlockall() failed: {e}" and
/// continues.
pub fn lock_memory() -> io::Result<()> {
    // nix's mman feature is not among our dependencies' features; the call
    // is a single flag word, so go to libc directly.
    // SAFETY: mlockall takes flags only and reads or writes no memory of
    // ours.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lifts the core file size limit for `-r`: to unlimited if allowed, else
/// to the hard limit. Fails (`EX_OSERR`) if core files stay disabled, as
/// memcached does.
pub fn raise_core_limit() -> Result<(), Fatal> {
    let fail = |why: String| Fatal::new(EX_OSERR, format!("-r: cannot enable core files: {why}"));
    let (_, old_max) = getrlimit(Resource::RLIMIT_CORE).map_err(|e| fail(e.to_string()))?;
    if setrlimit(Resource::RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY).is_err() {
        // Not allowed past the hard limit: settle for it.
        let _ = setrlimit(Resource::RLIMIT_CORE, old_max, old_max);
    }
    let (cur, _) = getrlimit(Resource::RLIMIT_CORE).map_err(|e| fail(e.to_string()))?;
    if cur == 0 {
        return Err(fail("the core size limit stays 0".to_string()));
    }
    Ok(())
}

/// Makes sure the open file limit allows `maxconns` connections plus
/// `NOFILE_HEADROOM` descriptors for the server itself. The limit is only
/// ever raised (memcached sets it to exactly `-c`, lowering it too). If the
/// headroom cannot be had but the hard limit still covers `maxconns`, the
/// soft limit goes to the hard limit and start-up goes on; otherwise this
/// fails with `EX_OSERR`, as memcached does.
pub fn raise_nofile(maxconns: usize) -> Result<(), Fatal> {
    let fail = |e: Errno| {
        Fatal::new(
            EX_OSERR,
            format!(
                "-c {maxconns}: cannot raise the open file limit ({e}); start as root or give a smaller -c"
            ),
        )
    };
    let (cur, max) = getrlimit(Resource::RLIMIT_NOFILE).map_err(fail)?;
    let want = (maxconns as u64).saturating_add(NOFILE_HEADROOM as u64);
    if cur >= want {
        return Ok(());
    }
    match setrlimit(Resource::RLIMIT_NOFILE, want, max.max(want)) {
        Ok(()) => Ok(()),
        Err(_) if max >= maxconns as u64 => {
            setrlimit(Resource::RLIMIT_NOFILE, max, max).map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}

// ======================== child processes ========================

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Exited(i32),
    Signaled(i32),
}

/// A pipe whose ends are close-on-exec; the read end is non-blocking.
/// Returns (read end, write end).
pub fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fds[0], libc::F_GETFL);
        libc::fcntl(fds[0], libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Ok((fds[0], fds[1]))
}

/// Forks. Returns the child's pid in the parent and 0 in the child.
/// The server has one thread, so the child inherits a consistent heap.
pub fn fork() -> io::Result<i32> {
    // SAFETY: single-threaded process; the child only reads memory,
    // writes a file and calls `exit_now`.
    cvt!(unsafe { libc::fork() })
}

/// Prepares a forked child to work alone: it dies with its parent
/// (`parent` is the pid that forked it), gets default signal handling
/// back, and keeps only stdin/out/err and `keep` open, so it holds no
/// client connection or listener open while it runs.
pub fn detach_child(parent: i32, keep: RawFd) {
    // SAFETY: plain system calls on the calling process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            // The parent died before the line above took effect.
            libc::_exit(1);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGHUP,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    close_fds_from(3, keep);
}

/// Closes every descriptor from `from` up, except `keep`.
fn close_fds_from(from: RawFd, keep: RawFd) {
    let ranges = [(from, keep - 1), (keep + 1, RawFd::MAX)];
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: close_range only closes descriptors of this process.
        let r = unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi as u32, 0u32) };
        if r == 0 {
            continue;
        }
        // Kernels before 5.9: close what /proc says is open.
        let open: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
            Ok(d) => d
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect(),
            Err(_) => continue,
        };
        for fd in open {
            if fd >= lo && fd <= hi {
                close(fd);
            }
        }
    }
}

/// A File over a descriptor the caller owns and gives up (a pipe's end
/// handed to a forked child's report).
pub fn file_from_fd(fd: RawFd) -> std::fs::File {
    use std::os::unix::io::FromRawFd;
    // SAFETY: `fd` is an open descriptor owned by the caller, handed over.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

/// Ends the calling process at once, without running exit handlers or
/// flushing the parent's buffers (for a forked child).
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit never returns and touches no shared state.
    unsafe { libc::_exit(status) }
}

/// Reaps `pid` if it has ended; None while it still runs.
pub fn try_wait(pid: i32) -> io::Result<Option<ChildExit>> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a local.
    let r = cvt!(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    if r == 0 {
        return Ok(None);
    }
    Ok(Some(exit_of(status)))
}

/// Waits for `pid` to end.
pub fn wait(pid: i32) -> io::Result<ChildExit> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        match cvt!(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(exit_of(status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn exit_of(status: i32) -> ChildExit {
    if libc::WIFSIGNALED(status) {
        ChildExit::Signaled(libc::WTERMSIG(status))
    } else {
        ChildExit::Exited(libc::WEXITSTATUS(status))
    }
}

/// Sends a signal to a process.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, sig) };
}

/// The pid of the calling process.
pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// C's strtod, as memcached's safe_strtod uses it: the whole token is a
/// number (decimal, hex, `inf`, `nan`, in the C locale), at most followed
/// by whitespace; a value out of range (ERANGE) or a token that does not
/// start with a number is refused.
pub fn safe_strtod(s: &[u8]) -> Option<f64> {
    let cs = std::ffi::CString::new(s).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    Errno::clear();
    // SAFETY: `cs` is a NUL-terminated string that lives across the call,
    // and strtod only stores into `end` a pointer into it.
    let v = unsafe { libc::strtod(cs.as_ptr(), &mut end) };
    if Errno::last() == Errno::ERANGE {
        return None;
    }
    // SAFETY: `end` points into `cs`, at or after its start.
    let used = unsafe { end.offset_from(cs.as_ptr()) } as usize;
    if used == 0 {
        return None;
    }
    match s.get(used) {
        None => Some(v),
        Some(&b) if crate::util::is_c_space(b) => Some(v),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_path(name: &str) -> String {
        let dir = std::env::temp_dir();
        format!(
            "{}/mc-sys-test.{}.{}",
            dir.display(),
            std::process::id(),
            name
        )
    }

    #[test]
    fn pidfile_round_trip() {
        let path = tmp_path("pid");
        write_pidfile(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        assert!(!std::path::Path::new(&format!("{path}.tmp")).exists());
        assert_eq!(pidfile_running_pid(&path), Some(std::process::id() as i32));
        remove_pidfile(&path).unwrap();
        assert!(remove_pidfile(&path).unwrap_err().contains(&path));
        assert_eq!(pidfile_running_pid(&path), None);
    }

    #[test]
    fn pidfile_errors_name_the_file() {
        let e = write_pidfile("/nonexistent-dir/mc.pid").unwrap_err();
        assert!(
            e.starts_with("-P:") && e.contains("/nonexistent-dir/mc.pid.tmp"),
            "{e}"
        );
    }

    #[test]
    fn stale_pidfile_is_not_running() {
        let path = tmp_path("stale");
        std::fs::write(&path, "not a pid\n").unwrap();
        assert_eq!(pidfile_running_pid(&path), None);
        std::fs::write(&path, "0\n").unwrap();
        assert_eq!(pidfile_running_pid(&path), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn nofile_limit_covers_connections() {
        raise_nofile(100).unwrap();
        let (cur, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(cur >= 100 + NOFILE_HEADROOM as u64);
        // Far beyond any hard limit: fails with EX_OSERR and names -c.
        let e = raise_nofile(usize::MAX / 2).unwrap_err();
        assert_eq!(e.status, EX_OSERR);
        assert!(e.msg.starts_with("-c "), "{}", e.msg);
    }

    #[test]
    fn root_needs_a_user() {
        if is_root() {
            let e = drop_privileges(None).unwrap_err();
            assert_eq!(e.status, EX_USAGE);
            assert!(e.msg.contains("-u"));
            let e = drop_privileges(Some("no-such-user-here")).unwrap_err();
            assert_eq!(e.status, EX_NOUSER);
            assert!(e.msg.contains("no-such-user-here"));
        } else {
            // Not root: -u is ignored, whatever it says.
            drop_privileges(None).unwrap();
            drop_privileges(Some("no-such-user-here")).unwrap();
        }
    }

    #[test]
    fn sigpipe_can_be_ignored() {
        ignore_sigpipe().unwrap();
    }
}
