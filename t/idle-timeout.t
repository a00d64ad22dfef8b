#!/usr/bin/perl
# -o idle_timeout=<seconds>: a client that sends nothing for longer than the
# timeout is disconnected (no bytes, just EOF); a client that keeps talking
# is not. memcached checks idle clients from a background pass that runs
# about once a second on a whole-second clock, so with idle_timeout=1 the
# close comes some 2-4 seconds after the last command; the deadline below
# leaves room for that.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use MemcachedTest;

my $DEADLINE = 8;

my $short = new_memcached('-o idle_timeout=1');
my $long = new_memcached('-o idle_timeout=60');

my $idle = $short->sock;
is(send_recv($idle, "version\r\n") =~ /^VERSION \S+\r\n\z/ ? 1 : 0, 1,
   'idle client: served before going idle');
my $active = $short->new_sock;
my $long_idle = $long->sock;

# Keep $active busy while waiting for the server to drop $idle.
my $sel = IO::Select->new($idle);
my ($idle_result, $active_failures, $rounds) = ('still open', 0, 0);
my $start = time;
while (time - $start < $DEADLINE) {
    my $line = send_recv($active, "version\r\n");
    $active_failures++ unless defined $line && $line =~ /^VERSION /;
    $rounds++;
    if ($sel->can_read(0.25)) {
        my $n = sysread($idle, my $buf, 1024);
        $idle_result = !defined $n ? "error: $!" : $n == 0 ? 'EOF' : "bytes: $buf";
        last;
    }
}
note(sprintf 'idle client dropped after %.1fs', time - $start) if $idle_result eq 'EOF';

is($idle_result, 'EOF', "idle_timeout=1: idle client gets EOF, no bytes, within ${DEADLINE}s");
is($active_failures, 0, "idle_timeout=1: active client answered all $rounds commands meanwhile");
is(send_recv($active, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
   'idle_timeout=1: active client still served afterwards');
print $active "stats\r\n";
my $stats = read_until_end($active);
is($stats =~ /^STAT idle_kicks (\d+)\r\n/m ? $1 : 'missing', 1,
   'stats: idle_kicks counts the dropped client');

# Idle for the same few seconds, but under a 60s timeout: still open.
is(send_recv($long_idle, "version\r\n") =~ /^VERSION \S+\r\n\z/ ? 1 : 0, 1,
   'idle_timeout=60: client idle for a few seconds is kept');

done_testing();
