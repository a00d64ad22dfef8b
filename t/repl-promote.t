#!/usr/bin/perl
# Promotion by hand (rep_replicaof no one): the promoted replica starts a
# new history at its offset and keeps the old id good up to there. A
# sibling that has no more than it continues from it without a full sync;
# the old master, which took writes the promoted one never got, syncs in
# full when it follows it, and loses those writes rather than mixing two
# histories. The promoted server's own replica reconnects and continues.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my $a = new_memcached('-o repl_timeout=2000');
my $as = $a->sock;
my $aport = $a->port;
printf $as "set k%d 0 0 4 noreply\r\nv%03d\r\n", $_, $_ for 1 .. 100;
is(send_recv($as, "mn\r\n"), "MN\r\n", 'A: 100 items');
my $b = new_memcached("-o replicaof=127.0.0.1:$aport,repl_timeout=2000");
my $c = new_memcached("-o replicaof=127.0.0.1:$aport,repl_timeout=2000");
my ($bs, $cs) = ($b->sock, $c->sock);
my $bport = $b->port;
my $d = new_memcached("-o replicaof=127.0.0.1:$bport,repl_timeout=2000");
my $ds = $d->sock;
ok(wait_synced($as, $bs, $cs), 'B and C follow A');
ok(wait_synced($bs, $ds), 'D follows B');
my $old = repl_stats($as)->{repl_id};

# A stops (no write, no ping reaches anyone); B and C hold the same.
kill 'STOP', $a->pid;
my $same = 0;
for (1 .. 1500) {
    my ($ob, $oc) = (repl_stats($bs)->{repl_offset}, repl_stats($cs)->{repl_offset});
    if ($ob == $oc) { $same = 1; last }
    select(undef, undef, undef, 0.02);
}
ok($same, 'B and C stand at the same offset with A stopped');
is(send_recv($bs, "rep_replicaof no one\r\n"), "OK\r\n", 'B: rep_replicaof no one');
my $st = repl_stats($bs);
my $at = $st->{repl_offset};
isnt($st->{repl_id}, $old, 'B: a new replication id');
is("$st->{repl_id2} $st->{repl_id2_offset}", "$old $at", "B: A's id kept, good up to B's offset");

# C has exactly what B has: it continues from B.
is(send_recv($cs, "rep_replicaof 127.0.0.1 $bport\r\n"), "OK\r\n", 'C follows B');
is(send_recv($bs, "set new 0 0 3\r\nNEW\r\n"), "STORED\r\n", 'B takes writes');
ok(wait_synced($bs, $cs, $ds), 'C and D caught up with B');
$st = repl_stats($bs);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '1 2 0',
   "B: D's first sync, then partial ones for D (the new id) and C");
is(digest($cs), digest($bs), 'C: same data as B');
is(digest($ds), digest($bs), 'D: same data as B');
is(repl_stats($ds)->{repl_id}, repl_stats($bs)->{repl_id}, "D: B's new id");
is(repl_stats($cs)->{repl_id}, repl_stats($bs)->{repl_id}, "C: B's new id");

# A comes back still a master and takes a write nobody else gets.
kill 'CONT', $a->pid;
is(send_recv($as, "set lost 0 0 4\r\nLOST\r\n"), "STORED\r\n", 'A: a write B never gets');

# A has a write B never got: following B means a full sync.
is(send_recv($as, "rep_replicaof 127.0.0.1 $bport\r\n"), "OK\r\n", 'A follows B');
ok(wait_synced($bs, $as, $cs, $ds), 'all three follow B');
$st = repl_stats($bs);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{sync_partial_err}", '2 2 1',
   'A: further along the old history than B: a full sync');
my $want = digest($bs);
is(digest($as), $want, 'A holds what B holds');
is(digest($cs), $want, 'C too');
is(digest($ds), $want, 'D too');
print $as "get lost new\r\n";
is(read_until_end($as), "VALUE new 0 3\r\nNEW\r\nEND\r\n", "A's lost write is gone, B's new one is there");

done_testing();
