#!/usr/bin/perl
# Values larger than slab_chunk_max (512 KiB), which memcached 1.6 stores as
# chained chunks: sizes around the chunk boundary and its multiples come back
# byte for byte, append/prepend join chunked values, and many large items
# live side by side.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $chunk = 512 * 1024;

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

# Reads one retrieval reply: VALUE headers with their data blocks, read by
# the length each header declares, up to END (or anything else). Returns
# the raw bytes, so a short or wrong reply never leaves the read waiting.
sub get_reply {
    my $sock = shift;
    my $out = '';
    while (defined(my $line = <$sock>)) {
        $out .= $line;
        last unless $line =~ /^VALUE \S+ \d+ (\d+)(?: \d+)?\r\n$/;
        $out .= read_reply($sock, $1 + 2);
    }
    return $out;
}

# Compares two byte strings exactly. On a mismatch the message shows the
# first differing offset and a few escaped bytes around it instead of
# megabytes of value.
sub bytes_are {
    my ($got, $want, $msg) = @_;
    my $diff = 'same bytes';
    if ($got ne $want) {
        my $i = 0;
        my $n = length($got) < length($want) ? length($got) : length($want);
        $i++ while $i < $n && substr($got, $i, 1) eq substr($want, $i, 1);
        my $show = sub { my $s = substr($_[0], $i, 16); $s =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge; $s };
        $diff = sprintf('length %d vs %d, first difference at %d: "%s" vs "%s"',
                        length $got, length $want, $i, $show->($got), $show->($want));
    }
    is($diff, 'same bytes', $msg);
}

# A value of `len` bytes whose content depends on `seed` and repeats with a
# prime period, so a misplaced chunk boundary cannot go unnoticed; it holds
# \r\n and NUL bytes to show the data is never parsed.
sub value {
    my ($len, $seed) = @_;
    my $base = join '', map { chr(($_ * 37 + $seed * 11) % 256) } 0 .. 250;
    substr($base, 17, 2) = "\r\n";
    substr($base, 100, 1) = "\0";
    my $v = $base x (int($len / length $base) + 1);
    return substr($v, 0, $len);
}

my $server = new_memcached('-I 2m -m 64');
my $sock = $server->sock;

# Sizes just under and over one, two and three chunks (the item header makes
# the real boundary a few dozen bytes under each multiple of 512 KiB).
my @sizes;
for my $m (1, 2, 3) {
    push @sizes, map { $m * $chunk + $_ } -100, -60, -50, -49, -48, -2, -1, 0, 1, 2, 48, 100;
}
push @sizes, 2 * 1024 * 1024 - 1000;

for my $i (0 .. $#sizes) {
    my $n = $sizes[$i];
    my $v = value($n, $i);
    print $sock "set big$n $i 0 $n\r\n$v\r\n";
    is(scalar <$sock>, "STORED\r\n", "set $n bytes");
    print $sock "get big$n\r\n";
    bytes_are(get_reply($sock),
              "VALUE big$n $i $n\r\n$v\r\nEND\r\n", "get $n bytes back exactly");
}

# Several large values in one multi-get reply.
my @multi = @sizes[5 .. 8];
my $expect = join('', map {
    my $i = 5 + $_;
    my $n = $sizes[$i];
    "VALUE big$n $i $n\r\n" . value($n, $i) . "\r\n";
} 0 .. 3) . "END\r\n";
print $sock "get @{[ map { \"big$_\" } @multi ]}\r\n";
bytes_are(get_reply($sock), $expect, 'multi-get of four large values');

# Over -I 2m: refused, data swallowed.
my $over = 2 * 1024 * 1024 + 1;
print $sock "set huge 0 0 $over\r\n" . ('h' x $over) . "\r\n";
is(scalar <$sock>, "SERVER_ERROR object too large for cache\r\n", 'value over -I 2m');
mem_get_is($sock, 'huge', undef, 'nothing stored for the refused value');

# ---- append and prepend on large items ----

