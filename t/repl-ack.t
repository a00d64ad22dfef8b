#!/usr/bin/perl
# Acknowledged writes: under an ack policy a master holds a write's reply
# until the replicas the policy counts have applied it, and answers
# SERVER_ERROR (text and meta) or status 0x86 (binary) when
# repl_ack_timeout passes first; the write stays on the master. Replicas
# are stopped with SIGSTOP to take the timeout path. Reads, failed writes
# and other connections are never held. Every wait is a bounded poll.
use strict;
use warnings;
use Test::More;
use IO::Select;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my $LATE = "SERVER_ERROR replicas did not acknowledge the write in time\r\n";

# ---- ONE with no replica: nobody can acknowledge ----
my $master = new_memcached('-o repl_ack_policy=4,repl_ack_timeout=200000,repl_timeout=60000');
my $m = $master->sock;
my $mport = $master->port;
is(send_recv($m, "set a 0 0 1\r\nA\r\n"), $LATE, 'ONE, no replica: the set times out');
is(get_all($m, "get a\r\n"), "VALUE a 0 1\r\nA\r\nEND\r\n", 'the write stays on the master');
is(repl_stats($m)->{ack_timeouts}, 1, 'ack_timeouts 1');
is(send_recv($m, "add a 0 0 1\r\nB\r\n"), "NOT_STORED\r\n", 'a write that changes nothing is not held');
is(repl_stats($m)->{ack_timeouts}, 1, 'ack_timeouts still 1');
is(send_recv($m, "rep_set_ack_policy 3\r\n"), "3\r\n", 'NONE');
is(send_recv($m, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'NONE: at once, no replica');
is(send_recv($m, "rep_set_ack_policy 4\r\n"), "4\r\n", 'ONE again');

# ---- one replica: STORED means the replica has it ----
my $rep1 = new_memcached("-o replicaof=127.0.0.1:$mport,repl_priority=50");
my $r1 = $rep1->sock;
my $id1 = '127.0.0.1:' . $rep1->port;
ok(wait_synced($m, $r1), 'replica 1 caught up');
for my $i (1 .. 3) {
    is(send_recv($m, "set k$i 3 0 2\r\nv$i\r\n") . get_all($r1, "get k$i\r\n"),
       "STORED\r\nVALUE k$i 3 2\r\nv$i\r\nEND\r\n", "set k$i: STORED, and the replica serves it at once");
}
printf $m "set k%d 3 0 3 noreply\r\nv%02d\r\n", $_, $_ for 4 .. 20;
is(send_recv($m, "mn\r\n"), "MN\r\n", 'noreply writes held in order, then mn');
is(get_all($r1, "get k20\r\n"), "VALUE k20 3 3\r\nv20\r\nEND\r\n", 'the replica has the last noreply write');
print $m "set p1 0 0 2\r\nP1\r\nget p1\r\nincr nope 1\r\ndelete p1\r\nget p1\r\n";
my $want = "STORED\r\nVALUE p1 0 2\r\nP1\r\nEND\r\nNOT_FOUND\r\nDELETED\r\nEND\r\n";
is(read_reply($m, length $want), $want, 'a pipeline: replies in order');
is(meta($m, "ms m1 2 T0 F5\r\nmm\r\n"), "HD\r\n", 'ms: HD once acknowledged');
is(meta_mn($m, "ms m2 2 q\r\nmm\r\nmn\r\n"), "MN\r\n", 'ms q: nothing but MN');
is(meta($r1, "mg m2 v f\r\n"), "VA 2 f0\r\nmm\r\n", 'the replica has the quiet write');
my $st = repl_stats($m);
like($st->{replica0}, qr/^addr=127\.0\.0\.1:\d+,id=\Q$id1\E,priority=50,state=online,ack=\d+,lag=\d+\z/,
     'replica0 names the replica by its own address and priority');
is($st->{known0}, "id=$id1,priority=50,connected=yes", 'known0: the replica');
is($st->{ack_timeouts}, 1, 'no timeout while the replica answers');

# ---- the replica stopped: the timeout path ----
is(send_recv($m, "rep_set_ack_timeout 2000000\r\n"), "2000000\r\n", 'ack timeout 2 s');
kill 'STOP', $rep1->pid;
my $m2 = $master->new_sock;
print $m "set held 0 0 4\r\nHELD\r\n";
is(wait_value($m2, 'held'), "VALUE held 0 4\r\nHELD\r\nEND\r\n",
   'another connection is served while the write waits, and sees it');
ok(!IO::Select->new($m)->can_read(0), 'the writer has no reply yet');
is(read_reply($m, length $LATE), $LATE, 'then the timeout: SERVER_ERROR');
is(send_recv($m, "rep_set_ack_timeout 100000\r\n"), "100000\r\n", 'ack timeout 100 ms');
is(get_all($m, "get k1 held\r\n"), "VALUE k1 3 2\r\nv1\r\nVALUE held 0 4\r\nHELD\r\nEND\r\n",
   'reads are not held');
is(meta_mn($m, "set nr 0 0 1 noreply\r\nN\r\nmn\r\n"), $LATE . "MN\r\n",
   'noreply: the timeout is still reported, as memcached reports errors');
is(meta_mn($m, "ms m3 2 q\r\nmm\r\nmn\r\n"), $LATE . "MN\r\n", 'ms q: the error shows, then MN');
is(send_recv($m, "incr k1 1\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
   'a failed incr is not held');
is(send_recv($m, "set n 0 0 2\r\n10\r\n"), $LATE, 'set n');
is(send_recv($m, "incr n 5\r\n"), $LATE, 'incr: held, times out');
is(get_all($m, "get n\r\n"), "VALUE n 0 2\r\n15\r\nEND\r\n", 'the incr took effect');
is(send_recv($m, "touch n 100\r\n"), $LATE, 'touch times out');
is(send_recv($m, "delete n\r\n"), $LATE, 'delete times out');
is(send_recv($m, "flush_all 5000\r\n"), $LATE, 'flush_all times out');
# A binary set: status 0x86 (temporary failure), the message as body.
my $msg = 'replicas did not acknowledge the write in time';
my $bin = $master->new_sock;
print $bin pack('CCnCCnNNQ>', 0x80, 0x01, 1, 8, 0, 0, 10, 0x1234, 0) . pack('NN', 0, 0) . 'b' . 'v';
is(unpack('H*', read_reply($bin, 24 + length $msg)),
   unpack('H*', pack('CCnCCnNNQ>', 0x81, 0x01, 0, 0, 0, 0x86, length $msg, 0x1234, 0) . $msg),
   'binary set: 0x86 and the message');
is(get_all($m, "get b\r\n"), "VALUE b 0 1\r\nv\r\nEND\r\n", 'the binary write stays too');
is(repl_stats($m)->{ack_timeouts}, 10, 'ack_timeouts counts every held write that timed out');
# A client that hangs up while its write is held: its write still waits
# its turn (and counts), and the next connection waits for itself.
{
    my $gone = $master->new_sock;
    print $gone "set gone 0 0 1\r\ng\r\n";
    # The write is applied (the other connection sees it) while its
    # reply is held; wait until the server has read it.
    is(wait_value($m2, 'gone'), "VALUE gone 0 1\r\ng\r\nEND\r\n", 'the write is applied');
    close $gone;
    my $next = $master->new_sock;
    is(send_recv($next, "set next 0 0 1\r\nn\r\n"), $LATE, 'the next connection gets its own timeout');
    is(repl_stats($m)->{ack_timeouts}, 12, 'both writes count as timed out');
}
kill 'CONT', $rep1->pid;
ok(wait_synced($m, $r1), 'the replica catches up once it runs again');
is(digest($r1), digest($m), 'same data: the timed-out writes reached it');
is(send_recv($m, "set after 0 0 1\r\nZ\r\n"), "STORED\r\n", 'writes are acknowledged again');

# ---- two replicas: QUORUM, ALL, ALL_PEERS, ONE_PEER ----
my $rep2 = new_memcached("-o replicaof=127.0.0.1:$mport,repl_priority=0");
my $r2 = $rep2->sock;
my $id2 = '127.0.0.1:' . $rep2->port;
ok(wait_synced($m, $r1, $r2), 'replica 2 (priority 0, not an electable peer) caught up');
is(repl_stats($m)->{known1}, "id=$id2,priority=0,connected=yes", 'known1: replica 2');
my @cases = (
    # policy, replica stopped, reply
    [1, $rep2, $LATE,            'ALL, replica 2 stopped'],
    [2, $rep2, "STORED\r\n",     'ALL_PEERS, the non-peer stopped'],
    [2, $rep1, $LATE,            'ALL_PEERS, the peer stopped'],
    [4, $rep1, "STORED\r\n",     'ONE, one of two stopped'],
    [5, $rep1, $LATE,            'ONE_PEER, the only peer stopped'],
    [5, $rep2, "STORED\r\n",     'ONE_PEER, the non-peer stopped'],
    [6, $rep2, "STORED\r\n",     'QUORUM of 1 peer + master: the peer is enough'],
    [6, $rep1, $LATE,            'QUORUM, the peer stopped'],
);
my $n = 0;
for my $c (@cases) {
    my ($policy, $stopped, $want, $name) = @$c;
    is(send_recv($m, "rep_set_ack_policy $policy\r\n"), "$policy\r\n", "policy $policy");
    kill 'STOP', $stopped->pid;
    $n++;
    is(send_recv($m, "set q$n 0 0 1\r\nq\r\n"), $want, $name);
    kill 'CONT', $stopped->pid;
    ok(wait_synced($m, $r1, $r2), "both caught up after: $name");
}
is(digest($r1), digest($m), 'replica 1: same data');
is(digest($r2), digest($m), 'replica 2: same data');

# ---- a replica gone for good counts until it is forgotten ----
is(send_recv($m, "rep_set_ack_policy 1\r\n"), "1\r\n", 'ALL');
$rep2->stop;
my $gone = wait_repl($m, sub { ($_[0]{known1} // '') =~ /connected=no/ });
is($gone->{known1}, "id=$id2,priority=0,connected=no", 'known1: replica 2, gone');
is(send_recv($m, "set g 0 0 1\r\ng\r\n"), $LATE, 'ALL: the gone replica is still waited for');
is(send_recv($m, "rep_forget $id2\r\n"), "OK\r\n", 'rep_forget it');
is(send_recv($m, "rep_forget $id2\r\n"), "NOT_FOUND\r\n", 'rep_forget again: NOT_FOUND');
is(repl_stats($m)->{known1}, undef, 'known lists replica 1 alone');
is(send_recv($m, "set g 0 0 1\r\nG\r\n"), "STORED\r\n", 'ALL: replica 1 is all there is');
is(get_all($r1, "get g\r\n"), "VALUE g 0 1\r\nG\r\nEND\r\n", 'and it has the write');

# ---- memcachedb's stats groups ----
my $r1port = $rep1->port;
is(stats_group($m, 'repcfg'),
   "STAT rep_priority 100\r\nSTAT rep_ack_policy 1\r\nSTAT rep_ack_timeout 100000\r\n"
   . "STAT rep_bulk 1\r\nSTAT rep_request 100/5000\r\nSTAT rep_nsites 2\r\nEND\r\n",
   'stats repcfg on the master');
is(stats_group($m, 'repms'),
   "STAT site-00 127.0.0.1:$mport/MASTER/--\r\nSTAT site-01 $id1/CLIENT/CONNECTED\r\nEND\r\n",
   'stats repms on the master: itself and the replica it knows');
is(stats_group($r1, 'repms'),
   "STAT site-00 127.0.0.1:$r1port/CLIENT/--\r\nSTAT site-01 127.0.0.1:$mport/MASTER/CONNECTED\r\nEND\r\n",
   'stats repms on the replica: itself and its master');
is(stats_group($m, 'repmgr'),
   "STAT st_perm_failed 17\r\nSTAT st_msgs_queued 0\r\nSTAT st_connection_drop 0\r\nSTAT st_connect_fail 0\r\nEND\r\n",
   'stats repmgr: st_perm_failed counts the ack timeouts');
my $rep_re = "\\ASTAT st_env_priority 50\r\nSTAT st_log_queued 0\r\nSTAT st_log_records [1-9]\\d*\r\n"
    . "STAT st_master_changes 0\r\nSTAT st_msgs_sent 0\r\nSTAT st_nsites 2\r\nSTAT st_startup_complete 1\r\nEND\r\n\\z";
like(stats_group($r1, 'rep'), qr/$rep_re/, 'stats rep on the replica');
is(send_recv($m, "stats repnope\r\n"), "ERROR\r\n", 'an unknown group: ERROR');

# ---- repl_sites: QUORUM counts the configured group, not the known one ----
my $g = new_memcached('-o repl_ack_policy=6,repl_sites=3,repl_ack_timeout=100000');
my $gs = $g->sock;
my $gport = $g->port;
is(send_recv($gs, "set s 0 0 1\r\n1\r\n"), $LATE,
   'QUORUM of 3 sites with no replica yet: the write times out');
like(stats_group($gs, 'repcfg'), qr/STAT rep_nsites 3\r\n/, 'rep_nsites 3');
my $gr = new_memcached("-o replicaof=127.0.0.1:$gport");
ok(wait_synced($gs, $gr->sock), 'one replica of the three-site group');
is(send_recv($gs, "set s 0 0 1\r\n2\r\n"), "STORED\r\n", 'master + 1 of 3: a majority');

done_testing();

sub stats_group {
    my ($sock, $group) = @_;
    print $sock "stats $group\r\n";
    return read_until_end($sock);
}

# `get key` until the server has the key (it may not have read the write
# yet); gives up after 30 s. Returns the last reply.
sub wait_value {
    my ($sock, $key) = @_;
    my $seen = '';
    for (1 .. 1500) {
        $seen = get_all($sock, "get $key\r\n");
        last if $seen ne "END\r\n";
        select(undef, undef, undef, 0.02);
    }
    return $seen;
}

# Sends meta requests ending with mn and reads every reply through MN.
sub meta_mn {
    my ($sock, $req) = @_;
    print $sock $req;
    return read_until_end($sock, "MN\r\n");
}
