#!/usr/bin/perl
# The memory connections hold for reading and for replies: the numbers
# `stats` shows for it (response_obj_*, read_buf_*), and what
# `-o read_buf_mem_limit` does when it is reached (doc/options.md,
# doc/compatibility.md). t/memcached-1.6.45.t checks what a client sees
# against memcached 1.6.45; the numbers here are this server's, whose
# buffers are not memcached's (src/bufpool.rs).
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time usleep);
use lib 't/lib';
use MemcachedTest;

plan skip_all => "the buffer numbers are this server's" unless is_ours();

$SIG{PIPE} = 'IGNORE';
# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 120 s\n" };
alarm 120;

my $RBUF = 16384;            # a read buffer
my $REPLY = 4096 + 32 * 28;  # a new reply buffer: 4 KB of bytes, 32 pieces (24 bytes) and pins (4)
my $MB = 1024 * 1024;

my $FIONREAD = 0x541B;    # Linux: bytes waiting in a socket's receive queue

sub pending_bytes {
    my $sock = shift;
    my $n = pack('i', 0);
    ioctl($sock, $FIONREAD, $n) or return -1;
    return unpack('i', $n);
}

# Sends a request and returns everything before the VERSION line that a
# "version" sent after it brings: exactly the request's reply.
sub reply_to {
    my ($sock, $req) = @_;
    print $sock $req . "version\r\n";
    my $out = '';
    while (defined(my $line = <$sock>)) {
        last if $line =~ /^VERSION /;
        $out .= $line;
    }
    return $out;
}

# The connection-buffer lines of `stats`.
my @NAMES = qw(response_obj_oom response_obj_count response_obj_bytes
               read_buf_count read_buf_bytes read_buf_bytes_free read_buf_oom);

sub buffers {
    my $st = stats_of(shift);
    return { map { $_ => $st->{$_} } @NAMES, 'curr_connections' };
}

# Bytes of read buffers held by connections, from the lines of `stats`:
# what is neither free nor a reply buffer.
sub rbuf_bytes_held {
    my $b = shift;
    return $b->{read_buf_bytes} - $b->{read_buf_bytes_free} - $b->{response_obj_bytes};
}

# A connection that ran a command and left an unfinished one after it: it
# holds a read buffer (and nothing else once its reply is written).
sub holder {
    my $server = shift;
    my $c = $server->new_sock or return undef;
    print $c "version\r\nget a";
    my $line = <$c> // '';
    return $line =~ /^VERSION / ? $c : undef;
}

# True when the peer closed `$s` without sending a byte (an end of file or
# a reset), within 10 seconds.
sub closed_silently {
    my $s = shift;
    return 0 unless IO::Select->new($s)->can_read(10);
    my $n = sysread($s, my $buf, 4096);
    return !$n;
}

# Everything the peer sends until it closes (10 seconds at most).
sub read_to_close {
    my $s = shift;
    my $sel = IO::Select->new($s);
    my $all = '';
    while ($sel->can_read(10)) {
        my $n = sysread($s, $all, 65536, length $all);
        last unless $n;
    }
    return $all;
}

# A connection that asks for many replies of a 100 KB value and reads
# none: the server stops when the socket is full and holds what it queued.
sub stuck_reader {
    my $server = shift;
    my $c = $server->new_sock;
    # 13500 bytes: the commands fit one read buffer.
    print $c "get big\r\n" x 1500;
    my $deadline = time + 10;
    usleep(20_000) while pending_bytes($c) < 65536 && time < $deadline;
    return $c;
}

my $big = 'b' x (100 * 1024);

# ---- without a limit ----

