//! Sending one step's bytes to both servers at once and reading back what
//! each answers, up to the reply of a marker request sent after the step.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

/// How a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The marker's reply came back: everything before it is the step's.
    Marker,
    /// The server closed the connection.
    Closed,
    /// Nothing more came for a while (the server waits for more bytes, for
    /// instance a data block longer than what was sent).
    Stalled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub end: End,
}

/// One client connection to each server; index 0 is the reference, 1 ours.
pub struct Pair {
    ports: [u16; 2],
    socks: [Option<TcpStream>; 2],
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Pair {
    pub fn new(ports: [u16; 2]) -> Pair {
        Pair {
            ports,
            socks: [None, None],
        }
    }

    /// Sends `req` followed by `marker` to both servers and reads until each
    /// reply ends with `marker_reply`, the connection closes, or nothing
    /// comes for `stall` (`grace` more for the second server once the first
    /// has answered). A closed connection is opened again before sending.
    pub fn exchange(
        &mut self,
        req: &[u8],
        marker: &[u8],
        marker_reply: &[u8],
        stall: Duration,
        grace: Duration,
    ) -> std::io::Result<[Reply; 2]> {
        for i in 0..2 {
            if self.socks[i].is_none() {
                self.socks[i] = Some(connect(self.ports[i])?);
            }
        }
        let mut out = Vec::with_capacity(req.len() + marker.len());
        out.extend_from_slice(req);
        out.extend_from_slice(marker);
        let mut sent = [0usize; 2];
        let mut write_failed = [false; 2];
        let mut inb: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut end: [Option<End>; 2] = [None, None];
        let start = Instant::now();
        let mut deadline = start + stall;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            if end.iter().all(|e| e.is_some()) {
                break;
            }
            if now >= deadline {
                for e in end.iter_mut() {
                    if e.is_none() {
                        *e = Some(End::Stalled);
                    }
                }
                break;
            }
            let mut fds = [libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0,
            }; 2];
            for i in 0..2 {
                if end[i].is_some() {
                    continue;
                }
                let s = self.socks[i].as_ref().unwrap();
                fds[i].fd = s.as_raw_fd();
                fds[i].events = libc::POLLIN;
                if !write_failed[i] && sent[i] < out.len() {
                    fds[i].events |= libc::POLLOUT;
                }
            }
            let wait = (deadline - now).as_millis().clamp(1, 1000) as libc::c_int;
            // SAFETY: fds is a valid array of two pollfd; negative fds are
            // ignored by poll.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for i in 0..2 {
                if end[i].is_some() || fds[i].revents == 0 {
                    continue;
                }
                let s = self.socks[i].as_mut().unwrap();
                if fds[i].revents & libc::POLLOUT != 0 && !write_failed[i] {
                    match s.write(&out[sent[i]..]) {
                        Ok(n) => sent[i] += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => write_failed[i] = true,
                    }
                }
                if fds[i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => {
                                end[i] = Some(End::Closed);
                                break;
                            }
                            Ok(n) => inb[i].extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => {
                                end[i] = Some(End::Closed);
                                break;
                            }
                        }
                    }
                    if end[i].is_none() && inb[i].ends_with(marker_reply) {
                        let l = inb[i].len() - marker_reply.len();
                        inb[i].truncate(l);
                        end[i] = Some(End::Marker);
                    }
                    if end[i].is_some() {
                        let other = end[1 - i].is_none();
                        if other {
                            deadline = deadline.max(Instant::now() + grace);
                        }
                    }
                }
            }
        }
        let mut replies = Vec::with_capacity(2);
        for i in 0..2 {
            let e = end[i].unwrap();
            if e == End::Closed {
                self.socks[i] = None;
            }
            replies.push(Reply {
                bytes: std::mem::take(&mut inb[i]),
                end: e,
            });
        }
        let b = replies.pop().unwrap();
        let a = replies.pop().unwrap();
        Ok([a, b])
    }
}
