#!/usr/bin/perl
# The segmented LRU as `stats items` shows it: new items on HOT, HOT kept
# to its share of the class's bytes and to its age limit, items fetched
# twice rescued into WARM (from COLD right after the fetch, from HOT at its
# tail), active WARM tail items requeued, inactive ones sent to COLD,
# eviction from COLD's tail sparing the rescued items, the flat LRU
# (no_lru_maintainer, `lru mode flat`) and the TEMP LRU (temporary_ttl).
#
# The server clock is moved with debugtime (which also runs the maintainer,
# as the one-second timer does), and every command waits for its reply
# before the next is sent, so the maintainer's runs after each event batch
# land at known points: the numbers are exact. The server's wall clock is
# frozen (MEMCACHED_DEBUG_CLOCK_FROZEN), so ages move only with debugtime,
# not when a real second happens to end mid-script; the age factors are
# still set to 1 wherever a tick could matter against a server without
# that knob (a HOT or WARM item is never older than COLD's tail then), and
# to their defaults only right before a debugtime jump. memcached moves
# items from a thread of its own, on its own schedule, so this script
# needs ours.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

require_debug_binary();

# The `stats items` lines of class 1, without the "items:1:" prefix.
sub items1 {
    my $sock = shift;
    my $st = stats_of($sock, 'items');
    my %c;
    for (keys %$st) {
        $c{$1} = $st->{$_} if /^items:1:(.*)\z/;
    }
    return \%c;
}