{
    my $server = new_memcached();
    my $s = $server->sock;
    is_deeply(buffers($s), {
        response_obj_oom => 0, response_obj_count => 1, response_obj_bytes => $REPLY,
        read_buf_count => 2, read_buf_bytes => $RBUF + $REPLY, read_buf_bytes_free => 0,
        read_buf_oom => 0, curr_connections => 1,
    }, 'fresh server: the stats command holds one read buffer and one reply buffer');
    is(send_recv($s, "set big 0 0 " . length($big) . "\r\n$big\r\n"), "STORED\r\n", 'stored a 100 KB value');

    my $slow = stuck_reader($server);
    cmp_ok(pending_bytes($slow), '>=', 65536, 'a reader that never reads is backed up');
    my $b = buffers($s);
    is(rbuf_bytes_held($b), 2 * $RBUF, 'backed up: two read buffers held, its own and the stats one');
    cmp_ok($b->{response_obj_count}, '>=', 2, 'backed up: its replies count, with the stats one');
    cmp_ok($b->{response_obj_bytes}, '>=', 2 * $REPLY, 'backed up: it holds a reply buffer');
    cmp_ok($b->{read_buf_count}, '>=', 4, 'backed up: read_buf_count counts both connections\' buffers');
    close $slow;
    $b = wait_stat($s, 'response_obj_count', '1');
    is($b->{response_obj_count}, 1, 'once it is gone: only the stats reply counts');
    is(rbuf_bytes_held($b), $RBUF, 'once it is gone: one read buffer held');
    cmp_ok($b->{read_buf_bytes_free}, '>=', $RBUF, 'its buffers are kept free for others');
    is($b->{read_buf_bytes}, $b->{read_buf_bytes_free} + $b->{response_obj_bytes} + $RBUF,
       'read_buf_bytes: held and free together');
}

# ---- with -o read_buf_mem_limit=1 ----

