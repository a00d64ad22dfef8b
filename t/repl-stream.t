#!/usr/bin/perl
# The replication stream as a person sees it in telnet: a plain client
# sends `rep_sync ? -1`, gets REP_FULLSYNC and a snapshot in the dump
# format, then one command per change, byte for byte: the item as it now
# stands (rep_set with flags, absolute expiry, the master's CAS and the
# meta bits) for every kind of write, so incr and append send their
# result and replaying is idempotent; rep_del with the removal's reason;
# rep_flush with the time. The server's clock is frozen, so absolute
# expiry times are exact.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

# No LRU maintainer or crawler: lazy expiry alone takes the expired item
# off, so its removal's reason is known.
my $master = new_memcached('-o no_lru_maintainer,no_lru_crawler',
                           env => { MEMCACHED_DEBUG_CLOCK_FROZEN => 1 });
my $m = $master->sock;
is(send_recv($m, "set pre 3 0 2\r\nPP\r\n"), "STORED\r\n", 'an item before the sync');
my $now = stats_of($m)->{time};

my $watch = $master->new_sock;
print $watch "rep_sync ? -1\r\n";
my $head = <$watch>;
my $id = repl_stats($m)->{repl_id};
like($head, qr/\AREP_FULLSYNC \Q$id\E 0 (\d+)\r\n\z/, 'REP_FULLSYNC <id> <offset 0> <bytes>');
my ($len) = $head =~ / (\d+)\r\n\z/;
my $snap = read_reply($watch, $len);
is(length $snap, $len, "the snapshot: $len bytes");
is(substr($snap, 0, 8), 'MEMCDUMP', 'in the dump format');
is(unpack('V', substr($snap, 8, 4)), 2, 'version 2');
like($snap, qr/pre\x{0}*PP/s, 'holding the item stored before');

my $offset = 0;
# The next stream command (pings skipped, every byte counted).
sub next_cmd {
    while (1) {
        my $line = <$watch>;
        return undef unless defined $line;
        $offset += length $line;
        next if $line eq "rep_ping\r\n";
        if ($line =~ /^rep_set \S+ \d+ -?\d+ \d+ \d+ (\d+)\r\n\z/) {
            my $data = read_reply($watch, $1 + 2);
            $offset += length $data;
            $line .= $data;
        }
        return $line;
    }
}

# The CAS of an item, read with gets (an mg would hand out a stale item's
# win token: a change of its own).
sub cas_of {
    print $m "gets $_[0]\r\n";
    my ($cas) = read_until_end($m) =~ /^VALUE \S+ \d+ \d+ (\d+)\r\n/;
    return $cas;
}

