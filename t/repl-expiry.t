#!/usr/bin/perl
# Expiry and eviction under replication. The master streams an item's
# absolute expiry; a replica hides the item once its own clock passes it
# (and never serves it after), and the master's own removals, lazy expiry
# on access, the crawler's reclaim and evictions for memory, reach
# replicas as rep_del with their reason, read here byte for byte from a
# connection of the test's own that asks for the stream as a replica
# does. Clocks are frozen (MEMCACHED_DEBUG_CLOCK_FROZEN) and moved only
# with memcached-debug's `debugtime`, so every expiry is exact. Every wait
# is a bounded poll.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my %frozen = (env => { MEMCACHED_DEBUG_CLOCK_FROZEN => 1 });

sub gets_line {
    my ($sock, $key) = @_;
    print $sock "gets $key\r\n";
    return read_until_end($sock);
}

# Neither the LRU maintainer nor the crawler runs on the master until the
# test asks, so an expired item is found by the access the test makes.
my $master = new_memcached('-o no_lru_maintainer,no_lru_crawler', %frozen);
my $m = $master->sock;
my $mport = $master->port;
my $replica = new_memcached("-o replicaof=127.0.0.1:$mport", %frozen);
my $r = $replica->sock;
my $rport = $replica->port;
# C is a replica of the replica: a chain whose middle expires items by
# its own clock must still forward exactly its master's stream.
my $chained = new_memcached("-o replicaof=127.0.0.1:$rport", %frozen);
my $c = $chained->sock;
ok(wait_synced($m, $r, $c), 'replica and chained replica caught up');
my ($f, $hello) = stream_open($master);
like($hello, qr/^REP_FULLSYNC [0-9a-f]{40} \d+ \d+\r\n\z/, 'the test\'s own replica connection gets a full sync');
my $t = stats_of($m)->{time};
like($t, qr/^\d{10}\z/, 'the master\'s unix time');

# ---- the absolute expiry is streamed ----
is(send_recv($m, "set soon 3 100 1\r\nS\r\n"), "STORED\r\n", 'master: an item with a 100 s TTL');
my ($cas) = gets_line($m, 'soon') =~ /^VALUE soon 3 1 (\d+)\r\n/;
is(stream_next($f), "rep_set soon 3 " . ($t + 100) . " $cas 0 1\r\nS\r\n",
   'the stream carries its absolute expiry and CAS');
is(send_recv($m, "set keep 0 0 1\r\nK\r\n"), "STORED\r\n", 'master: an item that never expires');
($cas) = gets_line($m, 'keep') =~ /^VALUE keep 0 1 (\d+)\r\n/;
is(stream_next($f), "rep_set keep 0 0 $cas 0 1\r\nK\r\n", 'exptime 0 stays 0');
is(send_recv($m, "set ext 0 50 1\r\nE\r\n"), "STORED\r\n", 'master: an item with a 50 s TTL');
is(stream_next($f) =~ s/ \d+ 0 1\r\n/ CAS 0 1\r\n/r, "rep_set ext 0 " . ($t + 50) . " CAS 0 1\r\nE\r\n",
   'its expiry');
is(send_recv($m, "touch ext 1000\r\n"), "TOUCHED\r\n", 'master: touch it to 1000 s');
is(stream_next($f) =~ s/ \d+ 0 1\r\n/ CAS 0 1\r\n/r, "rep_set ext 0 " . ($t + 1000) . " CAS 0 1\r\nE\r\n",
   'touch streams the new absolute expiry');
ok(wait_synced($m, $r, $c), 'the replicas have them');
for my $k ('soon', 'keep', 'ext') {
    my $want = gets_line($m, $k);
    is(gets_line($r, $k), $want, "replica: gets $k as on the master");
}
is(digest($r), digest($m), 'replica: the master\'s data');

# ---- the replica's own clock passes the expiry ----
my $rt = stats_of($r)->{time};
ok($rt >= $t, 'the replica\'s clock is not behind the master\'s');
is(send_recv($r, "debugtime " . ($t + 100 - $rt) . "\r\n"), "OK\r\n", 'replica: its clock reaches the expiry');
is(stats_of($r)->{time}, $t + 100, 'replica: its unix time is the item\'s expiry');
is(send_recv($r, "mg soon v\r\n"), "EN\r\n", 'replica: mg misses the expired item');
is(gets_line($r, 'soon'), "END\r\n", 'replica: gets misses it');
print $r "get keep soon ext\r\n";
is(read_until_end($r), "VALUE keep 0 1\r\nK\r\nVALUE ext 0 1\r\nE\r\nEND\r\n",
   'replica: a multi-get serves the others only (ext was touched past it)');
