#!/usr/bin/perl
# The `lru` command: `lru tune <hot_pct> <warm_pct> <hot_max_factor>
# <warm_max_factor>`, `lru mode <flat|segmented>`, `lru temp_ttl <ttl>`,
# every reply memcached 1.6.18 gives (OK, a bare ERROR for a bad number or
# a wrong word count, its two messages for out-of-range values), noreply,
# what `stats settings` shows afterwards, and `mode`/`temp_ttl` refused
# without the LRU maintainer.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

# Sends one command, then `mn`, and returns what came before the MN: the
# reply, or nothing for a noreply command.
sub reply_of {
    my ($sock, $cmd) = @_;
    print $sock "$cmd\r\nmn\r\n";
    my $out = '';
    while (defined(my $line = <$sock>)) {
        last if $line eq "MN\r\n";
        $out .= $line;
    }
    return $out;
}

sub settings_of {
    my $sock = shift;
    my $st = stats_of($sock, 'settings');
    return join ' ', map { "$_=$st->{$_}" }
        qw(lru_segmented hot_lru_pct warm_lru_pct hot_max_factor
           warm_max_factor temp_lru temporary_ttl);
}

my $server = new_memcached();
my $sock = $server->sock;

my $OK = "OK\r\n";
my $ERR = "ERROR\r\n";
my $PCT = "ERROR hot and warm pcts must not exceed 80\r\n";
my $FAC = "ERROR hot/warm age factors must be greater than 0\r\n";

is(settings_of($sock),
   'lru_segmented=yes hot_lru_pct=20 warm_lru_pct=40 hot_max_factor=0.20 '
   . 'warm_max_factor=2.00 temp_lru=no temporary_ttl=61', 'defaults');

my @cases = (
    # word counts
    ['lru', $ERR],
    ['lru noreply', ''],
    ['lru bogus', $ERR],
    ['lru bogus 1', $ERR],
    ['LRU mode flat', $ERR],
    ['lru tune', $ERR],
    ['lru tune 10 10 0.1', $ERR],
    ['lru tune 10 10 0.1 noreply', ''],
    ['lru mode', $ERR],
    ['lru temp_ttl', $ERR],
    # tune
    ['lru tune 10 10 0.1 2', $OK],
    ['lru tune 10 10 0.1 2 3', $OK],
    ['lru tune 50 40 0.1 2', $PCT],
    ['lru tune 40 40 0.1 2', $OK],
    ['lru tune 0 0 0.1 2', $OK],
    ['lru tune -1 10 0.1 2', $ERR],
    ['lru tune x 10 0.1 2', $ERR],
    ['lru tune 10 10 0 2', $FAC],
    ['lru tune 10 10 0.1 0', $FAC],
    ['lru tune 10 10 -1 2', $FAC],
    ['lru tune 10 10 abc 2', $ERR],
    ['lru tune 10 10 1e1 2.5x', $ERR],
    ['lru tune 10 10 1e400 2', $ERR],
    ['lru tune 10 10 1e-400 2', $ERR],
    ['lru tune 10 10 0.1 2 noreply', ''],
    ['lru tune 90 10 0.1 2 noreply', ''],
    ['lru tune 10 10 0 2 noreply', ''],
    ['lru tune x 10 0.1 2 noreply', ''],
    # mode
    ['lru mode flat', $OK],
    ['lru mode segmented', $OK],
    ['lru mode bogus', $ERR],
    ['lru mode FLAT', $ERR],
    ['lru mode bogus noreply', ''],
    ['lru mode flat extra', $OK],
    ['lru mode flat noreply', ''],
    ['lru  mode  segmented', $OK],
    # temp_ttl
    ['lru temp_ttl 10', $OK],
    ['lru temp_ttl -1', $OK],
    ['lru temp_ttl abc', $ERR],
    ['lru temp_ttl abc noreply', ''],
    ['lru temp_ttl 10 noreply', ''],
);
for my $c (@cases) {
    is(reply_of($sock, $c->[0]), $c->[1], "'$c->[0]'");
}