# "name=value ..." for the named fields of class 1.
sub fields {
    my ($sock, @names) = @_;
    my $c = items1($sock);
    return join ' ', map { "$_=" . ($c->{$_} // 'none') } @names;
}

sub set_ok {
    my ($sock, $key, $ttl, $val) = @_;
    $val //= 'v';
    return send_recv($sock, "set $key 0 $ttl " . length($val) . "\r\n$val\r\n") eq "STORED\r\n";
}

sub get_ok {
    my ($sock, $key) = @_;
    print $sock "get $key\r\n";
    return read_until_end($sock) =~ /^VALUE /;
}

sub tick {
    my ($sock, $s) = @_;
    is(send_recv($sock, "debugtime $s\r\n"), "OK\r\n", "debugtime $s");
}

# Ages move only with debugtime (see above).
my %FROZEN = (env => { MEMCACHED_DEBUG_CLOCK_FROZEN => 1 });

my @LISTS = qw(number number_hot number_warm number_cold);

# ---- HOT: its share of the bytes, then its age limit ----
{
    my $srv = new_memcached('-o hot_max_factor=1,warm_max_factor=1', %FROZEN);
    my $s = $srv->sock;
    # Ten items of one size, one at a time: after each store the
    # maintainer keeps HOT to 20% of the class's bytes, so HOT ends with
    # the two newest items (2 of 10 items is exactly 20%, not over it).
    my $ok = 1;
    $ok &&= set_ok($s, "k$_", 0) for 0 .. 9;
    ok($ok, 'ten items stored');
    is(fields($s, @LISTS, 'moves_to_cold'),
       'number=10 number_hot=2 number_warm=0 number_cold=8 moves_to_cold=8',
       'HOT holds 20% of the bytes, the rest went to COLD');
    print $s "stats cachedump 1 0\r\n";
    is(read_until_end($s), join('', map { "ITEM k$_ [1 b; 0 s]\r\n" } reverse 0 .. 7) . "END\r\n",
       'stats cachedump lists COLD only, newest first');
    # Time passes: COLD's tail is 10 s old, HOT may hold items up to
    # 0.2 x 10 = 2 s old: its two items go down.
    is(send_recv($s, "lru tune 20 40 0.2 1\r\n"), "OK\r\n", 'lru tune 20 40 0.2 1');
    tick($s, 10);
    is(fields($s, @LISTS, qw(age_hot age_warm age moves_to_cold)),
       'number=10 number_hot=0 number_warm=0 number_cold=10 age_hot=0 age_warm=0 age=10 moves_to_cold=10',
       'after 10 s HOT is past its age limit and empties into COLD');
    ok(stats_of($s)->{lru_maintainer_juggles} > 0, 'lru_maintainer_juggles counts the runs');

    # ---- fetches: FETCHED, then ACTIVE, then WARM ----
    ok(get_ok($s, 'k0'), 'get k0 (on COLD): fetched');
    is(fields($s, qw(number_warm number_cold moves_to_warm hits_to_cold)),
       'number_warm=0 number_cold=10 moves_to_warm=0 hits_to_cold=1',
       'a first fetch only marks the item');
    ok(get_ok($s, 'k0'), 'get k0 again: active');
    is(fields($s, qw(number_warm number_cold moves_to_warm hits_to_cold hits_to_warm)),
       'number_warm=1 number_cold=9 moves_to_warm=1 hits_to_cold=2 hits_to_warm=0',
       'an item turning active on COLD moves to WARM (the hit counts for COLD)');
    # It lost ACTIVE on the way; the next fetch makes it active again, and
    # the next maintainer run (a debugtime, or the real clock's tick if it
    # comes first) finds it at WARM's tail and requeues it, once.
    ok(get_ok($s, 'k0'), 'get k0 a third time: active again');
    is(fields($s, qw(number_warm hits_to_warm)), 'number_warm=1 hits_to_warm=1', 'a hit on WARM');
    tick($s, 1);
    is(fields($s, qw(number_warm number_cold moves_within_lru moves_to_cold)),
       'number_warm=1 number_cold=9 moves_within_lru=1 moves_to_cold=10',
       'the active item at the tail of WARM goes back to its head');
    # WARM's share cut to 1%: the (now inactive) item flows to COLD.
    is(send_recv($s, "lru tune 20 1 1 1\r\n"), "OK\r\n", 'lru tune 20 1 1 1');
    tick($s, 1);
    is(fields($s, qw(number_warm number_cold moves_to_cold)),
       'number_warm=0 number_cold=10 moves_to_cold=11',
       'an inactive WARM item over the limit goes to COLD');
    my $st = stats_of($s);
    is(join(' ', map { "$_=$st->{$_}" } qw(moves_to_cold moves_to_warm moves_within_lru get_hits)),
       'moves_to_cold=11 moves_to_warm=1 moves_within_lru=1 get_hits=3',
       'the general stats add up the classes');

    # ---- HOT tail: active items go to WARM ----
    is(send_recv($s, "lru tune 20 40 1 1\r\n"), "OK\r\n", 'lru tune 20 40 1 1');
    ok(set_ok($s, 'h1', 0) && set_ok($s, 'h2', 0), 'two new items');
    is(fields($s, qw(number_hot hits_to_hot)), 'number_hot=2 hits_to_hot=0', 'both on HOT');
    # h2, not h1: a maintainer run stops at an inactive tail within the
    # limits, so only a debugtime jump can reach h2.
    ok(get_ok($s, 'h2') && get_ok($s, 'h2'), 'h2 fetched twice');
    is(fields($s, qw(number_hot number_warm hits_to_hot)),
       'number_hot=2 number_warm=0 hits_to_hot=2', 'an active item on HOT stays there (no relink)');
    is(send_recv($s, "lru tune 20 40 0.2 1\r\n"), "OK\r\n", 'lru tune 20 40 0.2 1');
    tick($s, 30);
    is(fields($s, qw(number_hot number_warm moves_to_warm)),
       'number_hot=0 number_warm=1 moves_to_warm=2',
       'at the tail of HOT the active item goes to WARM, the other to COLD');

    # stats reset clears the per-class counters, not the lists.
    is(send_recv($s, "stats reset\r\n"), "RESET\r\n", 'stats reset');
    is(fields($s, qw(number moves_to_cold moves_to_warm hits_to_hot hits_to_cold)),
       'number=12 moves_to_cold=0 moves_to_warm=0 hits_to_hot=0 hits_to_cold=0',
       'stats reset: counters 0, items kept');
}

# ---- eviction: from COLD's tail, sparing what was rescued ----
{
    my $srv = new_memcached('-m 2', %FROZEN);
    my $s = $srv->sock;
    my $val = 'e' x 1000;
    ok(set_ok($s, 'keep', 0, $val), 'store keep');
    my $ok = 1;
    $ok &&= set_ok($s, "f$_", 0, $val) for 0 .. 99;
    ok($ok, '100 more items');
    ok(get_ok($s, 'keep') && get_ok($s, 'keep'), 'keep fetched twice: rescued to WARM');
    # Fetched again every 100 stores: once the real clock ticks, WARM's
    # age limit may send it down to COLD (whose tail is then younger),
    # and a fetch there makes it active again and brings it back.
    $ok = 1;
    for (100 .. 2999) {
        $ok &&= set_ok($s, "f$_", 0, $val);
        $ok &&= get_ok($s, 'keep') && get_ok($s, 'keep') if $_ % 100 == 0;
    }
    ok($ok, '2900 more items, far more than 2 MB, keep fetched now and then');
    my $st = stats_of($s);
    ok($st->{evictions} > 0, "evictions ($st->{evictions})");
    ok(get_ok($s, 'keep'), 'the rescued item is still there');
    ok(!get_ok($s, 'f0') && !get_ok($s, 'f100'), 'the oldest unfetched items were evicted');
    ok(get_ok($s, 'f2999'), 'the newest item is there');
    my $ev = stats_of($s, 'items');
    my ($line) = grep { /:evicted\z/ && $ev->{$_} > 0 } keys %$ev;
    ok(defined $line, 'stats items shows the evictions in the class');
    (my $pre = $line // '') =~ s/evicted\z//;
    is($ev->{"${pre}evicted"}, $st->{evictions}, 'evicted: the class has them all');
    is($ev->{"${pre}evicted_unfetched"}, $st->{evicted_unfetched}, 'evicted_unfetched likewise');
    is($ev->{"${pre}evicted_active"}, 0, 'no active item was evicted');
    is($ev->{"${pre}evicted_nonzero"}, 0, 'evicted_nonzero: no evicted item had a TTL');
    ok($ev->{"${pre}direct_reclaims"} > 0, 'allocations pulled from the tails themselves (direct_reclaims)');
    is($ev->{"${pre}outofmemory"}, 0, 'outofmemory 0');
}

# ---- -M: no eviction, outofmemory counted ----
{
    my $srv = new_memcached('-m 2 -M', %FROZEN);
    my $s = $srv->sock;
    my $val = 'm' x 1000;
    my $oom = 0;
    for (0 .. 2999) {
        my $r = send_recv($s, "set m$_ 0 0 1000\r\n$val\r\n");
        $oom++ if $r eq "SERVER_ERROR out of memory storing object\r\n";
    }
    ok($oom > 0, "-M: stores refused ($oom)");
    my $ev = stats_of($s, 'items');
    my ($line) = grep { /:outofmemory\z/ && $ev->{$_} > 0 } keys %$ev;
    is(defined $line ? $ev->{$line} : 0, $oom, '-M: outofmemory counts them');
    is(stats_of($s)->{evictions}, 0, '-M: nothing evicted');
}

# ---- flat ----
for my $opt ('-o no_lru_maintainer', '-o no_modern') {
    my $srv = new_memcached($opt, %FROZEN);
    my $s = $srv->sock;
    ok(set_ok($s, 'a', 0) && set_ok($s, 'b', 0), "$opt: two items");
    ok(get_ok($s, 'a') && get_ok($s, 'a'), "$opt: a fetched twice");
    tick($s, 100);
    print $s "stats items\r\n";
    is(read_until_end($s),
       "STAT items:1:number 2\r\nSTAT items:1:age 100\r\nSTAT items:1:mem_requested 84\r\n"
       . "STAT items:1:evicted 0\r\nSTAT items:1:evicted_nonzero 0\r\nSTAT items:1:evicted_time 0\r\n"
       . "STAT items:1:outofmemory 0\r\nSTAT items:1:tailrepairs 0\r\nSTAT items:1:reclaimed 0\r\n"
       . "STAT items:1:expired_unfetched 0\r\nSTAT items:1:evicted_unfetched 0\r\n"
       . "STAT items:1:crawler_reclaimed 0\r\nSTAT items:1:crawler_items_checked 0\r\n"
       . "STAT items:1:lrutail_reflocked 0\r\nEND\r\n",
       "$opt: the flat lines, every item on COLD (age: the tail's)");
    print $s "stats cachedump 1 0\r\n";
    is(read_until_end($s), "ITEM b [1 b; 0 s]\r\nITEM a [1 b; 0 s]\r\nEND\r\n",
       "$opt: a fetch moves nothing within a minute of the store");
    ok(get_ok($s, 'a'), "$opt: get a, 100 s after it was stored");
    print $s "stats cachedump 1 0\r\n";
    is(read_until_end($s), "ITEM a [1 b; 0 s]\r\nITEM b [1 b; 0 s]\r\nEND\r\n",
       "$opt: ... moves it to the head");
}

# ---- lru mode flat at run time: HOT and WARM drain into COLD ----
{
    my $srv = new_memcached('-o hot_max_factor=1', %FROZEN);
    my $s = $srv->sock;
    # Stored one by one, the first four go down to COLD at once (a single
    # item is over 20% of the bytes); the fifth is exactly 20% and stays.
    my $ok = 1;
    $ok &&= set_ok($s, "x$_", 0) for 1 .. 5;
    ok($ok, 'five items');
    is(fields($s, qw(number_hot number_cold)), 'number_hot=1 number_cold=4', 'x5 on HOT');
    is(send_recv($s, "lru mode flat\r\n"), "OK\r\n", 'lru mode flat');
    ok(set_ok($s, 'x6', 0), 'a sixth item');
    tick($s, 1);
    print $s "stats items\r\n";
    my $r = read_until_end($s);
    like($r, qr/STAT items:1:number 6\r\nSTAT items:1:number_hot 0\r\nSTAT items:1:number_warm 0\r\nSTAT items:1:number_cold 6\r\n/,
         'flat: six items, all on COLD (the segment lines stay, as memcached prints them)');
    print $s "stats cachedump 1 0\r\n";
    is(read_until_end($s), join('', map { "ITEM x$_ [1 b; 0 s]\r\n" } 5, 6, 4, 3, 2, 1) . "END\r\n",
       'flat: x6 went straight to COLD, x5 drained from HOT after it');
    is(send_recv($s, "lru mode segmented\r\n"), "OK\r\n", 'lru mode segmented');
    is(fields($s, qw(number number_hot number_cold)), 'number=6 number_hot=0 number_cold=6',
       'back to segmented: the lines are back');
}

# ---- TEMP ----
{
    my $srv = new_memcached('-o temporary_ttl=100', %FROZEN);
    my $s = $srv->sock;
    ok(set_ok($s, 't1', 50) && set_ok($s, 't2', 100), 'TTL 50 and 100: TEMP');
    ok(set_ok($s, 'n0', 0) && set_ok($s, 'n1', 101), 'no TTL and TTL 101: not TEMP');
    is(fields($s, qw(number number_hot number_warm number_cold number_temp)),
       'number=4 number_hot=0 number_warm=0 number_cold=2 number_temp=2',
       'two items on TEMP (TEMP bytes do not count in the HOT limit)');
    ok(get_ok($s, 't1') && get_ok($s, 't1') && get_ok($s, 't1'), 't1 fetched three times');
    tick($s, 20);
    is(fields($s, qw(number_temp hits_to_temp moves_to_warm)),
       'number_temp=2 hits_to_temp=3 moves_to_warm=0', 'TEMP items never move');
    tick($s, 40);
    is(fields($s, qw(number number_temp reclaimed expired_unfetched)),
       'number=3 number_temp=1 reclaimed=1 expired_unfetched=0',
       'the maintainer frees the expired TEMP item');
    is(send_recv($s, "lru temp_ttl -1\r\n"), "OK\r\n", 'lru temp_ttl -1');
    ok(set_ok($s, 't3', 10), 'TTL 10 with TEMP off');
    my $c = items1($s);
    ok(!exists $c->{number_temp}, 'TEMP off: no number_temp line');
    is($c->{number}, 4, 'four items');
    tick($s, 60);
    is(fields($s, qw(number reclaimed)), 'number=4 reclaimed=1',
       'TEMP off: the maintainer no longer reclaims on TEMP (t2 expired, still counted)');
    ok(!get_ok($s, 't2'), 'get t2: expired');
    is(fields($s, qw(number expired_unfetched)), 'number=3 expired_unfetched=1',
       'a fetch frees it: expired, never fetched');
}

done_testing();
