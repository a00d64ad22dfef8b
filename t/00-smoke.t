#!/usr/bin/perl
# The helper can start the server, talk to it and stop it.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached();
my $sock = $server->sock;
ok($sock, 'connected');
print $sock "set foo 0 0 3\r\nbar\r\n";
is(scalar <$sock>, "STORED\r\n", 'stored foo');
mem_get_is($sock, 'foo', 'bar');
# The memcached release whose replies we match (memcached 1.6.45 answers
# the same line).
is(send_recv($sock, "version\r\n"), "VERSION 1.6.45\r\n",
   'version: the memcached release whose behaviour the server matches');
done_testing();