# What the settings hold after each accepted command.
my @after = (
    ['lru tune 30 50 0.5 3', 'lru_segmented=yes hot_lru_pct=30 warm_lru_pct=50 '
        . 'hot_max_factor=0.50 warm_max_factor=3.00 temp_lru=yes temporary_ttl=10'],
    ['lru mode flat', 'lru_segmented=no hot_lru_pct=30 warm_lru_pct=50 '
        . 'hot_max_factor=0.50 warm_max_factor=3.00 temp_lru=yes temporary_ttl=10'],
    ['lru temp_ttl -1', 'lru_segmented=no hot_lru_pct=30 warm_lru_pct=50 '
        . 'hot_max_factor=0.50 warm_max_factor=3.00 temp_lru=no temporary_ttl=10'],
    # The percentages are unsigned 32-bit numbers whose sum may wrap; the
    # factors are C doubles (inf, nan, hex).
    ['lru tune 4294967295 1 inf nan', 'lru_segmented=no hot_lru_pct=-1 warm_lru_pct=1 '
        . 'hot_max_factor=inf warm_max_factor=nan temp_lru=no temporary_ttl=10'],
    # memcached 1.6.45 reads the numbers strictly: over 32 bits is ERROR
    # and changes nothing.
    ['lru tune 4294967296 3 0x10 1e-3', 'lru_segmented=no hot_lru_pct=-1 warm_lru_pct=1 '
        . 'hot_max_factor=inf warm_max_factor=nan temp_lru=no temporary_ttl=10'],
    ['lru tune 0 3 0x10 1e-3', 'lru_segmented=no hot_lru_pct=0 warm_lru_pct=3 '
        . 'hot_max_factor=16.00 warm_max_factor=0.00 temp_lru=no temporary_ttl=10'],
    ['lru temp_ttl 99999999999', 'lru_segmented=no hot_lru_pct=0 warm_lru_pct=3 '
        . 'hot_max_factor=16.00 warm_max_factor=0.00 temp_lru=no temporary_ttl=10'],
    ['lru temp_ttl 2147483648', 'lru_segmented=no hot_lru_pct=0 warm_lru_pct=3 '
        . 'hot_max_factor=16.00 warm_max_factor=0.00 temp_lru=no temporary_ttl=10'],
    ['lru temp_ttl 2147483647', 'lru_segmented=no hot_lru_pct=0 warm_lru_pct=3 '
        . 'hot_max_factor=16.00 warm_max_factor=0.00 temp_lru=yes temporary_ttl=2147483647'],
    ['lru temp_ttl 1', 'lru_segmented=no hot_lru_pct=0 warm_lru_pct=3 '
        . 'hot_max_factor=16.00 warm_max_factor=0.00 temp_lru=yes temporary_ttl=1'],
    ['lru tune 20 40 0.2 2.0 noreply', 'lru_segmented=no hot_lru_pct=20 warm_lru_pct=40 '
        . 'hot_max_factor=0.20 warm_max_factor=2.00 temp_lru=yes temporary_ttl=1'],
    ['lru mode segmented', 'lru_segmented=yes hot_lru_pct=20 warm_lru_pct=40 '
        . 'hot_max_factor=0.20 warm_max_factor=2.00 temp_lru=yes temporary_ttl=1'],
);
for my $c (@after) {
    reply_of($sock, $c->[0]);
    is(settings_of($sock), $c->[1], "stats settings after '$c->[0]'");
}

# A refused command changes nothing.
for my $cmd ('lru tune 50 40 0.5 3', 'lru tune 10 10 0 3', 'lru tune 10 10 0.5 x',
             'lru mode bogus', 'lru temp_ttl abc') {
    reply_of($sock, $cmd);
}
is(settings_of($sock), 'lru_segmented=yes hot_lru_pct=20 warm_lru_pct=40 '
   . 'hot_max_factor=0.20 warm_max_factor=2.00 temp_lru=yes temporary_ttl=1',
   'refused commands change nothing');
print $sock "set still 0 0 2\r\nok\r\n";
is(scalar <$sock>, "STORED\r\n", 'connection still works');
mem_get_is($sock, 'still', 'ok');

# Without the maintainer only `tune` is known.
for my $opt ('no_lru_maintainer', 'no_modern') {
    my $flat = new_memcached("-o $opt");
    my $fs = $flat->sock;
    is(reply_of($fs, 'lru mode segmented'), $ERR, "$opt: mode refused");
    is(reply_of($fs, 'lru mode flat'), $ERR, "$opt: mode flat refused");
    is(reply_of($fs, 'lru temp_ttl 10'), $ERR, "$opt: temp_ttl refused");
    is(reply_of($fs, 'lru tune 10 10 0.1 2'), $OK, "$opt: tune accepted");
    is(settings_of($fs), 'lru_segmented=no hot_lru_pct=10 warm_lru_pct=10 '
       . 'hot_max_factor=0.10 warm_max_factor=2.00 temp_lru=no temporary_ttl=61',
       "$opt: settings");
}

done_testing();
