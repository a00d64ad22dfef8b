//! UDP (`-U`): the frame header that starts every datagram, and the
//! request/response path of a UDP socket.
//!
//! A UDP socket is served as a connection (`Conn` with `Transport::Udp`)
//! that lives as long as the server, as in memcached. Each datagram it
//! reads is one request, run by the same command code as TCP (proto_text,
//! proto_meta, proto_bin); the replies the commands queue are cut into
//! datagrams when they are transmitted and sent back to the request's
//! sender. conn.rs branches here in a few places (read, transmit, the end
//! of a datagram, close); everything between is shared with TCP.
//!
//! Every datagram, both ways, starts with four 16-bit big-endian numbers:
//!
//! ```text
//!  0          2          4          6          8
//!  +----------+----------+----------+----------+---------------------
//!  |request id| sequence |  total   | reserved | request or reply bytes
//!  +----------+----------+----------+----------+---------------------
//! ```
//!
//! What memcached 1.6 does, and so do we:
//!
//! - A request is a single datagram. One whose header gives a total other
//!   than 1 is dropped without a word, and so is one of 8 bytes or fewer
//!   (no command in it). The sequence number and reserved field of a
//!   request are not looked at.
//! - Every datagram of the reply carries the request's id, its sequence
//!   number (from 0) and the number of datagrams in the reply, and holds at
//!   most UDP_MAX_PAYLOAD_SIZE (1400) bytes, header included, so 1392
//!   bytes of reply text.
//! - bytes_read counts each datagram longer than its header, header
//!   included (dropped ones too); bytes_written counts the datagrams sent,
//!   headers included.
//! - A line without its newline at the end of a datagram is dropped with
//!   it: the next datagram starts afresh.
//! - A datagram whose first byte after the header is 0x80 holds binary
//!   requests (proto_bin.rs), whatever `-B` says; any other, text ones.
//! - What would close a TCP connection (an over-long line, `shutdown`, a
//!   failed send) drops the rest of the datagram and the replies queued
//!   for it; `quit` sends the replies before it and drops the rest.
//!
//! Where we differ, on purpose (doc/compatibility.md):
//!
//! - The reply to a datagram is one message: the replies of all its
//!   commands, in order, numbered 0..total, so the payloads put together
//!   are exactly what TCP would have sent (the protocol text's rule).
//!   memcached 1.6 starts a new message, numbered from 0 again, for each
//!   command and for each value of a multi-get, and may send a bare
//!   header with a total of 0 for a command that queued nothing (`quit`).
//!   It also sends a get's or mn's replies at once, so an over-long line
//!   after one of those does not drop them.
//! - A value cut short by the end of its datagram is dropped, without a
//!   reply; memcached reads the following datagrams, headers and all, as
//!   the rest of the value (or as bytes to swallow).
//! - A turn reads datagrams while `-R` lasts; memcached reads one per
//!   wake-up of each of its threads.

use crate::cache::slabs::NONE;
use crate::conn::{release_output, Conn, ConnState, ReadResult, TransmitResult, Transport};
use crate::server::Core;
use crate::sys::{self, PeerAddr};
use std::io;
use std::os::unix::io::RawFd;

/// Bytes of the frame header.
pub const UDP_HEADER_SIZE: usize = 8;
/// Largest datagram sent, header included (memcached's name).
pub const UDP_MAX_PAYLOAD_SIZE: usize = 1400;
/// Reply bytes per datagram.
pub const UDP_DATA_SIZE: usize = UDP_MAX_PAYLOAD_SIZE - UDP_HEADER_SIZE;
/// The receive buffer: more than the largest datagram UDP can carry, so a
/// datagram is never cut.
pub const UDP_READ_BUFFER_SIZE: usize = 65536;

/// The 8-byte header at the start of every datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Chosen by the client, echoed in every datagram of the reply.
    pub request_id: u16,
    /// This datagram's place in its message, from 0.
    pub seq: u16,
    /// Datagrams in the message.
    pub total: u16,
    /// 0 when we send; not checked when we receive (memcached does not).
    pub reserved: u16,
}

