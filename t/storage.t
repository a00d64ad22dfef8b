#!/usr/bin/perl
# Storage commands: set, add, replace, append, prepend and cas. Every reply
# (STORED, NOT_STORED, EXISTS, NOT_FOUND, the error lines) was checked
# byte for byte against memcached 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# Reads the cas unique of `key` from a one-key gets (undef on a miss).
sub gets_cas {
    my ($sock, $key) = @_;
    print $sock "gets $key\r\n";
    my $reply = read_until_end($sock);
    return $reply =~ /^VALUE \Q$key\E \d+ \d+ (\d+)\r\n/ ? $1 : undef;
}

my $server = new_memcached();
my $sock = $server->sock;

# ---- set ----

is(send_recv($sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n", 'set of a new key: STORED');
mem_get_is($sock, 'foo', 'bar', 'get returns what set stored');
is(send_recv($sock, "set foo 0 0 4\r\nbarn\r\n"), "STORED\r\n", 'set over an existing key: STORED');
mem_get_is($sock, 'foo', 'barn', 'set replaced the value');
is(send_recv($sock, "set foo 3 0 3\r\nbar\r\n"), "STORED\r\n", 'set with other flags: STORED');
mem_get_is($sock, 'foo', 'bar', 'set replaced the flags', 3);

# ---- add ----

is(send_recv($sock, "add addkey 5 0 3\r\none\r\n"), "STORED\r\n", 'add of a missing key: STORED');
mem_get_is($sock, 'addkey', 'one', 'add stored value and flags', 5);
is(send_recv($sock, "add addkey 6 0 3\r\ntwo\r\n"), "NOT_STORED\r\n", 'add of an existing key: NOT_STORED');
mem_get_is($sock, 'addkey', 'one', 'failed add left value and flags alone', 5);

# ---- replace ----

is(send_recv($sock, "replace repkey 0 0 3\r\none\r\n"), "NOT_STORED\r\n", 'replace of a missing key: NOT_STORED');
mem_get_is($sock, 'repkey', undef, 'failed replace did not create the key');
is(send_recv($sock, "set repkey 1 0 3\r\none\r\n"), "STORED\r\n", 'set repkey');
is(send_recv($sock, "replace repkey 7 0 5\r\nthree\r\n"), "STORED\r\n", 'replace of an existing key: STORED');
mem_get_is($sock, 'repkey', 'three', 'replace stored new value and new flags', 7);

# ---- append / prepend ----

is(send_recv($sock, "append apkey 0 0 3\r\nend\r\n"), "NOT_STORED\r\n", 'append to a missing key: NOT_STORED');
is(send_recv($sock, "prepend apkey 0 0 5\r\nstart\r\n"), "NOT_STORED\r\n", 'prepend to a missing key: NOT_STORED');
mem_get_is($sock, 'apkey', undef, 'failed append/prepend did not create the key');

is(send_recv($sock, "set apkey 7 0 3\r\nmid\r\n"), "STORED\r\n", 'set apkey with flags 7');
is(send_recv($sock, "append apkey 9 0 4\r\n_end\r\n"), "STORED\r\n", 'append to an existing key: STORED');
mem_get_is($sock, 'apkey', 'mid_end', 'append added at the end and kept flags 7', 7);
is(send_recv($sock, "prepend apkey 9 0 6\r\nstart_\r\n"), "STORED\r\n", 'prepend to an existing key: STORED');
mem_get_is($sock, 'apkey', 'start_mid_end', 'prepend added at the front and kept flags 7', 7);
is(send_recv($sock, "append apkey 0 0 0\r\n\r\n"), "STORED\r\n", 'append of zero bytes: STORED');
is(send_recv($sock, "prepend apkey 0 0 0\r\n\r\n"), "STORED\r\n", 'prepend of zero bytes: STORED');
mem_get_is($sock, 'apkey', 'start_mid_end', 'zero-byte append/prepend changed nothing', 7);

# The exptime given to append/prepend is ignored: a negative one (which
# expires a set at once) leaves the item alive.
is(send_recv($sock, "set ttlkey 0 0 1\r\nb\r\n"), "STORED\r\n", 'set ttlkey without exptime');
is(send_recv($sock, "append ttlkey 0 -1 1\r\nc\r\n"), "STORED\r\n", 'append with exptime -1: STORED');
is(send_recv($sock, "prepend ttlkey 0 -1 1\r\na\r\n"), "STORED\r\n", 'prepend with exptime -1: STORED');
mem_get_is($sock, 'ttlkey', 'abc', 'append/prepend kept the original (no) exptime');

# ---- cas ----

is(send_recv($sock, "cas nokey 0 0 1 1\r\nx\r\n"), "NOT_FOUND\r\n", 'cas on a missing key: NOT_FOUND');
mem_get_is($sock, 'nokey', undef, 'cas on a missing key did not create it');

is(send_recv($sock, "set caskey 1 0 3\r\nold\r\n"), "STORED\r\n", 'set caskey');
my $cas1 = gets_cas($sock, 'caskey');
is(send_recv($sock, "cas caskey 4 0 3 $cas1\r\nnew\r\n"), "STORED\r\n", 'cas with the current unique: STORED');
mem_get_is($sock, 'caskey', 'new', 'cas stored new value and new flags', 4);
my $cas2 = gets_cas($sock, 'caskey');
is($cas2 > $cas1 ? 1 : 0, 1, 'successful cas gave the item a larger cas unique');
is(send_recv($sock, "cas caskey 0 0 5 $cas1\r\nstale\r\n"), "EXISTS\r\n", 'cas with a stale unique: EXISTS');
mem_get_is($sock, 'caskey', 'new', 'failed cas left the value alone', 4);
is(send_recv($sock, "cas caskey 0 0 4 0\r\nzero\r\n"), "EXISTS\r\n", 'cas with unique 0: EXISTS');

# Another client changes the item between our gets and our cas.
my $other = $server->new_sock;
is(send_recv($other, "set caskey 0 0 5\r\nother\r\n"), "STORED\r\n", 'second client overwrites caskey');
is(send_recv($sock, "cas caskey 0 0 4 $cas2\r\nmine\r\n"), "EXISTS\r\n", 'cas after a concurrent set: EXISTS');
mem_get_is($sock, 'caskey', 'other', 'the concurrent value survived');

is(send_recv($sock, "delete caskey\r\n"), "DELETED\r\n", 'delete caskey');
is(send_recv($sock, "cas caskey 0 0 1 $cas2\r\nx\r\n"), "NOT_FOUND\r\n", 'cas on a deleted key: NOT_FOUND');

# As memcached 1.6.45: a cas line without its unique, or with a bad one,
# is a bad command line, and its value is swallowed (the length was read).
print $sock "cas caskey 0 0 1\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'cas without unique: CLIENT_ERROR');
print $sock "cas caskey 0 0 1 abc\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'cas with a non-numeric unique: CLIENT_ERROR');
print $sock "cas caskey 0 0 1 -1\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'cas with a negative unique: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'the data lines were swallowed');

# Every successful store takes a new, larger cas unique.
{
    my @seen;
    send_recv($sock, "set seq 0 0 1\r\n1\r\n");
    push @seen, gets_cas($sock, 'seq');
    send_recv($sock, "replace seq 0 0 1\r\n2\r\n");
    push @seen, gets_cas($sock, 'seq');
    send_recv($sock, "append seq 0 0 1\r\n3\r\n");
    push @seen, gets_cas($sock, 'seq');
    send_recv($sock, "prepend seq 0 0 1\r\n4\r\n");
    push @seen, gets_cas($sock, 'seq');
    send_recv($sock, "cas seq 0 0 1 $seen[-1]\r\n5\r\n");
    push @seen, gets_cas($sock, 'seq');
    send_recv($sock, "set seq 0 0 1\r\n6\r\n");
    push @seen, gets_cas($sock, 'seq');
    my $increasing = 1;
    for my $i (1 .. $#seen) {
        $increasing = 0 unless defined $seen[$i] && defined $seen[$i - 1]
                              && $seen[$i] > $seen[$i - 1];
    }
    is($increasing, 1, 'set/replace/append/prepend/cas/set: cas uniques strictly increase');
}

{
    my $fresh = new_memcached();
    my $fs = $fresh->sock;
    is(send_recv($fs, "set first 0 0 1\r\nx\r\n"), "STORED\r\n", 'fresh server: first set');
    print $fs "gets first\r\n";
    is(read_until_end($fs), "VALUE first 0 1 2\r\nx\r\nEND\r\n", 'fresh server: first stored item has cas 2 (1.6.45; 1.6.18: 1)');
}

# ---- flags ----

for my $flags (0, 1, 4294967295) {
    is(send_recv($sock, "set fl $flags 0 1\r\nx\r\n"), "STORED\r\n", "set with flags $flags");
    mem_get_is($sock, 'fl', 'x', "flags $flags round trip", $flags);
}
# memcached reads flags as a 64-bit number and keeps the low 32 bits.
is(send_recv($sock, "set fl 4294967296 0 1\r\nx\r\n"), "STORED\r\n", 'set with flags 2^32: STORED');
mem_get_is($sock, 'fl', 'x', 'flags 2^32 come back as 0', 0);
is(send_recv($sock, "set fl 4294967297 0 1\r\nx\r\n"), "STORED\r\n", 'set with flags 2^32+1: STORED');
mem_get_is($sock, 'fl', 'x', 'flags 2^32+1 come back as 1', 1);
is(send_recv($sock, "set fl 18446744073709551615 0 1\r\nx\r\n"), "STORED\r\n", 'set with flags 2^64-1: STORED');
mem_get_is($sock, 'fl', 'x', 'flags 2^64-1 come back as 4294967295', 4294967295);
print $sock "set fl 18446744073709551616 0 1\r\ny\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'flags 2^64: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'flags 2^64: data line swallowed (1.6.45)');
print $sock "set fl -1 0 1\r\ny\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'negative flags: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'negative flags: data line swallowed (1.6.45)');
print $sock "set fl abc 0 1\r\ny\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'non-numeric flags: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'non-numeric flags: data line swallowed (1.6.45)');
mem_get_is($sock, 'fl', 'x', 'rejected sets left the item alone', 4294967295);

# ---- zero-length and binary values ----

is(send_recv($sock, "set empty 0 0 0\r\n\r\n"), "STORED\r\n", 'set of a zero-length value');
print $sock "get empty\r\n";
is(read_until_end($sock), "VALUE empty 0 0\r\n\r\nEND\r\n", 'zero-length value comes back empty');

my $bin = "a\r\nb\0c\r\nEND\r\n\0";
is(send_recv($sock, "set bin 0 0 " . length($bin) . "\r\n$bin\r\n"), "STORED\r\n",
   'set of a value with CR LF, NUL and END inside');
{
    my $expect = "VALUE bin 0 " . length($bin) . "\r\n$bin\r\nEND\r\n";
    print $sock "get bin\r\n";
    is(read_reply($sock, length $expect), $expect, 'binary value comes back byte for byte');
}
is(send_recv($sock, "set crlf 0 0 2\r\n\r\n\r\n"), "STORED\r\n", 'set of a value that is just CR LF');
{
    my $expect = "VALUE crlf 0 2\r\n\r\n\r\nEND\r\n";
    print $sock "get crlf\r\n";
    is(read_reply($sock, length $expect), $expect, 'CR LF value comes back');
}

# ---- malformed data blocks ----

# Data longer than announced: the server checks that the byte after the
# block is CR LF, answers bad data chunk, and the leftover LF is then read
# as a line too short for a command.
is(send_recv($sock, "set chunk 0 0 3\r\nold\r\n"), "STORED\r\n", 'set chunk');
print $sock "set chunk 0 0 1\r\nxy\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad data chunk\r\n", 'data longer than announced: bad data chunk');
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'bad data chunk: leftover LF is too short');
mem_get_is($sock, 'chunk', 'old', 'bad data chunk kept the old value');

