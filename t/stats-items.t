#!/usr/bin/perl
# `stats items`: the lines memcached 1.6.18 prints for each class holding
# items, in its order, in segmented mode (the default), with the TEMP LRU
# (temporary_ttl) and in flat mode (no_lru_maintainer, no_modern), and the
# LRU lines of the general `stats` group in each mode. Where items sit
# depends on memcached's maintainer thread, so here only the names, the
# item count and the counters that nothing moves are compared; the
# movements themselves are in t/lru-segmented.t.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

my @SEGMENTED = qw(number number_hot number_warm number_cold age_hot age_warm age
    mem_requested evicted evicted_nonzero evicted_time outofmemory tailrepairs
    reclaimed expired_unfetched evicted_unfetched evicted_active crawler_reclaimed
    crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm
    moves_within_lru direct_reclaims hits_to_hot hits_to_warm hits_to_cold
    hits_to_temp);
my @TEMP = map { $_ eq 'number_cold' ? ($_, 'number_temp') : $_ } @SEGMENTED;
my @FLAT = qw(number age mem_requested evicted evicted_nonzero evicted_time
    outofmemory tailrepairs reclaimed expired_unfetched evicted_unfetched
    crawler_reclaimed crawler_items_checked lrutail_reflocked);

# The LRU lines of the general group, in order.
my @GENERAL_LRU = qw(lru_maintainer_juggles expired_unfetched evicted_unfetched
    evicted_active evictions reclaimed crawler_reclaimed crawler_items_checked
    lrutail_reflocked moves_to_cold moves_to_warm moves_within_lru
    direct_reclaims lru_bumps_dropped);
my %GENERAL_LRU = map { $_ => 1 } @GENERAL_LRU;

# (class, [names in order], {name => value}) of a `stats items` reply.
sub parse_items {
    my $text = shift;
    my (@names, %v, %cls);
    for (split /\r\n/, $text) {
        next if $_ eq 'END';
        /^STAT items:(\d+):(\S+) (\d+)\z/ or return ("bad line: $_");
        $cls{$1} = 1;
        push @names, $2;
        $v{$2} = $3;
    }
    return (join(',', sort keys %cls), \@names, \%v);
}

sub general_lru_names {
    my $sock = shift;
    print $sock "stats\r\n";
    my @n;
    for (split /\r\n/, read_until_end($sock)) {
        push @n, $1 if /^STAT (\S+) / && $GENERAL_LRU{$1};
    }
    return join ' ', @n;
}

for my $case (
    ['', \@SEGMENTED, 'segmented'],
    ['-o temporary_ttl=100', \@TEMP, 'temporary_ttl'],
    ['-o no_lru_maintainer', \@FLAT, 'no_lru_maintainer'],
    ['-o no_modern', \@FLAT, 'no_modern'],
) {
    my ($args, $want, $name) = @$case;
    my $srv = new_memcached($args);
    my $s = $srv->sock;
    print $s "stats items\r\n";
    is(read_until_end($s), "END\r\n", "$name: no items, only END");
    is(send_recv($s, "set a 0 0 1\r\nx\r\n"), "STORED\r\n", "$name: set a");
    is(send_recv($s, "set b 0 0 1\r\ny\r\n"), "STORED\r\n", "$name: set b");
    print $s "stats items\r\n";
    my ($cls, $names, $v) = parse_items(read_until_end($s));
    is($cls, '1', "$name: one class");
    is(join(' ', @$names), join(' ', @$want), "$name: the lines, in memcached's order");
    is($v->{number}, 2, "$name: number 2");
    if (exists $v->{number_hot}) {
        my $sum = $v->{number_hot} + $v->{number_warm} + $v->{number_cold} + ($v->{number_temp} // 0);
        is($sum, 2, "$name: the segments hold every item");
    }
    my $item = is_ours() ? 40 + 1 + 1 : 48 + 8 + 2 + 3;
    is($v->{mem_requested}, 2 * $item, "$name: mem_requested, the bytes of the items");
    is(join(' ', map { $v->{$_} // 'none' }
            qw(evicted evicted_nonzero evicted_time outofmemory tailrepairs reclaimed
               evicted_unfetched crawler_reclaimed lrutail_reflocked)),
       '0 0 0 0 0 0 0 0 0', "$name: nothing evicted, reclaimed or locked");
    my $general = $name =~ /^no_/
        ? 'expired_unfetched evicted_unfetched evictions reclaimed crawler_reclaimed '
          . 'crawler_items_checked lrutail_reflocked'
        : join(' ', @GENERAL_LRU);
    is(general_lru_names($s), $general, "$name: the LRU lines of the general stats");
}

# `lru mode flat` keeps the maintainer, and memcached keeps printing the
# segment lines of `stats items` and the maintainer's general lines.
{
    my $srv = new_memcached();
    my $s = $srv->sock;
    is(send_recv($s, "set a 0 0 1\r\nx\r\n"), "STORED\r\n", 'set a');
    is(send_recv($s, "lru mode flat\r\n"), "OK\r\n", 'lru mode flat');
    print $s "stats items\r\n";
    my (undef, $names) = parse_items(read_until_end($s));
    is(join(' ', @$names), join(' ', @SEGMENTED), 'lru mode flat: the segment lines stay');
    is(general_lru_names($s), join(' ', @GENERAL_LRU), 'lru mode flat: general lines kept');
    is(send_recv($s, "lru temp_ttl 10\r\n"), "OK\r\n", 'lru temp_ttl 10');
    print $s "stats items\r\n";
    (undef, $names) = parse_items(read_until_end($s));
    is(join(' ', @$names), join(' ', @TEMP), 'flat with TEMP on: number_temp appears');
    is(send_recv($s, "lru mode segmented\r\n"), "OK\r\n", 'lru mode segmented');
    print $s "stats items\r\n";
    (undef, $names) = parse_items(read_until_end($s));
    is(join(' ', @$names), join(' ', @TEMP), 'segmented with TEMP on: number_temp too');
}

# Items in several classes: one block per class, in class order; a class
# whose items are all gone disappears.
{
    my $srv = new_memcached();
    my $s = $srv->sock;
    my $big = 'z' x 5000;
    is(send_recv($s, "set big 0 0 5000\r\n$big\r\n"), "STORED\r\n", 'set big');
    is(send_recv($s, "set small 0 0 1\r\nx\r\n"), "STORED\r\n", 'set small');
    print $s "stats items\r\n";
    my ($cls) = parse_items(read_until_end($s));
    like($cls, qr/^1,\d+\z/, "two classes ($cls)");
    my ($bigcls) = $cls =~ /,(\d+)/;
    print $s "stats items\r\n";
    my @order = map { /^STAT items:(\d+):number / ? $1 : () } split /\r\n/, read_until_end($s);
    is("@order", "1 $bigcls", 'in class order');
    is(send_recv($s, "delete small\r\n"), "DELETED\r\n", 'delete small');
    print $s "stats items\r\n";
    ($cls) = parse_items(read_until_end($s));
    is($cls, $bigcls, 'the emptied class is left out');
}

done_testing();
