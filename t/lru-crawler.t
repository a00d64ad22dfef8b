#!/usr/bin/perl
# The LRU crawler: every reply of `lru_crawler`, crawls reclaiming flushed
# and expired items with their counters, metadump and mgdump lines, a large
# dump, a client leaving mid-dump, -X, -o no_lru_crawler and the automatic
# crawls. Replies checked against memcached 1.6.45 (its metadump lines add
# a flags= field ours do not have yet; the parts that move the clock with
# debugtime run on our server only).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# No LRU maintainer: memcached's schedules crawls of its own, and ours
# does the same (the automatic crawls are tested at the end).
my $server = new_memcached('-o no_lru_maintainer');
my $sock = $server->sock;

sub crawler_stats {
    my ($s) = @_;
    my $st = wait_stat($s, 'lru_crawler_running', '0');
    return join ' ', map { "$_=$st->{$_}" }
        qw(curr_items crawler_reclaimed crawler_items_checked lru_crawler_starts
           lru_crawler_running expired_unfetched);
}

# Makes the items stored so far older than the second before the next
# flush_all, which memcached 1.6.45 (and this server) unlinks at once
# when it flushes: older ones are left flushed for lookups and the
# crawler. Our server's clock is moved; memcached's clock is waited for
# (a bounded poll of its `time`).
sub age_items {
    my ($s) = @_;
    if (is_ours()) {
        is(send_recv($s, "debugtime 2\r\n"), "OK\r\n", 'clock moved 2 s on');
        return;
    }
    my $t0 = stats_of($s)->{time};
    wait_stat($s, 'time', sub { $_[0] >= $t0 + 2 }, 10);
    ok(stats_of($s)->{time} >= $t0 + 2, 'two seconds passed');
}

sub settings_line {
    my ($s) = @_;
    my $st = stats_of($s, 'settings');
    return join ' ', map { "$_=$st->{$_}" } qw(lru_crawler lru_crawler_sleep lru_crawler_tocrawl);
}

# ---- replies ----

