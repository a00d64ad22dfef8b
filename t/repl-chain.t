#!/usr/bin/perl
# A chain of replicas, A -> B -> C, under a write load and link cuts (both
# links go through t/lib/Proxy.pm): every server ends at the same offset
# with the same replication id and the same data, and a cut on one link
# never disturbs the other. Then the chain is rearranged at run time with
# rep_replicaof: a replica made a master starts a new history (its
# replica reconnects and continues under the new id) and takes writes; the old master made a replica of it gets its data; made a
# master again, it takes writes and a new replica follows it. Every wait
# is a bounded poll.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;
use Proxy;
use Writer;

require_debug_binary();

my $a = new_memcached('-o repl_backlog_size=8388608');
my $as = $a->sock;
print $as "set pre$_ $_ 0 4 noreply\r\np$_\r\n" for 100 .. 999;
is(send_recv($as, "mn\r\n"), "MN\r\n", 'A: 900 items');
my $pab = Proxy->new($a->port);
my $b = new_memcached('-o repl_backlog_size=8388608,replicaof=127.0.0.1:' . $pab->port);
my $bs = $b->sock;
my $pbc = Proxy->new($b->port);
my $c = new_memcached('-o replicaof=127.0.0.1:' . $pbc->port);
my $cs = $c->sock;
ok(wait_synced($as, $bs, $cs), 'A, B and C at the same offset');
my $d = digest($as);
like($d, qr/^DIGEST 900 [0-9a-f]{16}\r\n\z/, 'A: the digest counts 900 items');
is(digest($bs), $d, 'B holds A\'s data');
is(digest($cs), $d, 'C holds A\'s data');

# ---- writes and cuts on both links ----
my $writer = Writer->start($a->port);
for my $cut (1 .. 3) {
    ok(stream_moves($as, 20_000), "A-B cut $cut: A's changes stream down the chain");
    is($pab->cut, 'OK 1', "A-B cut $cut: the link is cut");
    my $st = wait_repl($as, sub { $_[0]{sync_partial_ok} >= $cut && $_[0]{connected_replicas} == 1 });
    is("$st->{sync_partial_ok} $st->{sync_full}", "$cut 1", "A-B cut $cut: B continued from A's backlog");
}
for my $cut (1 .. 2) {
    ok(stream_moves($bs, 20_000), "B-C cut $cut: B forwards A's changes");
    is($pbc->cut, 'OK 1', "B-C cut $cut: the link is cut");
    my $st = wait_repl($bs, sub { $_[0]{sync_partial_ok} >= $cut && $_[0]{connected_replicas} == 1 });
    is("$st->{sync_partial_ok} $st->{sync_full}", "$cut 1", "B-C cut $cut: C continued from B's backlog");
}
my $w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok(wait_synced($as, $bs, $cs), 'the chain caught up');
my ($sa, $sb, $sc) = map { repl_stats($_) } $as, $bs, $cs;
is("$sb->{repl_offset} $sc->{repl_offset}", "$sa->{repl_offset} $sa->{repl_offset}",
   'B and C report A\'s offset');
is("$sb->{repl_id} $sc->{repl_id}", "$sa->{repl_id} $sa->{repl_id}", 'B and C report A\'s replication id');
$d = digest($as);
is(digest($bs), $d, 'B holds A\'s data after the cuts');
is(digest($cs), $d, 'C holds A\'s data after the cuts');
is(syncs($as), 'sync_full=1 sync_partial_ok=3 sync_partial_err=0 replicas_dropped=0',
   'A: one full sync (B), three partial ones');
is(syncs($bs), 'sync_full=1 sync_partial_ok=2 sync_partial_err=0 replicas_dropped=0',
   'B: one full sync (C), two partial ones: B\'s own cuts never detached C');
is("$sa->{connected_replicas} $sb->{connected_replicas}", '1 1', 'one replica on A and one on B');

# ---- a burst of large values: B reads the stream in full buffers, ----
# which become its own stream's blocks as they are; C must still get
# exactly A's bytes.
my $big = 'v' x 10_000;
printf $as "set burst%d 0 0 10000 noreply\r\n%s\r\n", $_, $big for 1 .. 2000;
is(send_recv($as, "mn\r\n"), "MN\r\n", 'A: 2000 values of 10 KB in one burst');
ok(wait_synced($as, $bs, $cs), 'the chain caught up with the burst');
($sa, $sb, $sc) = map { repl_stats($_) } $as, $bs, $cs;
is("$sb->{repl_offset} $sc->{repl_offset}", "$sa->{repl_offset} $sa->{repl_offset}",
   'B and C report A\'s offset after the burst');
$d = digest($as);
is(digest($bs), $d, 'B holds A\'s data after the burst');
is(digest($cs), $d, 'C holds A\'s data after the burst');

