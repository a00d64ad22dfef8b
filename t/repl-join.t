#!/usr/bin/perl
# Replicas joining a master that holds 200,000 items while a writer
# (t/lib/Writer.pm) keeps rewriting them: the snapshot is made by a
# forked child while the master goes on serving, the changes made
# meanwhile follow it, and the replica converges to the master's digest.
# Then two replicas join while one snapshot is being made (its child held
# with SIGSTOP, so the sharing is certain): both must end at the master's
# offset with its data. Last, a replica with repl_timeout=2000 waits for
# a snapshot held longer than that, without asking again. Every wait is a
# bounded poll.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;
use Repl;
use Writer;

require_debug_binary();

my $N = 200_000;

# Waits until the server has taken `$n` more storage commands (a master
# with no replica keeps no stream to watch); true if it did within 30 s.
sub writes_flow {
    my ($sock, $n) = @_;
    my $from = stats_of($sock)->{cmd_set};
    my $st = wait_stat($sock, 'cmd_set', sub { $_[0] >= $from + $n });
    return $st->{cmd_set} >= $from + $n;
}

# The pids of the snapshot children the master's log (-v) names, in order.
sub snapshot_children {
    my ($server) = @_;
    return $server->output =~ /replication snapshot at offset \d+ started \(child (\d+)/g;
}

# A process's state letter from /proc (T: stopped), '' once it is gone.
# How many replicas of `stats replication` wait for a snapshot.
sub waiting {
    my ($st) = @_;
    return scalar grep { /state=wait_snapshot/ } values %$st;
}

sub proc_state {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return '';
    my $line = <$fh> // '';
    return $line =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}

# Makes the master fork a snapshot child (`$ask` asks for a full sync)
# and stops the child with SIGSTOP before it ends; the child may be
# faster than the test, so up to five tries. Returns the stopped child's
# pid (undef if every try was too late).
sub hold_snapshot_child {
    my ($server, $ask) = @_;
    for my $attempt (1 .. 5) {
        my $before = () = snapshot_children($server);
        $ask->();
        my $deadline = time + 30;
        my @now;
        while (time < $deadline) {
            @now = snapshot_children($server);
            last if @now > $before;
            usleep(2_000);
        }
        next unless @now > $before;
        kill 'STOP', $now[-1];
        # The signal takes a moment: the child is stopped, or it had ended.
        my $state = proc_state($now[-1]);
        $deadline = time + 30;
        while ($state =~ /^[RSD]\z/ && time < $deadline) {
            usleep(2_000);
            $state = proc_state($now[-1]);
        }
        return $now[-1] if $state eq 'T';
    }
    return undef;
}

my $master = new_memcached('-v -m 256');
my $m = $master->sock;
print $m "set item$_ 0 0 " . length("v$_") . " noreply\r\nv$_\r\n" for 0 .. $N - 1;
is(send_recv($m, "mn\r\n"), "MN\r\n", 'master: 200,000 items');
like(digest($m), qr/^DIGEST 200000 [0-9a-f]{16}\r\n\z/, 'the digest counts them');
my $update = [ 'item', $N ];

# ---- one replica joins under writes ----
my $writer = Writer->start($master->port, update => $update);
ok(writes_flow($m, 2_000), 'the writer rewrites the items');
my $r1 = new_memcached('-m 256 -o replicaof=127.0.0.1:' . $master->port);
my $r1s = $r1->sock;
my $st = wait_repl($r1s, sub { $_[0]{master_link_status} eq 'up' });
is($st->{master_link_status}, 'up', 'the replica loaded the snapshot and streams');
ok(stream_moves($m, 20_000), 'the writer goes on after the join');
my $w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok(wait_synced($m, $r1s), 'the replica caught up');
my $d = digest($m);
like($d, qr/^DIGEST 200000 /, 'the writer never changed the number of items');
is(digest($r1s), $d, 'the replica holds the master\'s 200,000 items, as rewritten');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '1 0 0', 'one full sync');
my @kids = snapshot_children($master);
is(scalar @kids, 1, 'one snapshot child');