my $last_cas;
my @cases = (
    ["set a 5 0 3\r\nabc\r\n", "STORED", sub { "rep_set a 5 0 " . cas_of('a') . " 0 3\r\nabc\r\n" }, 'set'],
    ["set t 1 100 2\r\ntt\r\n", "STORED", sub { "rep_set t 1 " . ($now + 100) . " " . cas_of('t') . " 0 2\r\ntt\r\n" },
     'set with a TTL: the absolute expiry'],
    ["set n 0 0 2\r\n10\r\n", "STORED", sub { "rep_set n 0 0 " . cas_of('n') . " 0 2\r\n10\r\n" }, 'set n'],
    ["incr n 5\r\n", "15", sub { "rep_set n 0 0 " . cas_of('n') . " 0 2\r\n15\r\n" }, 'incr: the resulting value'],
    ["decr n 20\r\n", "0", sub { "rep_set n 0 0 " . cas_of('n') . " 0 2\r\n0 \r\n" }, 'decr to 0: the value as stored, padded'],
    ["append a 0 0 2\r\nXY\r\n", "STORED", sub { "rep_set a 5 0 " . cas_of('a') . " 0 5\r\nabcXY\r\n" },
     'append: the whole new value'],
    ["prepend a 0 0 1\r\n<\r\n", "STORED", sub { "rep_set a 5 0 " . cas_of('a') . " 0 6\r\n<abcXY\r\n" }, 'prepend'],
    ["touch a 50\r\n", "TOUCHED", sub { "rep_set a 5 " . ($now + 50) . " " . cas_of('a') . " 0 6\r\n<abcXY\r\n" },
     'touch: the item with its new expiry'],
    ["delete t\r\n", "DELETED", sub { "rep_del t deleted\r\n" }, 'delete: rep_del with its reason'],
    ["ms c 2 T0 F9\r\nCC\r\n", "HD", sub { "rep_set c 9 0 " . cas_of('c') . " 0 2\r\nCC\r\n" }, 'ms'],
    ["md c I\r\n", "HD", sub { "rep_set c 9 0 " . cas_of('c') . " 64 2\r\nCC\r\n" }, 'md I: meta bit 64, stale'],
    ["ms a2V5IGI= 1 b\r\nK\r\n", "HD", sub { "rep_set a2V5IGI= 0 0 " . mg_cas($m, 'a2V5IGI= b') . " 4 1\r\nK\r\n" },
     'a base64 key: written in base64, meta bit 4'],
    ["ma n D7\r\n", "HD", sub { $last_cas = cas_of('n'); "rep_set n 0 0 $last_cas 0 2\r\n7 \r\n" }, 'ma'],
    # The flush takes the next CAS as its cut-off; a replica takes that
    # number rather than one of its own.
    ["flush_all\r\n", "OK", sub { "rep_flush " . ($now - 1) . " " . ($last_cas + 1) . "\r\n" },
     'flush_all: the time and the CAS cut-off'],
    ["flush_all 100\r\n", "OK", sub { "rep_flush " . ($now + 99) . " 0\r\n" },
     'a delayed flush_all: its time, no CAS cut-off'],
    ["flush_all 2592001\r\n", "OK", sub { "rep_flush 0 0\r\n" },
     'flush_all at a time before the server started cancels every flush: time 0'],
);
for my $c (@cases) {
    my ($req, $reply, $want, $name) = @$c;
    my $got_reply = send_recv($m, $req);
    is($got_reply, "$reply\r\n", "master: $name");
    is(next_cmd(), $want->(), "stream: $name");
}
# Every byte of the stream counts: read on (pings only are left) until
# the master's offset at one moment, and land on it exactly.
my $end = repl_stats($m)->{repl_offset};
while ($offset < $end) {
    my $line = <$watch>;
    last unless defined $line && $line eq "rep_ping\r\n";
    $offset += length $line;
}
is($offset, $end, "the master's offset is the stream's length ($end bytes)");

# The next command about `key`: the flushed items the cache takes off by
# itself meanwhile (rep_del <other> flushed|reclaimed) are passed over.
sub next_cmd_for {
    my $key = shift;
    while (defined(my $c = next_cmd())) {
        next if $c =~ /\Arep_del (\S+) (flushed|reclaimed)\r\n\z/ && $1 ne $key;
        return $c;
    }
    return undef;
}

# Lazy expiry on the master: a removal with its reason.
is(send_recv($m, "set e 0 1 1\r\ne\r\n"), "STORED\r\n", 'master: an item expiring in 1 s');
is(next_cmd_for('e'), "rep_set e 0 " . ($now + 1) . " " . cas_of('e') . " 0 1\r\ne\r\n", 'stream: set e');
is(send_recv($m, "debugtime 5\r\n"), "OK\r\n", 'the master clock moves 5 s');
print $m "get e\r\n";
is(read_until_end($m), "END\r\n", 'master: e has expired');
is(next_cmd_for('e'), "rep_del e expired\r\n", 'stream: rep_del e expired');

# The acknowledgement a replica sends moves the master's view of it.
print $watch "rep_ack $offset\r\n";
my $st = wait_repl($m, sub { ($_[0]{replica0} // '') =~ /ack=$offset,/ });
like($st->{replica0}, qr/state=online,ack=$offset,lag=\d+\z/, 'rep_ack: the master records the offset');

done_testing();
