#!/usr/bin/perl
# A client that pipelines many large gets and does not read the replies
# fills its socket; the server must stop writing to it without stopping
# everyone else, and must pick up where it left off once the client reads.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time usleep);
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';

my $FIONREAD = 0x541B;    # Linux: bytes waiting in a socket's receive queue

sub pending_bytes {
    my $sock = shift;
    my $n = pack('i', 0);
    ioctl($sock, $FIONREAD, $n) or return -1;
    return unpack('i', $n);
}

# One reply line with a deadline: the line, 'EOF', or 'TIMEOUT'.
sub line_within {
    my ($sock, $secs) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $secs;
    while ($buf !~ /\n/) {
        my $left = $deadline - time;
        return 'TIMEOUT' if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 1, length $buf);
        return 'EOF' unless $n;
    }
    return $buf;
}

# Sends a pipeline of gets for the big value on a fresh connection and waits
# until the server's replies have backed up into it (64 KiB waiting unread;
# the kernel's receive buffer holds about 128 KiB by default), so the server
# is known to have been writing to it.
sub stuck_client {
    my ($server, $count) = @_;
    my $sock = $server->new_sock;
    print $sock "get big\r\n" x $count;
    my $deadline = time + 10;
    usleep(20_000) while pending_bytes($sock) < 65536 && time < $deadline;
    return $sock;
}

my $server = new_memcached();
my $other = $server->sock;
my $value = join('', map { chr(ord('a') + $_ % 26) } 0 .. 100 * 1024 - 1);
my $len = length $value;
is(send_recv($other, "set big 0 0 $len\r\n$value\r\n"), "STORED\r\n", 'stored a 100 KiB value');
my $reply = "VALUE big 0 $len\r\n$value\r\nEND\r\n";

# A client that never reads.
{
    my $slow = stuck_client($server, 2000);
    cmp_ok(pending_bytes($slow), '>=', 65536, 'never-reading client: replies back up into it');
    print $other "version\r\n";
    like(line_within($other, 10), qr/^VERSION \S+\r\n\z/,
         'never-reading client: another connection is served');
    my $third = $server->new_sock;
    is($third ? send_recv($third, "set small 0 0 2\r\nok\r\n") : 'no connection', "STORED\r\n",
       'never-reading client: a new connection is served');
    mem_get_is($third, 'big', $value, 'never-reading client: others still get the big value');
    close $slow;
    is($server->is_running, 1, 'after the never-reading client closes: server running');
    mem_get_is($other, 'small', 'ok', 'after the never-reading client closes: still served');
}

# A client that reads only after the server has backed up: every reply
# arrives, complete and in order.
{
    my $count = 500;
    my $late = stuck_client($server, $count);
    print $other "version\r\n";
    like(line_within($other, 10), qr/^VERSION \S+\r\n\z/,
         'late reader: another connection is served while it is backed up');
    my $expect_total = $count * length $reply;
    my $period = $reply x 2;
    my ($got, $mismatch_at) = (0, undef);
    my $sel = IO::Select->new($late);
    while ($got < $expect_total) {
        last unless $sel->can_read(10);
        my $n = sysread($late, my $buf, 65536);
        last unless $n;
        my $want = substr($period, $got % length($reply), $n);
        $mismatch_at //= $got if $buf ne $want;
        $got += $n;
    }
    is($got, $expect_total, "late reader: all $count replies arrive ($expect_total bytes)");
    is($mismatch_at, undef, 'late reader: every reply is the full value, in order');
    like(send_recv($late, "version\r\n"), qr/^VERSION \S+\r\n\z/, 'late reader: connection still usable');
}

done_testing();
