#!/usr/bin/perl
# Replication under link faults: a replica attached through a TCP proxy
# (t/lib/Proxy.pm) while a writer (t/lib/Writer.pm) keeps changing the
# master with every kind of command. The proxy cuts the link, holds or
# refuses reconnections, and cuts a snapshot half way; the replica must
# come back by itself with a partial resync when the backlog covers the
# gap and a full one when it does not, counted exactly in `stats
# replication`, and hold the master's data (debugdigest) once offsets
# agree. Every wait is a bounded poll.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;
use Proxy;
use Writer;
use IO::Select;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVTIMEO);
use Time::HiRes qw(time);

require_debug_binary();
# A link the server closed fails a check rather than killing the script.
$SIG{PIPE} = 'IGNORE';

# Asks `$server` for a full sync on a socket of the test's own; returns
# the socket and the REP_FULLSYNC line with the snapshot's bytes after it.
sub stream_open_raw {
    my ($server) = @_;
    my $s = $server->new_sock;
    print $s "rep_sync ? -1\r\n";
    my $line = <$s> // '';
    $line .= read_reply($s, $1) if $line =~ /^REP_FULLSYNC \S+ \d+ (\d+)\r\n\z/;
    return ($s, $line);
}

# ---- link cuts under a write load: partial resyncs ----
# The backlog (8 MiB) covers many seconds of the writer's stream, so
# every reconnection continues where the replica was.
my $master = new_memcached('-o repl_backlog_size=8388608');
my $m = $master->sock;
my $proxy = Proxy->new($master->port);
my $pport = $proxy->port;
my $replica = new_memcached("-o replicaof=127.0.0.1:$pport");
my $r = $replica->sock;
ok(wait_synced($m, $r), 'replica caught up through the proxy');
is(syncs($m), 'sync_full=1 sync_partial_ok=0 sync_partial_err=0 replicas_dropped=0',
   'master: one full sync to begin with');
is(send_recv($r, "rep_whoismaster\r\n"), "127.0.0.1:$pport\r\n", 'the replica follows the proxy');

my $writer = Writer->start($master->port);
for my $cut (1 .. 5) {
    ok(stream_moves($m, 20_000), "cut $cut: the writer's changes stream to the replica");
    is($proxy->cut, 'OK 1', "cut $cut: the proxy cuts the one link");
    my $st = wait_repl($m, sub { $_[0]{sync_partial_ok} >= $cut && $_[0]{connected_replicas} == 1 });
    is("$st->{sync_partial_ok} $st->{sync_full}", "$cut 1",
       "cut $cut: the replica came back by itself and continued from the backlog");
    my $ps = $proxy->wait_status(sub { $_[0]{live} == 1 });
    is("$ps->{accepted} $ps->{live}", ($cut + 1) . ' 1', "cut $cut: through one new connection");
}

# A cut, then the reconnection held while the writer writes on; the gap
# is still in the backlog.
is($proxy->hold, 'OK', 'hold: new connections wait');
is($proxy->cut, 'OK 1', 'cut 6: the link is cut');
my $away = wait_repl($r, sub { $_[0]{master_link_status} ne 'up' });
my $held_at = $away->{repl_offset};
like($away->{master_link_down_ms}, qr/\A\d+\z/, 'the replica says how long its stream has been missing');
ok(stream_moves($m, 50_000), 'the master streams 50,000 bytes more while the replica is away');
my $ps = $proxy->wait_status(sub { $_[0]{held} == 1 });
is($ps->{held}, 1, 'the replica is already knocking again');
is($proxy->resume, 'OK', 'resume');
my $st = wait_repl($m, sub { $_[0]{sync_partial_ok} >= 6 });
is("$st->{sync_partial_ok} $st->{sync_full}", '6 1', 'a held reconnection continues from the backlog too');
$st = wait_repl($r, sub { $_[0]{repl_offset} >= $held_at + 50_000 });
ok($st->{repl_offset} >= $held_at + 50_000, 'the replica applied the 50,000 bytes of the gap');

# Reconnections refused for a while: none reaches the master.
is($proxy->refuse, 'OK', 'refuse: new connections are closed at once');
is($proxy->cut, 'OK 1', 'cut 7: the link is cut');
$ps = $proxy->wait_status(sub { $_[0]{refused} >= 3 });
ok($ps->{refused} >= 3, 'the replica retried and was refused three times');
is($proxy->resume, 'OK', 'resume');
$st = wait_repl($m, sub { $_[0]{sync_partial_ok} >= 7 });
is("$st->{sync_partial_ok} $st->{sync_full}", '7 1', 'after the refusals, one partial resync');

my $w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok($w->{ops} > 1000, 'the writer wrote over a thousand requests');
ok(wait_synced($m, $r), 'replica caught up after the cuts');
my $d = digest($m);
is(digest($r), $d, 'same data, CAS, flags, expiry and meta state as the master');
like($d, qr/^DIGEST [1-9]\d* [0-9a-f]{16}\r\n\z/, 'the master holds items');
is(syncs($m), 'sync_full=1 sync_partial_ok=7 sync_partial_err=0 replicas_dropped=0',
   'master: still one full sync, seven partial ones');
