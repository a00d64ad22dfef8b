#!/usr/bin/perl
# UDP (-U): every datagram starts with an 8-byte frame header (request id,
# sequence number, total datagrams, reserved; 16-bit big-endian each); a
# request is one datagram; a reply is cut into datagrams of at most 1400
# bytes (1392 of text) that echo the request id; malformed datagrams are
# dropped without a word; counters count UDP bytes with their headers.
#
# Checked against memcached 1.6.18 started with -t 1, so that one thread
# serves the UDP socket and the TCP `stats` reads counters after it is done.
# Lines under is_ours() are where we differ on purpose (doc/compatibility.md):
# the reply to a datagram is one message, where memcached starts a new one
# for every command and every value of a multi-get.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached('-t 1 -l 127.0.0.1', udp => 1);
my $tcp = $server->sock;
my $udp = $server->new_udp_sock or die "no UDP socket: $!";
# Room for a reply of many datagrams while the test is not reading.
setsockopt($udp, SOL_SOCKET, SO_RCVBUF, 4 * 1024 * 1024);

# A datagram: the frame header, then the payload.
sub frame {
    my ($rid, $payload, %h) = @_;
    return pack('nnnn', $rid, $h{seq} // 0, $h{total} // 1, $h{reserved} // 0) . $payload;
}

# The next datagram from the server, or undef after `timeout` seconds.
sub recv_dgram {
    my ($timeout) = @_;
    return undef unless IO::Select->new($udp)->can_read($timeout // 10);
    my $buf;
    return defined($udp->recv($buf, 65536)) ? $buf : undef;
}

# One reply message: the first datagram says how many belong to it.
sub recv_message {
    my $first = recv_dgram() // return ();
    my $total = (unpack('nnn', $first))[2];
    my @d = ($first);
    while (@d < $total) {
        push @d, recv_dgram() // last;
    }
    return @d;
}

# Datagrams until their payloads, put together, end with `term`.
sub recv_until {
    my ($term) = @_;
    my @d;
    while (defined(my $d = recv_dgram())) {
        push @d, $d;
        last if substr(join('', map { substr($_, 8) } @d), -length($term)) eq $term;
    }
    return @d;
}

sub headers  { join(' | ', map { join(' ', unpack('nnnn', $_)) } @_) }
sub payloads { join('', map { substr($_, 8) } @_) }

# Sends a request and expects exactly one datagram back: header
# (rid, 0, 1, 0) and the given payload.
sub udp_is {
    my ($rid, $request, $payload, $msg) = @_;
    $udp->send(frame($rid, $request));
    is(recv_dgram(), frame($rid, $payload), $msg);
}

sub stats_hash {
    print $tcp "stats\r\n";
    my $raw = read_until_end($tcp);
    my %s = $raw =~ /^STAT (\S+) (\S+)\r$/mg;
    return (\%s, length $raw);
}

# ---- single-datagram round trips ----

$udp->send(frame(0x1234, "set foo 5 0 3\r\nbar\r\n"));
my $d = recv_dgram();
ok(defined $d, 'set over UDP: a reply comes back');
my ($rid, $seq, $total, $reserved) = unpack('nnnn', $d // '');
is($rid, 0x1234, 'set: the request id is echoed');
is($seq, 0, 'set: sequence number 0');
is($total, 1, 'set: total 1');
is($reserved, 0, 'set: reserved 0');
is(length($d // ''), 8 + 8, 'set: 8-byte header and 8 bytes of text');
is(substr($d // '', 8), "STORED\r\n", 'set: STORED');

udp_is(2, "get foo\r\n", "VALUE foo 5 3\r\nbar\r\nEND\r\n", 'get hit');
udp_is(3, "gets foo\r\n", "VALUE foo 5 3 " . mg_cas($tcp, 'foo') . "\r\nbar\r\nEND\r\n", 'gets hit shows the CAS');
udp_is(4, "get nope\r\n", "END\r\n", 'get miss');
udp_is(5, "delete foo\r\n", "DELETED\r\n", 'delete');
udp_is(6, "delete foo\r\n", "NOT_FOUND\r\n", 'delete of a miss');
is(send_recv($tcp, "set n 0 0 2\r\n41\r\n"), "STORED\r\n", 'set n over TCP');
udp_is(7, "incr n 1\r\n", "42\r\n", 'incr');
udp_is(8, "decr n 40\r\n", "2\r\n", 'decr');
mem_get_is($tcp, 'n', '2 ', 'TCP sees what UDP changed');
udp_is(9, "mn\r\n", "MN\r\n", 'meta no-op');
udp_is(10, "ms m 2 T0\r\nhi\r\n", "HD\r\n", 'ms');
udp_is(11, "mg m v k\r\n", "VA 2 km\r\nhi\r\n", 'mg');
udp_is(12, "bogus\r\n", "ERROR\r\n", 'unknown command: ERROR');
udp_is(13, "\n", "CLIENT_ERROR bad command line format\r\n", 'empty line: CLIENT_ERROR (1.6.45)');

# ---- the request header ----

for my $id (0, 1, 0x8000, 0xffff) {
    udp_is($id, "get nope\r\n", "END\r\n", "request id $id echoed");
}
$udp->send(frame(20, "get nope\r\n", seq => 5));
is(recv_dgram(), frame(20, "END\r\n"), 'a request with sequence number 5 is answered from 0');
$udp->send(frame(21, "get nope\r\n", reserved => 0xabcd));
is(recv_dgram(), frame(21, "END\r\n"), 'non-zero reserved bytes in a request are ignored');

# ---- malformed datagrams: dropped, and the next one is answered ----

$udp->send(frame(30, "get nope\r\n", total => 2));
udp_is(31, "get nope\r\n", "END\r\n", 'a request saying it has 2 datagrams is dropped');
$udp->send(frame(32, "get nope\r\n", total => 0));
udp_is(33, "get nope\r\n", "END\r\n", 'a request saying it has 0 datagrams is dropped');
$udp->send(frame(34, "get nope\r\n", seq => 1, total => 2));
udp_is(35, "get nope\r\n", "END\r\n", 'the second datagram of a 2-datagram request is dropped');
$udp->send(pack('nnn', 36, 0, 1) . "\0");
udp_is(37, "get nope\r\n", "END\r\n", 'a 7-byte datagram is dropped');
$udp->send(frame(38, ''));
udp_is(39, "get nope\r\n", "END\r\n", 'a header with no payload is dropped');
$udp->send(frame(40, "get nope"));
udp_is(41, "get nope\r\n", "END\r\n", 'a line without its newline gets no reply');

# ---- what is left at the end of a datagram ----

udp_is(50, "get nope\r\nget", "END\r\n", 'a datagram ending in half a line: the whole lines are answered');
udp_is(51, " foo\r\n", "ERROR\r\n", 'the half line is not joined to the next datagram');
# (memcached sends the replies queued before it after a get or mn, which
# it flushes at once; after other commands, as here, they are dropped too.)
$udp->send(frame(52, "delete nope\r\n" . ('x' x 3000)));
udp_is(53, "get nope\r\n", "END\r\n",
       'a line over 2048 bytes without a newline drops the datagram and its replies');
udp_is(54, ('x' x 3000) . "\r\nget nope\r\n", "ERROR\r\nEND\r\n",
       'a long line with its newline is a command (ERROR)') if is_ours();

# ---- noreply and quit ----

$udp->send(frame(60, "set q 0 0 1 noreply\r\nQ\r\n"));
udp_is(61, "get q\r\n", "VALUE q 0 1\r\nQ\r\nEND\r\n", 'noreply: no datagram, the value is stored');
$udp->send(frame(62, "delete nope\r\nquit\r\nget q\r\n"));
is(recv_dgram(), frame(62, "NOT_FOUND\r\n"), 'quit: the replies before it are sent, the commands after it dropped');
udp_is(63, "get nope\r\n", "END\r\n", 'quit does not close the UDP socket');
$udp->send(frame(64, "quit\r\n"));
if (is_ours()) {
    udp_is(65, "get nope\r\n", "END\r\n", 'quit alone: nothing is sent');
} else {
    is(recv_dgram(), pack('nnnn', 64, 0, 0, 0), 'memcached: quit alone sends a bare header with total 0');
}

# ---- replies longer than one datagram ----

my $big = join('', map { chr(ord('a') + $_ % 26) } 0 .. 2999);
is(send_recv($tcp, "set big 0 0 3000\r\n$big\r\n"), "STORED\r\n", 'set a 3000-byte value over TCP');
print $tcp "get big\r\n";
my $tcp_big = read_until_end($tcp);
$udp->send(frame(70, "get big\r\n"));
my @m = recv_message();
is(scalar @m, 3, 'get of 3000 bytes: 3 datagrams');
is(headers(@m), '70 0 3 0 | 70 1 3 0 | 70 2 3 0', 'get of 3000 bytes: request id, sequence 0..2, total 3');
is(join(' ', map { length } @m), '1400 1400 ' . (8 + length($tcp_big) - 2 * 1392),
   'get of 3000 bytes: 1400-byte datagrams, header included, then the rest');
is(payloads(@m), $tcp_big, 'get of 3000 bytes: the payloads make the TCP reply');

my $huge = 'h' x 70000;
is(send_recv($tcp, "set huge 0 0 70000\r\n$huge\r\n"), "STORED\r\n", 'set a 70000-byte value over TCP');
$udp->send(frame(71, "get huge\r\n"));
@m = recv_message();
is(scalar @m, 51, 'get of 70000 bytes: 51 datagrams');
is(scalar(grep { my @h = unpack('nnnn', $m[$_]); "@h" eq "71 $_ 51 0" } 0 .. $#m), 51,
   'get of 70000 bytes: every header numbered in order');
is(payloads(@m), "VALUE huge 0 70000\r\n$huge\r\nEND\r\n", 'get of 70000 bytes: the payloads make the TCP reply');

# A value that fits a datagram can be set over UDP.
my $mid = 'm' x 20000;
udp_is(72, "set mid 0 0 20000\r\n$mid\r\n", "STORED\r\n", 'set of a 20000-byte value in one datagram');
mem_get_is($tcp, 'mid', $mid, 'the 20000-byte value reads back over TCP');

# Several values, 1850 bytes in all.
for my $k (qw(a b c)) {
    is(send_recv($tcp, "set $k 0 0 600\r\n" . ($k x 600) . "\r\n"), "STORED\r\n", "set $k (600 bytes)");
}
print $tcp "get a nope b c\r\n";
my $tcp_abc = read_until_end($tcp);
$udp->send(frame(73, "get a nope b c\r\n"));
if (is_ours()) {
    @m = recv_message();
    is(headers(@m), '73 0 2 0 | 73 1 2 0', 'multi-get: one message of 2 datagrams');
    is(length $m[0], 1400, 'multi-get: the first datagram is full');
} else {
    @m = recv_until("END\r\n");
    is(headers(@m), '73 0 1 0 | 73 0 1 0 | 73 0 1 0',
       'memcached: multi-get: one message per value, each numbered from 0');
}
is(payloads(@m), $tcp_abc, 'multi-get: the payloads, in order, make the TCP reply');

# Several commands in one datagram.
$udp->send(frame(74, "set n 0 0 1\r\n5\r\nincr n 3\r\nget n\r\n"));
my $want = "STORED\r\n8\r\nVALUE n 0 1\r\n8\r\nEND\r\n";
if (is_ours()) {
    @m = recv_message();
    is(headers(@m), '74 0 1 0', 'three commands in a datagram: one reply message');
} else {
    @m = recv_until("END\r\n");
    is(headers(@m), '74 0 1 0 | 74 0 1 0 | 74 0 1 0', 'memcached: three commands, three messages');
}
is(payloads(@m), $want, 'three commands in a datagram: their replies in order');

# ---- what we do where memcached goes astray ----

if (is_ours()) {
    udp_is(80, "get nope\r\nset cut 0 0 10\r\nabc", "END\r\n",
           'a value cut short by its datagram: dropped, the replies before it sent');
    udp_is(81, "get cut\r\n", "END\r\n", 'the cut value was not stored, the next datagram is a request');
    udp_is(82, "set toobig 0 0 2000000\r\nabc\r\n", "SERVER_ERROR object too large for cache\r\n",
           'a value too large: refused, and the swallowing ends with the datagram');
    udp_is(83, "get nope\r\n", "END\r\n", 'the next datagram is a request');
}

# A datagram whose request starts with 0x80 is in the binary protocol
# (t/binary-protocol.t has more): a noop, and its reply.
udp_is(84, pack('CCnCCnNNNN', 0x80, 0x0a, 0, 0, 0, 0, 0, 7, 0, 0),
       pack('CCnCCnNNNN', 0x81, 0x0a, 0, 0, 0, 0, 0, 7, 0, 0),
       'a binary protocol datagram is answered in the binary protocol');
udp_is(85, "get nope\r\n", "END\r\n", 'the next datagram picks its protocol again');

# ---- counters ----

my ($s1, $len1) = stats_hash();
my $req = frame(90, "get a\r\n");
$udp->send($req);
my $reply = recv_dgram();
my ($s2, $len2) = stats_hash();
is($s2->{bytes_read} - $s1->{bytes_read}, length($req) + length("stats\r\n"),
   'bytes_read counts the datagram, header included');
is($s2->{bytes_written} - $s1->{bytes_written}, length($reply) + $len1,
   'bytes_written counts the reply datagram, header included');
is($s2->{cmd_get} - $s1->{cmd_get}, 1, 'cmd_get counts a UDP get');
is($s2->{get_hits} - $s1->{get_hits}, 1, 'get_hits counts a UDP hit');

$udp->send(frame(91, "get a\r\n", total => 2));
$udp->send(pack('nnn', 92, 0, 1));
$udp->send(frame(93, ''));
udp_is(94, "get nope\r\n", "END\r\n", 'a good request after three dropped ones');
my ($s3) = stats_hash();
is($s3->{bytes_read} - $s2->{bytes_read},
   length(frame(91, "get a\r\n")) + length(frame(94, "get nope\r\n")) + length("stats\r\n"),
   'bytes_read: a dropped datagram counts if it has a payload');
is($s3->{cmd_get} - $s2->{cmd_get}, 1, 'cmd_get: dropped requests are not run');

if (is_ours()) {
    is($s3->{curr_connections}, 1, 'curr_connections counts the TCP client, not the UDP socket');
} else {
    is($s3->{curr_connections}, 2,
       'memcached: curr_connections counts the TCP listener and the UDP socket, less one');
}

print $tcp "stats settings\r\n";
my %settings = read_until_end($tcp) =~ /^STAT (\S+) (\S+)\r$/mg;
is($settings{udpport}, $server->udpport, 'stats settings shows udpport');

# TCP is served as before.
mem_get_is($tcp, 'foo', undef, 'TCP still answers');

# stats conns shows the UDP socket as memcached does: a connection that is
# always reading, named by its own address.
{
    print $tcp "stats conns\r\n";
    my $text = read_until_end($tcp);
    my $port = $server->udpport;
    my @udp = $text =~ /^STAT (\d+):UDP UDP\r\n/mg;
    is(scalar @udp, 1, 'stats conns: one UDP block (-t 1)');
    like($text, qr/^STAT $udp[0]:UDP UDP\r\nSTAT $udp[0]:addr udp:127\.0\.0\.1:$port\r\n(?#
                   )STAT $udp[0]:state conn_read\r\nSTAT $udp[0]:secs_since_last_cmd \d+\r\n/m,
         'stats conns: the UDP block, its address and conn_read');
}

done_testing();
