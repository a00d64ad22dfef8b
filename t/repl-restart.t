#!/usr/bin/perl
# Restarts with -F: the dump file keeps the replication id and offset, so
# a restarted replica continues from its master's backlog (partial sync),
# after a graceful stop and after kill -9 (from its last SIGUSR2 dump); a
# master restarted from its own dump lets a replica holding exactly what
# the file holds continue, and gives one that got further (writes the
# master lost in a kill -9) a full sync. Digests agree every time.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(usleep);
use lib 't/lib';
use MemcachedTest;
use Repl;
use DumpFile;

require_debug_binary();

my $top = "/tmp/mctest.$$.repl-restart";
remove_tree($top);
make_path($top);
END { local $?; remove_tree($top) if $top && -d $top; }

my ($mfile, $rfile) = ("$top/master.dump", "$top/replica.dump");

# Sets n keys "<prefix><i>" through the master, then an mn to wait.
sub write_keys {
    my ($sock, $prefix, $n) = @_;
    printf $sock "set %s%d %d 0 6 noreply\r\nv%05d\r\n", $prefix, $_, $_, $_ for 1 .. $n;
    return send_recv($sock, "mn\r\n");
}

# SIGUSR2, then waits until dumps_total reaches `want`.
sub dump_now {
    my ($srv, $want) = @_;
    kill 'USR2', $srv->pid;
    my $deadline = time + 30;
    my $st;
    do {
        $st = stats_of($srv->sock);
        return $st->{last_dump_status} if $st->{dumps_total} >= $want && !$st->{dump_in_progress};
        usleep(20_000);
    } while (time < $deadline);
    return "timed out";
}

my $master = new_memcached(['-F', $mfile, '-o', 'repl_timeout=2000']);
my $m = $master->sock;
my $mport = $master->port;
is(write_keys($m, 'a', 300), "MN\r\n", 'master: 300 items');

my $rport = free_port();
sub start_replica {
    return new_memcached(['-p', $rport, '-F', $rfile, '-o', "replicaof=127.0.0.1:$mport,repl_timeout=2000"],
                         no_port => 1, port => $rport);
}
my $replica = start_replica();
my $r = $replica->sock;
ok(wait_synced($m, $r), 'replica caught up (full sync)');
my $st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok}", '1 0', 'master: one full sync');
my $id = $st->{repl_id};

# ---- replica, graceful stop: it continues from the master's backlog ----
is($replica->stop, 0, 'replica: SIGTERM writes its dump and exits 0');
is(write_keys($m, 'b', 50), "MN\r\n", 'master: 50 writes while the replica is down');
$replica = start_replica();
$r = $replica->sock;
ok(wait_synced($m, $r), 'restarted replica caught up');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '1 1 0',
   'master: a partial sync, no second full one');
is(stats_of($r)->{load_items}, 300, 'the replica loaded its 300 items from its dump');
is(digest($r), digest($m), 'same data after the partial resync');
is(repl_stats($r)->{repl_id}, $id, "the replica keeps the master's id");

# ---- replica, kill -9: it continues from its last SIGUSR2 dump ----
is(dump_now($replica, 1), 'ok', 'replica: SIGUSR2 dump');
is(write_keys($m, 'c', 50), "MN\r\n", 'master: 50 writes after that dump');
ok(wait_synced($m, $r), 'replica has them (not in its dump)');
kill 'KILL', $replica->pid;
$replica->wait_exit(10);
is(write_keys($m, 'd', 50), "MN\r\n", 'master: 50 more while it is dead');
$replica = start_replica();
$r = $replica->sock;
ok(wait_synced($m, $r), 'restarted replica caught up');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '1 2 0',
   'master: partial again, from the older dump offset');
is(digest($r), digest($m), 'same data: the backlog covered everything since its dump');

# ---- master, graceful stop: the replica continues at exactly its offset ----
ok(wait_synced($m, $r), 'in step before the master stops');
is($master->stop, 0, 'master: SIGTERM writes its dump and exits 0');
# Where the final dump stands (the header says; a ping may have moved the
# offset since the replica last reported it).
my $before = unpack('Q<', substr(slurp($mfile) // '', 56, 8));
is(wait_repl($r, sub { $_[0]{repl_offset} == $before })->{repl_offset}, $before,
   "the dump's offset is where the replica stands");
# The replica is held back while the master restarts and takes writes:
# they must reach it through the backlog when it continues.
kill 'STOP', $replica->pid;
$master = new_memcached(['-p', $mport, '-F', $mfile, '-o', 'repl_timeout=2000'],
                        no_port => 1, port => $mport);
$m = $master->sock;
is(write_keys($m, 'early', 10), "MN\r\n", 'restarted master: writes before the replica is back');
kill 'CONT', $replica->pid;
$st = repl_stats($m);
is("$st->{repl_id2} $st->{repl_id2_offset}", "$id $before",
   'restarted master: a new id, the old one kept up to the offset of its dump');
cmp_ok($st->{repl_offset}, '>=', $before, 'and its stream goes on from there');
isnt($st->{repl_id}, $id, 'the new id differs');
my $newid = $st->{repl_id};
$st = wait_repl($m, sub { $_[0]{connected_replicas} eq '1' });
is("$st->{sync_full} $st->{sync_partial_ok}", '0 1', 'the replica continued: no full sync');
is(write_keys($m, 'e', 20), "MN\r\n", 'master: writes after its restart');
ok(wait_synced($m, $r), 'replica caught up');
is(digest($r), digest($m), 'same data, the writes made before it was back included');
$st = repl_stats($r);
is("$st->{repl_id} $st->{repl_id2}", "$newid $id", "replica: the master's new id, the old one as id2");

# ---- master, kill -9: its dump is older than the replica ----
is(dump_now($master, 1), 'ok', 'master: SIGUSR2 dump');
# The offset the dump stands at, from its header (pings move the live
# offset on meanwhile).
my $dumped = unpack('Q<', substr(slurp($mfile) // '', 56, 8));
cmp_ok($dumped, '>', $before, 'the dump stands after the restart offset');
is(write_keys($m, 'f', 30), "MN\r\n", 'master: 30 writes after the dump');
ok(wait_synced($m, $r), 'the replica has them');
kill 'KILL', $master->pid;
$master->wait_exit(10);
$master = new_memcached(['-p', $mport, '-F', $mfile, '-o', 'repl_timeout=2000'],
                        no_port => 1, port => $mport);
$m = $master->sock;
is(repl_stats($m)->{repl_id2_offset}, $dumped, 'restarted master: its old id is good up to the offset of its dump');
$st = wait_repl($m, sub { $_[0]{connected_replicas} eq '1' });
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '1 0 1',
   'the replica got further than the file: a full sync');
ok(wait_synced($m, $r), 'replica caught up');
is(digest($r), digest($m), "same data: the master's, without the lost writes");
is(get_all($r, "get f1\r\n"), "END\r\n", 'a write the master lost is gone from the replica too');
is(get_all($r, "get e1\r\n"), "VALUE e1 1 6\r\nv00001\r\nEND\r\n", 'one it kept is there');

done_testing();