impl FrameHeader {
    /// The header's wire form, each field big-endian.
    pub fn encode(&self) -> [u8; UDP_HEADER_SIZE] {
        let mut b = [0u8; UDP_HEADER_SIZE];
        b[0..2].copy_from_slice(&self.request_id.to_be_bytes());
        b[2..4].copy_from_slice(&self.seq.to_be_bytes());
        b[4..6].copy_from_slice(&self.total.to_be_bytes());
        b[6..8].copy_from_slice(&self.reserved.to_be_bytes());
        b
    }

    /// Reads the header at the start of a datagram; None if it is shorter
    /// than a header.
    pub fn decode(b: &[u8]) -> Option<FrameHeader> {
        let f = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        if b.len() < UDP_HEADER_SIZE {
            return None;
        }
        Some(FrameHeader {
            request_id: f(0),
            seq: f(2),
            total: f(4),
            reserved: f(6),
        })
    }
}

/// Datagrams needed for a reply of `len` bytes. The header has 16 bits for
/// the count; a reply beyond 65535 datagrams (91 MB) says 65535, and its
/// sequence numbers wrap, as memcached's do.
pub fn datagram_count(len: usize) -> u16 {
    len.div_ceil(UDP_DATA_SIZE).min(u16::MAX as usize) as u16
}

/// What a UDP connection knows of the request it is answering.
pub struct UdpState {
    /// Who sent it: the reply goes there.
    pub peer: PeerAddr,
    /// Its request id.
    pub request_id: u16,
    /// Datagrams in the reply being sent; 0 until its first datagram goes.
    pub total: u16,
    /// Sequence number of the reply's next datagram.
    pub seq: u16,
}

/// A connection for UDP socket `fd`, with its own receive buffer (not one
/// from the pool: it is always in use).
pub fn new_conn(fd: RawFd, token: usize, now: u32) -> Conn {
    let mut c = Conn::new(fd, token, Transport::Udp, now);
    c.rbuf = vec![0; UDP_READ_BUFFER_SIZE];
    c.udp = Some(Box::new(UdpState {
        peer: PeerAddr::none(),
        request_id: 0,
        total: 0,
        seq: 0,
    }));
    c
}

/// Receives the next request datagram: its payload is left in rbuf (from
/// rcurr, rbytes long) and its sender and request id in the connection.
/// Malformed datagrams are dropped here. Each datagram, good or not, costs
/// one of the turn's `-R` requests (its commands then cost one each), so a
/// flood of datagrams cannot keep the loop from TCP connections.
/// memcached's try_read_udp.
pub(crate) fn try_read(c: &mut Conn, core: &mut Core) -> ReadResult {
    let Some(u) = c.udp.as_deref_mut() else {
        return ReadResult::Error;
    };
    loop {
        if c.nreqs <= 0 {
            // The rest waits for the next turn (epoll is level-triggered).
            return ReadResult::NoDataReceived;
        }
        let n = match sys::recv_from(c.fd, &mut c.rbuf, &mut u.peer) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadResult::NoDataReceived,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A pending error (an ICMP report): reading cleared it, the
                // socket goes on.
                log::debug!("{}: UDP receive error: {}", c.fd, e);
                return ReadResult::NoDataReceived;
            }
        };
        c.nreqs -= 1;
        if n <= UDP_HEADER_SIZE {
            log::trace!("{}: dropped a {}-byte datagram", c.fd, n);
            continue;
        }
        core.stats.bytes_read += n as u64;
        let Some(hdr) = FrameHeader::decode(&c.rbuf[..n]) else {
            continue;
        };
        if hdr.total != 1 {
            log::trace!(
                "{}: dropped a datagram of a {}-datagram request",
                c.fd,
                hdr.total
            );
            continue;
        }
        u.request_id = hdr.request_id;
        u.total = 0;
        c.rcurr = UDP_HEADER_SIZE;
        c.rbytes = n - UDP_HEADER_SIZE;
        // Each datagram picks its protocol by its first byte.
        c.negotiated = false;
        return ReadResult::DataReceived;
    }
}

