#!/usr/bin/perl
# The dump file (-F FILE) across a restart: what comes back (doc/dump.md,
# "What comes back"). Values of every byte, client flags, TTLs, CAS uniques,
# chunked values, long and base64 keys, meta state (stale, win token,
# fetched, last access), the CAS counter, the load_* stats, TTLs and a
# pending flush_all across downtime, and a smaller -m keeping the hottest
# items.
#
# A restart is `stop` (SIGTERM, which writes the last dump) and a new server
# on the same file. The server clock is moved with `debugtime`; the restarted
# server gets MEMCACHED_DEBUG_CLOCK_OFFSET so its clock goes on from where
# the old one was (plus any simulated downtime). Nothing waits on a timer:
# where real seconds can pass (TTL left, last access), the bound is the
# measured elapsed time.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);
use lib 't/lib';
use MemcachedTest;

require_debug_binary();

my $dir = tempdir('mcdump-rt-XXXXXX', DIR => '/tmp', CLEANUP => 1);

# Starts a server (arguments `args`) whose clock is `offset` seconds ahead.
sub start_with_offset {
    my ($offset, $args) = @_;
    local $ENV{MEMCACHED_DEBUG_CLOCK_OFFSET} = $offset;
    return new_memcached($args);
}

sub exit_status_text {
    my $st = shift;
    return 'still running' unless defined $st;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit ' . ($st >> 8);
}

# Sends a request in one write (a buffered print splits a large one, and
# Nagle then holds its tail until a delayed ACK) and returns the first
# reply line.
sub request {
    my ($sock, $bytes) = @_;
    while (length $bytes) {
        my $n = syswrite($sock, $bytes);
        return "write failed: $!" unless $n;
        substr($bytes, 0, $n, '');
    }
    return scalar <$sock> // '';
}

