//! One client connection: its socket, the requests encoded but not yet
//! written, the reply bytes read but not yet parsed, and the ring of
//! requests in flight, whose replies come back in the order they were sent.
//!
//! A connection does no I/O on its own initiative: the loop in run.rs
//! calls `push` to queue requests, `flush` once per turn to write them all
//! in one go, and `read_replies` when epoll says the socket is readable.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::io::{AsRawFd, RawFd};

use crate::keyspace::Keyspace;
use crate::proto::{self, Op, Outcome, Parser, Step};
use crate::sys;

/// Bytes asked of one read(2). Replies are parsed in place, values
/// streamed through, so this bounds no reply size, only syscall count.
const RBUF_SIZE: usize = 64 * 1024;

/// At most this many reads per readable event; level-triggered epoll
/// brings a connection back if more is left, so one busy connection
/// cannot starve the others.
const READS_PER_TURN: usize = 4;

/// A request in flight.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub op: Op,
    /// How many keys, in `Conn::ring_keys` at this slot.
    pub nkeys: u32,
    /// When it was sent or, in the open loop, when it was meant to be.
    pub start_ns: u64,
}

/// Why a connection cannot go on.
#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    Closed,
    /// Bytes arrived while no request was in flight.
    Unsolicited(String),
    Proto(proto::ProtoError),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "connection error: {e}"),
            ConnError::Closed => write!(f, "server closed the connection"),
            ConnError::Unsolicited(s) => write!(f, "reply with no request in flight: \"{s}\""),
            ConnError::Proto(e) => write!(f, "protocol error: {}", e.0),
        }
    }
}

pub struct Conn {
    stream: TcpStream,
    /// Requests encoded and not yet fully written.
    wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written; always at most `wbuf.len()`.
    wsent: usize,
    rbuf: Box<[u8]>,
    /// Unparsed bytes are rbuf[rcurr..rcurr + rbytes]; rcurr + rbytes is
    /// always at most rbuf.len().
    rcurr: usize,
    rbytes: usize,
    /// The requests in flight, oldest at `head`, `inflight` of them; a ring
    /// of `ring.len()` slots (the depth).
    ring: Vec<Pending>,
    /// The keys of slot s are ring_keys[s * kpr..][..ring[s].nkeys].
    ring_keys: Vec<u32>,
    /// Keys per request at most: the multiget size, else 1.
    kpr: usize,
    head: usize,
    inflight: usize,
    parser: Parser,
    /// Whether epoll is watching this socket for EPOLLOUT too.
    pub want_out: bool,
    /// Set when the connection is on the loop's dirty list for this turn.
    pub dirty: bool,
    /// Open loop: this connection's requests are numbered 0, 1, ...;
    /// `due` of them have reached their intended send time and `sent` of
    /// those have been queued. Unused in the closed loop.
    pub sent: u64,
    pub due: u64,
    /// read(2) and write(2) calls made, for the summary's syscall counts.
    pub reads: u64,
    pub writes: u64,
}

