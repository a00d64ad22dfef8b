//! Connections: the per-client state machine (memcached's conn_states and
//! drive_machine), the read buffer, and the response queue sent with
//! writev.
//!
//! A connection reads whatever the socket has into `rbuf`, runs every
//! complete command in it (up to `-R` per turn), and queues the replies;
//! only when no complete command is left does it write, so the replies to a
//! pipelined batch leave in one writev. Values are read straight into item
//! memory, and large values are sent from item memory too: the item is
//! pinned (its refcount raised) until the write is done.
//!
//! Read and reply buffers come from the shared pool (bufpool.rs) and go
//! back to it when a connection has nothing buffered, so idle connections
//! cost little memory. With `-o read_buf_mem_limit` the pool may refuse
//! them, and the connection does what memcached 1.6.45 does when its
//! buffer cache is exhausted: it is closed when it needs a read buffer
//! (`read_buf_oom`) or a command cannot have its reply
//! (`response_obj_oom`); see `try_read_network` and `start_command`.
//!
//! A UDP socket is a connection too (`Transport::Udp`, see udp.rs): the
//! same states run its commands, but it reads whole datagrams, frames its
//! output into datagrams at transmit time, and is never closed. The
//! places where the two differ are the few `Transport::Udp` branches below.

use std::io;
use std::os::unix::io::RawFd;

use crate::bufpool::READ_SIZE;
use crate::cache::slabs::NONE;
use crate::cache::{Cache, StoreCmd};
use crate::event::Interest;
use crate::server::{Core, Server};
use crate::settings::Protocol;
use crate::{proto_bin, proto_text, udp};

/// The states of a connection (memcached's enum conn_states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// A listening socket. Never a client connection's state: listeners
    /// are handled by the server loop, and `stats conns` shows them in it.
    Listening,
    /// Ready for the next command: reset per-command state. A new
    /// connection starts here.
    NewCmd,
    /// Waiting for the socket to become readable.
    Waiting,
    /// Reading from the socket into rbuf.
    Read,
    /// Looking for a complete command line in rbuf.
    ParseCmd,
    /// Reading a value's bytes into an item.
    Nread,
    /// Discarding the bytes of a value that will not be stored.
    Swallow,
    /// Writing a single reply (kept for the vocabulary; replies share Mwrite).
    #[allow(dead_code)]
    Write,
    /// Writing the queued replies.
    Mwrite,
    /// Closing the connection.
    Closing,
    /// A watcher (`watch`): it receives log lines, and what it sends is
    /// read and dropped.
    Watch,
    /// A replica that sent `rep_sync`: the loop hands its socket over to
    /// replication (repl/master.rs) at the end of the turn.
    Handoff,
    /// `rep_wait`: the connection waits (reading nothing more) until
    /// enough replicas acknowledge its writes or its timeout passes
    /// (repl/master.rs releases it).
    WaitAck,
}

impl ConnState {
    /// memcached's name for the state (`stats conns`).
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Listening => "conn_listening",
            ConnState::NewCmd => "conn_new_cmd",
            ConnState::Waiting => "conn_waiting",
            ConnState::Read => "conn_read",
            ConnState::ParseCmd => "conn_parse_cmd",
            ConnState::Nread => "conn_nread",
            ConnState::Swallow => "conn_swallow",
            ConnState::Write => "conn_write",
            ConnState::Mwrite => "conn_mwrite",
            ConnState::Closing => "conn_closing",
            ConnState::Watch => "conn_watch",
            ConnState::Handoff => "conn_handoff",
            ConnState::WaitAck => "conn_wait_ack",
        }
    }
}

/// The kind of socket a connection came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
    /// A UDP socket itself (`-U`): one connection serves every sender,
    /// one datagram at a time.
    Udp,
}

/// One piece of queued output.
#[derive(Clone, Copy, Debug)]
pub enum OutPiece {
    /// `wbuf[start..end]`.
    Buf { start: usize, end: usize },
    /// Value bytes of a pinned item: `len` bytes from value offset `off`.
    Item { id: u32, off: usize, len: usize },
}

/// A saved position of the output queue.
#[derive(Clone, Copy, Debug)]
pub struct OutMark {
    wbuf: usize,
    out: usize,
    out_bytes: usize,
    pinned: usize,
}

/// Values up to this size are copied into wbuf rather than referenced: a
/// copy is cheaper than an extra iovec and a pin.
pub const COPY_MAX: usize = 1024;
/// A command line longer than this with no newline closes the connection,
/// unless it is a get/gets (memcached's rule).
pub const LINE_MAX_NON_GET: usize = 2048;
/// Upper bound for a get/gets line (many keys).
pub const LINE_MAX_GET: usize = 1024 * 1024;
/// Flush queued output before running more commands once this much waits.
pub const OUT_HIGH_WATER: usize = 256 * 1024;
/// At most this many pieces of output per writev.
const IOV_MAX: usize = 1024;

pub struct Conn {
    pub fd: RawFd,
    pub token: usize,
    pub state: ConnState,
    pub transport: Transport,
    /// What the event loop is asked to watch for.
    pub interest: Interest,

    /// Read buffer; `rbuf.len()` is its usable size (0 when returned to
    /// the pool).
    pub rbuf: Vec<u8>,
    /// Start of unprocessed bytes; always <= rbuf.len().
    pub rcurr: usize,
    /// Unprocessed bytes from rcurr; rcurr + rbytes <= rbuf.len().
    pub rbytes: usize,

