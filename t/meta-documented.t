#!/usr/bin/perl
# Meta behaviour the protocol text documents and memcached 1.6.18 does not
# do (it rejects or ignores these): E on every command, md x, mg C, ms s,
# and ms N in append/prepend mode. memcached 1.6.45 does them all, as
# here (this script passes against it, not against 1.6.18); see
# doc/compatibility.md.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached();
my $sock = $server->sock;

# E: the CAS a modified item gets.
is(meta($sock, "ms a 3 E500 c\r\nabc\r\n"), "HD c500\r\n", 'ms E sets the new item\'s CAS');
is(meta($sock, "mg a c v\r\n"), "VA 3 c500\r\nabc\r\n", 'mg sees CAS 500');
is(meta($sock, "gets a\r\n"), "VALUE a 0 3 500\r\n", 'gets sees CAS 500');
is(scalar <$sock> . scalar <$sock>, "abc\r\nEND\r\n", 'gets value');
is(meta($sock, "ms a 3 C500 E600 c\r\nxyz\r\n"), "HD c600\r\n", 'ms C with E: compare 500, store as 600');
is(meta($sock, "ms n 1\r\n5\r\n"), "HD\r\n", 'ms n');
is(meta($sock, "ma n E700 c v\r\n"), "VA 1 c700\r\n6\r\n", 'ma E: the incremented item gets CAS 700');
is(meta($sock, "md a I E800\r\n"), "HD\r\n", 'md I E800: invalidate with CAS 800');
is(meta($sock, "mg a c\r\n"), "HD c800 X W\r\n", 'stale item carries CAS 800, this client wins');
is(meta($sock, "mg miss N30 E900 c\r\n"), "HD c900 W\r\n", 'mg N with E: vivified with CAS 900');

# mg C: with v, the value is left out when the CAS matches.
is(meta($sock, "ms c 3 E42\r\nabc\r\n"), "HD\r\n", 'ms c with CAS 42');
is(meta($sock, "mg c C42 v\r\n"), "HD\r\n", 'mg C matching: HD, no value');
is(meta($sock, "mg c C41 v\r\n"), "VA 3\r\nabc\r\n", 'mg C not matching: the value');

# ms s: the size of what was stored (the new size on append).
is(meta($sock, "ms s 3 s\r\nabc\r\n"), "HD s3\r\n", 'ms s: size stored');
is(meta($sock, "ms s 2 MA s\r\nde\r\n"), "HD s5\r\n", 'ms MA s: size after append');
is(meta($sock, "ms nos 2 MR s\r\nde\r\n"), "NS s2\r\n", 'ms s on NS: the size sent');

# ms N with append/prepend: a miss creates the item from this value.
is(meta($sock, "ms viv 1 MA N30\r\nx\r\n"), "HD\r\n", 'MA N30 on a miss: stored');
is(meta($sock, "mg viv v t\r\n"), "VA 1 t30\r\nx\r\n", 'vivified by append, with the N TTL');
is(meta($sock, "ms viv 1 MP N30\r\ny\r\n"), "HD\r\n", 'MP on the now existing item');
is(meta($sock, "mg viv v\r\n"), "VA 2\r\nyx\r\n", 'prepended');

# md x: the value goes, the item stays (with md's flags: none here).
is(meta($sock, "ms x 3 F7\r\nval\r\n"), "HD\r\n", 'ms x F7');
is(meta($sock, "md x x\r\n"), "HD\r\n", 'md x');
is(meta($sock, "mg x v f s\r\n"), "VA 0 f0 s0\r\n\r\n", 'item kept, empty value, flags 0');
is(meta($sock, "md x I x\r\n"), "HD\r\n", 'md I x: stale tombstone');
is(meta($sock, "mg x v\r\n"), "VA 0 X W\r\n\r\n", 'tombstone is stale; this client wins');
is(meta($sock, "md x q x\r\nmn\r\n"), "MN\r\n", 'md q x says nothing: the next reply is MN');

done_testing();
