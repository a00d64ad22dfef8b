#!/usr/bin/perl
# -c <N>: what a client sees when the server is full, with the default
# maxconns_fast (refuse with an error line) and with -o no_maxconns_fast
# (stop accepting until a slot frees). The server keeps some descriptors
# for itself (memcached: listeners, worker pipes, ...), so the number of
# clients that fit under -c is not checked exactly, only that the refusal
# comes at or before the N+1th connection.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';

my $LIMIT = 64;

# Reads one line with a deadline. Returns the line, 'EOF' if the connection
# closed first, or 'TIMEOUT' if nothing complete arrived in time.
sub line_within {
    my ($sock, $secs) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $secs;
    while ($buf !~ /\n/) {
        my $left = $deadline - time;
        return 'TIMEOUT' if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 1, length $buf);
        return length $buf ? "EOF after '$buf'" : 'EOF' unless $n;
    }
    return $buf;
}

# Reads until the peer closes (or the deadline passes) and returns what came.
sub rest_until_close {
    my ($sock, $secs) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $secs;
    while (1) {
        my $left = $deadline - time;
        return "$buf(still open)" if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($sock, $buf, 4096, length $buf);
        return $buf unless $n;    # EOF, or reset after the data
    }
}

sub stats_field {
    my ($sock, $name) = @_;
    print $sock "stats\r\n";
    my $stats = read_until_end($sock);
    return $stats =~ /^STAT $name (\S+)\r\n/m ? $1 : 'missing';
}

# Opens connections until one does not answer `version` within $wait
# seconds. Returns (answered connections, the first one that did not, its
# reply line).
sub fill_up {
    my ($server, $first, $wait) = @_;
    my @open = ($first);
    for (1 .. $LIMIT + 1) {
        my $sock = $server->new_sock or return (\@open, undef, 'connect failed');
        print $sock "version\r\n";
        my $line = line_within($sock, $wait);
        return (\@open, $sock, $line) unless $line =~ /^VERSION /;
        push @open, $sock;
    }
    return (\@open, undef, 'never refused');
}

# maxconns_fast (the default): the connection over the limit gets one error
# line and is closed; closing clients makes room again.
{
    my $server = new_memcached("-c $LIMIT");
    my ($open, $over, $line) = fill_up($server, $server->sock, 5);
    note(scalar(@$open) . " clients fit under -c $LIMIT");
    cmp_ok(scalar @$open, '<', $LIMIT + 1, "-c $LIMIT: at most $LIMIT clients accepted");
    is($line, "ERROR Too many open connections\r\n",
       'over the limit: error line');
    is($over ? rest_until_close($over, 10) : 'no socket', '',
       'over the limit: closed right after the error line');

    my $again = $server->new_sock;
    print $again "version\r\n";
    is(line_within($again, 5), "ERROR Too many open connections\r\n",
       'still full: the next connection is refused too');

    my $last = $open->[-1];
    is(line_within($last, 0.1) eq 'TIMEOUT' ? send_recv($last, "version\r\n") =~ /^VERSION / : 0,
       1, 'still full: accepted clients keep working');
    is(stats_field($open->[0], 'rejected_connections'), 2,
       'stats: rejected_connections counts both refusals');
    is(stats_field($open->[0], 'max_connections'), $LIMIT,
       "stats: max_connections is $LIMIT");

    # Free two slots; the server notices the closes asynchronously, so keep
    # trying for a while.
    close(pop @$open) for 1 .. 2;
    my $reply = 'none';
    my $deadline = time + 10;
    while (time < $deadline) {
        my $sock = $server->new_sock;
        if ($sock) {
            print $sock "version\r\n";
            $reply = line_within($sock, 5);
            if ($reply =~ /^VERSION /) { push @$open, $sock; last }
        }
        select(undef, undef, undef, 0.1);
    }
    like($reply, qr/^VERSION \S+\r\n\z/, 'after closing two clients a new one is served');
    is(send_recv($open->[-1], "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
       'the new client can store');
}

# -o no_maxconns_fast: the connection over the limit is neither answered nor
# closed; it waits and is served once another client goes away.
{
    my $server = new_memcached("-c $LIMIT -o no_maxconns_fast");
    my ($open, $over, $line) = fill_up($server, $server->sock, 1);
    note(scalar(@$open) . " clients fit under -c $LIMIT with no_maxconns_fast");
    cmp_ok(scalar @$open, '<', $LIMIT + 1, "no_maxconns_fast -c $LIMIT: at most $LIMIT clients served");
    is($line, 'TIMEOUT', 'no_maxconns_fast: over the limit: no reply and not closed');
    close(pop @$open);
    is($over ? line_within($over, 10) : 'no socket', send_recv($open->[0], "version\r\n"),
       'no_maxconns_fast: waiting client is served after another one closes');
}

done_testing();