is(repl_stats($r)->{repl_id}, repl_stats($m)->{repl_id}, 'the replica shares the master\'s history');
for my $k ('c0', 'c7', 'w1', 'w100', 'w199') {
    print $m "gets $k\r\n";
    my $want = read_until_end($m);
    print $r "gets $k\r\n";
    is(read_until_end($r), $want, "gets $k: byte for byte the master's");
}

# ---- a backlog too small for the gap: a full sync ----
my $small = new_memcached('-o repl_backlog_size=16384');
my $sm = $small->sock;
# 20,000 items of 100 bytes: a snapshot of about 2.5 MB.
print $sm sprintf("set bulk%d 0 0 100 noreply\r\n%s\r\n", $_, 'b' x 100) for 1 .. 20_000;
is(send_recv($sm, "mn\r\n"), "MN\r\n", 'small-backlog master: 20,000 items');
my $sproxy = Proxy->new($small->port);
my $sr = new_memcached('-o replicaof=127.0.0.1:' . $sproxy->port);
my $srs = $sr->sock;
ok(wait_synced($sm, $srs), 'its replica caught up');
is(syncs($sm), 'sync_full=1 sync_partial_ok=0 sync_partial_err=0 replicas_dropped=0',
   'small-backlog master: one full sync');
$writer = Writer->start($small->port);
ok(stream_moves($sm, 5_000), 'the writer writes to the small-backlog master');
is($sproxy->hold, 'OK', 'hold');
is($sproxy->cut, 'OK 1', 'cut');
ok(stream_moves($sm, 40_000), '40,000 bytes of stream while the replica is away, more than the backlog');
$ps = $sproxy->wait_status(sub { $_[0]{held} == 1 });
is($ps->{held}, 1, 'the replica knocks again');
is($sproxy->resume, 'OK', 'resume');
$st = wait_repl($sm, sub { $_[0]{sync_full} >= 2 });
is(syncs($sm), 'sync_full=2 sync_partial_ok=0 sync_partial_err=1 replicas_dropped=0',
   'the backlog did not cover the gap: one full sync, counted as a failed partial one');

# ---- a snapshot cut half way: the replica keeps its old data ----
ok(wait_repl($srs, sub { $_[0]{master_link_status} eq 'up' })->{master_link_status} eq 'up',
   'the replica streams again');
is($sproxy->hold, 'OK', 'hold');
is($sproxy->cut, 'OK 1', 'cut');
# Once the replica knocks again it has applied all it received.
is($sproxy->wait_status(sub { $_[0]{held} == 1 })->{held}, 1, 'the replica knocks again');
is(wait_repl($srs, sub { $_[0]{master_link_status} eq 'sync' })->{master_link_status}, 'sync',
   'the replica waits for its sync');
my $before = digest($srs);
ok(stream_moves($sm, 40_000), 'again more than the backlog while the replica is away');
is($sproxy->cut_after(1_000_000), 'OK', 'the next connection is cut after 1,000,000 bytes');
is($sproxy->resume, 'OK', 'resume');
$ps = $sproxy->wait_status(sub { $_[0]{mode} eq 'hold' });
is($ps->{mode}, 'hold', 'the snapshot was cut, and the proxy holds again');
is(wait_repl($sm, sub { $_[0]{sync_full} >= 3 })->{sync_full}, 3, 'the master counted that full sync');
is($sproxy->wait_status(sub { $_[0]{held} == 1 })->{held}, 1, 'the replica knocks again');
is(digest($srs), $before, 'the replica still serves its old data, untouched by the half snapshot');
mem_get_is($srs, 'bulk77', 'b' x 100, 'the replica answers from its old data');
is($sproxy->resume, 'OK', 'resume');
$st = wait_repl($sm, sub { $_[0]{sync_full} >= 4 });
$w = $writer->stop;
is($w->{bad}, 0, "the writer got every reply it expected ($w->{ops} requests) $w->{first}");
ok(wait_synced($sm, $srs), 'the replica caught up after the whole snapshot');
is(digest($srs), digest($sm), 'same data as the small-backlog master');
is(syncs($sm), 'sync_full=4 sync_partial_ok=0 sync_partial_err=3 replicas_dropped=0',
   'small-backlog master: four full syncs in all, three asked as partial');
like(digest($srs), qr/^DIGEST 20[0-9]{3} /, 'the replica holds the 20,000 items and the writer\'s');