my ($a1, $a2) = (value(600_000, 1), value(600_000, 2));
print $sock "set cat 7 0 600000\r\n$a1\r\n";
is(scalar <$sock>, "STORED\r\n", 'set 600000 bytes');
print $sock "append cat 0 0 600000\r\n$a2\r\n";
is(scalar <$sock>, "STORED\r\n", 'append 600000 bytes');
print $sock "prepend cat 0 0 5\r\nhello\r\n";
is(scalar <$sock>, "STORED\r\n", 'prepend 5 bytes');
print $sock "append cat 0 0 3\r\nend\r\n";
is(scalar <$sock>, "STORED\r\n", 'append 3 bytes');
my $joined = "hello$a1${a2}end";
print $sock "get cat\r\n";
bytes_are(get_reply($sock),
          "VALUE cat 7 1200008\r\n$joined\r\nEND\r\n",
          'appended and prepended value, flags kept');
print $sock "append cat 0 0 900000\r\n" . value(900_000, 3) . "\r\n";
is(scalar <$sock>, "NOT_STORED\r\n", 'append that would pass -I is NOT_STORED');
print $sock "get cat\r\n";
bytes_are(get_reply($sock),
          "VALUE cat 7 1200008\r\n$joined\r\nEND\r\n", 'value unchanged after refused append');
my $small = 'abc';
print $sock "set grow 0 0 3\r\n$small\r\n";
is(scalar <$sock>, "STORED\r\n", 'set a small value');
my $a3 = value(700_000, 4);
print $sock "append grow 0 0 700000\r\n$a3\r\n";
is(scalar <$sock>, "STORED\r\n", 'append 700000 bytes to a small value');
print $sock "get grow\r\n";
bytes_are(get_reply($sock),
          "VALUE grow 0 700003\r\n$small$a3\r\nEND\r\n", 'small value grown past a chunk');

# ---- many large items ----
# The values above fill most of -m 64 with items of mixed sizes; 40 more of
# 700000 bytes must still be stored, evicting older items as needed.

my $many = 40;
my $len = 700_000;
my $stored = 0;
for my $i (1 .. $many) {
    print $sock "set many$i $i 0 $len\r\n" . value($len, $i) . "\r\n";
    $stored++ if scalar(<$sock>) eq "STORED\r\n";
}
is($stored, $many, "$many sets of $len bytes STORED on a cache full of mixed sizes");
my $ok = 0;
for my $i (1 .. $many) {
    print $sock "get many$i\r\n";
    $ok++ if get_reply($sock) eq "VALUE many$i $i $len\r\n" . value($len, $i) . "\r\nEND\r\n";
}
is($ok, $many, "all $many items of $len bytes read back exactly");
for my $i (1 .. $many) {
    print $sock "set many$i 0 0 3\r\nnew\r\n";
    <$sock>;
}
print $sock "get many1 many$many\r\n";
is(read_until_end($sock), "VALUE many1 0 3\r\nnew\r\nVALUE many$many 0 3\r\nnew\r\nEND\r\n",
   'large items replaced by small ones');

# On a fresh server: 120 items of 700000 bytes (84 MB) into -m 64. Every
# set is stored, the newest items stay, the oldest are evicted.

my $fresh = new_memcached('-I 2m -m 64');
my $fs = $fresh->sock;
my $total = 120;
$stored = 0;
for my $i (1 .. $total) {
    print $fs "set f$i 0 0 $len\r\n" . value($len, $i) . "\r\n";
    $stored++ if scalar(<$fs>) eq "STORED\r\n";
}
is($stored, $total, "$total sets of $len bytes into -m 64 all STORED");
$ok = 0;
for my $i ($total - 39 .. $total) {
    print $fs "get f$i\r\n";
    $ok++ if get_reply($fs) eq "VALUE f$i 0 $len\r\n" . value($len, $i) . "\r\nEND\r\n";
}
is($ok, 40, 'the newest 40 large items read back exactly');
mem_get_is($fs, 'f1', undef, 'the oldest large item was evicted');
print $fs "stats\r\n";
my ($evictions) = read_until_end($fs) =~ /^STAT evictions (\d+)\r$/m;
cmp_ok($evictions // 0, '>', 0, 'evictions counted for large items');

done_testing();