    /// Item being filled in Nread (NONE otherwise).
    pub item: u32,
    /// Value bytes still to read into `item`. Before authentication (`-Y`),
    /// the length of the credentials block awaited, 0 when none is.
    pub rlbytes: usize,
    /// Value offset the next byte goes to.
    pub ritem_off: usize,
    /// The "\r\n" after a value: bytes seen so far, and how many.
    pub crlf: [u8; 2],
    pub crlf_got: usize,
    /// Which storage command the item is for, and its CAS argument.
    pub nread_cmd: StoreCmd,
    pub req_cas: u64,
    /// The CAS unique an ms whose data chunk was bad took (its E value,
    /// or the one minted for it): as memcached's c->cas, the next text
    /// store completed on this connection gets it instead of a new one.
    pub carried_cas: u64,
    /// Bytes to discard in Swallow.
    pub sbytes: usize,
    /// The current command said `noreply`.
    pub noreply: bool,

    /// Reply bytes; pieces of `out` point into it.
    pub wbuf: Vec<u8>,
    /// Queued output, in order.
    pub out: Vec<OutPiece>,
    /// Next piece to send, and bytes of it already sent.
    pub out_pos: usize,
    pub out_off: usize,
    /// Bytes queued and not yet sent.
    pub out_bytes: usize,
    /// Items pinned by `out`, released after the write.
    pub pinned: Vec<u32>,
    /// Bytes the pool counts for `wbuf`, `out` and `pinned` (the reply
    /// buffer); 0 while the connection holds none. See bufpool.rs.
    pub reply_counted: usize,
    /// Replies counted since the output was last all written
    /// (`response_obj_count`).
    pub replies: u64,
    /// State to enter once the output is written.
    pub write_and_go: ConnState,
    /// Commands run since the output was last flushed, noreply ones
    /// included: memcached's response objects still on the connection.
    /// `watch` refuses to start behind another one (its replies would
    /// have to come first).
    pub unflushed_cmds: u32,

    /// Commands left this turn (`-R`); at 0 the connection yields.
    pub nreqs: i64,
    /// Server time of the last command (idle_timeout).
    pub last_cmd_time: u32,
    /// The connection has authenticated, or needs not (no `-Y`). Until it
    /// is true, commands go through `proto_text::try_read_command_asciiauth`.
    pub authenticated: bool,
    /// The first byte was seen (protocol negotiation is done).
    pub negotiated: bool,
    /// The connection (for UDP, the datagram) speaks the binary protocol.
    pub binary: bool,
    /// The binary request being run (its value may still be read in Nread).
    pub bin_header: proto_bin::ReqHeader,
    /// The value being read is for `ms` (its reply is a meta reply).
    pub nread_meta: bool,
    /// Scratch space for a meta command's decoded key.
    pub meta_key: Vec<u8>,
    /// An `ms` line's key and flags, kept for its reply.
    pub meta_line: Vec<u8>,
    /// The datagram being answered (Some exactly when the transport is
    /// Udp; boxed so TCP connections do not carry its address).
    pub udp: Option<Box<udp::UdpState>>,
    /// Set by `stats conns`: the state machine pauses after the command
    /// (still in ParseCmd) so the server can list every connection into
    /// this one's reply, then goes on.
    pub stats_conns: bool,
    /// An `lru_crawler metadump` or `mgdump` is being written to this
    /// connection by the crawler (crawler.rs): it runs no command and reads
    /// nothing until the crawler clears this after the closing line.
    pub crawler_dump: bool,
    /// Why the connection closes, as a `conn_close` log line says it:
    /// "error" unless the client hung up or quit ("normal") or sat idle
    /// ("idle_timeout").
    pub close_reason: &'static str,
    /// A TCP client's address, as accept returned it (log lines show it).
    pub peer: Option<std::net::SocketAddr>,
    /// While writes are watched (an ack policy, or `rep_set_bulk 0`): the
    /// count of client writes and the output position when the current
    /// command began, to tell at its end whether it wrote and where its
    /// reply starts.
    pub write_watch: Option<(u64, OutMark)>,
}

impl Conn {
    pub fn new(fd: RawFd, token: usize, transport: Transport, now: u32) -> Conn {
        Conn {
            fd,
            token,
            // As memcached's: a new connection is ready for its first
            // command; the first wake-up finds nothing buffered and reads.
            state: ConnState::NewCmd,
            transport,
            interest: Interest::Read,
            rbuf: Vec::new(),
            rcurr: 0,
            rbytes: 0,
            item: NONE,
            rlbytes: 0,
            ritem_off: 0,
            crlf: [0; 2],
            crlf_got: 0,
            nread_cmd: StoreCmd::Set,
            req_cas: 0,
            carried_cas: 0,
            sbytes: 0,
            noreply: false,
            wbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            out_off: 0,
            out_bytes: 0,
            pinned: Vec::new(),
            reply_counted: 0,
            replies: 0,
            write_and_go: ConnState::NewCmd,
            unflushed_cmds: 0,
            nreqs: 0,
            last_cmd_time: now,
            authenticated: true,
            negotiated: false,
            binary: false,
            bin_header: proto_bin::ReqHeader::default(),
            nread_meta: false,
            meta_key: Vec::new(),
            meta_line: Vec::new(),
            udp: None,
            stats_conns: false,
            crawler_dump: false,
            close_reason: "error",
            peer: None,
            write_watch: None,
        }
    }

    /// Changes state, logging the transition at -vvv (memcached's
    /// conn_set_state).
    pub fn set_state(&mut self, state: ConnState) {
        if state != self.state {
            log::trace!("{}: going from {:?} to {:?}", self.fd, self.state, state);
            self.state = state;
        }
    }