is(send_recv($r, "me soon\r\n"), "EN\r\n", 'replica: me misses it');
is(send_recv($m, "mg soon v\r\n"), "VA 1\r\n", 'master: its clock has not got there, it still serves it');
read_reply($m, 3);
ok(wait_synced($m, $r, $c), 'the chain is still at one offset: the replica streamed nothing of its own');
is(send_recv($c, "mg soon v\r\n"), "VA 1\r\n", 'chained replica: by its clock the item lives');
read_reply($c, 3);

# ---- the master expires it: rep_del expired ----
is(send_recv($m, "debugtime 100\r\n"), "OK\r\n", 'master: 100 s pass');
is(send_recv($m, "get soon\r\n"), "END\r\n", 'master: the item expired, found on access');
is(stream_next($f), "rep_del soon expired\r\n", 'the stream: rep_del soon expired');
ok(wait_synced($m, $r, $c), 'the replicas caught up with the removal');
is(send_recv($c, "mg soon v\r\n"), "EN\r\n", 'chained replica: the master\'s removal took it away');
is(digest($r), digest($m), 'replica: the master\'s data');
is(digest($c), digest($m), 'chained replica: the master\'s data');

# ---- the crawler reclaims expired items: rep_del reclaimed ----
for my $k (qw(crawl1 crawl2 crawl3)) {
    is(send_recv($m, "set $k 0 10 2\r\nxx\r\n"), "STORED\r\n", "master: $k with a 10 s TTL");
    like(stream_next($f), qr/^rep_set $k 0 \d+ \d+ 0 2\r\nxx\r\n\z/, "the stream: $k");
}
ok(wait_synced($m, $r, $c), 'the replicas have them');
is(send_recv($m, "debugtime 20\r\n"), "OK\r\n", 'master: 20 s pass');
is(send_recv($m, "lru_crawler enable\r\n"), "OK\r\n", 'master: lru_crawler enable');
is(send_recv($m, "lru_crawler crawl all\r\n"), "OK\r\n", 'master: lru_crawler crawl all');
my @dels = sort map { stream_next($f) // 'nothing' } 1 .. 3;
is(join('', @dels), "rep_del crawl1 reclaimed\r\nrep_del crawl2 reclaimed\r\nrep_del crawl3 reclaimed\r\n",
   'the stream: the crawler\'s three removals, reclaimed');
ok(wait_synced($m, $r, $c), 'the replicas caught up');
is(stats_of($c)->{curr_items}, stats_of($m)->{curr_items},
   'chained replica: the same number of items as the master, expired ones gone for good');
is(digest($c), digest($m), 'chained replica: the master\'s data');

# ---- evictions for memory: rep_del evicted ----
# 4,000 values of 1,000 bytes in -m 2: most are evicted. One replica has
# the master's -m, one far more; neither evicts on its own.
my $small = new_memcached('-m 2');
my $sm = $small->sock;
my $sport = $small->port;
my $same = new_memcached("-m 2 -o replicaof=127.0.0.1:$sport");
my $big = new_memcached("-m 64 -o replicaof=127.0.0.1:$sport");
my ($ss, $bs) = ($same->sock, $big->sock);
ok(wait_synced($sm, $ss, $bs), 'two replicas of the small master caught up');
my ($sf) = stream_open($small);
my $val = 'e' x 1000;
print $sm "set ev$_ 0 0 1000 noreply\r\n$val\r\n" for 1 .. 4000;
is(send_recv($sm, "mn\r\n"), "MN\r\n", 'small master: 4,000 items of 1,000 bytes');
my $st = stats_of($sm);
ok($st->{evictions} > 1000, 'the small master evicted most of them');
is($st->{evictions} + $st->{curr_items}, 4000, 'every item is stored or evicted');
my ($sets, $evicted, $other) = (0, 0, 0);
while ($sets < 4000) {
    my $cmd = stream_next($sf) // last;
    if ($cmd =~ /^rep_set ev\d+ 0 0 \d+ 0 1000\r\n/) {
        $sets++;
    } elsif ($cmd =~ /^rep_del ev\d+ evicted\r\n\z/) {
        $evicted++;
    } else {
        $other++;
    }
}
# The last evictions come before the last set they made room for.
is("$sets $evicted $other", "4000 $st->{evictions} 0",
   'the stream: 4,000 rep_set and one rep_del evicted per eviction');
ok(wait_synced($sm, $ss, $bs), 'both replicas caught up');
my $d = digest($sm);
is(digest($bs), $d, 'the replica with more memory holds the master\'s data');
is(stats_of($bs)->{evictions}, 0, 'it evicted nothing on its own');
is(digest($ss), $d, 'the replica with the master\'s -m holds the master\'s data');
is(stats_of($ss)->{evictions}, 0, 'it evicted nothing on its own');

# ---- the page mover's evictions: rep_del evicted too ----
# A page moved out of the full class: the mover evicts from the class's
# LRU tail to make room for the page's items (memcached 1.6.45), and each
# of those evictions reaches the replicas as any other; its rescues, which
# change no item, send nothing.
{
    my $sl = stats_of($sm, 'slabs');
    my ($cls) = map { /^(\d+):total_pages$/ && $sl->{$_} == 2 ? $1 : () } keys %$sl;
    ok($cls, "the values' class has two pages (class $cls)");
    my $before = stats_of($sm)->{evictions};
    is(send_recv($sm, "slabs reassign $cls 1\r\n"), "OK\r\n", 'small master: a page of the full class moves');
    my $mst = wait_stat($sm, 'slab_reassign_running', sub { $_[0] eq '0' && $_[1]{slabs_moved} >= 1 });
    my $moved = $mst->{evictions} - $before;
    ok($moved >= $sl->{"$cls:chunks_per_page"}, "the mover evicted $moved items");
    my ($dels, $others) = (0, 0);
    while ($dels + $others < $moved) {
        my $cmd = stream_next($sf) // last;
        if ($cmd =~ /^rep_del ev\d+ evicted\r\n\z/) { $dels++ } else { $others++ }
    }
    is("$dels $others", "$moved 0", 'the stream: one rep_del evicted per eviction of the move');
    ok(wait_synced($sm, $ss, $bs), 'both replicas caught up');
    my $md = digest($sm);
    is(digest($bs), $md, 'the replica with more memory holds the master\'s data after the move');
    is(digest($ss), $md, 'the replica with the master\'s -m too');
}

# ---- delayed flushes a replica applies after their time ----
# The replica's clock runs 100 s ahead of its master's (clocks differ
# between machines; a replica catching up from the backlog is late the
# same way). Each `flush_all 10` reaches it after its time, so it takes a
# CAS for the flush's cut-off, which its master never took; the master's
# next immediate flush_all then leaves the replica's cut-off above CAS
# values the master gives afterwards, and the replica drops an item the
# master holds.
{
    my $fm = new_memcached('', %frozen);
    my $fms = $fm->sock;
    my $fr = new_memcached('-o replicaof=127.0.0.1:' . $fm->port, %frozen);
    my $frs = $fr->sock;
    ok(wait_synced($fms, $frs), 'a master and a replica, clocks frozen');
    is(send_recv($frs, "debugtime 100\r\n"), "OK\r\n", 'the replica\'s clock: 100 s ahead');
    is(send_recv($fms, "flush_all 10\r\n"), "OK\r\n", 'master: flush_all 10');
    is(send_recv($fms, "flush_all 10\r\n"), "OK\r\n", 'master: flush_all 10 again');
    is(send_recv($fms, "flush_all\r\n"), "OK\r\n", 'master: flush_all');
    is(send_recv($fms, "set after 0 0 1\r\nA\r\n"), "STORED\r\n", 'master: a set after the flushes');
    ok(wait_synced($fms, $frs), 'the replica caught up');
    is(meta($fms, "mg after v\r\n"), "VA 1\r\nA\r\n", 'master: the item lives');
    # The master's CAS cut-off travels with each flush (rep_flush <time>
    # <cas>): the replica never takes one of its own.
    is(meta($frs, "mg after v\r\n"), "VA 1\r\nA\r\n", 'replica: the item lives too');
    is(digest($frs), digest($fms), 'replica: the master\'s data');
}

# A replica with less memory than its master holds what fits and leaves
# the rest out (logged); it never evicts to make room, which would drop
# items its master still holds while it goes on taking others.
{
    my $roomy = new_memcached('-m 8');
    my $rm = $roomy->sock;
    my $tight = new_memcached('-m 2 -o replicaof=127.0.0.1:' . $roomy->port);
    my $ts = $tight->sock;
    ok(wait_synced($rm, $ts), 'a replica with -m 2 of a master with -m 8');
    print $rm "set fit$_ 0 0 1000 noreply\r\n$val\r\n" for 1 .. 4000;
    is(send_recv($rm, "mn\r\n"), "MN\r\n", 'master: 4,000 items of 1,000 bytes');
    is(stats_of($rm)->{evictions}, 0, 'the master has room for them all');
    ok(wait_synced($rm, $ts), 'the replica caught up');
    my $st = stats_of($ts);
    is($st->{evictions}, 0, 'the replica evicted nothing');
    my $left_out = () = $tight->output =~ /no memory for an item of 1000 bytes/g;
    ok($left_out > 0, 'it left items out, and logged each');
    is($st->{curr_items} + $left_out, 4000, 'every item is held or logged as left out');
    print $rm "gets fit1\r\n";
    my $want = read_until_end($rm);
    print $ts "gets fit1\r\n";
    is(read_until_end($ts), $want, 'the first item is held as on the master');
    # Made a master, it evicts for memory again, as any master without -M.
    is(send_recv($ts, "rep_replicaof no one\r\n"), "OK\r\n", 'the tight replica becomes a master');
    is(send_recv($ts, "set more 0 0 1000\r\n$val\r\n"), "STORED\r\n", 'and stores into its full memory');
    ok(stats_of($ts)->{evictions} > 0, 'by evicting');
}

done_testing();
