#!/usr/bin/perl
# Replication: a replica made at start (-o replicaof) and at run time
# (rep_replicaof), every kind of change reaching it with the master's CAS,
# flags, absolute expiry and meta state (the digest covers them all, and
# gets shows the CAS), read-only replicas, memcachedb's rep_* replies, a
# partial resync after a link was dropped, a full one when the backlog no
# longer covers the gap, and -o no_replication. Every wait is a bounded
# poll (t/lib/Repl.pm).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my $master = new_memcached('-o repl_timeout=2000');
my $m = $master->sock;
for my $i (0 .. 199) {
    printf $m "set pre%d %d 0 5 noreply\r\nv%04d\r\n", $i, $i, $i;
}
is(send_recv($m, "mn\r\n"), "MN\r\n", 'master: 200 items stored');

my $mport = $master->port;
my $replica = new_memcached("-o replicaof=127.0.0.1:$mport");
my $r = $replica->sock;
ok(wait_synced($m, $r), 'replica caught up (full sync)');
is(digest($r), digest($m), 'same data after the full sync');
like(digest($m), qr/^DIGEST 200 [0-9a-f]{16}\r\n\z/, 'the digest counts 200 items');

# ---- every kind of change ----
my @writes = (
    "set a 1 0 3\r\nabc\r\n",                "add b 2 100 2\r\nbb\r\n",
    "replace a 3 0 4\r\nabcd\r\n",           "append a 0 0 2\r\nEF\r\n",
    "prepend a 0 0 2\r\n01\r\n",             "set n 0 0 2\r\n10\r\n",
    "incr n 5\r\n",                          "decr n 3\r\n",
    "incr n 99999999999\r\n",                "touch b 500\r\n",
    "gat 600 a\r\n",                         "delete pre0\r\n",
    "ms m1 2 T90 F7\r\nmm\r\n",              "ms m1 2 I C1\r\nst\r\n",
    "mg new N30 v\r\n",                      "md pre1 I T30\r\n",
    "md pre2 x\r\n",                         "ma ctr N0 J7\r\n",
    "ma ctr MD D2\r\n",                       "mg pre3 R999999 v\r\n",
    "set bin 0 0 1\r\n\x00\r\n",             "ms YmluYXJ5IGtleQ== 1 b\r\nK\r\n",
);
for my $w (@writes) {
    print $m $w;
    my $reply = <$m>;
    $reply .= <$m> if $reply =~ /^VA /;                      # mg v: the data
    $reply .= <$m> . <$m> if $reply =~ /^VALUE /;            # gat: data, END
    ok(defined $reply && $reply !~ /ERROR/, "master: " . ($w =~ s/\r\n.*//sr));
}
my $cas_line = send_recv($m, "gets a\r\n");
read_until_end($m);
my ($cas) = $cas_line =~ /^VALUE a \d+ \d+ (\d+)/;
is(send_recv($m, "cas a 9 0 1 $cas\r\nZ\r\n"), "STORED\r\n", 'master: cas with the right unique');
ok(wait_synced($m, $r), 'replica caught up with every command');
is(digest($r), digest($m), 'same data, CAS, flags, expiry and meta state');
for my $k ('a', 'b', 'n', 'm1', 'new', 'pre1', 'pre2', 'ctr', 'bin') {
    print $m "gets $k\r\n";
    my $want = read_until_end($m);
    print $r "gets $k\r\n";
    is(read_until_end($r), $want, "gets $k: byte for byte the master's");
}
is(meta($r, "mg pre1 v\r\n"), "VA 5 X\r\nv0001\r\n", 'the stale flag (md I) reached the replica');
is(meta($r, "mg pre1 v\r\n"), "VA 5 X\r\nv0001\r\n", 'a replica hands out no win token');
is(meta($m, "mg pre1 v\r\n"), "VA 5 X W\r\nv0001\r\n", 'the master hands it out');
ok(wait_synced($m, $r), 'replica caught up with the token');
is(meta($r, "mg pre1 v\r\n"), "VA 5 Z X\r\nv0001\r\n", 'the replica shows it as sent');

# flush_all, with a delay and at once.
is(send_recv($m, "flush_all 1000\r\n"), "OK\r\n", 'master: flush_all 1000');
is(send_recv($m, "set late 0 0 1\r\nL\r\n"), "STORED\r\n", 'master: a set after it');
ok(wait_synced($m, $r), 'replica caught up with the delayed flush');
is(digest($r), digest($m), 'same data with a flush pending');
is(send_recv($m, "flush_all\r\n"), "OK\r\n", 'master: flush_all');
ok(wait_synced($m, $r), 'replica caught up with the flush');
is(digest($r), "DIGEST 0 0000000000000000\r\n", 'the replica is empty too');

# ---- a replica is read-only ----
my $ro = "SERVER_ERROR read-only replica of 127.0.0.1:$mport\r\n";
for my $w ("set x 0 0 1\r\nx\r\n", "add x 0 0 1\r\nx\r\n", "cas x 0 0 1 1\r\nx\r\n",
           "append x 0 0 1\r\nx\r\n", "incr x 1\r\n", "decr x 1\r\n", "delete x\r\n",
           "touch x 1\r\n", "gat 1 x\r\n", "flush_all\r\n", "ms x 1\r\nx\r\n",
           "md x\r\n", "ma x\r\n", "mg x T1 v\r\n", "mg x N1 v\r\n") {
    is(send_recv($r, $w), $ro, 'replica refuses: ' . ($w =~ s/\r\n.*//sr));
}
is(send_recv($r, "get x\r\n"), "END\r\n", 'replica: reads work, the refused data was swallowed');
{
    # A binary set: status 0x86 (temporary failure) naming the master, the
    # value dropped, the connection in step for the next request (noop).
    my $b = $replica->new_sock;
    print $b pack('CCnCCnNNQ>', 0x80, 0x01, 1, 8, 0, 0, 10, 7, 0) . pack('NN', 0, 0) . 'x' . 'v';
    print $b pack('CCnCCnNNQ>', 0x80, 0x0a, 0, 0, 0, 0, 0, 8, 0);
    my $msg = "read-only replica of 127.0.0.1:$mport";
    my $want = pack('CCnCCnNNQ>', 0x81, 0x01, 0, 0, 0, 0x86, length $msg, 7, 0) . $msg
             . pack('CCnCCnNNQ>', 0x81, 0x0a, 0, 0, 0, 0, 0, 8, 0);
    is(unpack('H*', read_reply($b, length $want)), unpack('H*', $want),
       'replica refuses a binary set, then answers noop');
}
is(send_recv($r, "set x 0 0 1 noreply\r\nx\r\nmn\r\n"), "MN\r\n", 'replica: noreply silences the refusal');

# ---- rep_* ----
my @rep = (
    [$m, "rep_ismaster", "REP_TRUE"],            [$r, "rep_ismaster", "REP_FALSE"],
    [$r, "rep_whoismaster", "127.0.0.1:$mport"], [$m, "rep_whoismaster", "127.0.0.1:$mport"],
    [$m, "rep_get_priority", "100"],             [$m, "rep_set_priority 0", "0"],
    [$m, "rep_get_priority", "0"],               [$m, "rep_set_ack_policy 6", "6"],
    [$m, "rep_set_ack_policy 7", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_ack_policy 0", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_ack_timeout 20000", "20000"],  [$m, "rep_set_ack_timeout -1", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_ack_timeout 0", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_ack_policy 3", "3"],
    [$m, "rep_set_request 0 5", "CLIENT_ERROR bad command line format"],
    [$m, "rep_forget 127.0.0.1:1", "NOT_FOUND"], [$m, "rep_forget", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_bulk 0", "0"],                 [$m, "rep_set_bulk 2", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_bulk 1", "1"],
    [$m, "rep_set_request 4 400", "4/400"],      [$m, "rep_set_request 9 1", "CLIENT_ERROR bad command line format"],
    [$m, "rep_set_priority", "CLIENT_ERROR bad command line format"],
    [$m, "rep_nonsense", "CLIENT_ERROR bad command line format"],
    [$m, "rep_replicaof somewhere", "CLIENT_ERROR bad command line format"],
);
for my $t (@rep) {
    my ($s, $cmd, $want) = @$t;
    is(send_recv($s, "$cmd\r\n"), "$want\r\n", "$cmd -> $want");
}

# ---- rep_wait: how many replicas have every write so far ----
is(send_recv($m, "set w 0 0 1\r\nw\r\n"), "STORED\r\n", 'master: a write');
is(send_recv($m, "rep_wait 1 30000\r\n"), "1\r\n", 'rep_wait 1: the replica acknowledged it');
is(send_recv($m, "rep_wait 0 0\r\n"), "1\r\n", 'rep_wait 0: at once');
print $m "rep_wait 2 200\r\nget w\r\n";
is(join('', map { scalar <$m> } 1 .. 4), "1\r\nVALUE w 0 1\r\nw\r\nEND\r\n",
   'rep_wait 2 with one replica: 1 after the timeout, then the pipelined get');
is(send_recv($m, "rep_wait x 1\r\n"), "CLIENT_ERROR bad command line format\r\n", 'rep_wait: bad count');
is(send_recv($r, "rep_wait 1 10\r\n"), "0\r\n", 'rep_wait on a replica: 0');

# ---- a dropped link resyncs from the backlog ----
for my $i (0 .. 49) {
    printf $m "set k%d 0 0 3 noreply\r\nk%02d\r\n", $i, $i;
}
ok(wait_synced($m, $r), 'replica caught up before the cut');
kill 'STOP', $replica->pid;
is(send_recv($m, "set w 0 0 1\r\nW\r\n"), "STORED\r\n", 'master: a write the stopped replica cannot have');
is(send_recv($m, "rep_wait 1 300\r\n"), "0\r\n", 'rep_wait 1 with the replica stopped: 0 after the timeout');
my $st = wait_repl($m, sub { $_[0]{connected_replicas} eq '0' });
is($st->{connected_replicas}, '0', 'master drops the silent replica after repl_timeout');
for my $i (50 .. 99) {
    printf $m "set k%d 0 0 3 noreply\r\nk%02d\r\n", $i, $i;
}
is(send_recv($m, "mn\r\n"), "MN\r\n", 'master: writes while the replica is away');
kill 'CONT', $replica->pid;
ok(wait_synced($m, $r), 'replica caught up after the cut');
is(digest($r), digest($m), 'same data after the partial resync');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_ok}", '1 1', 'one full sync in all, one partial');

# ---- -o no_replication, and rep_replicaof at run time ----
my $off = new_memcached('-o no_replication');
my $o = $off->sock;
is(send_recv($o, "rep_ismaster\r\n"), "REP_DISABLE\r\n", 'no_replication: rep_ismaster');
is(send_recv($o, "rep_sync ? -1\r\n"), "REP_DISABLE\r\n", 'no_replication: rep_sync refused');
is(send_recv($o, "rep_replicaof 127.0.0.1 $mport\r\n"), "REP_DISABLE\r\n",
   'no_replication: rep_replicaof refused');

my $third = new_memcached('-o repl_backlog_size=16384');
my $t = $third->sock;
is(send_recv($t, "set own 0 0 1\r\no\r\n"), "STORED\r\n", 'third: its own item');
is(send_recv($t, "rep_replicaof 127.0.0.1 $mport\r\n"), "OK\r\n", 'rep_replicaof HOST PORT');
ok(wait_synced($m, $r, $t), 'both replicas caught up');
is(digest($t), digest($m), 'the new replica holds the master\'s data, not its own');
is(send_recv($t, "rep_replicaof no one\r\n"), "OK\r\n", 'rep_replicaof no one');
is(send_recv($t, "rep_ismaster\r\n"), "REP_TRUE\r\n", 'a master again');
is(send_recv($t, "set own 0 0 1\r\no\r\n"), "STORED\r\n", 'and takes writes');

# ---- a backlog too small for the gap: a full sync ----
my $small = new_memcached('-o repl_timeout=2000,repl_backlog_size=16384');
my $sm = $small->sock;
my $sport = $small->port;
my $sr = new_memcached("-o replicaof=127.0.0.1:$sport");
my $srs = $sr->sock;
ok(wait_synced($sm, $srs), 'replica of the small-backlog master caught up');
kill 'STOP', $sr->pid;
wait_repl($sm, sub { $_[0]{connected_replicas} eq '0' });
print $sm "set big$_ 0 0 1000 noreply\r\n" . ('b' x 1000) . "\r\n" for 1 .. 40;
is(send_recv($sm, "mn\r\n"), "MN\r\n", '40,000 bytes written while it is away');
kill 'CONT', $sr->pid;
ok(wait_synced($sm, $srs), 'replica caught up after the long cut');
is(digest($srs), digest($sm), 'same data after the second full sync');
$st = repl_stats($sm);
is("$st->{sync_full} $st->{sync_partial_err}", '2 1', 'the backlog did not cover it: a full sync');

# ---- expiry: the replica hides what its clock says has expired; the
# master's removal takes it away for good ----
{
    is(send_recv($m, "set soon 0 5 1\r\nS\r\n"), "STORED\r\n", 'master: an item with a 5 s TTL');
    ok(wait_synced($m, $r), 'replica has it');
    is(send_recv($r, "get soon\r\n"), "VALUE soon 0 1\r\n", 'replica serves it while it lives');
    read_until_end($r);
    is(send_recv($r, "debugtime 10\r\n"), "OK\r\n", 'replica: 10 s pass');
    is(send_recv($r, "get soon\r\n"), "END\r\n", 'replica never serves it past its expiry');
    is(send_recv($m, "debugtime 10\r\n"), "OK\r\n", 'master: 10 s pass');
    is(send_recv($m, "get soon\r\n"), "END\r\n", 'master: expired, removed on access');
    ok(wait_synced($m, $r), 'replica caught up with the removal');
    is(digest($r), digest($m), 'same data after the expiry');
}

# ---- a chain: A -> B -> C, the same bytes and offsets all the way ----
{
    my $a = new_memcached('-o repl_timeout=2000');
    my $as = $a->sock;
    my $aport = $a->port;
    print $as "set c$_ $_ 0 2 noreply\r\n$_\r\n" for 10 .. 99;
    is(send_recv($as, "mn\r\n"), "MN\r\n", 'A: 90 items');
    my $b = new_memcached("-o replicaof=127.0.0.1:$aport,repl_timeout=2000");
    my $bs = $b->sock;
    my $bport = $b->port;
    ok(wait_synced($as, $bs), 'B caught up with A');
    my $c = new_memcached("-o replicaof=127.0.0.1:$bport");
    my $cs = $c->sock;
    ok(wait_synced($bs, $cs), 'C caught up with B');
    is(send_recv($cs, "rep_whoismaster\r\n"), "127.0.0.1:$bport\r\n", 'C follows B');
    print $as "incr c50 1\r\nappend c51 0 0 1\r\n!\r\ndelete c52\r\n";
    is(join('', map { scalar <$as> } 1 .. 3), "51\r\nSTORED\r\nDELETED\r\n", 'A: writes');
    ok(wait_synced($as, $bs, $cs), 'A, B and C at the same offset');
    my $d = digest($as);
    is(digest($bs), $d, 'B holds A\'s data');
    is(digest($cs), $d, 'C holds A\'s data');
    is(repl_stats($cs)->{repl_id}, repl_stats($as)->{repl_id}, 'C shares A\'s replication id');
    # C's link to B breaks; C continues from B's backlog.
    kill 'STOP', $c->pid;
    wait_repl($bs, sub { $_[0]{connected_replicas} eq '0' });
    print $as "set late$_ 0 0 1 noreply\r\nL\r\n" for 1 .. 20;
    is(send_recv($as, "mn\r\n"), "MN\r\n", 'A: writes while C is away');
    kill 'CONT', $c->pid;
    ok(wait_synced($as, $bs, $cs), 'the chain caught up again');
    is(digest($cs), digest($as), 'C holds A\'s data after the cut');
    is(repl_stats($bs)->{sync_partial_ok}, '1', 'C resynced partially from B');
}

# ---- repl_self: the address a server is known by ----
{
    my $a = new_memcached('-o repl_self=10.9.8.7:4321');
    my $as = $a->sock;
    is(send_recv($as, "rep_whoismaster\r\n"), "10.9.8.7:4321\r\n",
        'a master gives its repl_self as the master');
    my %set = map { /^STAT (\S+) (.*)\z/ ? ($1 => $2) : () }
        split /\r\n/, do { print $as "stats settings\r\n"; read_until_end($as) };
    is($set{repl_self}, '10.9.8.7:4321', 'stats settings shows repl_self');
    my $aport = $a->port;
    my $b = new_memcached("-o replicaof=127.0.0.1:$aport,repl_self=10.9.8.8:5555");
    my $bs = $b->sock;
    ok(wait_synced($as, $bs), 'the replica caught up');
    like(repl_stats($as)->{replica0},
        qr/^addr=127\.0\.0\.1:\d+,id=10\.9\.8\.8:5555,priority=100,state=online,ack=\d+,lag=\d+\z/,
        'the master knows the replica by the repl_self it announced');
    is(send_recv($bs, "rep_whoismaster\r\n"), "127.0.0.1:$aport\r\n",
        'the replica names the master it was given');
}

done_testing();