    /// Queues bytes of reply.
    #[inline]
    pub fn add_bytes(&mut self, b: &[u8]) {
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(b);
        self.extend_buf_piece(start);
    }

    /// Records that wbuf grew from `start` to its current length.
    #[inline]
    pub fn extend_buf_piece(&mut self, start: usize) {
        let end = self.wbuf.len();
        self.out_bytes += end - start;
        if let Some(OutPiece::Buf { end: e, .. }) = self.out.last_mut() {
            if *e == start {
                *e = end;
                return;
            }
        }
        self.out.push(OutPiece::Buf { start, end });
    }

    /// Queues a one-line reply ("STORED", "ERROR", ...) with its "\r\n",
    /// unless the command said noreply (memcached's out_string).
    pub fn out_string(&mut self, s: &str) {
        if self.noreply {
            log::debug!(">{} NOREPLY {}", self.fd, s);
            self.noreply = false;
            return;
        }
        log::debug!(">{} {}", self.fd, s);
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(s.as_bytes());
        self.wbuf.extend_from_slice(b"\r\n");
        self.extend_buf_piece(start);
    }

    /// Queues an error reply even under noreply (memcached's out_errstring).
    pub fn out_errstring(&mut self, s: &str) {
        self.noreply = false;
        self.out_string(s);
    }

    /// A point in the output queue to return to (`rollback`).
    pub fn mark(&self) -> OutMark {
        OutMark {
            wbuf: self.wbuf.len(),
            out: self.out.len(),
            out_bytes: self.out_bytes,
            pinned: self.pinned.len(),
        }
    }

    /// Drops output queued since `m` (a command that fails midway sends
    /// only its error, as memcached does), releasing pins taken since.
    pub fn rollback(&mut self, m: OutMark, cache: &mut crate::cache::Cache) {
        for id in self.pinned.drain(m.pinned..) {
            cache.unpin(id);
        }
        self.wbuf.truncate(m.wbuf);
        self.out.truncate(m.out);
        self.out_bytes = m.out_bytes;
        if let Some(OutPiece::Buf { end, .. }) = self.out.last_mut() {
            if *end > m.wbuf {
                *end = m.wbuf;
            }
        }
    }

    /// True if replies are waiting to be written.
    #[inline]
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Marks the next `n` queued bytes as sent (`n` <= out_bytes).
    #[inline]
    pub fn output_sent(&mut self, mut n: usize) {
        self.out_bytes -= n;
        while n > 0 {
            let plen = match self.out[self.out_pos] {
                OutPiece::Buf { start, end } => end - start,
                OutPiece::Item { len, .. } => len,
            } - self.out_off;
            if n >= plen {
                n -= plen;
                self.out_pos += 1;
                self.out_off = 0;
            } else {
                self.out_off += n;
                n = 0;
            }
        }
    }

    /// Copies queued output, from the next byte to send, into `dst`
    /// without consuming it; returns the bytes copied (all of `dst` unless
    /// less is queued). The UDP path builds its datagrams with this.
    pub fn peek_output(&self, cache: &Cache, dst: &mut [u8]) -> usize {
        let mut n = 0;
        let mut skip = self.out_off;
        for piece in &self.out[self.out_pos..] {
            if n == dst.len() {
                break;
            }
            match *piece {
                OutPiece::Buf { start, end } => {
                    let src = &self.wbuf[start + skip..end];
                    let k = src.len().min(dst.len() - n);
                    dst[n..n + k].copy_from_slice(&src[..k]);
                    n += k;
                }
                OutPiece::Item { id, off, len } => {
                    // A chunked value may span chunks: copy run by run.
                    let mut o = off + skip;
                    let endo = off + len;
                    while o < endo && n < dst.len() {
                        let seg = cache.value_segment(id, o);
                        let k = seg.len().min(endo - o).min(dst.len() - n);
                        dst[n..n + k].copy_from_slice(&seg[..k]);
                        n += k;
                        o += k;
                    }
                }
            }
            skip = 0;
        }
        n
    }
}

/// What try_read_network found (memcached's try_read_result).
pub(crate) enum ReadResult {
    DataReceived,
    NoDataReceived,
    Error,
    /// A read buffer could not grow for a line longer than it: the
    /// connection writes its error and closes (the state is set).
    MemoryError,
}

/// What transmit did (memcached's transmit_result).
pub(crate) enum TransmitResult {
    Complete,
    Incomplete,
    SoftError,
    HardError,
}

/// Why `run_machine` returned.
enum Pause {
    /// The connection waits for its socket, yielded, or is closing.
    Stop,
    /// `stats conns` ran: the server must list the connections into this
    /// connection's reply before it goes on.
    ConnsStats,
}

/// What `try_read_command` found.
enum ParseResult {
    /// No complete command line is buffered.
    NoLine,
    /// A command ran (or the connection is closing).
    Ran,
    /// A command ran that needs the whole server (`stats conns`).
    NeedsServer,
}

/// Runs connection `token` until it has to wait for the socket (or yields
/// after `-R` commands). memcached's drive_machine.
pub fn drive_machine(server: &mut Server, token: usize) {
    match server.conns.get_mut(token) {
        Some(c) => c.nreqs = server.core.settings.reqs_per_event as i64,
        None => return,
    }
    while let Pause::ConnsStats = run_machine(server, token) {
        let mut out = Vec::new();
        crate::stats::conns_stats(server, &mut out);
        out.extend_from_slice(b"END\r\n");
        let c = &mut server.conns[token];
        c.stats_conns = false;
        c.add_bytes(&out);
        c.set_state(ConnState::NewCmd);
    }
    if server.conns.get(token).map(|c| c.state) == Some(ConnState::Closing) {
        close_conn(server, token);
    }
}