# ---- B becomes a master: C continues with it under B's new id ----
is(send_recv($bs, "rep_replicaof no one\r\n"), "OK\r\n", 'B: rep_replicaof no one');
is(send_recv($bs, "rep_ismaster\r\n"), "REP_TRUE\r\n", 'B is a master');
my $sbp = repl_stats($bs);
isnt($sbp->{repl_id}, $sa->{repl_id}, 'B starts a new history: a new replication id');
is($sbp->{repl_id2}, $sa->{repl_id}, 'A\'s id kept as B\'s previous one');
is(send_recv($bs, "set onb 5 0 4\r\nbbbb\r\n"), "STORED\r\n", 'B takes writes');
print $bs "get c3\r\n";
my ($c3) = read_until_end($bs) =~ /\r\n(\d+)\r\n/;
is(send_recv($bs, "incr c3 1000\r\n"), ($c3 + 1000) . "\r\n", 'B: incr on A\'s counter');
is(send_recv($as, "set ona 0 0 4\r\naaaa\r\n"), "STORED\r\n", 'A takes writes too');
ok(wait_synced($bs, $cs), 'C caught up with B');
is(digest($cs), digest($bs), 'C holds B\'s data, B\'s own writes too');
mem_get_is($cs, 'onb', 'bbbb', 'C: B\'s write', 5);
mem_get_is($bs, 'ona', undef, 'B no longer gets A\'s writes');
is(syncs($bs), 'sync_full=1 sync_partial_ok=3 sync_partial_err=0 replicas_dropped=0',
   'B: C reconnected after B\'s promotion and continued (a partial sync)');
is(repl_stats($cs)->{repl_id}, $sbp->{repl_id}, 'C: B\'s new id');

# ---- A becomes a replica of B ----
my $bport = $b->port;
is(send_recv($as, "rep_replicaof 127.0.0.1 $bport\r\n"), "OK\r\n", 'A: rep_replicaof B');
is(send_recv($as, "rep_ismaster\r\n"), "REP_FALSE\r\n", 'A is a replica');
ok(wait_synced($bs, $cs, $as), 'A and C caught up with B');
$d = digest($bs);
is(digest($as), $d, 'A holds B\'s data (its own write after the split is gone)');
is(digest($cs), $d, 'C too');
mem_get_is($as, 'ona', undef, 'A: its write B never had is gone');
is(syncs($bs), 'sync_full=2 sync_partial_ok=3 sync_partial_err=1 replicas_dropped=0',
   'B: A asked to continue its own history and got a full sync');
is(repl_stats($as)->{repl_id}, repl_stats($bs)->{repl_id}, 'A shares B\'s replication id');

# ---- A becomes a master again; a new replica follows it ----
is(send_recv($as, "rep_replicaof no one\r\n"), "OK\r\n", 'A: rep_replicaof no one');
is(send_recv($as, "rep_ismaster\r\n"), "REP_TRUE\r\n", 'A is a master again');
print $as "gets onb\r\n";
my ($cas) = read_until_end($as) =~ /^VALUE onb 5 4 (\d+)\r\n/;
ok($cas, 'A: gets shows the CAS B gave onb');
is(send_recv($as, "cas onb 6 0 2 $cas\r\nAA\r\n"), "STORED\r\n", 'A: cas with that CAS works');
is(send_recv($as, "set a2 0 0 2\r\nA2\r\n"), "STORED\r\n", 'A: set works');
my $aport = $a->port;
my $e = new_memcached("-o replicaof=127.0.0.1:$aport");
my $es = $e->sock;
ok(wait_synced($as, $es), 'E, a new replica of A, caught up');
is(digest($es), digest($as), 'E holds A\'s data');
$writer = Writer->start($aport, tag => "e");
ok(stream_moves($as, 20_000), 'a writer on A');
$w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok(wait_synced($as, $es), 'E caught up with the writer\'s changes');
is(digest($es), digest($as), 'E holds A\'s data after the writes');
mem_get_is($es, 'onb', 'AA', 'E: A\'s cas on onb', 6);
ok(wait_synced($bs, $cs), 'B and C unaffected');
is(digest($cs), digest($bs), 'C still holds B\'s data');

