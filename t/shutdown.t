#!/usr/bin/perl
# Ways the server stops, and one way it must not: the `shutdown` command
# (refused unless -A), SIGTERM and SIGINT (clean exit, status 0), and a
# client that hangs up in the middle of a large reply (EPIPE on write must
# not raise a fatal SIGPIPE).
use strict;
use warnings;
use Test::More;
use IO::Select;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time usleep);
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';

# Reads until the peer closes, with a deadline. Returns the bytes read, or
# the bytes followed by "(still open)" if the connection outlived the
# deadline.
sub read_to_close {
    my ($sock, $secs) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $secs;
    while (1) {
        my $left = $deadline - time;
        return "$buf(still open)" if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 4096, length $buf);
        return $buf unless $n;
    }
}

sub exit_status_text {
    my $st = shift;
    return 'still running' unless defined $st;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit ' . ($st >> 8);
}

# Without -A the command is refused and nothing else happens.
{
    my $server = new_memcached();
    my $sock = $server->sock;
    is(send_recv($sock, "shutdown\r\n"), "SERVER_ERROR: shutdown not enabled\r\n",
       'shutdown without -A: refused');
    is(send_recv($sock, "shutdown graceful\r\n"), "SERVER_ERROR: shutdown not enabled\r\n",
       'shutdown graceful without -A: refused');
    like(send_recv($sock, "version\r\n"), qr/^VERSION \S+\r\n\z/,
         'shutdown without -A: connection still served');
    is($server->is_running, 1, 'shutdown without -A: server still running');
}

# With -A: the connection is closed without a reply and the process exits 0.
for my $cmd ('shutdown', 'shutdown graceful') {
    my $server = new_memcached('-A');
    my $other = $server->new_sock;
    my $sock = $server->sock;
    print $sock "$cmd\r\n";
    is(read_to_close($sock, 10), '', "$cmd with -A: connection closed, no reply");
    is(exit_status_text($server->wait_exit(10)), 'exit 0', "$cmd with -A: process exits 0");
    is(read_to_close($other, 10), '', "$cmd with -A: other clients are disconnected too");
}

# With -A, an unknown mode is a client error and the server stays up.
{
    my $server = new_memcached('-A');
    my $sock = $server->sock;
    is(send_recv($sock, "shutdown now\r\n"), "CLIENT_ERROR invalid shutdown mode\r\n",
       'shutdown <bad mode> with -A: client error');
    like(send_recv($sock, "version\r\n"), qr/^VERSION \S+\r\n\z/,
         'shutdown <bad mode> with -A: connection still served');
}

# SIGTERM and SIGINT: exit status 0, with a client connected, and nothing
# on stdout (memcached 1.6.18 prints no "Signal handled" line there).
for my $sig ('TERM', 'INT') {
    my $stdout = "/tmp/mctest.$$.stdout";
    unlink $stdout;
    my $server = new_memcached('', stdout => $stdout);
    my $sock = $server->sock;
    is(send_recv($sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n", "SIG$sig: server up");
    kill $sig, $server->pid;
    is(exit_status_text($server->wait_exit(10)), 'exit 0', "SIG$sig: process exits 0");
    is(-e $stdout ? -s $stdout || 0 : 'no stdout file', 0, "SIG$sig: nothing on stdout");
    unlink $stdout;
}

# Clients that ask for megabytes and hang up before reading. The server's
# writes then fail with EPIPE (FIN first, then the RST our close provokes),
# or ECONNRESET (a close with SO_LINGER 0 sends RST at once); neither may
# kill it.
{
    my $server = new_memcached();
    my $probe = $server->sock;
    my $value = 'x' x (100 * 1024);
    is(send_recv($probe, "set big 0 0 " . length($value) . "\r\n$value\r\n"), "STORED\r\n",
       'SIGPIPE: stored a 100 KiB value');
    my $baseline = do {
        print $probe "stats\r\n";
        read_until_end($probe) =~ /^STAT curr_connections (\d+)\r\n/m ? $1 : -1;
    };
    my $request = 'get' . (' big' x 100) . "\r\n";
    for my $i (1 .. 10) {
        my $sock = $server->new_sock or next;
        print $sock $request;
        # Every other one resets instead of closing politely.
        setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if $i % 2;
        close $sock;
    }
    # Wait until the server has dealt with all ten (they are gone from
    # curr_connections) before judging it.
    my $curr = -1;
    my $deadline = time + 10;
    while (time < $deadline) {
        print $probe "stats\r\n";
        my $stats = read_until_end($probe);
        $curr = $stats =~ /^STAT curr_connections (\d+)\r\n/m ? $1 : -1;
        last if $curr == $baseline;
        usleep(50_000);
    }
    is($curr, $baseline, 'SIGPIPE: abandoned connections all closed by the server');
    is($server->is_running, 1, 'SIGPIPE: server still running');
    my $fresh = $server->new_sock;
    is($fresh ? send_recv($fresh, "get nope\r\n") : 'no connection', "END\r\n",
       'SIGPIPE: a new connection is served');
}

done_testing();
