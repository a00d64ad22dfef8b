#!/usr/bin/perl
# The background machinery at work together on a small cache: the segmented
# LRU's maintainer, evictions, page moves (slabs reassign and automove 2),
# crawls and metadumps, expiry, all while a client stores and reads values
# of every size, chunked ones included. Whatever order the server does
# things in, no reply may ever carry a value other than the last one
# stored for its key (a miss is fine: the cache evicts), every dump line
# must be well formed and name a key that was stored, and at the end the
# counters must agree with each other and with a full dump.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MemcachedTest;

require_debug_binary();
my $server = new_memcached('-m 8 -o slab_automove=2,lru_crawler_sleep=0');
my $w = $server->sock;       # stores and reads
my $d = $server->new_sock;   # crawls and dumps
my $m = $server->new_sock;   # page moves

# A small linear congruential generator: the same run on every machine.
my $seed = 12345;
sub rnd {
    my ($n) = @_;
    $seed = ($seed * 1103515245 + 12345) % 2147483648;
    return int($seed / 65536) % $n;
}

my @SIZES = (10, 60, 200, 900, 3000, 9000, 40000, 300000);
my %version;    # key => last version stored
my %size;       # key => its value's size
sub value_of {
    my ($key, $v, $n) = @_;
    my $head = "$key:$v:";
    return $head . (chr(97 + $v % 26) x ($n - length $head));
}

# Most of the memory first goes to small values, so that pages have
# somewhere to come from when the other classes evict (automove 2) or ask
# (slabs reassign -1).
{
    my $req = '';
    for my $i (1 .. 40000) {
        my $key = "p$i";
        $version{$key} = 1;
        $size{$key} = 100;
        $req .= "set $key 1 0 100 noreply\r\n" . value_of($key, 1, 100) . "\r\n";
    }
    print $w $req;
    is(send_recv($w, "mn\r\n"), "MN\r\n", '40000 small values stored');
}

