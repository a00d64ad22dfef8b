#!/usr/bin/perl
# Retrieval: get, gets, gat and gats with one key, many keys, misses,
# duplicates and bad keys. Expected bytes checked against memcached 1.6.18.
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

is(send_recv($sock, "set a 1 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "set b 2 0 2\r\nBB\r\n"), "STORED\r\n", 'set b');
my $cas_a = gets_cas($sock, 'a');
my $cas_b = gets_cas($sock, 'b');

# ---- get ----

print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nEND\r\n", 'get of one hit');
print $sock "get nope\r\n";
is(read_until_end($sock), "END\r\n", 'get of one miss: just END');
print $sock "get a b\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n", 'get of two hits, in request order');
print $sock "get b a\r\n";
is(read_until_end($sock), "VALUE b 2 2\r\nBB\r\nVALUE a 1 1\r\nA\r\nEND\r\n", 'get answers in request order, not store order');
print $sock "get x a y b z\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n", 'get of hits mixed with misses: misses left out');
print $sock "get x y z\r\n";
is(read_until_end($sock), "END\r\n", 'get of many misses: just END');
print $sock "get a a a\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nVALUE a 1 1\r\nA\r\nVALUE a 1 1\r\nA\r\nEND\r\n",
   'get with a duplicate key answers it each time');
print $sock "get a  b\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n", 'get with two spaces between keys');
print $sock "get a \r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nEND\r\n", 'get with a trailing space');
print $sock "get a\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nEND\r\n", 'get ended by a bare LF');

# memcached 1.6.45 answers a known command without enough words so
# (1.6.18: ERROR).
my $bad = "CLIENT_ERROR bad command line format\r\n";
is(send_recv($sock, "get\r\n"), $bad, 'get without a key: CLIENT_ERROR');
is(send_recv($sock, "get \r\n"), $bad, 'get with only a space: CLIENT_ERROR');
is(send_recv($sock, "gets\r\n"), $bad, 'gets without a key: CLIENT_ERROR');
is(send_recv($sock, "GET a\r\n"), "ERROR\r\n", 'commands are case-sensitive: GET is ERROR');

# ---- gets ----

print $sock "gets a\r\n";
is(read_until_end($sock), "VALUE a 1 1 $cas_a\r\nA\r\nEND\r\n", 'gets of one hit shows the cas unique');
print $sock "gets a nope b\r\n";
is(read_until_end($sock), "VALUE a 1 1 $cas_a\r\nA\r\nVALUE b 2 2 $cas_b\r\nBB\r\nEND\r\n",
   'gets of hits and a miss');
print $sock "gets nope\r\n";
is(read_until_end($sock), "END\r\n", 'gets of one miss: just END');
print $sock "gets b b\r\n";
is(read_until_end($sock), "VALUE b 2 2 $cas_b\r\nBB\r\nVALUE b 2 2 $cas_b\r\nBB\r\nEND\r\n",
   'gets with a duplicate key');
is($cas_b > $cas_a ? 1 : 0, 1, 'the later set has the larger cas unique');

# ---- very many keys on one line ----

for my $i (0 .. 99) {
    send_recv($sock, "set key$i $i 0 " . length("v$i") . "\r\nv$i\r\n");
}
{
    my @keys = map { "key$_" } 0 .. 99;
    my $expect = join('', map { "VALUE key$_ $_ " . length("v$_") . "\r\nv$_\r\n" } 0 .. 99) . "END\r\n";
    print $sock "get @keys\r\n";
    is(read_until_end($sock), $expect, 'get of 100 keys on one line');
}
{
    # 5000 keys, half of them misses: a 32 KB request line.
    my @n = map { $_ % 200 } 0 .. 4999;
    my @keys = map { "key$_" } @n;
    my $expect = join('', map { "VALUE key$_ $_ " . length("v$_") . "\r\nv$_\r\n" } grep { $_ < 100 } @n)
               . "END\r\n";
    print $sock "get @keys\r\n";
    is(read_until_end($sock), $expect, 'get of 5000 keys (32 KB line), hits and misses');
}

# ---- key length ----