# ---- two replicas share one snapshot ----
# A connection of the test's own asks for a full sync, and the snapshot
# child that starts is stopped before it ends (tried a few times: the
# child may be faster than the test).
$writer = Writer->start($master->port, update => $update);
ok(stream_moves($m, 20_000), 'the writer rewrites the items again');
my $trigger;
my $child = hold_snapshot_child($master, sub {
    close $trigger if $trigger;
    $trigger = $master->new_sock;
    print $trigger "rep_sync ? -1\r\n";
});
@kids = snapshot_children($master);
ok($child, 'a snapshot child is held');
$st = repl_stats($m);
my $at = $st->{repl_offset};
my $r2 = new_memcached('-m 256 -o replicaof=127.0.0.1:' . $master->port);
$st = wait_repl($m, sub { waiting($_[0]) >= 2 });
ok(stream_moves($m, 20_000), 'the writer goes on while the snapshot is held');
my $r3 = new_memcached('-m 256 -o replicaof=127.0.0.1:' . $master->port);
$st = wait_repl($m, sub { waiting($_[0]) >= 3 });
is(waiting($st), 3,
   'the test\'s connection and two replicas wait for the one snapshot');
ok(stream_moves($m, 20_000), 'and the writer goes on');
kill 'CONT', $child;
close $trigger;
my ($r2s, $r3s) = ($r2->sock, $r3->sock);
for my $s ($r2s, $r3s) {
    $st = wait_repl($s, sub { $_[0]{master_link_status} eq 'up' });
    is($st->{master_link_status}, 'up', 'a replica loaded the shared snapshot');
}
ok(stream_moves($m, 20_000), 'the writer goes on after the snapshot');
$w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok(wait_synced($m, $r1s), 'the first replica caught up');
$d = digest($m);
is(digest($r1s), $d, 'the first replica holds the master\'s data');
my @all = snapshot_children($master);
is(scalar @all, scalar @kids, 'no other snapshot was made');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", ($#kids + 3) . ' 0 0',
   'a full sync for each');
ok(wait_synced($m, $r2s, $r3s), 'the replicas that shared the snapshot reach the master\'s offset');
is(digest($r2s), $d, 'the second replica holds the master\'s data');
is(digest($r3s), $d, 'the third replica holds the master\'s data');

# ---- a snapshot slower than the replica's repl_timeout ----
# The replica asks for a full sync and the master's child takes longer
# than the replica's repl_timeout (2 s) to make the snapshot: the master
# is alive and working, and the replica must wait for it rather than
# drop the link and ask again.
my $r4 = new_memcached('-m 256 -o repl_timeout=2000');
my $r4s = $r4->sock;
my $mport = $master->port;
my $syncs = repl_stats($m)->{sync_full};
$child = hold_snapshot_child($master, sub {
    is(send_recv($r4s, "rep_replicaof 127.0.0.1 $mport\r\n"), "OK\r\n", 'rep_replicaof: a replica with repl_timeout=2000');
    $syncs++;
});
ok($child, 'its snapshot child is held');
is(wait_repl($r4s, sub { $_[0]{master_link_status} eq 'sync' })->{master_link_status}, 'sync',
   'the replica waits for the snapshot');
# Five seconds (more than twice its repl_timeout) for the replica to give
# up, which it must not: the master's blank lines keep the link alive.
$st = wait_repl($m, sub { $_[0]{sync_full} > $syncs }, 5);
is($st->{sync_full}, $syncs, 'the replica did not ask again while the child worked');
kill 'CONT', $child;
$st = wait_repl($r4s, sub { $_[0]{master_link_status} eq 'up' });
is($st->{master_link_status}, 'up', 'the replica loaded the slow snapshot');
ok(wait_synced($m, $r4s), 'the replica caught up');
is(digest($r4s), $d, 'the replica holds the master\'s data (nothing but pings was written meanwhile)');

done_testing();