impl Conn {
    /// Wraps a connected stream; `depth` requests of up to `kpr` keys each
    /// may be in flight at once.
    pub fn new(stream: TcpStream, depth: usize, kpr: usize) -> io::Result<Conn> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let empty = Pending {
            op: Op::Version,
            nkeys: 0,
            start_ns: 0,
        };
        Ok(Conn {
            stream,
            wbuf: Vec::with_capacity(4096),
            wsent: 0,
            rbuf: vec![0u8; RBUF_SIZE].into_boxed_slice(),
            rcurr: 0,
            rbytes: 0,
            ring: vec![empty; depth],
            ring_keys: vec![0; depth * kpr],
            kpr,
            head: 0,
            inflight: 0,
            parser: Parser::new(proto::VERIFY_EVERY),
            want_out: false,
            dirty: false,
            sent: 0,
            due: 0,
            reads: 0,
            writes: 0,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// Whether another request may be queued without exceeding the depth.
    pub fn has_room(&self) -> bool {
        self.inflight < self.ring.len()
    }

    /// The in-flight requests, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        (0..self.inflight).map(|i| &self.ring[(self.head + i) % self.ring.len()])
    }

    /// Whether encoded bytes still wait to be written.
    pub fn has_output(&self) -> bool {
        self.wsent < self.wbuf.len()
    }

    /// Encodes a request into the write buffer and records it as in
    /// flight. The caller checks `has_room` first.
    pub fn push(&mut self, op: Op, keys: &[u32], start_ns: u64, ks: &Keyspace) {
        debug_assert!(self.has_room() && keys.len() <= self.kpr);
        match op {
            Op::Get => proto::put_get(&mut self.wbuf, ks, keys),
            Op::Set => proto::put_set(&mut self.wbuf, ks, keys[0], false),
            Op::MetaGet => proto::put_mg(&mut self.wbuf, ks, keys[0]),
            Op::MetaSet => proto::put_ms(&mut self.wbuf, ks, keys[0]),
            Op::Version => proto::put_version(&mut self.wbuf),
            Op::BinGet => proto::put_bin_get(&mut self.wbuf, ks, keys[0]),
            Op::BinSet => proto::put_bin_set(&mut self.wbuf, ks, keys[0]),
        }
        let slot = (self.head + self.inflight) % self.ring.len();
        self.ring[slot] = Pending {
            op,
            nkeys: keys.len() as u32,
            start_ns,
        };
        self.ring_keys[slot * self.kpr..][..keys.len()].copy_from_slice(keys);
        self.inflight += 1;
    }

    /// Queues `set <key> 0 0 <len> noreply` for the prefill: no reply, so
    /// nothing goes in flight.
    pub fn push_noreply_set(&mut self, key: u32, ks: &Keyspace) {
        proto::put_set(&mut self.wbuf, ks, key, true);
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.wbuf.len() - self.wsent
    }

    /// Writes what is queued until done or the socket is full. Returns
    /// true when everything was written.
    pub fn flush(&mut self) -> Result<bool, ConnError> {
        while self.wsent < self.wbuf.len() {
            self.writes += 1;
            match self.stream.write(&self.wbuf[self.wsent..]) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => self.wsent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_closed(&e) => return Err(ConnError::Closed),
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        self.wbuf.clear();
        self.wsent = 0;
        Ok(true)
    }

    /// Reads what the socket has and parses every complete reply, calling
    /// `done(request, outcome, now_ns)` for each in order. Returns how many
    /// replies completed.
    pub fn read_replies<F>(&mut self, ks: &Keyspace, mut done: F) -> Result<usize, ConnError>
    where
        F: FnMut(&Pending, Outcome, u64),
    {
        let mut completed = 0;
        for _ in 0..READS_PER_TURN {
            let end = self.rcurr + self.rbytes;
            self.reads += 1;
            let n = match self.stream.read(&mut self.rbuf[end..]) {
                Ok(0) => return Err(ConnError::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_closed(&e) => return Err(ConnError::Closed),
                Err(e) => return Err(ConnError::Io(e)),
            };
            let full = end + n == self.rbuf.len();
            self.rbytes += n;
            let now = sys::now_ns();
            completed += self.parse(ks, now, &mut done)?;
            if !full {
                break;
            }
        }
        Ok(completed)
    }

    /// Parses the unparsed bytes into as many replies as they complete,
    /// then moves any partial line to the front of the buffer.
    fn parse<F>(&mut self, ks: &Keyspace, now: u64, done: &mut F) -> Result<usize, ConnError>
    where
        F: FnMut(&Pending, Outcome, u64),
    {
        let mut completed = 0;
        while self.rbytes > 0 {
            if self.inflight == 0 {
                let stray = &self.rbuf[self.rcurr..self.rcurr + self.rbytes];
                return Err(ConnError::Unsolicited(proto::show(stray)));
            }
            let p = self.ring[self.head];
            let keys = &self.ring_keys[self.head * self.kpr..][..p.nkeys as usize];
            let buf = &self.rbuf[self.rcurr..self.rcurr + self.rbytes];
            match self
                .parser
                .feed(buf, p.op, keys, ks)
                .map_err(ConnError::Proto)?
            {
                Step::More(n) => {
                    self.rcurr += n;
                    self.rbytes -= n;
                    break;
                }
                Step::Done(n, outcome) => {
                    self.rcurr += n;
                    self.rbytes -= n;
                    self.head = (self.head + 1) % self.ring.len();
                    self.inflight -= 1;
                    completed += 1;
                    done(&p, outcome, now);
                }
            }
        }
        // What is left is a partial line (the parser consumes value bytes
        // as they come), at most MAX_LINE bytes: cheap to move.
        if self.rbytes == 0 {
            self.rcurr = 0;
        } else if self.rcurr > 0 {
            self.rbuf
                .copy_within(self.rcurr..self.rcurr + self.rbytes, 0);
            self.rcurr = 0;
        }
        Ok(completed)
    }
}

/// Whether an I/O error means the peer went away (EPIPE, ECONNRESET).
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}