my @replies = (
    ["lru_crawler", "ERROR"],
    ["lru_crawler foo", "ERROR"],
    ["lru_crawler a b c d e", "ERROR"],
    ["lru_crawler crawl", "ERROR"],
    ["lru_crawler crawl 1 2", "ERROR"],
    ["lru_crawler crawl all extra", "ERROR"],
    ["lru_crawler crawl all", "OK"],
    ["lru_crawler crawl 1", "OK"],
    ["lru_crawler crawl 63", "OK"],
    ["lru_crawler crawl 1,2,3", "OK"],
    ["lru_crawler crawl 1,,2", "OK"],
    ["lru_crawler crawl ,1", "OK"],
    ["lru_crawler crawl 1,", "OK"],
    ["lru_crawler crawl 01", "OK"],
    ["lru_crawler crawl +1", "OK"],
    ["lru_crawler crawl 4294967297", "OK"],
    ["lru_crawler  crawl  1", "OK"],
    ["lru_crawler crawl " . join(',', 1 .. 63), "OK"],
    ["lru_crawler crawl 0", "BADCLASS invalid class id"],
    ["lru_crawler crawl 64", "BADCLASS invalid class id"],
    ["lru_crawler crawl 4294967296", "BADCLASS invalid class id"],
    ["lru_crawler crawl 1,x", "BADCLASS invalid class id"],
    ["lru_crawler crawl x", "BADCLASS invalid class id"],
    ["lru_crawler crawl -1", "BADCLASS invalid class id"],
    ["lru_crawler crawl 1x", "BADCLASS invalid class id"],
    ["lru_crawler crawl ALL", "BADCLASS invalid class id"],
    ["lru_crawler crawl hash", "ERROR an unknown error happened"],
    ["lru_crawler metadump", "ERROR"],
    ["lru_crawler metadump all extra", "ERROR"],
    ["lru_crawler metadump 64", "BADCLASS invalid class id"],
    ["lru_crawler metadump 0", "BADCLASS invalid class id"],
    ["lru_crawler metadump x", "BADCLASS invalid class id"],
    ["lru_crawler metadump all", "OK", "END"],
    ["lru_crawler metadump hash", "OK", "END"],
    ["lru_crawler metadump 1,2", "OK", "END"],
    ["lru_crawler m 1,2", "OK", "END"],
    ["lru_crawler c 1", "OK"],
    ["lru_crawler sleep", "ERROR"],
    ["lru_crawler sleep 1 2", "ERROR"],
    ["lru_crawler sleep 0", "OK"],
    ["lru_crawler sleep 1000000", "OK"],
    ["lru_crawler sleep 1000001", "CLIENT_ERROR sleep must be one second or less"],
    ["lru_crawler sleep 18446744073709551615", "CLIENT_ERROR bad command line format"],
    ["lru_crawler sleep +5", "CLIENT_ERROR bad command line format"],
    ["lru_crawler sleep 18446744073709551616", "CLIENT_ERROR bad command line format"],
    ["lru_crawler sleep -1", "CLIENT_ERROR bad command line format"],
    ["lru_crawler sleep abc", "CLIENT_ERROR bad command line format"],
    ["lru_crawler sleep 12abc", "CLIENT_ERROR bad command line format"],
    ["lru_crawler tocrawl", "ERROR"],
    ["lru_crawler tocrawl 0", "OK"],
    ["lru_crawler tocrawl 4294967295", "OK"],
    ["lru_crawler tocrawl -1", "CLIENT_ERROR bad command line format"],
    ["lru_crawler tocrawl abc", "CLIENT_ERROR bad command line format"],
    ["lru_crawler enable", "ERROR failed to start lru crawler thread"],
    ["lru_crawler enable extra", "ERROR"],
    ["lru_crawler disable", "OK"],
    ["lru_crawler disable", "OK"],
    ["stats-lines", ""],
    ["lru_crawler crawl all", "CLIENT_ERROR lru crawler disabled"],
    ["lru_crawler crawl 64", "CLIENT_ERROR lru crawler disabled"],
    ["lru_crawler crawl hash", "CLIENT_ERROR lru crawler disabled"],
    ["lru_crawler metadump all", "CLIENT_ERROR lru crawler disabled"],
    ["lru_crawler sleep 7", "OK"],
    ["lru_crawler tocrawl 5", "OK"],
    ["lru_crawler enable", "OK"],
);
for my $r (@replies) {
    my ($cmd, $want, $more) = @$r;
    if ($cmd eq 'stats-lines') {
        my $st = stats_of($sock);
        is(join(' ', map { defined $st->{$_} ? $_ : "no-$_" }
                qw(lru_crawler_running lru_crawler_starts crawler_reclaimed crawler_items_checked)),
           'no-lru_crawler_running no-lru_crawler_starts crawler_reclaimed crawler_items_checked',
           'stats of a disabled crawler: no lru_crawler_running and _starts lines');
        next;
    }
    # Crawls of an empty cache end at once; wait for that so the next one
    # is not BUSY. (A disabled crawler has no lru_crawler_running line.)
    wait_stat($sock, 'lru_crawler_running', sub { !defined $_[0] || $_[0] eq '0' });
    is(send_recv($sock, "$cmd\r\n"), "$want\r\n", "$cmd: $want");
    is(scalar <$sock>, "$more\r\n", "$cmd: then $more") if defined $more;
}
# memcached 1.6.45 reads a last noreply here too, silencing the ERROR.
print $sock "lru_crawler crawl 1 noreply\r\n";
like(send_recv($sock, "version\r\n"), qr/^VERSION /, 'lru_crawler crawl 1 noreply: ERROR silenced');
is(settings_line($sock), 'lru_crawler=yes lru_crawler_sleep=7 lru_crawler_tocrawl=5',
   'stats settings shows what sleep and tocrawl set');
