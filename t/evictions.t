#!/usr/bin/perl
# A small memory limit filled with many items of one size: without -M the
# oldest items are evicted in LRU order and the newest stay; with -M stores
# fail with SERVER_ERROR out of memory storing object, the value is
# swallowed, and nothing already stored is lost except the key being set.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

my $count = 5000;          # 5000 values of 1000 bytes: over twice -m 2
my $size = 1000;
my $val = 'v' x $size;

# Sends `stats` and returns a hash of name => value.
sub stats_hash {
    my $sock = shift;
    print $sock "stats\r\n";
    my %st;
    while (defined(my $line = <$sock>)) {
        last if $line eq "END\r\n";
        $st{$1} = $2 if $line =~ /^STAT (\S+) (.*)\r\n$/;
    }
    return \%st;
}

# Returns the list of i in 1..n for which key<i> is present, checking the
# full reply of each hit.
sub present_keys {
    my ($sock, $n) = @_;
    my @present;
    my $bad = 0;
    for my $i (1 .. $n) {
        print $sock "get key$i\r\n";
        my $reply = read_until_end($sock);
        next if $reply eq "END\r\n";
        $bad++ unless $reply eq "VALUE key$i 0 $size\r\n$val\r\nEND\r\n";
        push @present, $i;
    }
    return ($bad, @present);
}

# ---- eviction (default) ----

my $server = new_memcached('-m 2');
my $sock = $server->sock;

my $stored = 0;
for my $i (1 .. $count) {
    print $sock "set key$i 0 0 $size\r\n$val\r\n";
    $stored++ if scalar(<$sock>) eq "STORED\r\n";
}
is($stored, $count, "all $count sets answered STORED");

my ($bad, @present) = present_keys($sock, $count);
is($bad, 0, 'every present item has its exact value');
my $st = stats_hash($sock);
cmp_ok($st->{evictions}, '>', 0, 'evictions counted');
is($st->{curr_items}, scalar(@present), 'curr_items is the number of present keys');
is($st->{evictions} + $st->{curr_items}, $count,
   'one eviction per stored item that did not fit');
is($st->{total_items}, $count, 'total_items counts every stored item');
is($present[-1], $count, 'the newest item is present');
is($present[0], $count - @present + 1, 'the present items are the newest ones');
is($present[-1] - $present[0] + 1, scalar(@present), 'no hole among the present items');
mem_get_is($sock, 'key1', undef, 'the oldest item is evicted');
mem_get_is($sock, 'key100', undef, 'key100 is evicted');
cmp_ok(scalar(@present), '>=', 100, 'at least 100 items fit in 2 MB');
cmp_ok(scalar(@present), '<', $count / 2, 'less than half the items fit');

# Eviction keeps going: one more set is stored and readable.
my $next = $count + 1;
print $sock "set key$next 0 0 $size\r\n$val\r\n";
is(scalar <$sock>, "STORED\r\n", "set key$next on a full cache");
mem_get_is($sock, "key$next", $val, "key$next readable");
mem_get_is($sock, "key$present[0]", undef, "it evicted the oldest present item");

# ---- -M: out of memory instead of eviction ----

my $nomem = new_memcached('-m 2 -M');
my $ns = $nomem->sock;

my ($fail, $reply);
for my $i (1 .. $count) {
    print $ns "set key$i 0 0 $size\r\n$val\r\n";
    $reply = <$ns>;
    if ($reply ne "STORED\r\n") {
        $fail = $i;
        last;
    }
}
is($reply, "SERVER_ERROR out of memory storing object\r\n",
   'with -M a full cache answers SERVER_ERROR out of memory storing object');
is(defined $fail && $fail > 100 ? 1 : 0, 1, 'more than 100 items stored before');

($bad, @present) = present_keys($ns, $fail);
is($bad, 0, 'every stored item has its exact value');
is(scalar(@present), $fail - 1, 'every item stored before the failure is present');
mem_get_is($ns, "key$fail", undef, 'the failed key is not stored');

# The failing value is swallowed: the request after it is answered.
print $ns "set over 0 0 $size\r\n$val\r\nget key1\r\n";
is(scalar <$ns>, "SERVER_ERROR out of memory storing object\r\n",
   'second failing set');
is(read_until_end($ns), "VALUE key1 0 $size\r\n$val\r\nEND\r\n",
   'value of the failed set swallowed, next request served');

# A failed set removes the old value of its key, which frees its memory.
print $ns "set key3 0 0 $size\r\n$val\r\n";
is(scalar <$ns>, "SERVER_ERROR out of memory storing object\r\n",
   'set of an existing key fails when full');
mem_get_is($ns, "key3", undef, "failed set removed the old value of key3");
print $ns "set key3 0 0 $size\r\n$val\r\n";
is(scalar <$ns>, "STORED\r\n", "set key3 again fits in the freed memory");
mem_get_is($ns, "key3", $val, "key3 stored again");
print $ns "set key4 0 0 $size noreply\r\n$val\r\n";
mem_get_is($ns, "key4", undef, "failed set with noreply is silent and removes key4");

$st = stats_hash($ns);
is($st->{evictions}, 0, 'no evictions with -M');
is($st->{store_no_memory}, 4, 'store_no_memory counts the four failures');
is($st->{curr_items}, $fail - 2, 'curr_items: stored items less key4');
is($st->{cmd_set}, $fail, 'cmd_set counts stored values, not failed ones');
is($st->{total_items}, $fail, 'total_items counts every stored item');

done_testing();
