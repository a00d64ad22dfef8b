#!/usr/bin/perl
# The stats groups other than the general one: `stats slabs` and the
# per-class counters that every command moves, `stats sizes` (with and
# without -o track_sizes, sizes_enable, sizes_disable), `stats detail`
# (per-prefix counters, -D), `stats cachedump` (limits, the 2 MB cap, -X)
# and `stats conns` (the listeners, idle and busy clients, the asking
# client).
#
# Expected bytes are checked against memcached 1.6.18. Numbers that depend
# on the item layout (chunk sizes, item sizes, class numbers) are computed
# from the layout of the server under test, ours being
# doc/item-memory.md's.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use IO::Socket::IP;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(usleep time);

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

# ---- item layout of the server under test ----

# Our item: a 40-byte header (with CAS), the key, the value. memcached's:
# a 48-byte header, 8 bytes of CAS, the key and a NUL, the value and its
# "\r\n". Class 1 fits a header and -n 48 bytes: 40 + 48 here, 48 + 48
# in memcached (whose class 1 leaves the CAS out).
my ($HDR, $KEY_PAD, $VAL_PAD, $CLASS1) = is_ours() ? (40, 0, 0, 88) : (56, 1, 2, 96);
my $PAGE = 1024 * 1024;

sub item_size {
    my ($nkey, $nbytes) = @_;
    return $HDR + $nkey + $KEY_PAD + $nbytes + $VAL_PAD;
}

# Chunk sizes by class id (index 0 unused): growing by 1.25 from class 1,
# rounded up to 8 bytes, the last class being slab_chunk_max (512 kB, or
# a whole page with -o no_modern).
my (@CHUNK, $CHUNK_MAX, $LARGEST);
sub use_chunk_max {
    $CHUNK_MAX = shift;
    @CHUNK = (0);
    my $size = $CLASS1;
    while ($size < $CHUNK_MAX / 1.25) {
        $size += 8 - $size % 8 if $size % 8;
        push @CHUNK, $size;
        $size = int($size * 1.25);
    }
    push @CHUNK, $CHUNK_MAX;
    $LARGEST = $#CHUNK;
}
use_chunk_max(512 * 1024);

# The class of an item with an nkey-byte key and an nbytes-byte value.
sub cls {
    my ($nkey, $nbytes) = @_;
    my $size = item_size($nkey, $nbytes);
    for my $i (1 .. $#CHUNK) {
        return $i if $size <= $CHUNK[$i];
    }
    return $LARGEST;
}

# ---- wire helpers ----

sub cmd {
    my ($sock, $req) = @_;
    print $sock $req;
    return scalar <$sock>;
}

sub stats_text {
    my ($sock, $group) = @_;
    print $sock "stats $group\r\n";
    return read_until_end($sock);
}

# ======================== stats slabs ========================

# The expected `stats slabs` reply for a model of the classes: class id =>
# { used => chunks in use, pages => pages (1 if absent), and any of the
# per-class counters }.
my @COUNTERS = qw(get_hits cmd_set delete_hits incr_hits decr_hits cas_hits
                  cas_badval touch_hits);