# memcached 1.6.45 reads these numbers strictly (1.6.18 kept the low 32
# bits of a 64-bit number).
is(send_recv($sock, "lru_crawler sleep 4294967296\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'sleep 2^32: CLIENT_ERROR');
is(send_recv($sock, "lru_crawler tocrawl 4294967297\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'tocrawl 2^32+1: CLIENT_ERROR');
is(settings_line($sock), 'lru_crawler=yes lru_crawler_sleep=7 lru_crawler_tocrawl=5',
   'the refused numbers changed nothing');
is(send_recv($sock, "lru_crawler tocrawl 0\r\n"), "OK\r\n", 'tocrawl 0: OK');

# mgdump came in a later memcached than 1.6.18; 1.6.45 has it.
for my $r (["lru_crawler mgdump", "ERROR"],
           ["lru_crawler mgdump all extra", "ERROR"],
           ["lru_crawler mgdump 64", "BADCLASS invalid class id"],
           ["lru_crawler mgdump all", "OK", "EN"],
           ["lru_crawler mgdump hash", "OK", "EN"]) {
    my ($cmd, $want, $more) = @$r;
    is(send_recv($sock, "$cmd\r\n"), "$want\r\n", "$cmd: $want");
    is(scalar <$sock>, "$more\r\n", "$cmd: then $more") if defined $more;
}

# A dump must not come after replies still queued in the same batch.
print $sock "version\r\nlru_crawler metadump 64\r\n";
like(scalar <$sock>, qr/^VERSION /, 'version before the dump');
is(scalar <$sock>, "ERROR cannot pipeline other commands before metadump\r\n",
   'metadump after another command of the batch: refused');
# Commands after it in the batch run once the dump is over. (memcached
# 1.6.18 leaves them until the client sends more bytes.)
if (is_ours()) {
    print $sock "lru_crawler metadump all\r\nversion\r\n";
    is(scalar <$sock>, "OK\r\n", 'metadump first in its batch: runs');
    is(scalar <$sock>, "END\r\n", 'metadump first in its batch: ends');
    like(scalar <$sock>, qr/^VERSION /, 'the command after it runs after END');
}

# ---- crawl: flushed items ----

my $srv = new_memcached('-o no_lru_maintainer');
my $s = $srv->sock;
is(crawler_stats($s),
   'curr_items=0 crawler_reclaimed=0 crawler_items_checked=0 lru_crawler_starts=0 lru_crawler_running=0 expired_unfetched=0',
   'fresh server: crawler counters at 0');
for my $i (1 .. 5) {
    is(send_recv($s, "set f$i 0 0 1\r\nx\r\n"), "STORED\r\n", "set f$i");
}
is(send_recv($s, "lru_crawler crawl 1\r\n"), "OK\r\n", 'crawl of live items: OK');
is(crawler_stats($s),
   'curr_items=5 crawler_reclaimed=0 crawler_items_checked=5 lru_crawler_starts=1 lru_crawler_running=0 expired_unfetched=0',
   'live items are checked, not reclaimed');
age_items($s);
is(send_recv($s, "flush_all\r\n"), "OK\r\n", 'flush_all');
is(send_recv($s, "lru_crawler crawl 2\r\n"), "OK\r\n", 'crawl of an empty class');
is(crawler_stats($s),
   'curr_items=5 crawler_reclaimed=0 crawler_items_checked=5 lru_crawler_starts=2 lru_crawler_running=0 expired_unfetched=0',
   'another class: nothing checked, one more start');
print $s "lru_crawler metadump 1\r\n";
is(read_until_end($s), "OK\r\nEND\r\n", 'metadump shows no flushed item');
is(crawler_stats($s),
   'curr_items=5 crawler_reclaimed=0 crawler_items_checked=10 lru_crawler_starts=3 lru_crawler_running=0 expired_unfetched=0',
   'metadump checks items but reclaims nothing');
print $s "lru_crawler metadump hash\r\n";
is(read_until_end($s), "OK\r\nEND\r\n", 'metadump hash shows no flushed item');
is(crawler_stats($s),
   'curr_items=5 crawler_reclaimed=0 crawler_items_checked=10 lru_crawler_starts=4 lru_crawler_running=0 expired_unfetched=0',
   'a hash walk counts a start but no items checked');
is(send_recv($s, "lru_crawler crawl all\r\n"), "OK\r\n", 'crawl all');
is(crawler_stats($s),
   'curr_items=0 crawler_reclaimed=5 crawler_items_checked=15 lru_crawler_starts=5 lru_crawler_running=0 expired_unfetched=0',
   'flushed items reclaimed (not counted as expired_unfetched)');
# Items used in the second before a flush are unlinked by the flush
# itself: there is nothing left for the crawler.
for my $i (1 .. 3) {
    is(send_recv($s, "set h$i 0 0 1\r\nx\r\n"), "STORED\r\n", "set h$i");
}
is(send_recv($s, "flush_all\r\n"), "OK\r\n", 'flush_all of fresh items');
is(crawler_stats($s),
   'curr_items=0 crawler_reclaimed=5 crawler_items_checked=15 lru_crawler_starts=5 lru_crawler_running=0 expired_unfetched=0',
   'fresh items gone at the flush');

# ---- tocrawl ----

my $tc = new_memcached('-o no_lru_maintainer');
my $ts = $tc->sock;
for my $i (1 .. 5) {
    send_recv($ts, "set t$i 0 0 1\r\nx\r\n");
}
age_items($ts);
is(send_recv($ts, "flush_all\r\n"), "OK\r\n", 'flush_all');
is(send_recv($ts, "lru_crawler tocrawl 2\r\n"), "OK\r\n", 'tocrawl 2');
is(send_recv($ts, "lru_crawler crawl 1\r\n"), "OK\r\n", 'crawl 1');
is(crawler_stats($ts),
   'curr_items=3 crawler_reclaimed=2 crawler_items_checked=2 lru_crawler_starts=1 lru_crawler_running=0 expired_unfetched=0',
   'tocrawl 2: two items visited');
is(send_recv($ts, "lru_crawler tocrawl 0\r\n"), "OK\r\n", 'tocrawl 0');
is(send_recv($ts, "lru_crawler crawl 1\r\n"), "OK\r\n", 'crawl 1');
is(crawler_stats($ts),
   'curr_items=0 crawler_reclaimed=5 crawler_items_checked=5 lru_crawler_starts=2 lru_crawler_running=0 expired_unfetched=0',
   'tocrawl 0: the rest');
for my $i (1 .. 3) {
    send_recv($ts, "set u$i 0 0 1\r\nx\r\n");
}
is(send_recv($ts, "lru_crawler tocrawl 1\r\n"), "OK\r\n", 'tocrawl 1');
print $ts "lru_crawler metadump 1\r\n";
my $n = () = read_until_end($ts) =~ /^key=u\d /mg;
is($n, 3, 'a dump ignores tocrawl');

# ---- crawl: expired items (our server moves its clock) ----

SKIP: {
    skip 'debugtime is ours', 5 unless is_ours();
    for my $i (1 .. 3) {
        send_recv($s, "set e$i 0 100 1\r\nx\r\n");
    }
    send_recv($s, "set fetched 0 100 1\r\nx\r\n");
    print $s "get fetched\r\n";
    read_until_end($s);
    send_recv($s, "set keep 0 0 1\r\nx\r\n");
    send_recv($s, "set later 0 1000 1\r\nx\r\n");
    is(send_recv($s, "debugtime 200\r\n"), "OK\r\n", 'clock moved 200 s on');
    is(send_recv($s, "lru_crawler crawl all\r\n"), "OK\r\n", 'crawl all');
    is(crawler_stats($s),
       'curr_items=2 crawler_reclaimed=9 crawler_items_checked=21 lru_crawler_starts=6 lru_crawler_running=0 expired_unfetched=3',
       'four expired items reclaimed, three of them never fetched');
    print $s "get keep later\r\n";
    is(read_until_end($s), "VALUE keep 0 1\r\nx\r\nVALUE later 0 1\r\nx\r\nEND\r\n",
       'live items untouched');
}

# ---- metadump and mgdump lines ----

my $d = new_memcached('-o no_lru_maintainer');
my $ds = $d->sock;
my ($t, $lines);
for my $try (1 .. 10) {
    # The items' last-access time is the second they were stored: store
    # them within one second of the server clock.
    my $t0 = stats_of($ds)->{time};
    send_recv($ds, "flush_all\r\n") if $try > 1;
    my $exp = $t0 + 1000;
    send_recv($ds, "set never 5 0 3\r\nabc\r\n");
    send_recv($ds, "set expiring 0 $exp 2\r\nhi\r\n");
    send_recv($ds, "set fetched 0 0 1\r\nx\r\n");
    print $ds "get fetched\r\n";
    read_until_end($ds);
    send_recv($ds, "set a%b/c&d=e~f-g_h.i+j 0 0 1\r\nz\r\n");
    send_recv($ds, "set \xc3\xbctf 0 0 1\r\nz\r\n");
    send_recv($ds, "ms Zm9vAGJhcg== 2 b\r\nhi\r\n");
    send_recv($ds, "set big 0 0 3000\r\n" . ('v' x 3000) . "\r\n");
    my $t1 = stats_of($ds)->{time};
    if ($t0 == $t1) {
        $t = $t0;
        last;
    }
}
ok(defined $t, 'items stored within one second');
# (mg marks an item fetched: ask the one already fetched.)
my $cas0 = mg_cas($ds, 'fetched') - 3;
my $exp = $t + 1000;
my @want = sort(
    "key=never exp=-1 la=$t cas=" . ($cas0 + 1) . " fetch=no cls=1 size=71 flags=5 \n",
    "key=expiring exp=$exp la=$t cas=" . ($cas0 + 2) . " fetch=no cls=1 size=69 flags=0 \n",
    "key=fetched exp=-1 la=$t cas=" . ($cas0 + 3) . " fetch=yes cls=1 size=67 flags=0 \n",
    "key=a%25b%2Fc%26d%3De~f-g_h.i%2Bj exp=-1 la=$t cas=" . ($cas0 + 4) . " fetch=no cls=1 size=79 flags=0 \n",
    "key=%C3%BCtf exp=-1 la=$t cas=" . ($cas0 + 5) . " fetch=no cls=1 size=64 flags=0 \n",
    "key=foo%00bar exp=-1 la=$t cas=" . ($cas0 + 6) . " fetch=no cls=1 size=68 flags=0 \n",
    "key=big exp=-1 la=$t cas=" . ($cas0 + 7) . " fetch=no cls=17 size=3062 flags=0 \n",
);
for my $which (qw(all hash)) {
    print $ds "lru_crawler metadump $which\r\n";
    is(scalar <$ds>, "OK\r\n", "metadump $which: OK first");
    my @got;
    while (defined(my $l = <$ds>)) {
        last if $l eq "END\r\n";
        push @got, $l;
    }
    is_deeply([sort @got], \@want, "metadump $which: one line per item, exact bytes");
}
print $ds "lru_crawler metadump 17\r\n";
is(read_until_end($ds), "OK\r\nkey=big exp=-1 la=$t cas=" . ($cas0 + 7) . " fetch=no cls=17 size=3062 flags=0 \nEND\r\n",
   'metadump of one class');
print $ds "lru_crawler metadump 2,3\r\n";
is(read_until_end($ds), "OK\r\nEND\r\n", 'metadump of empty classes: OK, END');
if (is_ours()) {
    print $ds "lru_crawler mgdump all\r\n";
    is(scalar <$ds>, "OK\r\n", 'mgdump: OK first');
    my @got;
    while (defined(my $l = <$ds>)) {
        last if $l eq "EN\r\n";
        push @got, $l;
    }
    is_deeply([sort @got],
              [sort("mg never\r\n", "mg expiring\r\n", "mg fetched\r\n",
                    "mg a%b/c&d=e~f-g_h.i+j\r\n", "mg \xc3\xbctf\r\n",
                    "mg Zm9vAGJhcg== b\r\n", "mg big\r\n")],
              'mgdump: mg <key>, base64 with b for a binary key, then EN');
    is(send_recv($ds, "debugtime 2000\r\n"), "OK\r\n", 'clock moved past the expiry');
    print $ds "lru_crawler metadump all\r\n";
    my $n = () = read_until_end($ds) =~ /^key=/mg;
    is($n, 6, 'metadump leaves the expired item out');
}

# -C: no CAS, and a smaller item size.
my $nocas = new_memcached('-C -o no_lru_maintainer');
my $cs = $nocas->sock;
my $ct;
for my $try (1 .. 10) {
    my $t0 = stats_of($cs)->{time};
    send_recv($cs, "set a 3 0 1\r\na\r\n");
    send_recv($cs, "set bb 0 0 10\r\n0123456789\r\n");
    if ($t0 == stats_of($cs)->{time}) {
        $ct = $t0;
        last;
    }
}
print $cs "lru_crawler metadump all\r\n";
is(join('', sort split /^/m, read_until_end($cs)),
   "END\r\nOK\r\nkey=a exp=-1 la=$ct cas=0 fetch=no cls=1 size=57 flags=3 \nkey=bb exp=-1 la=$ct cas=0 fetch=no cls=1 size=63 flags=0 \n",
   '-C: cas=0 and no CAS bytes in size');

# ---- a large dump ----

my $big = new_memcached('-m 128 -o no_lru_maintainer');
my $bs = $big->sock;
my $N = 50_000;
my $batch = '';
for my $i (1 .. $N) {
    $batch .= "set key:$i 0 0 5 noreply\r\nvalue\r\n";
}
print $bs $batch;
is(send_recv($bs, "mn\r\n"), "MN\r\n", "$N items stored");
print $bs "lru_crawler metadump all\r\n";
is(scalar <$bs>, "OK\r\n", 'large metadump: OK first');
my %seen;
my $bad = 0;
while (defined(my $l = <$bs>)) {
    last if $l eq "END\r\n";
    if ($l =~ /^key=(key%3A\d+) exp=-1 la=\d+ cas=\d+ fetch=no cls=1 size=\d+ flags=0 \n\z/) {
        $seen{$1}++;
    } else {
        $bad++;
    }
}
is(scalar(keys %seen), $N, "metadump of $N items: every key");
is((grep { $_ != 1 } values %seen) + $bad, 0, 'each once, every line well formed');
print $bs "lru_crawler metadump hash\r\n";
is(scalar <$bs>, "OK\r\n", 'metadump hash: OK first');
%seen = ();
$bad = 0;
while (defined(my $l = <$bs>)) {
    last if $l eq "END\r\n";
    if ($l =~ /^key=(key%3A\d+) exp=-1 la=\d+ cas=\d+ fetch=no cls=1 size=\d+ flags=0 \n\z/) {
        $seen{$1}++;
    } else {
        $bad++;
    }
}
is(scalar(keys %seen) . ' ' . ((grep { $_ != 1 } values %seen) + $bad), "$N 0",
   "metadump hash of $N items: every key once");
print $bs "get key:77\r\n";
is(read_until_end($bs), "VALUE key:77 0 5\r\nvalue\r\nEND\r\n", 'the connection serves after the dump');
if (is_ours()) {
    print $bs "lru_crawler mgdump all\r\n";
    is(scalar <$bs>, "OK\r\n", 'mgdump: OK first');
    my $count = 0;
    while (defined(my $l = <$bs>)) {
        last if $l eq "EN\r\n";
        $count++ if $l =~ /^mg key:\d+\r\n\z/;
    }
    is($count, $N, "mgdump of $N items");
}

# A client that does not read pauses its dump; others are served
# meanwhile, and the dump is complete when it reads.
my $slow = $big->new_sock;
print $slow "lru_crawler metadump all\r\n";
is(scalar <$slow>, "OK\r\n", 'the dump to a slow reader starts with OK');
print $bs "get key:78\r\n";
is(read_until_end($bs), "VALUE key:78 0 5\r\nvalue\r\nEND\r\n", 'served while a dump waits for its reader');
my $lines = 0;
while (defined(my $l = <$slow>)) {
    last if $l eq "END\r\n";
    $lines++;
}
is($lines, $N, 'the paused dump arrives complete');
wait_stat($bs, 'lru_crawler_running', '0');
close($slow);

# A client that leaves in the middle of a dump stops it.
my $quitter = $big->new_sock;
print $quitter "lru_crawler metadump all\r\n";
is(scalar <$quitter>, "OK\r\n", 'the dump to a quitter starts with OK');
my $first = <$quitter>;
like($first, qr/^key=key%3A\d+ /, 'the dump started');
close($quitter);
my $st = wait_stat($bs, 'lru_crawler_running', '0');
is($st->{lru_crawler_running}, '0', 'the dump stopped when its client left');
is(send_recv($bs, "lru_crawler crawl 1\r\n"), "OK\r\n", 'a new crawl starts');
is(send_recv($bs, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, 'the server serves');

# A crawl is BUSY while another runs: with a one second rest after every
# 1000 items, a crawl of 50,000 items lasts long.
wait_stat($bs, 'lru_crawler_running', '0');
is(send_recv($bs, "lru_crawler sleep 1000000\r\n"), "OK\r\n", 'sleep one second');
is(send_recv($bs, "lru_crawler crawl 1\r\n"), "OK\r\n", 'crawl 1');
is(send_recv($bs, "lru_crawler crawl 1\r\n"), "BUSY currently processing crawler request\r\n",
   'a second crawl: BUSY');
is(send_recv($bs, "lru_crawler metadump 1\r\n"), "BUSY currently processing crawler request\r\n",
   'a dump meanwhile: BUSY');
is(send_recv($bs, "lru_crawler crawl 64\r\n"), "BADCLASS invalid class id\r\n",
   'a bad class is reported before BUSY');
is(send_recv($bs, "lru_crawler sleep 0\r\n"), "OK\r\n", 'sleep 0: the crawl speeds up');
$st = wait_stat($bs, 'lru_crawler_running', '0');
is($st->{lru_crawler_running}, '0', 'the crawl ended');

# Ours: disable stops a crawl at once. (memcached's waits for the crawl to
# end, holding the connection meanwhile.)
if (is_ours()) {
    is(send_recv($bs, "lru_crawler sleep 1000000\r\n"), "OK\r\n", 'sleep one second');
    is(send_recv($bs, "lru_crawler crawl 1\r\n"), "OK\r\n", 'crawl 1');
    is(send_recv($bs, "lru_crawler disable\r\n"), "OK\r\n", 'disable stops the crawl');
    is(send_recv($bs, "lru_crawler enable\r\n"), "OK\r\n", 'enable');
    $st = stats_of($bs);
    is($st->{lru_crawler_running}, '0', 'no crawl running');
    is(send_recv($bs, "lru_crawler sleep 0\r\n"), "OK\r\n", 'sleep 0');
    is(send_recv($bs, "lru_crawler crawl 1\r\n"), "OK\r\n", 'a crawl starts again');
}

# ---- -X and no_lru_crawler ----

my $x = new_memcached('-X -o no_lru_maintainer');
my $xs = $x->sock;
is(send_recv($xs, "lru_crawler metadump all\r\n"), "ERROR metadump not allowed\r\n", '-X: metadump refused');
is(send_recv($xs, "lru_crawler metadump 64\r\n"), "ERROR metadump not allowed\r\n", '-X: before the class check');
is(send_recv($xs, "lru_crawler mgdump all\r\n"), "ERROR key dump not allowed\r\n", '-X: mgdump refused');
is(send_recv($xs, "lru_crawler crawl all\r\n"), "OK\r\n", '-X: crawl allowed');
wait_stat($xs, 'lru_crawler_running', '0');
is(send_recv($xs, "lru_crawler disable\r\n"), "OK\r\n", 'disable');
is(send_recv($xs, "lru_crawler metadump all\r\n"), "CLIENT_ERROR lru crawler disabled\r\n",
   '-X and disabled: disabled is said first');

my $nc = new_memcached('-o no_lru_crawler,no_lru_maintainer');
my $ns = $nc->sock;
is(settings_line($ns), 'lru_crawler=no lru_crawler_sleep=100 lru_crawler_tocrawl=0',
   'no_lru_crawler: stats settings');
is(defined stats_of($ns)->{lru_crawler_starts} ? 1 : 0, 0, 'no_lru_crawler: no lru_crawler_starts line');
is(send_recv($ns, "lru_crawler crawl all\r\n"), "CLIENT_ERROR lru crawler disabled\r\n", 'crawl: disabled');
is(send_recv($ns, "lru_crawler metadump hash\r\n"), "CLIENT_ERROR lru crawler disabled\r\n", 'metadump: disabled');
is(send_recv($ns, "lru_crawler enable\r\n"), "OK\r\n", 'enable: OK');
is(settings_line($ns), 'lru_crawler=yes lru_crawler_sleep=100 lru_crawler_tocrawl=0',
   'enabled at run time');
is(stats_of($ns)->{lru_crawler_starts}, '0', 'enabled: the lru_crawler_starts line is back');
print $ns "lru_crawler metadump all\r\n";
is(read_until_end($ns), "OK\r\nEND\r\n", 'metadump after enable');

# ---- automatic crawls (our server: debugtime) ----

SKIP: {
    skip 'debugtime is ours', 5 unless is_ours();
    my $a = new_memcached();
    my $as = $a->sock;
    # Flat mode: items go straight to COLD, where the maintainer does not
    # look for expired items, so what is reclaimed is the crawler's doing.
    # (Segmented, the maintainer's own juggle after `debugtime` would
    # reclaim them from HOT's tail first, counted in `reclaimed`.)
    is(send_recv($as, "lru mode flat\r\n"), "OK\r\n", 'flat LRU, maintainer running');
    for my $i (1 .. 10) {
        send_recv($as, "set t$i 0 30 1\r\nx\r\n");
    }
    send_recv($as, "set forever 0 0 1\r\nx\r\n");
    my $st = stats_of($as);
    is("$st->{lru_crawler_starts} $st->{crawler_reclaimed}", '0 0', 'no crawl in the first minute');
    is(send_recv($as, "debugtime 100\r\n"), "OK\r\n", 'clock moved 100 s on');
    $st = wait_stat($as, 'crawler_reclaimed', '10');
    is($st->{crawler_reclaimed}, '10', 'an automatic crawl reclaimed the expired items');
    $st = wait_stat($as, 'lru_crawler_running', '0');
    is("$st->{curr_items} $st->{lru_crawler_starts}", '1 1', 'one crawl, the live item stays');
}

done_testing();