# ---- the middle of a chain needs a full sync: its replica syncs again ----
# A2 keeps a 16 KiB backlog; B2's link to it is held down while more than
# that is written, so B2 gets a full sync, a new start for its data: it
# detaches C2, which syncs again, in full, from B2.
{
    my $a2 = new_memcached('-o repl_backlog_size=16384');
    my $a2s = $a2->sock;
    my $p2 = Proxy->new($a2->port);
    my $b2 = new_memcached('-o replicaof=127.0.0.1:' . $p2->port);
    my $b2s = $b2->sock;
    my $c2 = new_memcached('-o replicaof=127.0.0.1:' . $b2->port);
    my $c2s = $c2->sock;
    ok(wait_synced($a2s, $b2s, $c2s), 'A2 -> B2 -> C2 at one offset');
    my $wr = Writer->start($a2->port);
    ok(stream_moves($a2s, 5_000), 'a writer on A2');
    is($p2->hold, 'OK', 'hold B2\'s reconnection');
    is($p2->cut, 'OK 1', 'cut A2-B2');
    ok(stream_moves($a2s, 40_000), '40,000 bytes while B2 is away, more than A2\'s backlog');
    is($p2->wait_status(sub { $_[0]{held} == 1 })->{held}, 1, 'B2 knocks again');
    is($p2->resume, 'OK', 'resume');
    my $st = wait_repl($b2s, sub { $_[0]{sync_full} >= 2 });
    is($st->{sync_full}, 2, 'B2 served C2 a second full sync');
    ok(stream_moves($a2s, 5_000), 'the writer goes on');
    my $res = $wr->stop;
    is($res->{bad}, 0, "the writer got every reply it expected ($res->{ops} requests) $res->{first}");
    ok(wait_synced($a2s, $b2s, $c2s), 'the chain caught up');
    my $dd = digest($a2s);
    is(digest($b2s), $dd, 'B2 holds A2\'s data');
    is(digest($c2s), $dd, 'C2 holds A2\'s data');
    is(syncs($a2s), 'sync_full=2 sync_partial_ok=0 sync_partial_err=1 replicas_dropped=0',
       'A2: B2 asked to continue and got a full sync');
    is(syncs($b2s), 'sync_full=2 sync_partial_ok=0 sync_partial_err=1 replicas_dropped=0',
       'B2: so did C2');
    $p2->stop;
}

# ---- two histories under one replication id ----
# X is a master with replicas Y and Z (Z through a proxy). Y is promoted
# and keeps X's replication id; X writes on, Z following it; Z's link is
# held down; X becomes a replica of Y (a full sync: X now holds Y's data
# under the same id) and Y writes on until X's offset passes Z's. Z then
# asks X to continue from its offset: the id matches and X's backlog
# covers the offset, but the bytes there are Y's history, not the one Z
# applied. X must answer with a full sync.
{
    my $x = new_memcached('');
    my $xs = $x->sock;
    my $y = new_memcached('-o replicaof=127.0.0.1:' . $x->port);
    my $ys = $y->sock;
    my $pxz = Proxy->new($x->port);
    my $z = new_memcached('-o replicaof=127.0.0.1:' . $pxz->port);
    my $zs = $z->sock;
    print $xs "set h$_ 0 0 10 noreply\r\n" . ('h' x 10) . "\r\n" for 1 .. 50;
    is(send_recv($xs, "mn\r\n"), "MN\r\n", 'X: 50 items');
    ok(wait_synced($xs, $ys, $zs), 'Y and Z caught up with X');
    is(send_recv($ys, "rep_replicaof no one\r\n"), "OK\r\n", 'Y: rep_replicaof no one');
    print $xs "set x$_ 0 0 100 noreply\r\n" . ('x' x 100) . "\r\n" for 1 .. 20;
    is(send_recv($xs, "mn\r\n"), "MN\r\n", 'X: 20 items Y never gets');
    ok(wait_synced($xs, $zs), 'Z caught up with X');
    my $zoff = repl_stats($zs)->{repl_offset};
    is($pxz->hold, 'OK', 'hold Z\'s reconnection');
    is($pxz->cut, 'OK 1', 'cut Z\'s link');
    is($pxz->wait_status(sub { $_[0]{held} == 1 })->{held}, 1, 'Z knocks again');
    is(send_recv($xs, "rep_replicaof 127.0.0.1 " . $y->port . "\r\n"), "OK\r\n", 'X: rep_replicaof Y');
    ok(wait_synced($ys, $xs), 'X caught up with Y');
    print $ys "set y$_ 0 0 100 noreply\r\n" . ('y' x 100) . "\r\n" for 1 .. 40;
    is(send_recv($ys, "mn\r\n"), "MN\r\n", 'Y: 40 items');
    ok(wait_synced($ys, $xs), 'X caught up with Y again');
    ok(repl_stats($xs)->{repl_offset} > $zoff, 'X\'s offset is past the one Z stopped at');
    my $sx = repl_stats($xs);
    is("$sx->{sync_full} $sx->{sync_partial_ok} $sx->{sync_partial_err}", '2 0 0',
       'X: two full syncs so far (Y and Z)');
    is($pxz->resume, 'OK', 'Z\'s reconnection goes through');
    $sx = wait_repl($xs, sub { $_[0]{sync_full} + $_[0]{sync_partial_ok} > 2 });
    is("$sx->{sync_full} $sx->{sync_partial_ok} $sx->{sync_partial_err}", '3 0 1',
       'X answers Z with a full sync, not from a backlog of another history');
    ok(wait_synced($xs, $zs), 'Z caught up with X');
    is(digest($zs), digest($xs), 'Z holds X\'s data');
    $pxz->stop;
}

$pab->stop;
$pbc->stop;
done_testing();