my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
# memcached 1.6.45 sends an empty line after the error of a 251-byte key
# in get, gets, gat and gats (its line ending copied twice), which a
# client would read as the next reply; we do not (doc/compatibility.md).
my $long_err = "CLIENT_ERROR bad command line format\r\n" . (is_ours() ? '' : "\r\n");
sub long_key_reply {
    my ($req) = @_;
    print $sock $req;
    return read_reply($sock, length $long_err);
}
is(send_recv($sock, "set $k250 3 0 2\r\nok\r\n"), "STORED\r\n", 'set with a 250-byte key');
print $sock "get $k250\r\n";
is(read_until_end($sock), "VALUE $k250 3 2\r\nok\r\nEND\r\n", 'get with a 250-byte key');
is(long_key_reply("get $k251\r\n"), $long_err,
   'get with a 251-byte key: CLIENT_ERROR');
is(long_key_reply("gets $k251\r\n"), $long_err,
   'gets with a 251-byte key: CLIENT_ERROR');
# The hits found before the bad key are dropped: the whole reply is the error.
is(long_key_reply("get a b $k251\r\n"), $long_err,
   'get with hits then a 251-byte key: only the CLIENT_ERROR');
is(long_key_reply("get a $k251 b\r\n"), $long_err,
   'get with a 251-byte key between hits: only the CLIENT_ERROR');
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nEND\r\n", 'connection in step after the key errors');

# ---- gat / gats ----

print $sock "gat 100 a\r\n";
is(read_until_end($sock), "VALUE a 1 1\r\nA\r\nEND\r\n", 'gat of a hit returns it like get');
print $sock "gats 100 a nope b\r\n";
is(read_until_end($sock), "VALUE a 1 1 $cas_a\r\nA\r\nVALUE b 2 2 $cas_b\r\nBB\r\nEND\r\n",
   'gats of hits and a miss, with cas uniques');
print $sock "gets a\r\n";
is(read_until_end($sock), "VALUE a 1 1 $cas_a\r\nA\r\nEND\r\n", 'gat did not change the cas unique');
print $sock "gat 100 nope\r\n";
is(read_until_end($sock), "END\r\n", 'gat of a miss: just END');
print $sock "gats 0 b b\r\n";
is(read_until_end($sock), "VALUE b 2 2 $cas_b\r\nBB\r\nVALUE b 2 2 $cas_b\r\nBB\r\nEND\r\n",
   'gats with a duplicate key');
is(send_recv($sock, "gat 100\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'gat with an exptime but no key: CLIENT_ERROR');
is(send_recv($sock, "gat\r\n"), "CLIENT_ERROR bad command line format\r\n", 'bare gat: CLIENT_ERROR');
is(send_recv($sock, "gats\r\n"), "CLIENT_ERROR bad command line format\r\n", 'bare gats: CLIENT_ERROR');
is(send_recv($sock, "gat abc a\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'gat with a non-numeric exptime: CLIENT_ERROR');
is(send_recv($sock, "gat 1.5 a\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'gat with a fractional exptime: CLIENT_ERROR');
is(long_key_reply("gat 0 $k251\r\n"), $long_err,
   'gat with a 251-byte key: CLIENT_ERROR');
is(long_key_reply("gats 0 a $k251\r\n"), $long_err,
   'gats with a hit then a 251-byte key: only the CLIENT_ERROR');

# gat sets the new exptime: a negative one returns the item, then it is gone.
is(send_recv($sock, "set gone 0 0 4\r\ngone\r\n"), "STORED\r\n", 'set gone');
print $sock "gat -1 gone\r\n";
is(read_until_end($sock), "VALUE gone 0 4\r\ngone\r\nEND\r\n", 'gat -1 still returns the item');
mem_get_is($sock, 'gone', undef, 'gat -1 expired the item');

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(send_recv($sock, "set ttl 0 0 1\r\nt\r\n"), "STORED\r\n", 'set ttl without exptime');
    is(send_recv($sock, "set keep 0 100 1\r\nk\r\n"), "STORED\r\n", 'set keep with exptime 100');
    print $sock "gat 100 ttl\r\n";
    is(read_until_end($sock), "VALUE ttl 0 1\r\nt\r\nEND\r\n", 'gat 100 ttl');
    my $cas_keep = gets_cas($sock, 'keep');
    print $sock "gats 0 keep\r\n";
    is(read_until_end($sock), "VALUE keep 0 1 $cas_keep\r\nk\r\nEND\r\n", 'gats 0 keep');
    is(send_recv($sock, "debugtime 101\r\n"), "OK\r\n", 'clock +101s');
    mem_get_is($sock, 'ttl', undef, 'gat 100 gave the item a 100s life: expired');
    mem_get_is($sock, 'keep', 'k', 'gats 0 took the exptime away: still there');
    print $sock "gat 100 ttl\r\n";
    is(read_until_end($sock), "END\r\n", 'gat of an expired item: END');
}

done_testing();
