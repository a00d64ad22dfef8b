package Repl;
# Helpers for replication tests: `stats replication` as a hash, a bounded
# wait until replicas have applied all their master has streamed, and the
# order-independent digest of a server's data (memcached-debug's
# `debugdigest`).
use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(usleep);
use MemcachedTest;

our @EXPORT = qw(repl_stats wait_repl digest wait_synced wait_synced_within
                 stream_open stream_next syncs stream_moves get_all);

# The counters of `stats replication` that count syncs, as one string.
sub syncs {
    my $st = repl_stats($_[0]);
    return join ' ', map { "$_=" . ($st->{$_} // '?') }
        qw(sync_full sync_partial_ok sync_partial_err replicas_dropped);
}

# Waits until the master's stream has moved `$bytes` past where it is now
# (the writer is writing); true if it did within 30 s.
sub stream_moves {
    my ($sock, $bytes) = @_;
    my $from = repl_stats($sock)->{repl_offset};
    my $st = wait_repl($sock, sub { $_[0]{repl_offset} >= $from + $bytes });
    return $st->{repl_offset} >= $from + $bytes;
}

# Sends a request and reads its reply through END.
sub get_all {
    my ($sock, $req) = @_;
    print $sock $req;
    return read_until_end($sock);
}

# `stats replication` as name => value.
sub repl_stats {
    my ($sock) = @_;
    print $sock "stats replication\r\n";
    my %st;
    for my $line (split /\r\n/, read_until_end($sock)) {
        $st{$1} = $2 if $line =~ /^STAT (\S+) (.*)\z/;
    }
    return \%st;
}

# Polls `stats replication` until `$cond->($stats)` holds; gives up after
# `$timeout` seconds (default 30, a deadline that matters only when the
# server is broken). Returns the last stats.
sub wait_repl {
    my ($sock, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (1) {
        my $st = repl_stats($sock);
        return $st if $cond->($st) || time >= $deadline || !%$st;
        usleep(20_000);
    }
}

# DIGEST <items> <hex> of a server's live data.
sub digest {
    my ($sock) = @_;
    return send_recv($sock, "debugdigest\r\n");
}

# Waits until every replica reports the master's offset at one moment
# (the master's offset read before and after the replicas' is the same),
# then returns 1; 0 after `$timeout` seconds.
sub wait_synced {
    my ($master, @replicas) = @_;
    return wait_synced_within(30, $master, @replicas);
}

# wait_synced with a deadline of `$secs` seconds, for a check that
# already knows the replicas are streaming and only have a short way to go.
sub wait_synced_within {
    my ($secs, $master, @replicas) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $before = repl_stats($master)->{repl_offset} // -1;
        my $all = 1;
        for my $r (@replicas) {
            my $st = repl_stats($r);
            $all = 0 unless ($st->{repl_offset} // -2) == $before
                && ($st->{master_link_status} // '') eq 'up';
        }
        my $after = repl_stats($master)->{repl_offset} // -1;
        return 1 if $all && $before == $after;
        usleep(20_000);
    }
    return 0;
}

# Attaches to `$server` as a replica with a socket of the test's own:
# sends `rep_sync ? -1`, reads the REP_FULLSYNC line and the snapshot, and
# returns the socket (reads give up after 30 s) and the line.
sub stream_open {
    my ($server) = @_;
    my $s = $server->new_sock;
    print $s "rep_sync ? -1\r\n";
    my $line = <$s> // '';
    read_reply($s, $1) if $line =~ /^REP_FULLSYNC \S+ \d+ (\d+)\r\n\z/;
    return ($s, $line);
}

# The next command of the stream, pings left out, as its exact bytes
# (undef if none comes within 30 s). Acknowledges as a replica does, so the
# master keeps the link.
sub stream_next {
    my ($s) = @_;
    while (1) {
        print $s "rep_ack 0\r\n";
        my $line = <$s>;
        return undef unless defined $line;
        next if $line eq "rep_ping\r\n";
        $line .= read_reply($s, $1 + 2) if $line =~ /^rep_set \S+ \d+ -?\d+ \d+ \d+ (\d+)\r\n\z/;
        return $line;
    }
}

1;