sub slabs_text {
    my %model = @_;
    my $out = '';
    my $pages = 0;
    for my $c (sort { $a <=> $b } keys %model) {
        my $m = $model{$c};
        my $per = int($PAGE / $CHUNK[$c]);
        my $p = $m->{pages} // 1;
        my $used = $m->{used} // 0;
        $pages += $p;
        $out .= "STAT $c:chunk_size $CHUNK[$c]\r\n"
              . "STAT $c:chunks_per_page $per\r\n"
              . "STAT $c:total_pages $p\r\n"
              . "STAT $c:total_chunks " . ($p * $per) . "\r\n"
              . "STAT $c:used_chunks $used\r\n"
              . "STAT $c:free_chunks " . ($p * $per - $used) . "\r\n"
              . "STAT $c:free_chunks_end 0\r\n";
        $out .= "STAT $c:$_ " . ($m->{$_} // 0) . "\r\n" for @COUNTERS;
    }
    $out .= "STAT active_slabs " . scalar(keys %model) . "\r\n"
          . "STAT total_malloced " . ($pages * $PAGE) . "\r\n"
          . "END\r\n";
    return $out;
}

my $srv = new_memcached('-o slab_automove=0');
my $s = $srv->sock;

is(stats_text($s, 'slabs'), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n",
   'stats slabs of an empty cache: no class, nothing malloced');
is(stats_text($s, 'slabs extra words'), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n",
   'words after the group are ignored');
is(cmd($s, "stats SLABS\r\n"), "ERROR\r\n", 'group names are case sensitive');

my %m;       # the model of stats slabs
my %g;       # expected general counters
sub bump {
    my ($c, %add) = @_;
    $m{$c}{$_} += $add{$_} for keys %add;
}

# Class numbers of the items below, from the layout.
my $A = cls(1, 1);

is(cmd($s, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a');
bump($A, cmd_set => 1, used => 1);
is(stats_text($s, 'slabs'), slabs_text(%m), 'after set: class of a has a page, one chunk used, cmd_set 1');

print $s "get a a b\r\n";
is(read_until_end($s), "VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n", 'get a a b');
bump($A, get_hits => 2);
print $s "gets a\r\n";
my ($cas_a) = read_until_end($s) =~ /^VALUE a 0 1 (\d+)\r\n/;
ok($cas_a, 'gets a');
bump($A, get_hits => 1);
print $s "gat 1000 a b\r\n";
is(read_until_end($s), "VALUE a 0 1\r\n1\r\nEND\r\n", 'gat a b');
bump($A, touch_hits => 1);
is(cmd($s, "touch a 1000\r\n"), "TOUCHED\r\n", 'touch a');
is(cmd($s, "touch zz 1000\r\n"), "NOT_FOUND\r\n", 'touch zz (missing)');
bump($A, touch_hits => 1);
is(stats_text($s, 'slabs'), slabs_text(%m),
   'get and gets are get_hits, gat and touch touch_hits; misses are not per class');

is(cmd($s, "set n 0 0 2\r\n10\r\n"), "STORED\r\n", 'set n');
my $N = cls(1, 2);
bump($N, cmd_set => 1, used => 1);
is(cmd($s, "incr n 5\r\n"), "15\r\n", 'incr n');
is(cmd($s, "decr n 1\r\n"), "14\r\n", 'decr n');
is(cmd($s, "incr zz 1\r\n"), "NOT_FOUND\r\n", 'incr zz (missing)');
is(cmd($s, "decr zz 1\r\n"), "NOT_FOUND\r\n", 'decr zz (missing)');
is(cmd($s, "incr n 99999999999\r\n"), "100000000013\r\n", 'incr n past its length: a new item');
bump($N, incr_hits => 2, decr_hits => 1);
$m{$N}{used}--;
bump(cls(1, 12), used => 1);
is(stats_text($s, 'slabs'), slabs_text(%m), 'incr_hits and decr_hits in the class of the item counted');

is(cmd($s, "cas a 0 0 1 $cas_a\r\n2\r\n"), "STORED\r\n", 'cas a with its cas');
is(cmd($s, "cas a 0 0 1 $cas_a\r\n3\r\n"), "EXISTS\r\n", 'cas a with a stale cas');
is(cmd($s, "cas zz 0 0 1 1\r\n4\r\n"), "NOT_FOUND\r\n", 'cas zz (missing)');
bump($A, cmd_set => 3, cas_hits => 1, cas_badval => 1);
print $s "set bad 0 0 1\r\nxyz\r\n";
is(scalar <$s>, "CLIENT_ERROR bad data chunk\r\n", 'set with a bad data chunk');
is(scalar <$s>, "CLIENT_ERROR bad command line format\r\n", 'the rest of the line is too short for a command');
bump(cls(3, 1), cmd_set => 1);
is(cmd($s, "delete a\r\n"), "DELETED\r\n", 'delete a');
is(cmd($s, "delete a\r\n"), "NOT_FOUND\r\n", 'delete a again');
bump($A, delete_hits => 1, used => -1);
is(stats_text($s, 'slabs'), slabs_text(%m),
   'cas hits and bad values, a value refused for its data chunk, delete hits');

my $B = cls(1, 200);
is(cmd($s, "set b 0 0 200\r\n" . ('y' x 200) . "\r\n"), "STORED\r\n", 'set b, 200 bytes');
bump($B, cmd_set => 1, used => 1);
is(cmd($s, "append b 0 0 2\r\nzz\r\n"), "STORED\r\n", 'append b');
my $B2 = cls(1, 202);
bump(cls(1, 2), cmd_set => 1);
bump($B, used => -1);
bump($B2, used => 1);
is(cmd($s, "prepend zz 0 0 1\r\nx\r\n"), "NOT_STORED\r\n", 'prepend zz (missing)');
is(cmd($s, "replace zz 0 0 1\r\nx\r\n"), "NOT_STORED\r\n", 'replace zz (missing)');
is(cmd($s, "add b 0 0 1\r\nx\r\n"), "NOT_STORED\r\n", 'add b (present)');
bump(cls(2, 1), cmd_set => 2);
bump(cls(1, 1), cmd_set => 1);
is(stats_text($s, 'slabs'), slabs_text(%m),
   'every value read counts a cmd_set in the class of the item read, stored or not');

# Meta commands count as memcached 1.6.18 counts them.
is(meta($s, "mg b s\r\n"), "HD s202\r\n", 'mg b');
is(meta($s, "mg b T1000\r\n"), "HD\r\n", 'mg b T: a touch');
is(meta($s, "mg zz v\r\n"), "EN\r\n", 'mg zz (missing)');
is(meta($s, "mg zz T10\r\n"), "EN\r\n", 'mg zz T (missing): a get miss');
bump($B2, get_hits => 1, touch_hits => 1);
like(meta($s, "mg viv N30\r\n"), qr/^HD W\r\n\z/, 'mg N on a miss creates the item');
bump(cls(3, 0), get_hits => 1, used => 1);
is(meta($s, "ms m 2\r\nab\r\n"), "HD\r\n", 'ms m');
my $cas_m = mg_cas($s, 'm');
my $M = cls(1, 2);
bump($M, cmd_set => 1, get_hits => 1, used => 1);
is(meta($s, "ms m 2 C" . ($cas_m + 100) . "\r\ncd\r\n"), "EX\r\n", 'ms m C with another cas');
is(meta($s, "ms m 2 C$cas_m\r\ncd\r\n"), "HD\r\n", 'ms m C with its cas');
is(meta($s, "ms q 1 C5\r\nx\r\n"), "NF\r\n", 'ms q C (missing)');
is(meta($s, "ms m 1 MA C1\r\nx\r\n"), "EX\r\n", 'ms m MA C with another cas: not a cas_badval');
is(meta($s, "ms addc 1 ME C5\r\nx\r\n"), "HD\r\n", 'ms ME with C on a miss: an add, stored');
is(meta($s, "ms addc 1 ME C5\r\nx\r\n"), "NS\r\n", 'ms ME with C on a hit: not stored');
bump($M, cmd_set => 2, cas_badval => 1, cas_hits => 1);
bump(cls(1, 1), cmd_set => 2);
bump(cls(4, 1), cmd_set => 2, used => 1);
is(meta($s, "ma n\r\n"), "HD\r\n", 'ma n');
is(meta($s, "ma n MD\r\n"), "HD\r\n", 'ma n MD');
is(meta($s, "ma zz\r\n"), "NF\r\n", 'ma zz (missing)');
is(meta($s, "ma n C1\r\n"), "EX\r\n", 'ma n C with another cas: not counted');
is(meta($s, "ma new N0 J7\r\n"), "HD\r\n", 'ma N creates new: not an incr hit');
bump(cls(1, 12), incr_hits => 1, decr_hits => 1);
bump(cls(3, 1), used => 1);
is(meta($s, "md n C1\r\n"), "EX\r\n", 'md n C with another cas: a delete miss');
is(meta($s, "md n\r\n"), "HD\r\n", 'md n');
is(meta($s, "md zz\r\n"), "NF\r\n", 'md zz (missing)');
is(meta($s, "md m I\r\n"), "HD\r\n", 'md m I: marked stale, not deleted, not counted');
bump(cls(1, 12), delete_hits => 1, used => -1);
is(meta($s, "ms m 2 I C1\r\nef\r\n"), "HD\r\n", 'ms m I with an older cas: stored stale, a cas hit');
bump($M, cmd_set => 1, cas_hits => 1);
is(stats_text($s, 'slabs'), slabs_text(%m), 'mg, ms, ma, md counted per class');

# The general group's hit counters are the sums of the per-class ones.
{
    my $st = stats_of($s);
    for my $name (@COUNTERS) {
        my $sum = 0;
        $sum += $m{$_}{$name} // 0 for keys %m;
        is($st->{$name}, $sum, "stats $name is the sum over the classes ($sum)");
    }
    is($st->{cas_misses}, 2, 'cas_misses: cas zz, ms q C');
    is($st->{get_misses}, 3, 'get_misses: get b, mg zz, mg zz T');
    is($st->{cmd_get}, 9, 'cmd_get: hits and misses of get, gets, mg without T');
    is($st->{cmd_touch}, 5, 'cmd_touch: gat a b, touch a, touch zz, mg b T');
    is($st->{touch_misses}, 2, 'touch_misses: gat b, touch zz');
    is($st->{delete_misses}, 3, 'delete_misses: delete a, md n C, md zz');
    is($st->{incr_misses}, 2, 'incr_misses: incr zz, ma zz');
    is($st->{decr_misses}, 1, 'decr_misses: decr zz');
}

is(cmd($s, "stats reset\r\n"), "RESET\r\n", 'stats reset');
for my $c (keys %m) {
    $m{$c} = { used => $m{$c}{used} };
}
is(stats_text($s, 'slabs'), slabs_text(%m), 'stats reset clears the per-class counters, not the chunks');

# A chunked value counts in the largest class, whose chunks hold it.
{
    my $big = 600 * 1000;
    is(cmd($s, "set big 0 0 $big\r\n" . ('z' x $big) . "\r\n"), "STORED\r\n", 'set a 600 kB value');
    print $s "get big\r\n";
    is(length(read_until_end($s)), length("VALUE big 0 $big\r\n") + $big + 7, 'get it back');
    my $slabs = stats_text($s, 'slabs');
    like($slabs, qr/\r\nSTAT $LARGEST:chunk_size $CHUNK_MAX\r\n/, 'the largest class got a page');
    like($slabs, qr/\r\nSTAT $LARGEST:get_hits 1\r\nSTAT $LARGEST:cmd_set 1\r\n/,
         'the set and the hit count in the largest class');
}

# ======================== stats sizes ========================

# The histogram bucket (its upper bound) of an item.
sub bucket {
    my $size = item_size(@_);
    return 32 * int(($size + 31) / 32);
}

# `STAT <bucket> <count>` lines for the given items [nkey, nbytes], END.
sub sizes_text {
    my %count;
    $count{bucket(@$_)}++ for @_;
    return join('', map { "STAT $_ $count{$_}\r\n" } sort { $a <=> $b } keys %count) . "END\r\n";
}

$srv = new_memcached();
$s = $srv->sock;
is(stats_text($s, 'sizes'), "STAT sizes_status disabled\r\nEND\r\n", 'stats sizes: disabled by default');
# memcached 1.6.45 has no sizes_enable or sizes_disable (1.6.18 did):
# the histogram is kept only with -o track_sizes.
is(cmd($s, "stats sizes_enable\r\n"), "ERROR\r\n", 'stats sizes_enable: ERROR');
is(cmd($s, "stats sizes_disable\r\n"), "ERROR\r\n", 'stats sizes_disable: ERROR');

$srv = new_memcached('-o track_sizes');
$s = $srv->sock;
is(cmd($s, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a');
is(cmd($s, "set b 0 0 5\r\n12345\r\n"), "STORED\r\n", 'set b');
is(cmd($s, "set c 0 0 1000\r\n" . ('c' x 1000) . "\r\n"), "STORED\r\n", 'set c, 1000 bytes');
is(cmd($s, "set dd 0 0 5\r\nabcde\r\n"), "STORED\r\n", 'set dd');
is(stats_text($s, 'sizes'), sizes_text([1, 1], [1, 5], [1, 1000], [2, 5]), 'items counted by size');
is(stats_text($s, 'sizes extra'), sizes_text([1, 1], [1, 5], [1, 1000], [2, 5]), 'words after sizes are ignored');
is(cmd($s, "delete a\r\n"), "DELETED\r\n", 'delete a');
is(cmd($s, "delete dd\r\n"), "DELETED\r\n", 'delete dd');
is(cmd($s, "set b 0 0 2\r\nxy\r\n"), "STORED\r\n", 'set b again, smaller');
is(stats_text($s, 'sizes'), sizes_text([1, 2], [1, 1000]), 'deleted and replaced items are taken off');

$srv = new_memcached('-o track_sizes');
$s = $srv->sock;
is(stats_text($s, 'sizes'), "END\r\n", '-o track_sizes: empty histogram at start');
is(cmd($s, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a');
is(mg_cas($s, 'a'), 2, 'the first cas unique is 2, as without the histogram');
is(cmd($s, "set big 0 0 600000\r\n" . ('b' x 600000) . "\r\n"), "STORED\r\n", 'set a chunked value');
is(stats_text($s, 'sizes'), sizes_text([1, 1], [3, 600000]), 'every item counted, chunked ones whole');
is(stats_of($s, 'settings')->{track_sizes}, 'yes', 'stats settings: track_sizes yes');

$srv = new_memcached('-C');
$s = $srv->sock;
is(stats_text($s, 'sizes'), "STAT sizes_status disabled\r\nEND\r\n", '-C: still disabled');

$srv = new_memcached('-C -o track_sizes');
$s = $srv->sock;
is(cmd($s, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", '-C -o track_sizes: set a');
# Without CAS our header is 32 bytes (doc/item-memory.md), memcached's 48.
{
    my $size = (is_ours() ? 32 : 48) + 1 + $KEY_PAD + 1 + $VAL_PAD;
    my $bucket = 32 * int(($size + 31) / 32);
    is(stats_text($s, 'sizes'), "STAT $bucket 1\r\nEND\r\n", '-C -o track_sizes: items are counted');
}

# ======================== stats detail ========================

$srv = new_memcached();
$s = $srv->sock;
is(stats_text($s, 'detail dump'), "END\r\n", 'detail dump with nothing recorded');
is(cmd($s, "set a:b 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a:b while detail is off');
is(stats_text($s, 'detail dump'), "END\r\n", 'nothing recorded while off');
is(stats_of($s, 'settings')->{detail_enabled}, 'no', 'stats settings: detail_enabled no');
is(cmd($s, "stats detail on\r\n"), "OK\r\n", 'stats detail on');
is(stats_of($s, 'settings')->{detail_enabled}, 'yes', 'stats settings: detail_enabled yes');
for my $k (qw(a:b a:c b:x c /x a/b/c :q z:)) {
    is(cmd($s, "set $k 0 0 1\r\n1\r\n"), "STORED\r\n", "set $k");
}
print $s "get a:b a:zz b:x c nope:1\r\n";
is(read_until_end($s), "VALUE a:b 0 1\r\n1\r\nVALUE b:x 0 1\r\n1\r\nVALUE c 0 1\r\n1\r\nEND\r\n",
   'get a:b a:zz b:x c nope:1');
print $s "gets a:b\r\n";
like(read_until_end($s), qr/^VALUE a:b 0 1 \d+\r\n1\r\nEND\r\n\z/, 'gets a:b');
print $s "gat 1000 a:b\r\n";
is(read_until_end($s), "VALUE a:b 0 1\r\n1\r\nEND\r\n", 'gat a:b');
is(cmd($s, "delete a:c\r\n"), "DELETED\r\n", 'delete a:c');
is(cmd($s, "delete a:c\r\n"), "NOT_FOUND\r\n", 'delete a:c again');
is(cmd($s, "delete q:q\r\n"), "NOT_FOUND\r\n", 'delete q:q (missing)');
is(cmd($s, "incr a:b 1\r\n"), "2\r\n", 'incr a:b: not recorded');
is(cmd($s, "touch a:b 1000\r\n"), "TOUCHED\r\n", 'touch a:b: not recorded');
is(cmd($s, "add a:b 0 0 1\r\n1\r\n"), "NOT_STORED\r\n", 'add a:b: a set, stored or not');
is(cmd($s, "set bad:x 0 0 abc\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'a set refused on its command line: not recorded');
is(cmd($s, "cas a:b 0 0 1 1\r\n1\r\n"), "EXISTS\r\n", 'cas a:b: a set');
print $s "set big:x 0 0 2000000\r\n" . ('x' x 2_000_000) . "\r\n";
is(scalar <$s>, "SERVER_ERROR object too large for cache\r\n", 'a set too large: still a set');
is(meta($s, "mg a:b v\r\n"), "VA 1\r\n2\r\n", 'mg a:b: meta commands are not recorded');
is(meta($s, "ms m:1 1\r\nx\r\n"), "HD\r\n", 'ms m:1: not recorded');
is(meta($s, "md m:1\r\n"), "HD\r\n", 'md m:1: not recorded');
# Prefixes come bucket by bucket of the (murmur3) hash of the prefix, the
# newest first within a bucket; the empty prefix of ":q" counts too.
my $dump = "PREFIX  get 0 hit 0 set 1 del 0\r\n"
         . "PREFIX b get 1 hit 1 set 1 del 0\r\n"
         . "PREFIX z get 0 hit 0 set 1 del 0\r\n"
         . "PREFIX nope get 1 hit 0 set 0 del 0\r\n"
         . "PREFIX a get 4 hit 3 set 4 del 2\r\n"
         . "PREFIX big get 0 hit 0 set 1 del 0\r\n"
         . "PREFIX q get 0 hit 0 set 0 del 1\r\n"
         . "END\r\n";
is(stats_text($s, 'detail dump'), $dump, 'stats detail dump: per-prefix gets, hits, sets, deletes');
is(cmd($s, "stats detail off\r\n"), "OK\r\n", 'stats detail off');
print $s "get a:b\r\n";
is(read_until_end($s), "VALUE a:b 0 1\r\n2\r\nEND\r\n", 'get a:b while off');
is(stats_text($s, 'detail dump'), $dump, 'off: nothing more recorded, the counters stay');
is(stats_text($s, 'detail dump x'), $dump, 'words after dump are ignored');
is(cmd($s, "stats detail\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n", 'stats detail alone');
is(cmd($s, "stats detail foo\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n", 'stats detail foo');
is(cmd($s, "stats detail ON\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n", 'stats detail ON');
is(cmd($s, "stats detail on extra\r\n"), "OK\r\n", 'stats detail on extra: on');
is(cmd($s, "stats reset\r\n"), "RESET\r\n", 'stats reset');
is(stats_text($s, 'detail dump'), "END\r\n", 'stats reset forgets the prefixes');
is(stats_of($s, 'settings')->{detail_enabled}, 'yes', 'and leaves detail on');

$srv = new_memcached('-D /');
$s = $srv->sock;
is(stats_of($s, 'settings')->{detail_enabled}, 'yes', '-D: detail on from the start');
for my $k (qw(a:b a/b /x x/y:z c)) {
    is(cmd($s, "set $k 0 0 1\r\n1\r\n"), "STORED\r\n", "-D /: set $k");
}
print $s "get a:b a/b x/y:z\r\n";
is(read_until_end($s), "VALUE a:b 0 1\r\n1\r\nVALUE a/b 0 1\r\n1\r\nVALUE x/y:z 0 1\r\n1\r\nEND\r\n",
   '-D /: get a:b a/b x/y:z');
is(stats_text($s, 'detail dump'),
   "PREFIX  get 0 hit 0 set 1 del 0\r\n"
 . "PREFIX x get 1 hit 1 set 1 del 0\r\n"
 . "PREFIX a get 1 hit 1 set 1 del 0\r\n"
 . "END\r\n",
   '-D /: prefixes end at the first /');

# ======================== stats cachedump ========================

# -o no_modern: memcached's flat LRU, the one ours always is. Its largest
# class takes a whole page.
use_chunk_max(1024 * 1024);
$srv = new_memcached('-o no_modern');
$s = $srv->sock;
my $C = cls(1, 3);
is(cmd($s, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a');
my $t0 = stats_of($s)->{time};
is(cmd($s, "set b 0 100 2\r\n12\r\n"), "STORED\r\n", 'set b, 100 s');
my $t1 = stats_of($s)->{time};
is(cmd($s, "set c 0 2000000000 3\r\n123\r\n"), "STORED\r\n", 'set c, absolute expiry');
is(cmd($s, "set d 0 -1 1\r\n1\r\n"), "STORED\r\n", 'set d, already expired');
is(meta($s, "ms Zm9v 2 b\r\nzz\r\n"), "HD\r\n", 'ms of a base64 key');
is(cmd($s, "set e 0 0 0\r\n\r\n"), "STORED\r\n", 'set e, empty');
print $s "get a\r\n";
is(read_until_end($s), "VALUE a 0 1\r\n1\r\nEND\r\n", 'get a: no move within a minute');
is(cls(1, 0), $C, 'all these items are in one class');
my $text = stats_text($s, "cachedump $C 0");
my ($exp_b) = $text =~ /^ITEM b \[2 b; (\d+) s\]\r\n/m;
ok(defined $exp_b && $exp_b >= $t0 + 100 && $exp_b <= $t1 + 100, 'b expires 100 s after it was set');
my ($exp_d) = $text =~ /^ITEM d \[1 b; (\d+) s\]\r\n/m;
ok(defined $exp_d && $exp_d > 0 && $exp_d < $t0, 'd shows an expiry in the past');
is($text, "ITEM e [0 b; 0 s]\r\n"
        . "ITEM d [1 b; $exp_d s]\r\n"
        . "ITEM c [3 b; 2000000000 s]\r\n"
        . "ITEM b [2 b; $exp_b s]\r\n"
        . "ITEM a [1 b; 0 s]\r\n"
        . "END\r\n",
   'cachedump: newest first, bytes and unix expiry (0: never), expired items too, base64 keys left out');
is(stats_text($s, "cachedump $C 2"), "ITEM e [0 b; 0 s]\r\nITEM d [1 b; $exp_d s]\r\nEND\r\n",
   'cachedump with a limit');
is(stats_text($s, "cachedump $C 0 extra"), $text, 'words after the limit are ignored');
is(cmd($s, "stats cachedump $C 4294967296\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'a limit of 2^32: bad command line format (1.6.45 reads it strictly)');
is(stats_text($s, "cachedump 0 0"), "END\r\n", 'class 0: nothing');
is(stats_text($s, "cachedump 63 0"), "END\r\n", 'class 63: nothing');
is(cmd($s, "stats cachedump 64 0\r\n"), "CLIENT_ERROR Illegal slab id\r\n", 'class 64: illegal');
is(cmd($s, "stats cachedump 4294967295 0\r\n"), "CLIENT_ERROR Illegal slab id\r\n",
   'class 2^32-1: illegal');
is(cmd($s, "stats cachedump 18446744073709551615 0\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'class 2^64-1: bad command line format');
is(cmd($s, "stats cachedump $C\r\n"), "CLIENT_ERROR bad command line\r\n", 'no limit given');
is(cmd($s, "stats cachedump\r\n"), "CLIENT_ERROR bad command line\r\n", 'no class given');
is(cmd($s, "stats cachedump -1 0\r\n"), "CLIENT_ERROR bad command line format\r\n", 'class -1');
is(cmd($s, "stats cachedump x 0\r\n"), "CLIENT_ERROR bad command line format\r\n", 'class x');
is(cmd($s, "stats cachedump $C -1\r\n"), "CLIENT_ERROR bad command line format\r\n", 'limit -1');
is(cmd($s, "set big 0 0 600000\r\n" . ('b' x 600000) . "\r\n"), "STORED\r\n", 'set a 600 kB value');
is(stats_text($s, "cachedump " . cls(3, 600000) . " 0"), "ITEM big [600000 b; 0 s]\r\nEND\r\n",
   'a large value is dumped with its class');
if (is_ours()) {
    # A read moves an item up once it has not moved for a minute.
    is(cmd($s, "debugtime 61\r\n"), "OK\r\n", 'debugtime 61');
    print $s "get a\r\n";
    is(read_until_end($s), "VALUE a 0 1\r\n1\r\nEND\r\n", 'get a a minute later');
    like(stats_text($s, "cachedump $C 1"), qr/^ITEM a \[1 b; 0 s\]\r\nEND\r\n\z/, 'a is now the newest');
}

# The reply stops before 2 MB.
{
    $srv = new_memcached('-o no_modern');
    $s = $srv->sock;
    my $n = 7900;
    my $K = cls(250, 1);
    my $req = '';
    for my $i (1 .. $n) {
        $req .= sprintf("set k%0249d 0 0 1 noreply\r\nx\r\n", $i);
    }
    print $s $req;
    like(cmd($s, "version\r\n"), qr/^VERSION /, "$n items with 250-byte keys stored");
    my $line = length(sprintf("ITEM k%0249d [1 b; 0 s]\r\n", 1));
    my $fit = int((2 * 1024 * 1024 - 6) / $line);
    $text = stats_text($s, "cachedump $K 0");
    is(length($text), $fit * $line + 5, "cachedump stops at $fit lines, under 2 MB");
    is(substr($text, 0, $line), sprintf("ITEM k%0249d [1 b; 0 s]\r\n", $n), 'the newest first');
    is(substr($text, -($line + 5)), sprintf("ITEM k%0249d [1 b; 0 s]\r\nEND\r\n", $n - $fit + 1),
       'the last that fits, then END');
    is(length(stats_text($s, "cachedump $K 100")), 100 * $line + 5, 'a limit below the cap');
}

# Default options: memcached dumps only its COLD LRU; ours has one list
# per class, so every item is there at once (doc/compatibility.md).
use_chunk_max(512 * 1024);
if (is_ours()) {
    $srv = new_memcached();
    $s = $srv->sock;
    is(cmd($s, "set fresh 0 0 1\r\n1\r\n"), "STORED\r\n", 'default options: set fresh');
    is(stats_text($s, "cachedump " . cls(5, 1) . " 0"), "ITEM fresh [1 b; 0 s]\r\nEND\r\n",
       'default options: a fresh item is dumped at once');
}

$srv = new_memcached('-X');
$s = $srv->sock;
is(cmd($s, "stats cachedump 1 0\r\n"), "CLIENT_ERROR stats cachedump not allowed\r\n", '-X: cachedump refused');
is(cmd($s, "stats cachedump\r\n"), "CLIENT_ERROR stats cachedump not allowed\r\n",
   '-X: refused before the arguments are read');
is(cmd($s, "stats cachedump 99 x\r\n"), "CLIENT_ERROR stats cachedump not allowed\r\n", '-X: whatever they are');

is(cmd($s, "set z 0 0 1\r\nz\r\n"), "STORED\r\n", '-X: still serving');
mem_get_is($s, 'z', 'z');

# ======================== stats conns ========================

# Splits a `stats conns` reply into [fd, [[name, value], ...]] blocks.
sub conns_blocks {
    my $text = shift;
    my @blocks;
    for my $line (split /\r\n/, $text) {
        next if $line eq 'END';
        my ($fd, $name, $value) = $line =~ /^STAT (\d+):(\w+) (.*)\z/
            or return [['bad line', $line]];
        push @blocks, [$fd, []] if !@blocks || $blocks[-1][0] != $fd;
        push @{$blocks[-1][1]}, [$name, $value];
    }
    return \@blocks;
}

# The names of a block's lines, and its values by name.
sub names_of { join ' ', map { $_->[0] } @{$_[0][1]} }
sub values_of { return { map { @$_ } @{$_[0][1]} } }

# The block whose addr is `addr`.
sub block_of {
    my ($blocks, $addr) = @_;
    my @b = grep { values_of($_)->{addr} eq $addr } @$blocks;
    return @b == 1 ? $b[0] : undef;
}

# Polls `stats conns` on `asker` until the block of `addr` is in `state`.
sub wait_conn_state {
    my ($asker, $addr, $state) = @_;
    my $deadline = time + 30;
    while (1) {
        my $b = block_of(conns_blocks(stats_text($asker, 'conns')), $addr);
        return $b if ($b && values_of($b)->{state} eq $state) || time > $deadline;
        usleep(20_000);
    }
}

$srv = new_memcached('-l 127.0.0.1');
my $port = $srv->port;
my $fresh = $srv->sock;                  # never sends anything
my $idle = $srv->new_sock;               # sends one command
is(cmd($idle, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, 'idle client: version');
my $asker = $srv->new_sock;
$text = stats_text($asker, 'conns');
like($text, qr/\A(?:STAT \d+:\w+ [^\r\n]+\r\n)+END\r\n\z/, 'stats conns: STAT <fd>:<name> <value> lines, END');
my $blocks = conns_blocks($text);
is(scalar @$blocks, 4, 'a block for the listener and each of three clients');
my @fds = map { $_->[0] } @$blocks;
is("@fds", join(' ', sort { $a <=> $b } @fds), 'blocks in descriptor order');

my $l = $blocks->[0];
is(names_of($l), 'addr state secs_since_last_cmd', 'listener: addr, state, secs_since_last_cmd');
is(values_of($l)->{addr}, "tcp:127.0.0.1:$port", 'listener addr');
is(values_of($l)->{state}, 'conn_listening', 'listener state conn_listening');
like(values_of($l)->{secs_since_last_cmd}, qr/^\d+\z/, 'listener secs since start');

for my $c ([$fresh, 'conn_new_cmd', 'a client that never sent a command'],
           [$idle, 'conn_read', 'an idle client'],
           [$asker, 'conn_parse_cmd', 'the client asking']) {
    my ($sock, $state, $what) = @$c;
    my $b = block_of($blocks, "tcp:127.0.0.1:" . $sock->sockport);
    ok($b, "$what: found by its address");
    next unless $b;
    is(names_of($b), 'addr listen_addr state secs_since_last_cmd', "$what: its lines");
    is(values_of($b)->{listen_addr}, "tcp:127.0.0.1:$port", "$what: listen_addr");
    is(values_of($b)->{state}, $state, "$what: $state");
}
is(values_of(block_of($blocks, "tcp:127.0.0.1:" . $asker->sockport))->{secs_since_last_cmd}, 0,
   'the client asking: 0 seconds since its last command');
is(scalar @{conns_blocks(stats_text($asker, 'conns extra'))}, 4, 'words after conns are ignored');

# A client in the middle of a value, and one whose replies fill the socket.
my $reader = $srv->new_sock;
print $reader "set half 0 0 10\r\nabc";
my $b = wait_conn_state($asker, "tcp:127.0.0.1:" . $reader->sockport, 'conn_nread');
is($b && values_of($b)->{state}, 'conn_nread', 'a client sending a value: conn_nread');
my $val = 'v' x 500_000;
is(cmd($asker, "set v 0 0 500000\r\n$val\r\n"), "STORED\r\n", 'set a 500 kB value');
my $slow = $srv->new_sock;
setsockopt($slow, SOL_SOCKET, SO_RCVBUF, 4096);
print $slow "get" . (" v" x 40) . "\r\n";
$b = wait_conn_state($asker, "tcp:127.0.0.1:" . $slow->sockport, 'conn_mwrite');
is($b && values_of($b)->{state}, 'conn_mwrite', 'a client not reading its replies: conn_mwrite');
close $slow;
print $reader "1234567\r\n";
is(scalar <$reader>, "STORED\r\n", 'the value completes');

if (is_ours()) {
    # Our debug clock moves forward on request; memcached's cannot.
    is(cmd($asker, "debugtime 100\r\n"), "OK\r\n", 'debugtime 100');
    my $bl = conns_blocks(stats_text($asker, 'conns'));
    my $secs = values_of(block_of($bl, "tcp:127.0.0.1:" . $idle->sockport))->{secs_since_last_cmd};
    ok($secs >= 100 && $secs <= 102, "idle client: 100 s later ($secs)");
    $secs = values_of($bl->[0])->{secs_since_last_cmd};
    ok($secs >= 100 && $secs <= 102 + 10, "listener: 100 s later ($secs)");
    is(values_of(block_of($bl, "tcp:127.0.0.1:" . $asker->sockport))->{secs_since_last_cmd}, 0,
       'the client asking: still 0');
}

# Without -l: 0.0.0.0 and, where the host has IPv6, [::].
my $has_v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1) ? 1 : 0;
$srv = new_memcached();
$port = $srv->port;
$blocks = conns_blocks(stats_text($srv->sock, 'conns'));
is(values_of($blocks->[0])->{addr}, "tcp:0.0.0.0:$port", 'default listener on 0.0.0.0');
SKIP: {
    skip 'no IPv6 on this host', 4 unless $has_v6;
    is(values_of($blocks->[1])->{addr}, "tcp6:[::]:$port", 'and on [::]');
    is(values_of($blocks->[1])->{state}, 'conn_listening', '[::] listener state');
    my $v6 = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port) or die "::1: $!";
    $blocks = conns_blocks(stats_text($v6, 'conns'));
    my $bv6 = block_of($blocks, "tcp6:[::1]:" . $v6->sockport);
    ok($bv6, 'an IPv6 client: tcp6:[::1]:<port>');
    is($bv6 && values_of($bv6)->{listen_addr}, "tcp6:[::1]:$port", 'an IPv6 client: listen_addr');
}

# A unix socket: the listener by its path; clients have no address of
# their own, and memcached shows that as "?:<AF 0>".
$srv = new_memcached('', unix => 1);
my $path = $srv->path;
my $u2 = $srv->new_sock;
is(cmd($u2, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, 'unix client: version');
$blocks = conns_blocks(stats_text($srv->sock, 'conns'));
is(scalar @$blocks, 3, 'unix: the listener and two clients');
is(names_of($blocks->[0]), 'addr state secs_since_last_cmd', 'unix listener: its lines');
# memcached reads a listener's name into a buffer sized for an IPv6
# address and cuts a unix path after 26 bytes; ours shows it whole.
if (is_ours()) {
    is(values_of($blocks->[0])->{addr}, "unix:$path", 'unix listener addr');
} else {
    is(values_of($blocks->[0])->{addr}, 'unix:' . substr($path, 0, 26), 'unix listener addr, cut');
}
for my $i (1, 2) {
    is(values_of($blocks->[$i])->{addr}, '?:<AF 0>', "unix client $i: addr");
    is(values_of($blocks->[$i])->{listen_addr}, "unix:$path", "unix client $i: listen_addr");
}
is(join(' ', sort map { values_of($_)->{state} } @$blocks[1, 2]), 'conn_parse_cmd conn_read',
   'unix clients: the asking one and an idle one');

done_testing();