# Too few or too many tokens.
is(send_recv($sock, "set chunk 0 0\r\n"), "CLIENT_ERROR bad command line format\r\n", 'set without a length: CLIENT_ERROR');
is(send_recv($sock, "set\r\n"), "CLIENT_ERROR bad command line format\r\n", 'bare set: CLIENT_ERROR');
is(send_recv($sock, "set chunk2 0 0 1 x y\r\nz\r\n"), "STORED\r\n", 'set with two extra tokens: STORED (1.6.45)');
is(send_recv($sock, "set chunk 0 0 1 junk\r\nj\r\n"), "STORED\r\n",
   'set with one extra token that is not noreply: STORED');
mem_get_is($sock, 'chunk', 'j', 'the extra token was ignored');
print $sock "set chunk 0 0 -1\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'negative length: CLIENT_ERROR');

# ---- exptime ----

is(send_recv($sock, "set exp 0 -1 1\r\nx\r\n"), "STORED\r\n", 'set with negative exptime: STORED');
mem_get_is($sock, 'exp', undef, 'negative exptime: item expired at once');
is(send_recv($sock, "set exp 0 2592000 1\r\nx\r\n"), "STORED\r\n", 'set with exptime of exactly 30 days');
mem_get_is($sock, 'exp', 'x', 'exptime 2592000 is relative: item is there');
is(send_recv($sock, "set exp 0 2592001 1\r\nx\r\n"), "STORED\r\n", 'set with exptime 30 days + 1');
mem_get_is($sock, 'exp', undef, 'exptime 2592001 is an absolute time in 1970: item expired at once');
# memcached keeps exptime in a signed 32-bit int: 4102444800 (year 2100)
# wraps to a negative number and the item expires at once.
is(send_recv($sock, "set exp 0 4102444800 1\r\nx\r\n"), "STORED\r\n", 'set with exptime 4102444800');
mem_get_is($sock, 'exp', undef, 'exptime 4102444800 wraps to negative: item expired at once');
print $sock "set exp 0 abc 1\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'non-numeric exptime: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'non-numeric exptime: data line swallowed (1.6.45)');