/// The state machine proper: runs until the connection must wait, or until
/// a command needs the whole server (see `Pause`).
fn run_machine(server: &mut Server, token: usize) -> Pause {
    let Server { conns, core, .. } = server;
    let c = match conns.get_mut(token) {
        Some(c) => c,
        None => return Pause::Stop,
    };
    let mut stop = false;
    while !stop {
        match c.state {
            ConnState::Listening | ConnState::Write => {
                c.set_state(ConnState::NewCmd);
            }
            ConnState::NewCmd => {
                // What the last command queued counts in the pool.
                core.pool.sync_reply(c);
                if c.crawler_dump {
                    // Send what the crawler queued, then leave the socket
                    // alone (not even reading: bytes the client sends meanwhile
                    // wait in the kernel) until the crawler adds more.
                    if c.has_output() {
                        c.write_and_go = ConnState::NewCmd;
                        c.set_state(ConnState::Mwrite);
                    } else {
                        set_interest(core, c, Interest::None);
                        stop = true;
                    }
                    continue;
                }
                if let Some((writes, mark)) = c.write_watch.take() {
                    if core.cache.changes().writes() != writes && wrote(c, core, mark) {
                        c.set_state(ConnState::WaitAck);
                        continue;
                    }
                }
                if c.nreqs <= 0 && c.rbytes > 0 {
                    // Yield so other connections get their turn (after
                    // sending what this turn produced); come back on the
                    // next loop iteration even if no byte arrives. A UDP
                    // reply waits for the end of its datagram: it leaves
                    // as one message.
                    if c.has_output() && c.transport != Transport::Udp {
                        c.write_and_go = ConnState::NewCmd;
                        c.set_state(ConnState::Mwrite);
                        continue;
                    }
                    core.stats.conn_yields += 1;
                    c.unflushed_cmds = 0;
                    core.ready.push(token);
                    stop = true;
                    continue;
                }
                c.noreply = false;
                // Write before running more commands once a lot is queued,
                // or once the connection buffers are at read_buf_mem_limit:
                // writing gives memory back, where the next command would
                // be refused. A UDP reply waits for the end of its datagram.
                let flush_first = c.transport != Transport::Udp
                    && (c.out_bytes >= OUT_HIGH_WATER || (core.pool.full() && c.has_output()));
                if c.rbytes > 0 && !flush_first {
                    c.set_state(ConnState::ParseCmd);
                } else if c.has_output() {
                    c.write_and_go = if c.rbytes > 0 {
                        ConnState::NewCmd
                    } else {
                        ConnState::Waiting
                    };
                    c.set_state(ConnState::Mwrite);
                } else {
                    c.set_state(ConnState::Waiting);
                }
            }
            ConnState::ParseCmd => {
                if core.repl.watches_writes() && c.transport != Transport::Udp {
                    if !core.cache.changes().on {
                        core.cache.listen_changes(true);
                    }
                    c.write_watch = Some((core.cache.changes().writes(), c.mark()));
                }
                match try_read_command(c, core) {
                    ParseResult::Ran => {}
                    ParseResult::NeedsServer => return Pause::ConnsStats,
                    ParseResult::NoLine => {
                        // No complete line: send what is queued, then wait.
                        if c.has_output() {
                            c.write_and_go = ConnState::Waiting;
                            c.set_state(ConnState::Mwrite);
                        } else {
                            c.set_state(ConnState::Waiting);
                        }
                    }
                }
            }
            ConnState::Waiting => {
                if (c.reply_counted != 0 || c.replies != 0) && !c.has_output() {
                    // Nothing left to write (the commands said noreply):
                    // the reply buffer goes back.
                    release_output(c, core);
                }
                if c.transport == Transport::Udp {
                    // The datagram is done with (what is left of it is
                    // an incomplete command); read the next one while
                    // the turn lasts.
                    udp::end_datagram(c);
                    set_interest(core, c, Interest::Read);
                    c.set_state(ConnState::Read);
                    stop = c.nreqs <= 0;
                    continue;
                }
                if c.rbytes == 0 {
                    give_back_rbuf(c, core);
                }
                c.unflushed_cmds = 0;
                set_interest(core, c, Interest::Read);
                c.set_state(ConnState::Read);
                stop = true;
            }
            ConnState::Read => {
                let res = if c.transport == Transport::Udp {
                    udp::try_read(c, core)
                } else {
                    try_read_network(c, core)
                };
                match res {
                    ReadResult::DataReceived => {
                        prefetch_batch(c, core);
                        c.set_state(ConnState::ParseCmd)
                    }
                    // A UDP socket with nothing to read (or a turn spent
                    // on dropped datagrams) waits in Read, as registered.
                    ReadResult::NoDataReceived if c.transport == Transport::Udp => stop = true,
                    ReadResult::NoDataReceived => c.set_state(ConnState::Waiting),
                    ReadResult::Error => c.set_state(ConnState::Closing),
                    ReadResult::MemoryError => {}
                }
            }
            ConnState::Nread => {
                if c.rlbytes == 0 && c.crlf_got == 2 {
                    if c.binary {
                        proto_bin::complete_nread(c, core);
                    } else if c.nread_meta {
                        crate::proto_meta::complete_mset(c, core);
                    } else {
                        proto_text::complete_nread(c, core);
                    }
                    if c.state == ConnState::Nread {
                        c.set_state(ConnState::NewCmd);
                    }
                    continue;
                }
                match read_value(c, core) {
                    Ok(true) => {}
                    // The datagram ended inside the value.
                    Ok(false) if c.transport == Transport::Udp => udp::cut_short(c, core),
                    Ok(false) => {
                        set_interest(core, c, Interest::Read);
                        stop = true;
                    }
                    Err(_) => c.set_state(ConnState::Closing),
                }
            }
            ConnState::Swallow => {
                if c.sbytes == 0 {
                    c.set_state(ConnState::NewCmd);
                    continue;
                }
                if c.rbytes > 0 {
                    let k = c.rbytes.min(c.sbytes);
                    c.sbytes -= k;
                    c.rcurr += k;
                    c.rbytes -= k;
                    continue;
                }
                if c.transport == Transport::Udp {
                    // The datagram ended inside the value being dropped.
                    udp::cut_short(c, core);
                    continue;
                }
                // Nothing buffered: read (into the read buffer) and drop.
                match try_read_network(c, core) {
                    ReadResult::DataReceived | ReadResult::MemoryError => {}
                    ReadResult::NoDataReceived => {
                        set_interest(core, c, Interest::Read);
                        stop = true;
                    }
                    ReadResult::Error => c.set_state(ConnState::Closing),
                }
            }
            ConnState::Mwrite => {
                let res = if c.transport == Transport::Udp {
                    udp::transmit(c, core)
                } else {
                    transmit(c, core)
                };
                match res {
                    TransmitResult::Complete => {
                        release_output(c, core);
                        c.unflushed_cmds = 0;
                        let next = c.write_and_go;
                        c.set_state(next);
                    }
                    TransmitResult::Incomplete => {}
                    TransmitResult::SoftError => {
                        set_interest(core, c, Interest::Write);
                        stop = true;
                    }
                    TransmitResult::HardError => c.set_state(ConnState::Closing),
                }
            }
            ConnState::Watch => {
                stop = true;
                give_back_rbuf(c, core);
                if !drain_watcher_input(c) {
                    c.set_state(ConnState::Closing);
                    continue;
                }
                let Some(i) = core
                    .cache
                    .logger()
                    .watchers
                    .iter()
                    .position(|w| w.token == token)
                else {
                    c.set_state(ConnState::Closing);
                    continue;
                };
                match crate::logger::flush_watcher(core.cache.logger_mut(), i) {
                    Ok(true) => set_interest(core, c, Interest::Read),
                    Ok(false) => set_interest(core, c, Interest::Write),
                    Err(_) => c.set_state(ConnState::Closing),
                }
            }
            ConnState::Handoff | ConnState::WaitAck => {
                set_interest(core, c, Interest::None);
                stop = true;
            }
            ConnState::Closing => {
                if c.transport == Transport::Udp {
                    // A UDP socket is never closed: what would close a
                    // TCP connection drops the datagram instead.
                    udp::drop_request(c, core);
                    continue;
                }
                stop = true;
            }
        }
    }
    Pause::Stop
}