/// Sends the queued replies to the request's sender as one message, cut
/// into datagrams of UDP_MAX_PAYLOAD_SIZE. A full socket buffer leaves the
/// rest for when the socket is writable again (the sequence number is
/// kept); any other error gives the reply up. memcached's transmit_udp.
pub(crate) fn transmit(c: &mut Conn, core: &mut Core) -> TransmitResult {
    let Some(peer) = c.udp.as_deref().map(|u| u.peer) else {
        return TransmitResult::HardError;
    };
    let mut dgram = [0u8; UDP_MAX_PAYLOAD_SIZE];
    while c.has_output() {
        let Some(u) = c.udp.as_deref_mut() else {
            return TransmitResult::HardError;
        };
        if u.total == 0 {
            u.total = datagram_count(c.out_bytes);
            u.seq = 0;
        }
        let hdr = FrameHeader {
            request_id: u.request_id,
            seq: u.seq,
            total: u.total,
            reserved: 0,
        };
        dgram[..UDP_HEADER_SIZE].copy_from_slice(&hdr.encode());
        let len = c.peek_output(&core.cache, &mut dgram[UDP_HEADER_SIZE..]);
        match sys::send_to(c.fd, &dgram[..UDP_HEADER_SIZE + len], &peer) {
            Ok(n) => {
                core.stats.bytes_written += n as u64;
                c.output_sent(len);
                if let Some(u) = c.udp.as_deref_mut() {
                    u.seq = u.seq.wrapping_add(1);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return TransmitResult::SoftError,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("{}: UDP send error: {}", c.fd, e);
                return TransmitResult::HardError;
            }
        }
    }
    if let Some(u) = c.udp.as_deref_mut() {
        u.total = 0;
    }
    TransmitResult::Complete
}

/// Called when a datagram has been run: whatever is left of it is an
/// incomplete command line, dropped with the datagram.
pub(crate) fn end_datagram(c: &mut Conn) {
    c.rcurr = 0;
    c.rbytes = 0;
}

/// The datagram ended inside a value being read (Nread) or dropped
/// (Swallow): the command is given up without a reply, and the replies of
/// the commands before it are sent.
pub(crate) fn cut_short(c: &mut Conn, core: &mut Core) {
    if c.item != NONE {
        log::debug!("{}: value cut short by the end of its datagram", c.fd);
        core.cache.free_unlinked(c.item);
        c.item = NONE;
    }
    c.rlbytes = 0;
    c.sbytes = 0;
    c.crlf_got = 0;
    if c.has_output() {
        c.write_and_go = ConnState::Waiting;
        c.set_state(ConnState::Mwrite);
    } else {
        c.set_state(ConnState::Waiting);
    }
}

/// Drops the request being answered, its queued replies and any value
/// being read: what closing is for a TCP connection. The socket goes on
/// with the next datagram.
pub(crate) fn drop_request(c: &mut Conn, core: &mut Core) {
    if c.item != NONE {
        core.cache.free_unlinked(c.item);
        c.item = NONE;
    }
    c.rlbytes = 0;
    c.sbytes = 0;
    c.crlf_got = 0;
    release_output(c, core);
    if let Some(u) = c.udp.as_deref_mut() {
        u.total = 0;
    }
    c.write_and_go = ConnState::NewCmd;
    c.set_state(ConnState::Waiting);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use crate::conn;
    use crate::event::{EventLoop, Interest};
    use crate::server::Server;
    use crate::settings::Settings;
    use std::net::UdpSocket;
    use std::os::unix::io::IntoRawFd;
    use std::time::Duration;

    #[test]
    fn frame_header_encodes_big_endian() {
        let h = FrameHeader {
            request_id: 0x1234,
            seq: 1,
            total: 0x0203,
            reserved: 0,
        };
        assert_eq!(h.encode(), [0x12, 0x34, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00]);
        assert_eq!(FrameHeader::decode(&h.encode()), Some(h));
        let odd = [0xff, 0xfe, 0x00, 0x00, 0x00, 0x01, 0xab, 0xcd, b'x'];
        assert_eq!(
            FrameHeader::decode(&odd),
            Some(FrameHeader {
                request_id: 0xfffe,
                seq: 0,
                total: 1,
                reserved: 0xabcd
            })
        );
        assert_eq!(FrameHeader::decode(&odd[..7]), None);
    }

    #[test]
    fn datagram_count_rounds_up_and_saturates() {
        assert_eq!(UDP_DATA_SIZE, 1392);
        assert_eq!(datagram_count(0), 0);
        assert_eq!(datagram_count(1), 1);
        assert_eq!(datagram_count(1392), 1);
        assert_eq!(datagram_count(1393), 2);
        assert_eq!(datagram_count(3 * 1392), 3);
        assert_eq!(datagram_count(65535 * 1392), 65535);
        assert_eq!(datagram_count(65535 * 1392 + 1), 65535);
    }

    /// A server whose only connection is a UDP socket on 127.0.0.1, and a
    /// client socket to talk to it.
    fn server_with_udp(settings: Settings) -> (Server, usize, UdpSocket) {
        let cache = Cache::new(&settings);
        let ev = EventLoop::new().unwrap();
        let dump = crate::dump::DumpState::new(&settings);
        let mut server = Server::new(settings, None, cache, dump, ev, Vec::new(), -1);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let port = sock.local_addr().unwrap().port();
        let fd = sock.into_raw_fd();
        let token = server.conns.insert(new_conn(fd, 0, 1));
        server.conns[token].token = token;
        server
            .core
            .ev
            .add(fd, token as u64, Interest::Read)
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        (server, token, client)
    }

    fn request(rid: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = FrameHeader {
            request_id: rid,
            seq: 0,
            total: 1,
            reserved: 0,
        }
        .encode()
        .to_vec();
        d.extend_from_slice(payload);
        d
    }

    /// Every datagram waiting on the client socket.
    fn datagrams(client: &UdpSocket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = client.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    /// A request and its reply through the real path: recvfrom, the text
    /// commands, framing, sendto.
    #[test]
    fn request_and_reply_bytes() {
        let (mut server, token, client) = server_with_udp(Settings::default());
        client
            .send(&request(0xbeef, b"set foo 5 0 3\r\nbar\r\nget foo\r\n"))
            .unwrap();
        conn::drive_machine(&mut server, token);
        let got = datagrams(&client);
        assert_eq!(
            got,
            vec![
                b"\xbe\xef\x00\x00\x00\x01\x00\x00STORED\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n"
                    .to_vec()
            ]
        );
        assert_eq!(server.core.stats.bytes_read, 8 + 29);
        assert_eq!(server.core.stats.bytes_written, got[0].len() as u64);
        assert_eq!(server.core.stats.curr_conns, 0);
    }

    /// A reply longer than one datagram: 1392 bytes of text per datagram,
    /// each numbered, and together exactly the TCP reply. The value is
    /// large enough to be sent from item memory (pinned), so both kinds of
    /// queued output are cut.
    #[test]
    fn reply_split_into_numbered_datagrams() {
        let (mut server, token, client) = server_with_udp(Settings::default());
        let value: Vec<u8> = (0..3000).map(|i| b'a' + (i % 26) as u8).collect();
        let mut set = b"set k 0 0 3000\r\n".to_vec();
        set.extend_from_slice(&value);
        set.extend_from_slice(b"\r\n");
        client.send(&request(1, &set)).unwrap();
        conn::drive_machine(&mut server, token);
        assert_eq!(datagrams(&client), vec![request(1, b"STORED\r\n")]);

        client.send(&request(2, b"get k k\r\n")).unwrap();
        conn::drive_machine(&mut server, token);
        let got = datagrams(&client);
        let mut tcp = Vec::new();
        for _ in 0..2 {
            tcp.extend_from_slice(b"VALUE k 0 3000\r\n");
            tcp.extend_from_slice(&value);
            tcp.extend_from_slice(b"\r\n");
        }
        tcp.extend_from_slice(b"END\r\n");
        assert_eq!(tcp.len(), 6041);
        let sizes: Vec<usize> = got.iter().map(|d| d.len()).collect();
        assert_eq!(sizes, vec![1400, 1400, 1400, 1400, 8 + 6041 - 4 * 1392]);
        for (i, d) in got.iter().enumerate() {
            assert_eq!(&d[..8], &[0, 2, 0, i as u8, 0, 5, 0, 0], "header {}", i);
        }
        let joined: Vec<u8> = got.iter().flat_map(|d| d[8..].to_vec()).collect();
        assert_eq!(joined, tcp);
        assert!(server.conns[token].pinned.is_empty());
    }

    /// A turn reads datagrams while `-R` lasts, each datagram and each of
    /// its commands costing one, so a busy UDP socket leaves room for the
    /// other connections; epoll (level-triggered) brings it back for the
    /// rest.
    #[test]
    fn a_turn_reads_a_bounded_number_of_datagrams() {
        let settings = Settings {
            reqs_per_event: 4,
            ..Settings::default()
        };
        let (mut server, token, client) = server_with_udp(settings);
        for rid in 1..=5 {
            client.send(&request(rid, b"mn\r\n")).unwrap();
        }
        let mut per_turn = Vec::new();
        for _ in 0..4 {
            conn::drive_machine(&mut server, token);
            per_turn.push(datagrams(&client).len());
        }
        assert_eq!(per_turn, vec![2, 2, 1, 0]);
        assert!(server.core.ready.is_empty());
    }

    /// When `-R` runs out in the middle of a datagram, the connection
    /// yields, and the replies still leave as one message at its end.
    #[test]
    fn a_datagram_cut_by_reqs_per_event_is_one_reply() {
        let settings = Settings {
            reqs_per_event: 2,
            ..Settings::default()
        };
        let (mut server, token, client) = server_with_udp(settings);
        client
            .send(&request(9, b"mn\r\nget a\r\nmn\r\nmn\r\n"))
            .unwrap();
        conn::drive_machine(&mut server, token);
        assert_eq!(server.core.ready, vec![token]);
        assert!(datagrams(&client).is_empty());
        let mut turns = 1;
        while !server.core.ready.is_empty() {
            server.core.ready.clear();
            conn::drive_machine(&mut server, token);
            turns += 1;
        }
        assert_eq!(turns, 3);
        assert_eq!(
            datagrams(&client),
            vec![request(9, b"MN\r\nEND\r\nMN\r\nMN\r\n")]
        );
    }

    /// Malformed datagrams get no reply, and the next good one is answered.
    #[test]
    fn malformed_datagrams_are_dropped() {
        let (mut server, token, client) = server_with_udp(Settings::default());
        let mut two = request(3, b"version\r\n");
        two[5] = 2;
        client.send(&two).unwrap();
        client.send(&[0, 4, 0, 0, 0, 1, 0]).unwrap();
        client.send(&request(5, b"")).unwrap();
        client.send(&request(6, b"set x 0 0 10\r\nabc")).unwrap();
        client.send(&request(7, b"get x\r\n")).unwrap();
        conn::drive_machine(&mut server, token);
        assert_eq!(datagrams(&client), vec![request(7, b"END\r\n")]);
        // Only the datagrams with a payload count as read.
        assert_eq!(
            server.core.stats.bytes_read,
            (8 + 9) + (8 + 17) + (8 + 7) as u64
        );
    }
}
