#!/usr/bin/perl
# -C turns cas off: gets shows 0 for every item and the cas command can
# never succeed. Checked against memcached 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached('-C');
my $sock = $server->sock;

is(send_recv($sock, "set a 5 0 1\r\nA\r\n"), "STORED\r\n", '-C: set still works');
print $sock "gets a\r\n";
is(read_until_end($sock), "VALUE a 5 1 0\r\nA\r\nEND\r\n", '-C: gets shows cas unique 0');
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 5 1\r\nA\r\nEND\r\n", '-C: get is unchanged');
is(send_recv($sock, "set b 0 0 1\r\nB\r\n"), "STORED\r\n", '-C: set b');
print $sock "gets a b nope\r\n";
is(read_until_end($sock), "VALUE a 5 1 0\r\nA\r\nVALUE b 0 1 0\r\nB\r\nEND\r\n", '-C: gets of many keys, all cas 0');
print $sock "gats 0 a\r\n";
is(read_until_end($sock), "VALUE a 5 1 0\r\nA\r\nEND\r\n", '-C: gats shows cas unique 0');

# Every way of changing an item leaves its cas at 0.
is(send_recv($sock, "append a 0 0 1\r\nx\r\n"), "STORED\r\n", '-C: append');
is(send_recv($sock, "prepend a 0 0 1\r\nw\r\n"), "STORED\r\n", '-C: prepend');
is(send_recv($sock, "replace b 0 0 1\r\n7\r\n"), "STORED\r\n", '-C: replace');
is(send_recv($sock, "incr b 10\r\n"), "17\r\n", '-C: incr');
print $sock "gets a b\r\n";
is(read_until_end($sock), "VALUE a 5 3 0\r\nwAx\r\nVALUE b 0 2 0\r\n17\r\nEND\r\n",
   '-C: after append/prepend/replace/incr the cas is still 0');

# cas cannot succeed: not with the 0 that gets shows, nor with anything else.
is(send_recv($sock, "cas a 0 0 1 0\r\nX\r\n"), "EXISTS\r\n", '-C: cas with the unique 0 from gets: EXISTS');
is(send_recv($sock, "cas a 0 0 1 1\r\nX\r\n"), "EXISTS\r\n", '-C: cas with unique 1: EXISTS');
mem_get_is($sock, 'a', 'wAx', '-C: the failed cas changed nothing', 5);
is(send_recv($sock, "cas nope 0 0 1 0\r\nX\r\n"), "NOT_FOUND\r\n", '-C: cas on a missing key: NOT_FOUND');
mem_get_is($sock, 'nope', undef, '-C: cas did not create the key');
print $sock "cas a 0 0 1 0 noreply\r\nX\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 5 3\r\nwAx\r\nEND\r\n", '-C: cas noreply sends nothing');
print $sock "cas a 0 0 1 abc\r\nX\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", '-C: cas with a non-numeric unique: CLIENT_ERROR');
print $sock "cas a 0 0 1\r\nX\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", '-C: cas without a unique: CLIENT_ERROR');
# As memcached 1.6.45: once the length is read, an error swallows the data.
is(send_recv($sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, '-C: the data lines were swallowed');

done_testing();