# The whole `gets` reply for one key, read by its length (values here
# hold "\r\nEND\r\n").
sub gets_reply {
    my ($sock, $key) = @_;
    print $sock "gets $key\r\n";
    my $line = <$sock> // '';
    return $line unless $line =~ /^VALUE \S+ \d+ (\d+) \d+\r\n\z/;
    return $line . read_reply($sock, $1 + 2) . (<$sock> // '');
}

# The whole `get` reply for one key, read by its length.
sub get_reply {
    my ($sock, $key) = @_;
    print $sock "get $key\r\n";
    my $line = <$sock> // '';
    return $line unless $line =~ /^VALUE \S+ \d+ (\d+)\r\n\z/;
    return $line . read_reply($sock, $1 + 2) . (<$sock> // '');
}

# Like mem_get_is, for values that may hold "\r\nEND\r\n": compares the
# whole `get` reply (undef: a miss).
sub value_is {
    my ($sock, $key, $val, $msg, $flags) = @_;
    my $expect = defined $val
        ? "VALUE $key " . ($flags // 0) . " " . length($val) . "\r\n$val\r\nEND\r\n"
        : "END\r\n";
    is(get_reply($sock, $key), $expect, $msg);
}

# The remaining TTL of a key as `mg <key> t u` says it (undef on a miss).
sub ttl_of {
    my ($sock, $key) = @_;
    my $r = meta($sock, "mg $key t u\r\n");
    return $r =~ /^HD t(-?\d+)\r\n\z/ ? $1 : undef;
}

# The seconds since last access, `mg <key> l u` (undef on a miss).
sub age_of {
    my ($sock, $key) = @_;
    my $r = meta($sock, "mg $key l u\r\n");
    return $r =~ /^HD l(\d+)\r\n\z/ ? $1 : undef;
}

# A value of `len` bytes in which every 4-byte word differs, so a chunk
# read back out of place or twice cannot go unnoticed.
sub big_value {
    my ($len, $seed) = @_;
    my $v = pack('N*', map { $_ * 2654435761 + $seed } 0 .. int($len / 4));
    return substr($v, 0, $len);
}

my $all256 = join('', map { chr } 0 .. 255);

# ======================================================================
# 1. The round trip.
# ======================================================================

my $file = "$dir/cache.dump";
my $shift = 0;      # seconds the server clock is ahead of the real one
my $srv = new_memcached("-F $file -I 2m -m 64");
my $sock = $srv->sock;

{
    my $set = stats_of($sock, 'settings');
    is($set->{dump_file}, $file, 'stats settings: dump_file is the -F file');
    is($set->{dump_interval}, '0', 'stats settings: dump_interval 0 by default');
    is($set->{dump_on_shutdown}, 'yes', 'stats settings: dump_on_shutdown yes by default');
    my $st = stats_of($sock);
    is($st->{load_status}, 'missing', 'no file yet: load_status missing');
    is($st->{load_items}, '0', 'no file yet: load_items 0');
    like($srv->output, qr/\Q$file\E/, 'no file yet: the missing file is named on stderr');
}

my @flag_values = (0, 1, 65535, 2**31, 2**32 - 1);
my $now = stats_of($sock)->{time};
my %value;          # key => value, for every text key expected back
my %flags;          # key => client flags
my @text_keys;      # in the order they were stored

# Stores one item with the classic `set` and remembers it.
sub store {
    my ($key, $flags, $exptime, $val) = @_;
    my $r = request($sock, "set $key $flags $exptime " . length($val) . "\r\n$val\r\n");
    push @text_keys, $key;
    $value{$key} = $val;
    $flags{$key} = $flags;
    return $r;
}

# 2000 items: every byte value, CRLFs inside, two empty values; flags and
# TTLs (none, relative, absolute unix time) cycle.
{
    my @bad;
    for my $i (0 .. 1999) {
        my $val = substr($all256 x 6, ($i * 13) % 256, ($i * 37) % 1201);
        $val = "\r\n$val\r\nEND\r\n" if $i % 10 == 1;
        my $exptime = $i % 3 == 0 ? 0
                    : $i % 3 == 1 ? 86400 + $i
                    :               $now + 200_000 + $i;
        my $r = store("bin:$i", $flag_values[$i % 5], $exptime, $val);
        push @bad, "bin:$i: $r" unless $r eq "STORED\r\n";
    }
    is_deeply(\@bad, [], '2000 items with binary values, flags and TTLs stored');
}

is(store('empty', 0, 0, ''), "STORED\r\n", 'set of an empty value');
is(store('crlf', 0, 0, "\r\n"), "STORED\r\n", 'set of a value that is just CRLF');
is(store('crlf-end', 0, 0, "x\r\nEND\r\n\r\n"), "STORED\r\n", 'set of a value holding END and CRLFs');
is(store('all256', 0, 0, $all256), "STORED\r\n", 'set of all 256 byte values');
for my $f (@flag_values) {
    is(store("flags:$f", $f, 0, "f$f"), "STORED\r\n", "set with client flags $f");
}
my $key250a = 'L' x 250;
my $key250b = substr(join('', map { chr } 0x21 .. 0x7e) x 3, 0, 250);
is(store($key250a, 7, 0, 'long a'), "STORED\r\n", 'set with a 250-byte key');
is(store($key250b, 8, 0, 'long b'), "STORED\r\n", 'set with a 250-byte key of every printable byte');

# Values around 512 KiB (the chunk size with -I 2m) and of 1.5 MB.
my @big_lengths = (524288 - 300, 524288 - 48, 524288 - 1, 524288, 524288 + 1,
                   524288 + 300, 1000000, 1572864);
for my $len (@big_lengths) {
    is(store("big:$len", 3, 0, big_value($len, $len)), "STORED\r\n", "set of $len bytes");
}

# Items that are gone at the dump's instant, and so not in it.
is(store('gone:ttl', 0, 100, 'g'), "STORED\r\n", 'set gone:ttl with TTL 100');
is(store('gone:deleted', 0, 0, 'g'), "STORED\r\n", 'set gone:deleted');
is(send_recv($sock, "delete gone:deleted\r\n"), "DELETED\r\n", 'delete gone:deleted');
pop @text_keys for 1 .. 2;
delete @value{qw(gone:ttl gone:deleted)};

# Base64 keys: binary bytes, a space, NUL, CRLF, and one that decodes to
# printable text; the longest that fits in 250 base64 characters.
my @bin_keys = ("\x00", "a b", "\x00 \xff\r\n\x7f", "abc", join('', map { chr } 0 .. 185));
my %b64 = map { $_ => encode_base64($_, '') } @bin_keys;
for my $i (0 .. $#bin_keys) {
    my $b = $b64{$bin_keys[$i]};
    is(meta($sock, "ms $b " . length("b64 $i") . " b F$i\r\nb64 $i\r\n"), "HD\r\n",
       "ms of base64 key #$i (" . length($bin_keys[$i]) . " bytes decoded)");
}
is(meta($sock, "mg $b64{'abc'} b k v\r\n"), "VA 5 kYWJj b\r\nb64 3\r\n",
   'base64 key read back with b k v');
is(meta($sock, "mg abc k v f\r\n"), "VA 5 kYWJj b f3\r\nb64 3\r\n",
   'the same item by its decoded key: k gives it in base64, with b');

# Meta state: never fetched, fetched once; stale items (md I).
is(store('h:never', 0, 0, 'n'), "STORED\r\n", 'set h:never');
is(store('h:once', 0, 0, 'o'), "STORED\r\n", 'set h:once');
is(meta($sock, "mg h:once v\r\n"), "VA 1\r\no\r\n", 'fetch h:once');
for my $k (qw(st:a st:b st:c)) {
    is(store($k, 0, 0, 'x'), "STORED\r\n", "set $k");
    is(meta($sock, "md $k I\r\n"), "HD\r\n", "md $k I: stale");
}
is(store('la:old', 0, 0, 'o'), "STORED\r\n", 'set la:old');
is(store('la:new', 0, 0, 'n'), "STORED\r\n", 'set la:new');

# The last CAS handed out belongs to an item deleted before the dump: the
# counter must still go on above it.
my $cas_deleted;
{
    my $r = meta($sock, "ms cas:last 1 c\r\nz\r\n");
    ($cas_deleted) = $r =~ /^HD c(\d+)\r\n\z/;
    ok(defined $cas_deleted, 'ms cas:last c: HD with a cas');
    is(meta($sock, "md cas:last\r\n"), "HD\r\n", 'md cas:last: deleted');
}

# 400 s pass; la:new is read twice after 300 of them (with the segmented
# LRU the first read only marks an item fetched, the second one, making it
# active, refreshes its last access).
is(send_recv($sock, "debugtime 300\r\n"), "OK\r\n", 'clock +300 s');
$shift += 300;
is(meta($sock, "mg la:new v\r\n"), "VA 1\r\nn\r\n", 'read la:new at +300 s');
is(meta($sock, "mg la:new v\r\n"), "VA 1\r\nn\r\n", 'read la:new again: active');
is(send_recv($sock, "debugtime 100\r\n"), "OK\r\n", 'clock +100 s (400 in all)');
$shift += 100;
value_is($sock, 'gone:ttl', undef, 'gone:ttl expired before the dump');

# ---- what the clients see before the restart ----

my $t_before = time;
my %gets;           # key => whole gets reply
my %ttl;            # key => TTL left
my $max_cas = 0;
my @plain = grep { !/^(?:h|la|st):/ } @text_keys;
for my $k (@plain, qw(st:a st:b st:c)) {
    $gets{$k} = gets_reply($sock, $k);
    my ($cas) = $gets{$k} =~ /^VALUE \S+ \d+ \d+ (\d+)\r\n/;
    $max_cas = $cas if defined $cas && $cas > $max_cas;
}
$ttl{$_} = ttl_of($sock, $_) for @plain;
{
    my @bad;
    for my $k (@plain) {
        my $want = "VALUE $k $flags{$k} " . length($value{$k}) . " ";
        push @bad, $k unless index($gets{$k}, $want) == 0
            && substr($gets{$k}, -(length($value{$k}) + 7)) eq "$value{$k}\r\nEND\r\n";
    }
    is_deeply(\@bad, [], 'before the restart: every gets answers the value and flags stored');
}
my %b64_reply;
for my $k (@bin_keys) {
    $b64_reply{$k} = meta($sock, "mg $b64{$k} b k v f c t u\r\n");
    my ($cas) = $b64_reply{$k} =~ / c(\d+) /;
    $max_cas = $cas if defined $cas && $cas > $max_cas;
}
like($b64_reply{"a b"}, qr/^VA 5 kYSBi b f1 c\d+ t-1\r\nb64 1\r\n\z/,
     'mg of the base64 key "a b": key, flags, cas, no TTL');
ok($cas_deleted > $max_cas, "the deleted item holds the largest cas ($cas_deleted > $max_cas)");

is(meta($sock, "mg h:never h u\r\n"), "HD h0\r\n", 'h:never: h0 before the restart');
is(meta($sock, "mg h:once h u\r\n"), "HD h1\r\n", 'h:once: h1 before the restart');
my %age = map { $_ => age_of($sock, $_) } qw(la:old la:new);
my ($cas_a) = $gets{'st:a'} =~ / (\d+)\r\n/;
my ($cas_b) = $gets{'st:b'} =~ / (\d+)\r\n/;
my ($cas_c) = $gets{'st:c'} =~ / (\d+)\r\n/;
is(meta($sock, "mg st:a v c\r\n"), "VA 1 c$cas_a X W\r\nx\r\n", 'st:a: stale, first mg wins (X W)');
is(meta($sock, "mg st:b v c\r\n"), "VA 1 c$cas_b X W\r\nx\r\n", 'st:b: stale, first mg wins (X W)');
is(meta($sock, "mg st:b v c\r\n"), "VA 1 c$cas_b Z X\r\nx\r\n", 'st:b: second mg: win already handed out (Z X)');

my $live = @text_keys + @bin_keys;

is(exit_status_text($srv->stop), 'exit 0', 'SIGTERM: exit 0 after the last dump');
ok(-f $file, 'the dump file exists after the stop');
my $file_size = -s $file;

# ---- after the restart: the same clock, no downtime ----

$srv = start_with_offset($shift, "-F $file -I 2m -m 64");
$sock = $srv->sock;

# Bound for the real seconds that passed since the first snapshot began
# (TTLs and ages in whole seconds, so one more).
sub drift { return int(time - $t_before) + 2 }

{
    my $st = stats_of($sock);
    is($st->{load_status}, 'ok', 'restart: load_status ok');
    is($st->{load_items}, $live, "restart: load_items $live");
    is($st->{load_expired}, '0', 'restart: load_expired 0 (expired items were not written)');
    is($st->{load_too_large}, '0', 'restart: load_too_large 0');
    is($st->{load_no_memory}, '0', 'restart: load_no_memory 0');
    is($st->{load_bytes}, $file_size, "restart: load_bytes is the file size ($file_size)");
    is($st->{curr_items}, $live, "restart: curr_items $live");
    is($st->{dumps_total}, '0', 'restart: dumps_total 0');
    is($st->{last_dump_status}, 'none', 'restart: last_dump_status none');
}

{
    my @bad = grep { gets_reply($sock, $_) ne $gets{$_} } @plain;
    is_deeply(\@bad, [], 'after the restart: every gets answers the same bytes (value, flags, cas)');
    my %after = map { $_ => ttl_of($sock, $_) } @plain;
    my $elapsed = drift();
    @bad = ();
    for my $k (@plain) {
        my $t = $after{$k};
        next if defined $t && defined $ttl{$k}
             && ($ttl{$k} == -1 ? $t == -1 : $t <= $ttl{$k} && $t >= $ttl{$k} - $elapsed);
        push @bad, "$k: before " . ($ttl{$k} // 'miss') . ", after " . ($t // 'miss');
    }
    is_deeply(\@bad, [], "after the restart: every TTL is the same, less at most $elapsed s");
}
value_is($sock, 'all256', $all256, 'all 256 byte values come back');
value_is($sock, 'bin:0', '', 'an empty value comes back');
value_is($sock, 'crlf-end', "x\r\nEND\r\n\r\n", 'a value with CRLF and END inside comes back');
value_is($sock, $key250b, 'long b', 'a 250-byte key comes back', 8);
value_is($sock, 'flags:4294967295', 'f4294967295', 'client flags 2^32-1 come back', 4294967295);
value_is($sock, 'flags:2147483648', 'f2147483648', 'client flags 2^31 come back', 2147483648);
value_is($sock, 'big:1572864', big_value(1572864, 1572864), 'the 1.5 MB value comes back', 3);
value_is($sock, 'big:524288', big_value(524288, 524288), 'the 512 KiB value comes back', 3);
value_is($sock, 'gone:ttl', undef, 'the item expired before the dump is not back');
value_is($sock, 'gone:deleted', undef, 'the item deleted before the dump is not back');
value_is($sock, 'cas:last', undef, 'cas:last (deleted) is not back');

for my $i (0 .. $#bin_keys) {
    my $k = $bin_keys[$i];
    is(meta($sock, "mg $b64{$k} b k v f c t u\r\n"), $b64_reply{$k},
       "base64 key #$i: same key, flags, cas, TTL and value");
}
is(meta($sock, "mg AA== b k v\r\n"), "VA 5 kAA== b\r\nb64 0\r\n",
   'the key made of one NUL byte is back (mg AA== b k v)');
is(meta($sock, "mg YSBi b k v\r\n"), "VA 5 kYSBi b\r\nb64 1\r\n",
   'the key "a b" is back (mg YSBi b k v)');
is(meta($sock, "mg abc k v f\r\n"), "VA 5 kYWJj b f3\r\nb64 3\r\n",
   'the base64 flag came back: k answers the key in base64 with b');

is(meta($sock, "mg h:never h u\r\n"), "HD h0\r\n", 'h:never: still h0 (never fetched)');
is(meta($sock, "mg h:once h u\r\n"), "HD h1\r\n", 'h:once: still h1 (fetched)');
for my $k (qw(la:old la:new)) {
    my $l = age_of($sock, $k);
    my $elapsed = drift();
    ok(defined $l && defined $age{$k} && $l >= $age{$k} && $l <= $age{$k} + $elapsed,
       "$k: last access age kept (before $age{$k}, after " . ($l // 'miss') . ", drift at most $elapsed)");
}
ok($age{'la:old'} >= 400 && $age{'la:new'} >= 100 && $age{'la:new'} < 400,
   "the ages were set up as meant (la:old $age{'la:old'}, la:new $age{'la:new'})");

is(meta($sock, "mg st:a v c\r\n"), "VA 1 c$cas_a Z X\r\nx\r\n", 'st:a: still stale, its win already handed out (Z X)');
is(meta($sock, "mg st:b v c\r\n"), "VA 1 c$cas_b Z X\r\nx\r\n", 'st:b: still stale, Z X');
is(meta($sock, "mg st:c v c\r\n"), "VA 1 c$cas_c X W\r\nx\r\n", 'st:c: still stale, its win not handed out yet (X W)');
is(meta($sock, "mg st:c v c\r\n"), "VA 1 c$cas_c Z X\r\nx\r\n", 'st:c: second mg after the restart: Z X');

{
    my $r = meta($sock, "ms cas:new 1 c\r\nn\r\n");
    my ($cas) = $r =~ /^HD c(\d+)\r\n\z/;
    ok(defined $cas && $cas > $cas_deleted,
       'a set after the restart gets a cas above the counter in the file (' . ($cas // $r) . " > $cas_deleted)");
    ok(defined $cas && $cas > $max_cas,
       'and above every loaded cas (' . ($cas // $r) . " > $max_cas)");
}

# ---- a smaller -I: records that no longer fit are skipped ----

is(exit_status_text($srv->stop), 'exit 0', 'second stop: exit 0');
$srv = start_with_offset($shift, "-F $file -I 1m -m 64 -o no_dump_on_shutdown");
$sock = $srv->sock;
{
    my $st = stats_of($sock);
    is($st->{load_status}, 'ok', '-I 1m: load_status ok');
    is($st->{load_too_large}, '1', '-I 1m: the 1.5 MB record is skipped, load_too_large 1');
    is($st->{load_items}, $live, "-I 1m: load_items $live (with cas:new, without the 1.5 MB item)");
    is($st->{load_expired}, '0', '-I 1m: load_expired 0');
}
value_is($sock, 'big:1572864', undef, '-I 1m: the 1.5 MB item is not back');
value_is($sock, 'big:1000000', big_value(1000000, 1000000), '-I 1m: the 1,000,000-byte value is back', 3);
value_is($sock, 'cas:new', 'n', '-I 1m: the item stored after the first restart is back');

# The expiry times are absolute: bin:1 (86401 s from the first set) is due
# at its TTL left, not later.
{
    my $t = ttl_of($sock, 'bin:1');
    ok(defined $t && $t > 85000, 'bin:1: TTL left ' . ($t // 'miss'));
    $t //= 86000;
    is(send_recv($sock, "debugtime " . ($t - 30) . "\r\n"), "OK\r\n", "clock +" . ($t - 30) . " s");
    value_is($sock, 'bin:1', $value{'bin:1'}, 'bin:1: present 30 s before it is due', 1);
    is(send_recv($sock, "debugtime 60\r\n"), "OK\r\n", 'clock +60 s');
    value_is($sock, 'bin:1', undef, 'bin:1: gone 30 s after it was due');
    value_is($sock, 'bin:0', '', 'bin:0 (no TTL) still there');
}
$srv->stop;

# ======================================================================
# 2. TTLs across downtime: 1000 s pass while the server is down.
# ======================================================================

{
    my $f = "$dir/ttl.dump";
    my $s1 = new_memcached("-F $f");
    my $s = $s1->sock;
    my $abs = stats_of($s)->{time} + 1200;
    is(meta($s, "ms ttl500 1 T500\r\na\r\n"), "HD\r\n", 'ms ttl500 T500');
    is(meta($s, "ms ttl1500 1 T1500\r\nb\r\n"), "HD\r\n", 'ms ttl1500 T1500');
    is(send_recv($s, "set abs1200 0 $abs 1\r\nc\r\n"), "STORED\r\n", 'set abs1200 with absolute exptime now+1200');
    is(meta($s, "ms forever 1\r\nd\r\n"), "HD\r\n", 'ms forever, no TTL');
    my $t0 = time;
    is(exit_status_text($s1->stop), 'exit 0', 'stop: exit 0');

    my $s2 = start_with_offset(1000, "-F $f -o no_dump_on_shutdown");
    $s = $s2->sock;
    my $drift = int(time - $t0) + 2;
    my $st = stats_of($s);
    is($st->{load_expired}, '1', 'after 1000 s down: load_expired 1 (ttl500)');
    is($st->{load_items}, '3', 'after 1000 s down: load_items 3');
    is(meta($s, "mg ttl500 v\r\n"), "EN\r\n", 'ttl500: gone');
    my ($t) = meta($s, "mg ttl1500 t v\r\n") =~ /^VA 1 t(-?\d+)\r\nb\r\n\z/;
    ok(defined $t && $t <= 500 && $t >= 500 - $drift,
       'ttl1500: back with 500 s left, less the real seconds (' . ($t // 'miss') . ')');
    ok(defined $t && $t >= 400, 'ttl1500: TTL left between 400 and 500');
    ($t) = meta($s, "mg abs1200 t v\r\n") =~ /^VA 1 t(-?\d+)\r\nc\r\n\z/;
    ok(defined $t && $t <= 200 && $t >= 200 - $drift,
       'abs1200: back with 200 s left (' . ($t // 'miss') . ')');
    is(meta($s, "mg forever t v\r\n"), "VA 1 t-1\r\nd\r\n", 'forever: back, no TTL');
}

# ======================================================================
# 3. A pending flush_all across a restart.
# ======================================================================

{
    my $f = "$dir/flush.dump";
    my $s1 = new_memcached("-F $f");
    my $s = $s1->sock;
    is(send_recv($s, "set fa 0 0 1\r\na\r\n"), "STORED\r\n", 'set fa');
    is(send_recv($s, "set fb 5 0 1\r\nb\r\n"), "STORED\r\n", 'set fb');
    is(send_recv($s, "flush_all 600\r\n"), "OK\r\n", 'flush_all 600');
    is(send_recv($s, "set fc 0 0 1\r\nc\r\n"), "STORED\r\n", 'set fc while the flush is pending');
    is(exit_status_text($s1->stop), 'exit 0', 'stop with the flush pending: exit 0');
    my $copy = "$dir/flush.copy";
    ok(copy($f, $copy), 'keep a copy of the dump');

    my $s2 = new_memcached("-F $f -o no_dump_on_shutdown");
    $s = $s2->sock;
    my $st = stats_of($s);
    is($st->{load_items}, '3', 'restart: the three items are loaded');
    is($st->{load_expired}, '0', 'restart: load_expired 0');
    print $s "get fa fb fc\r\n";
    is(read_until_end($s), "VALUE fa 0 1\r\na\r\nVALUE fb 5 1\r\nb\r\nVALUE fc 0 1\r\nc\r\nEND\r\n",
       'restart: the items are there before the deadline');
    is(send_recv($s, "debugtime 500\r\n"), "OK\r\n", 'clock +500 s');
    print $s "get fa fb fc\r\n";
    is(read_until_end($s), "VALUE fa 0 1\r\na\r\nVALUE fb 5 1\r\nb\r\nVALUE fc 0 1\r\nc\r\nEND\r\n",
       'restart: still there 500 s after the flush_all');
    is(send_recv($s, "debugtime 101\r\n"), "OK\r\n", 'clock +101 s (601 in all)');
    print $s "get fa fb fc\r\n";
    is(read_until_end($s), "END\r\n", 'the flush that was pending came due after the restart');
    is(send_recv($s, "set fd 0 0 1\r\nd\r\n"), "STORED\r\n", 'set after the deadline');
    mem_get_is($s, 'fd', 'd', 'an item set after the deadline is kept');
    $s2->stop;

    my $s3 = start_with_offset(700, "-F $copy -o no_dump_on_shutdown");
    $s = $s3->sock;
    $st = stats_of($s);
    is($st->{load_items}, '0', 'restart 700 s later (deadline passed while down): load_items 0');
    is($st->{load_expired}, '3', 'restart 700 s later: all three counted in load_expired');
    print $s "get fa fb fc\r\n";
    is(read_until_end($s), "END\r\n", 'restart 700 s later: nothing is back');
}

# ======================================================================
# 4. A smaller -m keeps the most recently used items.
# ======================================================================

{
    my $f = "$dir/lru.dump";
    my $s1 = new_memcached("-F $f -m 64");
    my $s = $s1->sock;
    my $val = 'v' x 10240;
    my $batches = 10;
    my $per = 100;
    my $n = $batches * $per;
    my $hot = 150;          # keys 0..149: the two oldest batches, read last
    my @bad;
    # Batch b is stored 10*b seconds after the first: last access times
    # differ between batches.
    for my $b (0 .. $batches - 1) {
        for my $i (0 .. $per - 1) {
            my $k = $b * $per + $i;
            my $r = request($s, "set lru:$k 0 0 " . length($val) . "\r\n$val\r\n");
            push @bad, "lru:$k: $r" unless $r eq "STORED\r\n";
        }
        send_recv($s, "debugtime 10\r\n") eq "OK\r\n" or push @bad, 'debugtime';
    }
    is_deeply(\@bad, [], "$n items of 10 KB stored in $batches batches 10 s apart");
    is(send_recv($s, "debugtime 120\r\n"), "OK\r\n", 'clock +120 s, so that reads move items');
    @bad = ();
    # Read twice: the second read makes an item active, which refreshes
    # its last access (segmented LRU).
    for my $k (0 .. $hot - 1) {
        for (1 .. 2) {
            my $r = meta($s, "mg lru:$k v\r\n");
            push @bad, "lru:$k" unless $r eq "VA 10240\r\n$val\r\n";
        }
    }
    is_deeply(\@bad, [], "the $hot oldest items read: now the hottest");
    is(stats_of($s)->{curr_items}, $n, "curr_items $n: nothing evicted with -m 64");
    is(exit_status_text($s1->stop), 'exit 0', 'stop: exit 0');

    my $s2 = start_with_offset(220, "-F $f -m 8 -o no_dump_on_shutdown");
    $s = $s2->sock;
    my $st = stats_of($s);
    my ($loaded, $nomem) = ($st->{load_items}, $st->{load_no_memory});
    ok($nomem > 0, "-m 8: some records left out (load_no_memory $nomem)");
    is($loaded + $nomem, $n, "-m 8: load_items + load_no_memory = $n records");
    is($st->{load_expired}, '0', '-m 8: load_expired 0');
    is($st->{evictions}, '0', '-m 8: loading evicted nothing');
    is($st->{curr_items}, $loaded, "-m 8: curr_items = load_items ($loaded)");
    my (@kept, @dropped);
    for my $k (0 .. $n - 1) {
        my $r = meta($s, "mg lru:$k s u\r\n");
        if ($r eq "HD s10240\r\n") { push @kept, $k } elsif ($r eq "EN\r\n") { push @dropped, $k }
        else { push @bad, "lru:$k: $r" }
    }
    is_deeply(\@bad, [], '-m 8: every key is either back with its size or missing');
    is(scalar @kept, $loaded, '-m 8: the keys back are as many as load_items');
    my @hot_missing = grep { $_ < $hot } @dropped;
    is_deeply(\@hot_missing, [], "-m 8: all $hot hot items are back");
    # Among the others, a more recent batch is never dropped while an
    # older one is kept (ties inside a batch share their last access).
    my ($newest_dropped) = sort { $b <=> $a } map { int($_ / $per) } @dropped;
    my ($oldest_kept) = sort { $a <=> $b } map { int($_ / $per) } grep { $_ >= $hot } @kept;
    ok(defined $newest_dropped && defined $oldest_kept && $oldest_kept >= $newest_dropped,
       '-m 8: the items kept are the most recently used (oldest batch kept '
       . ($oldest_kept // 'none') . ', newest batch dropped ' . ($newest_dropped // 'none') . ')');
}

done_testing();