my ($rounds, $stored, $hits, $misses, $wrong) = (30, 0, 0, 0, 0);
my ($dumps, $dump_lines, $bad_lines, $moves_ok) = (0, 0, 0, 0);
my %move_replies;
for my $round (1 .. $rounds) {
    # A batch of stores, some with short TTLs, sent in one go.
    my $req = '';
    my $n = 40;
    for (1 .. $n) {
        my $key = 'k' . rnd(400);
        my $len = $SIZES[rnd(rnd(4) == 0 ? 8 : 6)];
        my $ttl = rnd(5) == 0 ? 30 : 0;
        my $v = ++$version{$key};
        $size{$key} = $len;
        $req .= "set $key $v $ttl $len\r\n" . value_of($key, $v, $len) . "\r\n";
    }
    # Ask for a dump and a page move while the stores are under way.
    print $d($round % 3 ? "lru_crawler metadump all\r\n" : "lru_crawler crawl all\r\n");
    my $dst = 1 + rnd(12);
    print $m "slabs reassign -1 $dst\r\n";
    print $w $req;
    for (1 .. $n) {
        my $line = <$w>;
        if (defined $line && $line eq "STORED\r\n") {
            $stored++;
        } else {
            diag("store: " . ($line // 'EOF'));
        }
    }
    my $mr = <$m> // '';
    $mr =~ s/[ \r].*//s;
    $move_replies{$mr}++;

    # Read everything back: the last value or a miss, nothing else.
    my @keys = sort grep { /^k/ } keys %version;
    print $w "get $_\r\n" for @keys;
    for my $key (@keys) {
        my $line = <$w> // '';
        if ($line eq "END\r\n") {
            $misses++;
            next;
        }
        my $v = $version{$key};
        my $len = $size{$key};
        if ($line ne "VALUE $key $v $len\r\n") {
            $wrong++;
            diag("round $round: $key: got header $line");
            last;
        }
        my $data = read_reply($w, $len + 2);
        my $end = <$w> // '';
        if ($data ne value_of($key, $v, $len) . "\r\n" || $end ne "END\r\n") {
            $wrong++;
            diag("round $round: $key: value differs");
            last;
        }
        $hits++;
    }
    last if $wrong;

    # The dump (or the crawl's OK) of this round.
    if ($round % 3) {
        while (defined(my $line = <$d>)) {
            # The previous round's crawl may still be running.
            last if $line eq "END\r\n" || $line =~ /^BUSY currently processing crawler request\r\n\z/;
            # A dump starts with OK (memcached 1.6.45).
            next if $line eq "OK\r\n";
            $dump_lines++;
            if ($line !~ /^key=([kp]\d+) exp=-?\d+ la=\d+ cas=\d+ fetch=(?:yes|no) cls=\d+ size=\d+ flags=\d+ \n\z/
                || !exists $version{$1}) {
                diag("bad dump line: $line") if $bad_lines++ < 5;
            }
        }
        $dumps++;
    } else {
        my $r = <$d> // '';
        $move_replies{"crawl $r"}++ unless $r eq "OK\r\n" || $r =~ /^BUSY /;
    }
    # Every fifth round, the clock jumps past the short TTLs.
    if ($round % 5 == 0) {
        is(send_recv($w, "debugtime 31\r\n"), "OK\r\n", "round $round: clock moved 31 s");
    }
}

is($wrong, 0, "every value read back is the last one stored ($hits hits, $misses misses)");
is($stored, $rounds * 40, 'every store answered STORED');
is($bad_lines, 0, "$dump_lines dump lines in $dumps dumps, all well formed");
my @unexpected = grep { !/^(OK|BUSY|NOSPARE|BADCLASS)$/ } keys %move_replies;
diag(join ' ', map { "$_=$move_replies{$_}" } sort keys %move_replies);
is("@unexpected", '', 'page move requests got only OK, BUSY, NOSPARE or BADCLASS');
ok($hits > 0 && $misses > 0, 'the cache both kept and evicted values');

# Let the background work finish, reclaim what expired, then compare the
# counters with a full dump of the hash table.
my $st = wait_stat($w, 'slab_reassign_running', '0');
ok($st->{slabs_moved} > 0, "pages moved: $st->{slabs_moved}");
ok($st->{evictions} > 0, "items evicted: $st->{evictions}");
is(send_recv($w, "debugtime 31\r\n"), "OK\r\n", 'clock past every short TTL');
wait_stat($d, 'lru_crawler_running', '0');
is(send_recv($d, "lru_crawler crawl all\r\n"), "OK\r\n", 'a last crawl');
$st = wait_stat($d, 'lru_crawler_running', '0');
print $d "lru_crawler metadump hash\r\n";
my @lines = split /\n/, read_until_end($d);
shift @lines;
pop @lines;
is(scalar @lines, $st->{curr_items}, 'curr_items equals the items a full dump shows');
my $items = stats_of($w, 'items');
my $sum = 0;
$sum += $items->{$_} for grep { /^items:\d+:number$/ } keys %$items;
is($sum, $st->{curr_items}, 'stats items numbers add up to curr_items');
my $segs = 0;
$segs += $items->{$_} for grep { /^items:\d+:number_(?:hot|warm|cold)$/ } keys %$items;
is($segs, $sum, 'HOT, WARM and COLD together hold every item');

# Every key the dump shows reads back as its last value.
my $bad = 0;
for my $line (@lines) {
    my ($key) = $line =~ /^key=(\S+) /;
    my $v = $version{$key};
    my $len = $size{$key};
    print $w "get $key\r\n";
    my $got = read_until_end($w);
    $bad++ unless $got eq "VALUE $key $v $len\r\n" . value_of($key, $v, $len) . "\r\nEND\r\n";
}
is($bad, 0, 'every dumped key reads back as its last value');

done_testing();