# ---- key length ----

my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
is(send_recv($sock, "set $k250 0 0 1\r\nx\r\n"), "STORED\r\n", 'set with a 250-byte key: STORED');
mem_get_is($sock, $k250, 'x', '250-byte key round trip');
print $sock "set $k251 0 0 1\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'set with a 251-byte key: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", '251-byte key: data line swallowed (1.6.45)');
print $sock "add $k251 0 0 1\r\nx\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'add with a 251-byte key: CLIENT_ERROR');
is(send_recv($sock, "mn\r\n"), "MN\r\n", 'add 251-byte key: data line swallowed (1.6.45)');

# ---- item size limit ----

{
    my $big = new_memcached('-I 512k');
    my $bs = $big->sock;
    my $huge = 'x' x 600000;

    is(send_recv($bs, "set big 0 0 3\r\nold\r\n"), "STORED\r\n", '-I 512k: set a small value');
    is(send_recv($bs, "set big 0 0 600000\r\n$huge\r\n"), "SERVER_ERROR object too large for cache\r\n",
       'set of a 600000-byte value with -I 512k: too large');
    mem_get_is($bs, 'big', undef, 'a too-large set swallowed its data and removed the old value');

    is(send_recv($bs, "set big 0 0 3\r\nold\r\n"), "STORED\r\n", 'set the small value again');
    for my $cmd ('add', 'replace', 'append', 'prepend') {
        is(send_recv($bs, "$cmd big 0 0 600000\r\n$huge\r\n"),
           "SERVER_ERROR object too large for cache\r\n", "$cmd of a too-large value: too large");
        mem_get_is($bs, 'big', 'old', "too-large $cmd swallowed its data and kept the old value");
    }
    my $unique = gets_cas($bs, 'big');
    is(send_recv($bs, "cas big 0 0 600000 $unique\r\n$huge\r\n"),
       "SERVER_ERROR object too large for cache\r\n", 'cas of a too-large value: too large');
    mem_get_is($bs, 'big', 'old', 'too-large cas swallowed its data and kept the old value');

    my $twomeg = 'y' x 2000000;
    is(send_recv($bs, "set other 0 0 2000000\r\n$twomeg\r\n"), "SERVER_ERROR object too large for cache\r\n",
       'set of a 2000000-byte value with -I 512k: too large');
    mem_get_is($bs, 'big', 'old', 'connection still in step after a 2 MB swallow');

    my $fits = 'z' x 400000;
    is(send_recv($bs, "set fits 0 0 400000\r\n$fits\r\n"), "STORED\r\n", 'a 400000-byte value fits under -I 512k');
    my $expect = "VALUE fits 0 400000\r\n$fits\r\nEND\r\n";
    print $bs "get fits\r\n";
    is(read_reply($bs, length $expect), $expect, 'the 400000-byte value comes back whole');

    # Growing past the limit by append/prepend is NOT_STORED, not an error.
    my $more = 'w' x 200000;
    is(send_recv($bs, "append fits 0 0 200000\r\n$more\r\n"), "NOT_STORED\r\n",
       'append that would exceed the item size limit: NOT_STORED');
    is(send_recv($bs, "prepend fits 0 0 200000\r\n$more\r\n"), "NOT_STORED\r\n",
       'prepend that would exceed the item size limit: NOT_STORED');
    print $bs "get fits\r\n";
    is(read_reply($bs, length $expect), $expect, 'failed append/prepend left the value alone');
}

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(send_recv($sock, "set keep 0 100 1\r\nb\r\n"), "STORED\r\n", 'set keep with exptime 100');
    is(send_recv($sock, "append keep 0 0 1\r\nc\r\n"), "STORED\r\n", 'append to keep with exptime 0');
    is(send_recv($sock, "prepend keep 0 0 1\r\na\r\n"), "STORED\r\n", 'prepend to keep with exptime 0');
    is(send_recv($sock, "set plain 0 100 1\r\np\r\n"), "STORED\r\n", 'set plain with exptime 100');
    is(send_recv($sock, "set forever 0 0 1\r\nf\r\n"), "STORED\r\n", 'set forever with exptime 0');
    is(send_recv($sock, "debugtime 50\r\n"), "OK\r\n", 'clock +50s');
    mem_get_is($sock, 'keep', 'abc', 'appended item alive 50s into its 100s');
    mem_get_is($sock, 'plain', 'p', 'item alive 50s into its 100s');
    is(send_recv($sock, "debugtime 51\r\n"), "OK\r\n", 'clock +51s (101s in all)');
    mem_get_is($sock, 'keep', undef, 'append/prepend kept the original exptime: item expired');
    mem_get_is($sock, 'plain', undef, 'item with exptime 100 expired after 101s');
    mem_get_is($sock, 'forever', 'f', 'item with exptime 0 never expires');
    is(send_recv($sock, "add plain 0 0 1\r\nq\r\n"), "STORED\r\n", 'add over an expired item: STORED');
}

done_testing();