my $server = new_memcached('-o read_buf_mem_limit=1');
{
    my $s = $server->sock;
    is(stats_of($s, 'settings')->{read_buf_mem_limit}, $MB, 'read_buf_mem_limit: shown in bytes');
    is(send_recv($s, "set big 0 0 " . length($big) . "\r\n$big\r\n"), "STORED\r\n", 'stored a 100 KB value');
    is(send_recv($s, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'stored a');
    close $s;
}

# 62 connections holding a read buffer each.
my @held;
for (1 .. 62) {
    my $c = holder($server) or last;
    push @held, $c;
}
is(scalar @held, 62, '62 connections hold a read buffer each');

# A read buffer refused: with a backed-up reader holding one and its
# reply buffer, a 16 KB buffer no longer fits in 1 MB.
{
    my $slow = stuck_reader($server);
    cmp_ok(pending_bytes($slow), '>=', 65536, 'a reader that never reads is backed up');
    my $x = $server->new_sock;
    print $x "version\r\n";
    ok(closed_silently($x), 'no read buffer left: a new connection is closed without a reply');
    my $h = shift @held;
    print $h "\r\n";
    is(read_until_end($h), "VALUE a 0 1\r\nA\r\nEND\r\n",
       'a connection that holds its read buffer finishes its command');
    my $b = buffers($h);
    is($b->{read_buf_oom}, 1, 'read_buf_oom counts the refused read buffer');
    is($b->{response_obj_oom}, 0, 'response_obj_oom: no reply was refused');
    cmp_ok($b->{read_buf_bytes}, '<=', $MB, 'read_buf_bytes stays within the limit');
    my $conns = $b->{curr_connections};
    close $slow;
    $b = wait_stat($h, 'curr_connections', $conns - 1);
    is($b->{curr_connections}, $conns - 1, 'the backed-up reader is gone');
    close $h;
}

# Replies refused: 63 connections hold 63 read buffers; a 64th fits, but
# then its reply does not.
for (1 .. 2) {
    my $c = holder($server) or last;
    push @held, $c;
}
is(scalar @held, 63, '63 connections hold a read buffer each');
{
    my $x = $server->new_sock;
    print $x "version\r\n";
    ok(closed_silently($x), 'no room for a reply: the command\'s connection is closed without one');
    # The binary protocol's version request.
    my $bin = $server->new_sock;
    print $bin pack('CCnCCnNNNN', 0x80, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0);
    ok(closed_silently($bin), 'no room for a reply: a binary request\'s connection too');
    my $h = shift @held;
    print $h "\r\n";
    is(read_until_end($h), "VALUE a 0 1\r\nA\r\nEND\r\n",
       'a connection that holds its read buffer finishes its command');
    # 62 held buffers, the one this connection takes and its reply buffer
    # leave less than 11 KB: the 513th reply of a byte (16 bytes each) does
    # not fit in the reply buffer once it has grown twice.
    is(reply_to($h, 'get' . ' a' x 600 . "\r\n"),
       "SERVER_ERROR out of memory writing get response\r\n",
       'a multi-get past the limit: only the error line');
    is(reply_to($h, "get a\r\nget" . ' a' x 600 . "\r\nget a\r\n"),
       "VALUE a 0 1\r\nA\r\nEND\r\n"
       . "SERVER_ERROR out of memory writing get response\r\n"
       . "VALUE a 0 1\r\nA\r\nEND\r\n",
       'pipelined: the replies before and after the refused multi-get are kept');
    is(reply_to($h, 'get' . ' a' x 400 . "\r\n"),
       "VALUE a 0 1\r\nA\r\n" x 400 . "END\r\n", 'a multi-get that fits is served');
    my $b = buffers($h);
    is($b->{response_obj_oom}, 4, 'response_obj_oom: two connections and two multi-gets refused');
    is($b->{read_buf_oom}, 1, 'read_buf_oom unchanged');
    cmp_ok($b->{read_buf_bytes}, '<=', $MB + 16 * 1024, 'read_buf_bytes: within the limit and one reply');
    is(rbuf_bytes_held($b), 63 * $RBUF, 'read buffers held: 62 and this connection\'s');
    is($b->{response_obj_count}, 1, 'response_obj_count: the stats reply');
    close $h;
}

# A read buffer that cannot grow for a long get line: with 61 buffers
# held, one connection's buffer can double once (32 KB), not twice.
{
    my $h = shift @held;
    print $h "\r\n";
    is(read_until_end($h), "VALUE a 0 1\r\nA\r\nEND\r\n", 'one more connection lets its buffer go');
    my $y = $server->new_sock;
    print $y 'get' . ' k' x 20000 . "\r\n";
    is(read_to_close($y), "SERVER_ERROR out of memory reading request\r\n",
       'a line longer than the buffer may grow to: the error, then the connection closes');
    my $b = buffers($h);
    is($b->{read_buf_oom}, 2, 'read_buf_oom counts the buffer that could not grow');
    is($b->{response_obj_oom}, 4, 'response_obj_oom unchanged');
    is(reply_to($h, "stats reset\r\n"), "RESET\r\n", 'stats reset');
    $b = buffers($h);
    is($b->{read_buf_oom}, 0, 'stats reset clears read_buf_oom');
    is($b->{response_obj_oom}, 0, 'stats reset clears response_obj_oom');
    is($b->{response_obj_count}, 1, 'stats reset keeps response_obj_count (a gauge)');
    is(rbuf_bytes_held($b), 62 * $RBUF, 'stats reset keeps the bytes held (61 buffers and this one)');
    push @held, $h;
}

# Everyone gone: the buffers come back.
{
    my $h = pop @held;
    my $conns = buffers($h)->{curr_connections};
    close $_ for @held;
    my $b = wait_stat($h, 'curr_connections', $conns - @held);
    is($b->{curr_connections}, 1, 'every other connection is gone');
    is(rbuf_bytes_held($b), $RBUF, 'one read buffer held, the stats one');
    is($b->{response_obj_count}, 1, 'one reply counted, the stats one');
    cmp_ok($b->{read_buf_bytes}, '<=', $MB, 'free buffers kept within the limit');
    my $fresh = $server->new_sock;
    is(reply_to($fresh, "get a a\r\n"), "VALUE a 0 1\r\nA\r\n" x 2 . "END\r\n",
       'a new connection is served again');
}

done_testing();