/// The command that just ended wrote, and writes are watched: with
/// `rep_set_bulk 0` the write goes to the replicas now; under an ack
/// policy the connection waits for their acknowledgements (true).
fn wrote(c: &mut Conn, core: &mut Core, mark: OutMark) -> bool {
    if !core.repl.bulk {
        crate::repl::master::stream_changes(core);
    }
    if core.repl.ack_policy == crate::repl::master::ACK_NONE {
        return false;
    }
    // The reply starts at `mark` unless output was sent meanwhile.
    let mark = if mark.out >= c.out_pos && mark.out <= c.out.len() {
        mark
    } else {
        c.mark()
    };
    crate::repl::master::hold_write(core, c.token, mark)
}

/// Reads and drops whatever a watcher sent (memcached ignores a watcher's
/// input too). False when the peer hung up or the socket failed.
fn drain_watcher_input(c: &mut Conn) -> bool {
    let mut junk = [0u8; 512];
    loop {
        match crate::sys::read(c.fd, &mut junk) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Asks the event loop for `want` if that is not what it already watches.
fn set_interest(core: &mut Core, c: &mut Conn, want: Interest) {
    if c.interest != want {
        if let Err(e) = core.ev.modify(c.fd, c.token as u64, want) {
            log::warn!("epoll modify failed for fd {}: {}", c.fd, e);
        }
        c.interest = want;
    }
}

/// Returns an empty read buffer to the pool.
#[inline]
fn give_back_rbuf(c: &mut Conn, core: &mut Core) {
    if !c.rbuf.is_empty() {
        let b = std::mem::take(&mut c.rbuf);
        core.pool.give_rbuf(b);
        c.rcurr = 0;
        c.rbytes = 0;
    }
}

/// Most lookups a batch prefetch looks ahead at.
const PREFETCH_MAX: usize = 32;

/// For a pipelined batch (or a multiget), starts loading each key's hash
/// bucket, then each chain's first item, before the commands run: the
/// cache misses of the batch overlap instead of following one another
/// (on a large cache they are most of what a lookup costs).
fn prefetch_batch(c: &Conn, core: &Core) {
    let data = &c.rbuf[c.rcurr..c.rcurr + c.rbytes];
    if c.binary {
        let mut keys: [&[u8]; PREFETCH_MAX] = [&[]; PREFETCH_MAX];
        let mut hvs = [0u32; PREFETCH_MAX];
        let n = proto_bin::batch_keys(data, &mut keys);
        for (hv, key) in hvs.iter_mut().zip(&keys[..n]) {
            *hv = core.cache.assoc().hash(key);
        }
        return prefetch_hashes(core, &hvs[..n]);
    }
    // A single command (one request in flight) gains nothing: the lookup
    // follows at once. Only look further when there is a second line.
    match memchr::memchr(b'\n', data) {
        Some(el) if el + 1 < data.len() => {}
        _ => {
            if !(data.starts_with(b"get ") || data.starts_with(b"gets ")) {
                return;
            }
        }
    }
    let mut hvs = [0u32; PREFETCH_MAX];
    let mut n = 0;
    let mut rest = data;
    'lines: while n < PREFETCH_MAX {
        let Some(el) = memchr::memchr(b'\n', rest) else {
            break;
        };
        let line = &rest[..el];
        rest = &rest[el + 1..];
        // Commands whose keys are looked up: every key of a get/gets, the
        // key of mg, set and ms. (A value line that happens to start like
        // one only costs a useless prefetch.)
        let (after, many) = if let Some(r) = line.strip_prefix(b"get ") {
            (r, true)
        } else if let Some(r) = line.strip_prefix(b"gets ") {
            (r, true)
        } else if let Some(r) = line.strip_prefix(b"mg ") {
            (r, false)
        } else if let Some(r) = line.strip_prefix(b"set ") {
            (r, false)
        } else if let Some(r) = line.strip_prefix(b"ms ") {
            (r, false)
        } else {
            continue;
        };
        for key in after
            .split(|&b| b == b' ' || b == b'\r')
            .filter(|k| !k.is_empty())
        {
            if n == PREFETCH_MAX {
                break 'lines;
            }
            if key.len() <= crate::cache::item::KEY_MAX_LENGTH {
                hvs[n] = core.cache.assoc().hash(key);
                n += 1;
            }
            if !many {
                break;
            }
        }
    }
    prefetch_hashes(core, &hvs[..n]);
}

/// Starts loading the hash buckets of `hvs`, then their chains' first
/// items (a single lookup gains nothing: it follows at once).
fn prefetch_hashes(core: &Core, hvs: &[u32]) {
    if hvs.len() < 2 {
        return;
    }
    for &hv in hvs {
        core.cache.assoc().prefetch_bucket(hv);
    }
    for &hv in hvs {
        let id = core.cache.assoc().chain_head(hv);
        if id != NONE {
            core.cache.slabs().prefetch(id);
        }
    }
}

/// Looks for a complete command line and runs it, in ParseCmd as memcached
/// runs its commands; a command that leaves the state alone is followed by
/// NewCmd. Returns NoLine if there is none (the caller then waits for more
/// bytes). Closes connections that send over-long lines, as memcached does.
fn try_read_command(c: &mut Conn, core: &mut Core) -> ParseResult {
    if !c.negotiated {
        // memcached picks the protocol from a connection's first byte
        // under -B auto, and from each datagram's whatever -B says.
        c.negotiated = true;
        let first_is_binary = c.rbuf[c.rcurr] == proto_bin::REQ_MAGIC;
        c.binary = match core.settings.binding_protocol {
            _ if c.transport == Transport::Udp => first_is_binary,
            Protocol::Ascii => false,
            Protocol::Binary => true,
            Protocol::Auto => first_is_binary,
        };
    }
    if c.binary {
        return if proto_bin::try_read_command(c, core) {
            ParseResult::Ran
        } else {
            ParseResult::NoLine
        };
    }
    if !c.authenticated {
        return if proto_text::try_read_command_asciiauth(c, core) {
            ParseResult::Ran
        } else {
            ParseResult::NoLine
        };
    }
    let data = &c.rbuf[c.rcurr..c.rcurr + c.rbytes];
    // memcached's rule for a long line: a get or gets (after at most 100
    // spaces) may be long; any other closes the connection.
    let too_long = |data: &[u8], len: usize| {
        let mut p = 0;
        while p < data.len() && data[p] == b' ' {
            p += 1;
        }
        let rest = &data[p..];
        let is_get = rest.starts_with(b"get ") || rest.starts_with(b"gets ");
        p > 100 || !is_get || len > LINE_MAX_GET
    };
    let el = match memchr::memchr(b'\n', data) {
        // memcached reads into a 16 KB buffer: a line whose newline does
        // not fit in it is one without a newline, even when ours (grown
        // for a batch) holds all of it.
        Some(i) if i >= READ_SIZE && c.transport != Transport::Udp && too_long(data, i) => {
            log::info!("{}: command line too long, closing", c.fd);
            c.set_state(ConnState::Closing);
            return ParseResult::Ran;
        }
        Some(i) => i,
        None => {
            if c.rbytes > LINE_MAX_NON_GET && too_long(data, c.rbytes) {
                log::info!("{}: command line too long, closing", c.fd);
                c.set_state(ConnState::Closing);
                return ParseResult::Ran;
            }
            return ParseResult::NoLine;
        }
    };
    // As memcached 1.6.45, a NUL is a byte like any other.
    let end = if el > 0 && data[el - 1] == b'\r' {
        el - 1
    } else {
        el
    };
    let start = c.rcurr;
    c.rcurr += el + 1;
    c.rbytes -= el + 1;
    c.nreqs -= 1;
    c.last_cmd_time = core.cache.now();
    if !start_command(c, core) {
        return ParseResult::Ran;
    }
    // The line stays in rbuf while the command runs; the buffer is moved
    // out so replies can be queued on the same connection.
    let rbuf = std::mem::take(&mut c.rbuf);
    c.unflushed_cmds = c.unflushed_cmds.saturating_add(1);
    if el + 1 < 4 {
        // As memcached 1.6.45: a line shorter than 4 bytes with its
        // newline cannot hold a command.
        c.out_string("CLIENT_ERROR bad command line format");
    } else {
        proto_text::process_command(c, core, &rbuf[start..start + end]);
    }
    c.rbuf = rbuf;
    if c.state == ConnState::ParseCmd {
        if c.stats_conns {
            return ParseResult::NeedsServer;
        }
        c.set_state(ConnState::NewCmd);
    }
    ParseResult::Ran
}

/// Gives a command about to run its reply (memcached's resp_start, at the
/// start of every command): a reply buffer from the pool, and one more
/// reply counted. False when the connection buffers are at
/// read_buf_mem_limit: as memcached does when it has no response object
/// for a command, the connection is closed without a reply.
#[inline]
pub(crate) fn start_command(c: &mut Conn, core: &mut Core) -> bool {
    if !core.pool.reply_room(c) {
        return no_room_for_reply(c, core);
    }
    core.pool.start_reply(c);
    core.pool.reply_queued(c);
    true
}

/// `start_command` refused: counts it and closes the connection.
#[cold]
#[inline(never)]
fn no_room_for_reply(c: &mut Conn, core: &mut Core) -> bool {
    core.stats.response_obj_oom += 1;
    log::info!(
        "{}: no room for a reply under read_buf_mem_limit, closing",
        c.fd
    );
    c.set_state(ConnState::Closing);
    false
}

/// Reads from the socket into rbuf, making room first. memcached's
/// try_read_network. A connection that cannot have a read buffer under
/// read_buf_mem_limit is closed (memcached's rbuf_alloc failing); one
/// whose buffer is full of a line it cannot grow for is answered
/// `SERVER_ERROR out of memory reading request` and closed after it
/// (memcached's answer when it cannot grow a buffer for a long line).
/// Under a limit, a buffer full of complete commands is not grown: they
/// run first.
fn try_read_network(c: &mut Conn, core: &mut Core) -> ReadResult {
    if c.rbuf.is_empty() {
        match core.pool.take_rbuf() {
            Some(b) => c.rbuf = b,
            None => {
                core.stats.read_buf_oom += 1;
                log::info!("{}: no read buffer under read_buf_mem_limit, closing", c.fd);
                return ReadResult::Error;
            }
        }
        c.rcurr = 0;
    }
    if c.rcurr != 0 {
        if c.rbytes > 0 {
            c.rbuf.copy_within(c.rcurr..c.rcurr + c.rbytes, 0);
        }
        c.rcurr = 0;
    }
    let mut gotdata = ReadResult::NoDataReceived;
    loop {
        if c.rbytes >= c.rbuf.len() {
            // Full: grow (a long get line or a large pipelined batch).
            if !core.pool.grow_rbuf(&mut c.rbuf) {
                if let ReadResult::DataReceived = gotdata {
                    // What was read holds commands: they run first.
                    break;
                }
                return cannot_grow(c, core);
            }
        }
        let avail = c.rbuf.len() - c.rbytes;
        match crate::sys::read(c.fd, &mut c.rbuf[c.rbytes..]) {
            Ok(0) => {
                c.close_reason = "normal";
                return ReadResult::Error;
            }
            Ok(n) => {
                core.stats.bytes_read += n as u64;
                c.rbytes += n;
                gotdata = ReadResult::DataReceived;
                if n < avail {
                    break;
                }
                if c.rbytes >= LINE_MAX_GET {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("{}: read error: {}", c.fd, e);
                return ReadResult::Error;
            }
        }
    }
    gotdata
}

/// The read buffer is full of one command and may not grow: the bytes read
/// are dropped and the connection closes, after an error line when the
/// limit leaves room for it (memcached's READ_MEMORY_ERROR).
fn cannot_grow(c: &mut Conn, core: &mut Core) -> ReadResult {
    core.stats.read_buf_oom += 1;
    log::info!("{}: read buffer cannot grow under read_buf_mem_limit", c.fd);
    c.rcurr = 0;
    c.rbytes = 0;
    // A binary request this long has no error to send that its client
    // could match to it: the connection just closes.
    if c.binary || !start_command(c, core) {
        return ReadResult::Error;
    }
    c.out_string("SERVER_ERROR out of memory reading request");
    c.write_and_go = ConnState::Closing;
    c.set_state(ConnState::Mwrite);
    ReadResult::MemoryError
}

/// Moves value bytes into the item being read: first from rbuf, then
/// straight from the socket. Returns Ok(true) on progress, Ok(false) when
/// the socket has nothing more for now.
fn read_value(c: &mut Conn, core: &mut Core) -> io::Result<bool> {
    if c.rlbytes > 0 {
        if c.rbytes > 0 {
            let mut moved = false;
            while c.rlbytes > 0 && c.rbytes > 0 {
                let seg = core.cache.value_segment_mut(c.item, c.ritem_off);
                let k = seg.len().min(c.rlbytes).min(c.rbytes);
                seg[..k].copy_from_slice(&c.rbuf[c.rcurr..c.rcurr + k]);
                c.rcurr += k;
                c.rbytes -= k;
                c.rlbytes -= k;
                c.ritem_off += k;
                moved = true;
            }
            return Ok(moved);
        }
        if c.transport == Transport::Udp {
            // A value never continues past its datagram.
            return Ok(false);
        }
        let seg = core.cache.value_segment_mut(c.item, c.ritem_off);
        let k = seg.len().min(c.rlbytes);
        return match crate::sys::read(c.fd, &mut seg[..k]) {
            Ok(0) => {
                c.close_reason = "normal";
                Err(io::Error::from(io::ErrorKind::UnexpectedEof))
            }
            Ok(n) => {
                core.stats.bytes_read += n as u64;
                c.rlbytes -= n;
                c.ritem_off += n;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        };
    }
    // The two bytes after the value.
    if c.rbytes > 0 {
        while c.crlf_got < 2 && c.rbytes > 0 {
            c.crlf[c.crlf_got] = c.rbuf[c.rcurr];
            c.crlf_got += 1;
            c.rcurr += 1;
            c.rbytes -= 1;
        }
        return Ok(true);
    }
    if c.transport == Transport::Udp {
        return Ok(false);
    }
    match try_read_network(c, core) {
        ReadResult::DataReceived | ReadResult::MemoryError => Ok(true),
        ReadResult::NoDataReceived => Ok(false),
        ReadResult::Error => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    }
}

/// Writes queued output with writev, as much as the socket takes.
/// memcached's transmit.
fn transmit(c: &mut Conn, core: &mut Core) -> TransmitResult {
    if !c.has_output() {
        return TransmitResult::Complete;
    }
    let mut iov: [libc::iovec; 64] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 64];
    let mut big: Vec<libc::iovec> = Vec::new();
    let mut n = 0;
    let mut i = c.out_pos;
    let mut skip = c.out_off;
    let limit = IOV_MAX;
    while i < c.out.len() && n < limit {
        let piece = c.out[i];
        let mut push = |s: &[u8]| {
            let v = libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            };
            if n < iov.len() {
                iov[n] = v;
            } else {
                if big.is_empty() {
                    big.extend_from_slice(&iov);
                }
                big.push(v);
            }
            n += 1;
        };
        match piece {
            OutPiece::Buf { start, end } => push(&c.wbuf[start + skip..end]),
            OutPiece::Item { id, off, len } => {
                // A chunked value may span chunks: one iovec per run.
                let mut o = off + skip;
                let endo = off + len;
                while o < endo {
                    let seg = core.cache.value_segment(id, o);
                    let k = seg.len().min(endo - o);
                    push(&seg[..k]);
                    o += k;
                }
            }
        }
        skip = 0;
        i += 1;
    }
    let v: &[libc::iovec] = if big.is_empty() { &iov[..n] } else { &big[..] };
    match crate::sys::writev(c.fd, v) {
        Ok(written) => {
            core.stats.bytes_written += written as u64;
            c.output_sent(written);
            if c.has_output() {
                TransmitResult::Incomplete
            } else {
                TransmitResult::Complete
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => TransmitResult::SoftError,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => TransmitResult::Incomplete,
        Err(e) => {
            log::debug!("{}: write error: {}", c.fd, e);
            TransmitResult::HardError
        }
    }
}

/// After a complete write (or when what is queued is dropped): unpin
/// items, reset the queue, give the reply buffer back to the pool.
pub(crate) fn release_output(c: &mut Conn, core: &mut Core) {
    for id in c.pinned.drain(..) {
        core.cache.unpin(id);
    }
    c.out.clear();
    c.out_pos = 0;
    c.out_off = 0;
    c.out_bytes = 0;
    core.pool.end_reply(c);
}

/// Closes a connection and frees everything it holds.
pub fn close_conn(server: &mut Server, token: usize) {
    if let Some(fd) = take_conn(server, token, true) {
        crate::sys::close(fd);
    }
}

/// Takes a connection that asked for replication (`rep_sync`) out of the
/// table, releasing what it held, and returns its socket and peer for
/// repl/master.rs to serve from now on.
pub fn hand_over(
    server: &mut Server,
    token: usize,
) -> Option<(RawFd, Option<std::net::SocketAddr>)> {
    let peer = server.conns.get(token)?.peer;
    take_conn(server, token, false).map(|fd| (fd, peer))
}

/// Removes connection `token` from the table and the reactor and gives
/// back everything it held (pinned items, buffers, a half-read item, its
/// crawler dump, its watcher slot); returns its fd, still open. `closing`:
/// the fd is about to be closed (watchers see conn_close).
fn take_conn(server: &mut Server, token: usize, closing: bool) -> Option<RawFd> {
    let Server { conns, core, .. } = server;
    if !conns.contains(token) {
        return None;
    }
    let mut c = conns.remove(token);
    if closing {
        log::debug!("<{} connection closed.", c.fd);
    } else {
        log::debug!("<{} handed over to replication.", c.fd);
    }
    if c.crawler_dump {
        core.crawler.client_gone(token, &mut core.cache);
    }
    // A connection that waited on replicas (it may have hung up while
    // waiting): its waiter goes, so a new connection that gets the token
    // is not let go by it.
    core.repl.master.forget_waiter(token);
    // A watcher may be closing from any state (it hung up while in
    // Watch, which set Closing).
    if !core.cache.logger().watchers.is_empty() {
        core.cache.logger_mut().remove_watcher(token);
    }
    if closing && core.cache.logger().eflags & crate::logger::LOG_CONNEVENTS != 0 {
        core.cache
            .logger_mut()
            .conn_close(c.fd, c.transport, c.peer, c.close_reason);
    }
    core.ev.del(c.fd);
    release_output(&mut c, core);
    if c.item != NONE {
        core.cache.free_unlinked(c.item);
        c.item = NONE;
    }
    give_back_rbuf(&mut c, core);
    core.stats.curr_conns -= 1;
    if !core.accepting && (core.stats.curr_conns as usize) < core.settings.maxconns {
        crate::server::set_accepting(server, true);
    }
    Some(c.fd)
}
