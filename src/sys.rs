//! The thin layer over libc: sockets, reads and writes, signals. Every
//! `unsafe` block of the server outside slab memory lives here; callers deal
//! in file descriptors and `io::Result`. `WouldBlock` and `Interrupted` are
//! returned as errors of those kinds; the caller treats them as states.

use std::ffi::CString;
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::RawFd;

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

/// Accepts one connection, non-blocking and close-on-exec.
pub fn accept(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: null address pointers are allowed by accept4.
    cvt!(unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })
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

/// Closes a descriptor, ignoring errors (nothing useful can be done).
pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own.
    unsafe { libc::close(fd) };
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
/// middle of a command. SIGPIPE is ignored: a closed peer is a write error.
pub fn signal_fd() -> io::Result<RawFd> {
    // SAFETY: sigset_t is initialised by sigemptyset before use; the
    // calls only read and write that local set.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
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

// ======================== process ========================

/// CPU time used by this process: (user, system) in microseconds.
pub fn rusage() -> (u64, u64) {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}