# ---- a master slow to make its snapshot keeps the link alive ----
# The test plays the master: it takes the replica's rep_sync, sends blank
# lines (keepalives) for three seconds, longer than the replica's
# repl_timeout of two, then relays a real master's REP_FULLSYNC and
# snapshot. The replica must wait, not drop the link and reconnect.
{
    my $real = new_memcached('');
    my $rs = $real->sock;
    print $rs "set relay$_ $_ 0 4 noreply\r\nr$_\r\n" for 100 .. 199;
    is(send_recv($rs, "mn\r\n"), "MN\r\n", 'a master with 100 items');
    my ($feed, $head) = (stream_open_raw($real));
    like($head, qr/^REP_FULLSYNC [0-9a-f]{40} \d+ \d+\r\n/, 'its snapshot, taken as a replica would');
    my $fake = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                     Listen => 5, ReuseAddr => 1) or die "listen: $!";
    my $fport = $fake->sockport;
    my $slow = new_memcached("-o replicaof=127.0.0.1:$fport,repl_timeout=2000");
    my $ss = $slow->sock;
    my $sel = IO::Select->new($fake);
    my $link = $sel->can_read(30) ? $fake->accept : undef;
    ok($link, 'the replica connects to the test\'s master');
    $link->autoflush(1);
    setsockopt($link, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    is(scalar <$link>, "rep_sync ? -1 127.0.0.1:" . $slow->port . " 100\r\n",
       'it asks for a full sync, naming itself and its priority');
    my $end = time + 3;
    my $blank = 0;
    while (time < $end) {
        print $link "\r\n";
        $blank++;
        select(undef, undef, undef, 0.25);      # the keepalives' pace
    }
    ok($blank >= 10, 'blank lines for three seconds');
    my $st = repl_stats($ss);
    is($st->{master_link_status}, 'sync', 'the replica still waits for its snapshot');
    ok(!$sel->can_read(0), 'and has not connected again');
    like("$st->{master_last_io_ms} $st->{master_link_down_ms}", qr/\A\d+ \d+\z/,
         'waiting: when the master was last heard, since when the stream is missing');
    ok(!exists $st->{master_sync_total_bytes}, 'no snapshot bytes counted before a snapshot');
    # The snapshot's first 100 bytes, then the rest.
    my ($line1, $total) = $head =~ /\A(REP_FULLSYNC \S+ \d+ (\d+)\r\n)/;
    print $link $line1, substr($head, length $line1, 100);
    $st = wait_repl($ss, sub { ($_[0]{master_sync_read_bytes} // 0) == 100 });
    is("$st->{master_sync_read_bytes}/$st->{master_sync_total_bytes}", "100/$total",
       'receiving: 100 bytes of the snapshot read, its whole size known');
    print $link substr($head, length($line1) + 100);
    $st = wait_repl($ss, sub { $_[0]{master_link_status} eq 'up' });
    is($st->{master_link_status}, 'up', 'the replica loaded the snapshot');
    is(join(',', grep { exists $st->{$_} } qw(master_link_down_ms master_sync_read_bytes master_sync_total_bytes)),
       '', 'up: no down time, no snapshot counts');
    like($st->{master_last_io_ms}, qr/\A\d+\z/, 'up: when the master was last heard');
    is(digest($ss), digest($rs), 'the replica holds the master\'s 100 items');
    close $link;

    # ---- a damaged stream or answer drops the link, never the replica ----
    # A listener of its own: the first replica is reconnecting to the
    # first one.
    my ($id, $off) = $head =~ /^REP_FULLSYNC (\S+) (\d+) /;
    $fake = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                  Listen => 5, ReuseAddr => 1) or die "listen: $!";
    $sel = IO::Select->new($fake);
    my $hurt = new_memcached('-o replicaof=127.0.0.1:' . $fake->sockport);
    my $hs = $hurt->sock;
    $link = $sel->can_read(30) ? $fake->accept : undef;
    ok($link, 'another replica connects to the test\'s master');
    setsockopt($link, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    my $me = '127.0.0.1:' . $hurt->port;
    is(scalar <$link>, "rep_sync ? -1 $me 100\r\n", 'it asks for a full sync');
    print $link $head . "rep_set k 0 0 1 0 18446744073709551615\r\n";
    my $again = $sel->can_read(30) ? $fake->accept : undef;
    ok($again, 'after a rep_set announcing 2**64-1 bytes the replica connects again');
    setsockopt($again, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    is(scalar <$again>, "rep_sync $id $off $me 100\r\n", 'and asks to continue after the snapshot it loaded');
    ok($hurt->is_running, 'the replica is running');
    is(digest($hs), digest($rs), 'with the snapshot\'s data');
    print $again "REP_FULLSYNC $id $off 18446744073709551615\r\n";
    close $again;
    $again = $sel->can_read(30) ? $fake->accept : undef;
    ok($again, 'after a REP_FULLSYNC of 2**64-1 bytes and a closed link it connects again');
    setsockopt($again, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    is(scalar <$again>, "rep_sync $id $off $me 100\r\n", 'and asks to continue, as before');
    ok($hurt->is_running, 'the replica is running');
    is(digest($hs), digest($rs), 'with its data as it was');
    close $again;
}

$proxy->stop;
$sproxy->stop;
done_testing();
