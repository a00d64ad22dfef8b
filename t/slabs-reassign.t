#!/usr/bin/perl
# Moving slab pages between classes, as memcached 1.6.45's page mover does:
# every reply of `slabs reassign` and `slabs automove` (its ratio,
# freeratio and window too); a page moved out of a full class, its items
# rescued into free chunks of the class and, when none is left, room made
# by evicting the class's LRU tail (all counted exactly: rescues, inline
# reclaims, evictions, items busy for want of memory, the last busy
# status); a page holding parts of large chunked values; a page whose item
# a slow reader still sends (the item is copied and the move waits for the
# reader, nothing is corrupted); automove 2 moving pages to a class that
# evicts; automove 1 giving pages of free chunks back to the global pool
# once memory is full; and cache_memlimit shrinking then growing. After
# every move each key still present returns exactly its old bytes.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time usleep);
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

# The value stored under key number $i.
sub val { sprintf('%010d', $_[0]) }

# Stores key$i = val($i) for each i, pipelined; returns the number of
# STORED replies.
sub store_range {
    my ($sock, $prefix, $from, $to, $valfn) = @_;
    my $ok = 0;
    for (my $i = $from; $i <= $to; $i += 500) {
        my $last = $i + 499 > $to ? $to : $i + 499;
        my $req = '';
        for my $j ($i .. $last) {
            my $v = $valfn->($j);
            $req .= "set $prefix$j 0 0 " . length($v) . "\r\n$v\r\n";
        }
        print $sock $req;
        for my $j ($i .. $last) {
            my $l = <$sock>;
            $ok++ if $l eq "STORED\r\n";
        }
    }
    return $ok;
}

# Gets every key; returns (present, wrong): how many are there and how
# many of those do not return exactly their value.
sub check_range {
    my ($sock, $prefix, $from, $to, $valfn) = @_;
    my ($present, $wrong) = (0, 0);
    for (my $i = $from; $i <= $to; $i += 100) {
        my $last = $i + 99 > $to ? $to : $i + 99;
        print $sock 'get ' . join(' ', map { "$prefix$_" } $i .. $last) . "\r\n";
        my %got;
        while (defined(my $l = <$sock>)) {
            last if $l eq "END\r\n";
            my ($k, $len) = $l =~ /^VALUE (\S+) 0 (\d+)\r\n\z/ or do { $wrong++; last };
            read($sock, my $data, $len + 2);
            $got{$k} = substr($data, 0, $len);
        }
        for my $j ($i .. $last) {
            next unless exists $got{"$prefix$j"};
            $present++;
            $wrong++ if $got{"$prefix$j"} ne $valfn->($j);
        }
    }
    return ($present, $wrong);
}

# get <key>: the value, or undef on a miss (compared by the caller, so a
# failure does not print half a megabyte).
sub get_value {
    my ($sock, $key) = @_;
    print $sock "get $key\r\n";
    my $l = <$sock>;
    return undef if $l eq "END\r\n";
    my ($len) = $l =~ /^VALUE \S+ \d+ (\d+)\r\n\z/ or return "bad line: $l";
    read($sock, my $data, $len + 2);
    my $end = <$sock>;
    return $end eq "END\r\n" ? substr($data, 0, $len) : "no END: $end";
}

# Waits until no page move runs (and at least `moved` pages have moved).
sub wait_moved {
    my ($sock, $moved) = @_;
    return wait_stat($sock, 'slab_reassign_running', sub {
        my ($v, $st) = @_;
        defined $v && $v eq '0' && $st->{slabs_moved} >= $moved;
    });
}

# The keys of $prefix$from .. $prefix$to present, as runs "a-b".
sub present_runs {
    my ($sock, $prefix, $from, $to) = @_;
    my @present;
    for (my $i = $from; $i <= $to; $i += 100) {
        my $last = $i + 99 > $to ? $to : $i + 99;
        print $sock join('', map { "mg $prefix$_\r\n" } $i .. $last);
        for my $j ($i .. $last) {
            push @present, $j if <$sock> =~ /^HD/;
        }
    }
    my @runs;
    for my $j (@present) {
        if (@runs && $runs[-1][1] == $j - 1) { $runs[-1][1] = $j } else { push @runs, [$j, $j] }
    }
    return join(' ', map { "$_->[0]-$_->[1]" } @runs);
}

# (slab_reassign_busy_items is left out where memcached's background
# threads could hold an item for a moment, which makes it count one more.)
my @MOVE_STATS = qw(slab_reassign_rescues slab_reassign_chunk_rescues
                    slab_reassign_inline_reclaim slab_reassign_busy_nomem
                    slabs_moved slab_global_page_pool);

# ---- replies ----
{
    my $server = new_memcached('-m 64 -o slab_automove=0');
    my $sock = $server->sock;
    # One chunked value puts a page in the largest class, which shows its id.
    my $big = 'b' x 600000;
    is(send_recv($sock, "set big 0 0 600000\r\n$big\r\n"), "STORED\r\n", 'stored a 600000-byte value');
    my $sl = stats_of($sock, 'slabs');
    my ($largest) = grep { $sl->{"$_:chunk_size"} && $sl->{"$_:chunk_size"} == 524288 }
                    map { /^(\d+):chunk_size$/ ? $1 : () } keys %$sl;
    ok($largest, "the largest class has a page (class $largest)");
    my $over = $largest + 1;
    my @cases = (
        ["slabs reassign\r\n", "ERROR\r\n", 'reassign without classes'],
        ["slabs reassign 1\r\n", "ERROR\r\n", 'reassign with one class'],
        ["slabs reassign 1 2 3\r\n", "ERROR\r\n", 'reassign with three numbers'],
        ["slabs reassign 1 2 noreply\r\nmn\r\n", "MN\r\n", 'reassign with noreply: ERROR silenced (1.6.45)'],
        ["slabs reassign a b\r\n", "CLIENT_ERROR bad command line format\r\n", 'reassign with words'],
        ["slabs reassign 1 2x\r\n", "CLIENT_ERROR bad command line format\r\n", 'reassign with a bad number'],
        ["slabs reassign 1 1\r\n", "SAME src and dst class are identical\r\n", 'reassign to the same class'],
        ["slabs reassign -1 -1\r\n", "SAME src and dst class are identical\r\n", 'same checked before the ids'],
        ["slabs reassign 0 0\r\n", "SAME src and dst class are identical\r\n", 'pool to pool'],
        ["slabs reassign 1 2\r\n", "NOSPARE source class has no spare pages\r\n", 'source without pages'],
        ["slabs reassign 0 1\r\n", "NOSPARE source class has no spare pages\r\n", 'empty global pool'],
        ["slabs reassign 1 0\r\n", "NOSPARE source class has no spare pages\r\n", 'to the pool, no spare page'],
        ["slabs reassign $largest 1\r\n", "NOSPARE source class has no spare pages\r\n", 'largest class, one page'],
        ["slabs reassign 1 $largest\r\n", "NOSPARE source class has no spare pages\r\n", 'largest class is valid'],
        ["slabs reassign 1 $over\r\n", "BADCLASS invalid src or dst class id\r\n", 'past the largest class'],
        ["slabs reassign $over 1\r\n", "BADCLASS invalid src or dst class id\r\n", 'source past the largest'],
        ["slabs reassign 1 64\r\n", "BADCLASS invalid src or dst class id\r\n", 'class 64'],
        ["slabs reassign -1 1\r\n", "BADCLASS invalid src or dst class id\r\n", 'any class: none to spare'],
        ["slabs reassign -2 1\r\n", "BADCLASS invalid src or dst class id\r\n", 'negative source'],
        ["slabs reassign 2 -1\r\n", "BADCLASS invalid src or dst class id\r\n", 'negative destination'],
        ["slabs reassign 4294967297 2\r\n", "CLIENT_ERROR bad command line format\r\n", 'ids over 32 bits refused (1.6.45 reads them strictly)'],
        ["slabs automove 0\r\n", "OK\r\n", 'automove 0'],
        ["slabs automove 1\r\n", "OK\r\n", 'automove 1'],
        ["slabs automove 2\r\n", "OK\r\n", 'automove 2'],
        ["slabs automove 3\r\n", "ERROR\r\n", 'automove 3'],
        ["slabs automove -1\r\n", "CLIENT_ERROR bad command line format\r\n", 'automove -1'],
        ["slabs automove x\r\n", "CLIENT_ERROR bad command line format\r\n", 'automove x'],
        ["slabs automove\r\n", "ERROR\r\n", 'automove without a mode'],
        ["slabs automove 1 2\r\n", "OK\r\n", 'automove ignores more words'],
        ["slabs automove 4294967297\r\n", "CLIENT_ERROR bad command line format\r\n", 'automove mode over 32 bits refused'],
        ["slabs automove 1 noreply\r\nmn\r\n", "MN\r\n", 'automove noreply'],
        ["slabs automove 9 noreply\r\nmn\r\n", "MN\r\n", 'automove noreply silences ERROR too'],
        ["slabs automove ratio 0.5\r\n", "OK\r\n", 'automove ratio (1.6.45)'],
        ["slabs automove r 0.6\r\n", "OK\r\n", 'automove r: any start of ratio'],
        ["slabs automove ratio\r\n", "ERROR\r\n", 'automove ratio without a number'],
        ["slabs automove ratio x\r\n", "ERROR\r\n", 'automove ratio with a word'],
        ["slabs automove ratio 0.5x\r\n", "ERROR\r\n", 'automove ratio with a bad number'],
        ["slabs automove ratiox 1\r\n", "CLIENT_ERROR bad command line format\r\n", 'ratiox is no subcommand'],
        ["slabs automove f 0.2\r\n", "OK\r\n", 'automove f: freeratio'],
        ["slabs automove window 20\r\n", "OK\r\n", 'automove window'],
        ["slabs automove w 1800\r\n", "OK\r\n", 'automove window 1800'],
        ["slabs automove window 2\r\n", "CLIENT_ERROR automove window too low or too high\r\n", 'window 2 too low'],
        ["slabs automove window 1801\r\n", "CLIENT_ERROR automove window too low or too high\r\n", 'window 1801 too high'],
        ["slabs automove window x\r\n", "CLIENT_ERROR bad command line format\r\n", 'window with a word'],
        ["slabs automove window\r\n", "CLIENT_ERROR bad command line format\r\n", 'window without a number'],
        ["slabs automove window 7 noreply\r\nmn\r\n", "MN\r\n", 'window noreply'],
        ["slabs automove ratio 5 noreply\r\nmn\r\n", "MN\r\n", 'ratio noreply (not range checked)'],
        ["slabs\r\n", "ERROR\r\n", 'slabs alone'],
        ["slabs foo 1\r\n", "ERROR\r\n", 'slabs with an unknown word'],
    );
    for my $c (@cases) {
        is(send_recv($sock, $c->[0]), $c->[1], $c->[2]);
    }
    my $set = stats_of($sock, 'settings');
    is(join(' ', map { $set->{$_} } qw(slab_automove slab_automove_ratio slab_automove_freeratio
                                         slab_automove_window)),
       '1 5.00 0.200 7', 'stats settings shows the mode, ratio, freeratio and window set last');
    is(send_recv($sock, "slabs automove 0\r\n"), "OK\r\n", 'automove off again');
    is(stats_of($sock, 'settings')->{slab_automove}, '0', 'stats settings slab_automove 0');
    my $st = stats_of($sock);
    is(join(' ', map { $st->{$_} } @MOVE_STATS, qw(slab_reassign_busy_items slab_reassign_busy_deletes
                                                   slab_reassign_running slab_reassign_last_busy_status)),
       '0 0 0 0 0 0 0 0 0 none', 'no page moved by refused requests');
    ok(get_value($sock, 'big') eq $big, 'stored value intact after the replies');
}

# ---- slab_reassign off ----
{
    my $server = new_memcached('-o no_slab_reassign,slab_automove=0');
    my $sock = $server->sock;
    is(send_recv($sock, "slabs reassign 1 2\r\n"), "CLIENT_ERROR slab reassignment disabled\r\n",
       'no_slab_reassign: reassign refused');
    is(send_recv($sock, "slabs reassign a b\r\n"), "CLIENT_ERROR slab reassignment disabled\r\n",
       'no_slab_reassign: refused before the numbers are read');
    is(send_recv($sock, "slabs reassign 1\r\n"), "ERROR\r\n", 'no_slab_reassign: short line is ERROR');
    is(send_recv($sock, "slabs automove 1\r\n"), "OK\r\n", 'no_slab_reassign: automove still answers OK');
    my $s = stats_of($sock, 'settings');
    is("$s->{slab_reassign} $s->{slab_automove}", 'no 1', 'no_slab_reassign: stats settings');
    my @lines = grep { /^slab_reassign_|^slabs_moved$/ } keys %{ stats_of($sock) };
    is("@lines", '', 'no_slab_reassign: stats has no page mover lines');
}

# ---- a page moved out of a full class ----
{
    my $server = new_memcached('-m 64 -o slab_automove=0');
    my $sock = $server->sock;
    store_range($sock, 'k', 1, 1, \&val);
    my $per = stats_of($sock, 'slabs')->{'1:chunks_per_page'};
    ok($per > 1000, "class 1 holds $per chunks a page");
    # Two and a half pages: the third page is half used.
    my $n = int(2.5 * $per);
    is(store_range($sock, 'k', 2, $n, \&val), $n - 1, "stored $n small values");
    my $sl = stats_of($sock, 'slabs');
    is($sl->{'1:total_pages'}, 3, 'class 1 has three pages');
    my $malloced = $sl->{total_malloced};
    my $cas = mg_cas($sock, "k$per");
    my $st0 = stats_of($sock);
    is(send_recv($sock, "slabs reassign 1 4\r\n"), "OK\r\n", 'reassign 1 4: OK');
    my $st = wait_moved($sock, 1);
    # The first page holds k1 .. k$per, handed out from its last chunk
    # down: the mover meets k$per first. Its items are rescued into the
    # free chunks of the third page, newest first. Then, with no free chunk
    # left, it evicts from the class's COLD tail, up to ten items for each
    # chunk it looks at: k1, k2, ... whose chunks are on the page itself
    # (inline reclaims), until none is left; the items it meets before
    # those evictions reach them are busy for want of memory, and wait for
    # the next pass. One more eviction (k$per + 1, the oldest item left)
    # gets it a chunk for the next rescue, which goes back to the class at
    # the end.
    my $rescued = 3 * $per - $n;
    my $left = $per - $rescued;
    my $nomem = int($left / 11);
    is(join(' ', map { $st->{$_} } @MOVE_STATS), "$rescued 0 $left $nomem 1 0",
       "first page emptied: $rescued rescued, $left reclaimed inline, $nomem busy without memory");
    is("$st->{slab_reassign_busy_items} $st->{slab_reassign_last_busy_status}", "$nomem pass",
       'the busy items were those without memory; the last chunk looked at was reclaimed');
    is("$st->{evictions} $st->{evicted_unfetched} $st->{curr_items}",
       join(' ', $left + 1, $left + 1, 2 * $per - 1),
       'the evictions that made room count as evictions');
    is($st->{total_items} - $st0->{total_items}, $rescued, 'each rescue links the item anew');
    is(present_runs($sock, 'k', 1, $n), ($left + 1) . "-$per " . ($per + 2) . "-$n",
       'the rescued keys and the two other pages are left');
    my ($present, $wrong) = check_range($sock, 'k', 1, $n, \&val);
    is("$present $wrong", (2 * $per - 1) . ' 0', 'every remaining key returns its own value');
    is(mg_cas($sock, "k$per"), $cas, 'a rescued item keeps its CAS');
    $sl = stats_of($sock, 'slabs');
    is(join(' ', $sl->{'1:total_pages'}, $sl->{'1:free_chunks'}, $sl->{'4:total_pages'},
            $sl->{'4:free_chunks'}, $sl->{total_malloced}),
       join(' ', 2, 1, 1, $sl->{'4:chunks_per_page'}, $malloced),
       'the page now belongs to class 4, all of it free; no memory added');
    # Keys m10000.. with 110-byte values are class 4 items here and in
    # memcached alike.
    my $v4 = sub { 'x' x 105 . sprintf('%05d', $_[0]) };
    my $per4 = $sl->{'4:chunks_per_page'};
    is(store_range($sock, 'm', 10000, 9999 + $per4, $v4), $per4, 'class 4 fills its moved page');
    $sl = stats_of($sock, 'slabs');
    is("$sl->{'4:total_pages'} $sl->{'4:used_chunks'} $sl->{total_malloced}", "1 $per4 $malloced",
       'class 4 used the moved page without taking new memory');
    ($present, $wrong) = check_range($sock, 'm', 10000, 9999 + $per4, $v4);
    is("$present $wrong", "$per4 0", 'values stored in the moved page read back');

    # Moving to the global pool and from it; -1 picks a class with pages
    # (class 1, the first after the start of memcached's round).
    $st0 = stats_of($sock);
    is(send_recv($sock, "slabs reassign -1 0\r\n"), "OK\r\n", 'reassign -1 0: OK');
    $st = wait_moved($sock, 2);
    is("$st->{slabs_moved} $st->{slab_global_page_pool}", '2 1', 'a page went to the global pool');
    # The second page: each of its chunks is either reclaimed inline (its
    # free chunk, and those of the items evicted from it) or holds an item
    # rescued, for which an item elsewhere was evicted; one more eviction
    # leaves a chunk for the next rescue. Which items are evicted, so how
    # many are rescued and how many wait for memory, depends on the order
    # the gets above left the LRU in (memcached's maintainer works through
    # its fetches on its own time, and drops some when busy).
    my %d = map { ($_, $st->{$_} - $st0->{$_}) }
            qw(evictions slab_reassign_rescues slab_reassign_inline_reclaim);
    is(join(' ', $d{evictions}, $d{slab_reassign_rescues} + $d{slab_reassign_inline_reclaim}),
       "$per $per", 'second page: evictions, rescues and inline reclaims');
    is(send_recv($sock, "slabs reassign 0 5\r\n"), "NOSPARE source class has no spare pages\r\n",
       'the pool needs two pages to spare one');
    is(send_recv($sock, "slabs reassign 1 0\r\n"), "NOSPARE source class has no spare pages\r\n",
       'class 1 kept its last page');
    is(send_recv($sock, "slabs reassign -1 0\r\n"), "BADCLASS invalid src or dst class id\r\n",
       'no class has a page to spare any more');
    $st = stats_of($sock);
    is("$st->{curr_items}", $per - 1 + $per4, 'one page of class 1 (one chunk free) and class 4 items left');
    ($present, $wrong) = check_range($sock, 'k', 1, $n, \&val);
    is("$present $wrong", ($per - 1) . ' 0', 'the keys still present have their values');
    # A class that needs a page takes the pooled one first.
    my $v9 = sub { 'y' x 300 . sprintf('%05d', $_[0]) };
    store_range($sock, 'p', 1, 10, $v9);
    $st = stats_of($sock);
    $sl = stats_of($sock, 'slabs');
    my ($cls9) = map { /^(\d+):used_chunks$/ && $sl->{$_} == 10 ? $1 : () } keys %$sl;
    is("$st->{slab_global_page_pool} $sl->{total_malloced}", "0 $malloced",
       "class $cls9 took its page from the pool");
}

# ---- chunked values on a moved page ----
{
    my $server = new_memcached('-m 64 -o slab_automove=0');
    my $sock = $server->sock;
    my @big = map { my $c = chr(ord('a') + $_); join('', map { $c . chr(48 + $_ % 10) } 1 .. 300000) } 1 .. 3;
    for my $i (1 .. 3) {
        is(send_recv($sock, "set big$i 0 0 600000\r\n$big[$i - 1]\r\n"), "STORED\r\n", "stored big$i");
    }
    my $sl = stats_of($sock, 'slabs');
    my ($largest) = grep { $sl->{"$_:chunk_size"} && $sl->{"$_:chunk_size"} == 524288 }
                    map { /^(\d+):chunk_size$/ ? $1 : () } keys %$sl;
    is($sl->{"$largest:total_pages"}, 2, 'three full data chunks take two pages of the largest class');
    is(send_recv($sock, "slabs reassign $largest 3\r\n"), "OK\r\n", 'reassign the largest class');
    my $st = wait_moved($sock, 1);
    # The page holds big1's first data chunk in its last chunk and big2's
    # in its first. big2's is met first and rescued into the free chunk of
    # the other page; then the mover, holding no chunk for the next rescue,
    # evicts the oldest value, big1 (its chunk on the page is reclaimed
    # inline), and, still holding none, big2, whose chunk it had just
    # filled.
    is(join(' ', map { $st->{$_} } @MOVE_STATS), '0 1 1 0 1 0',
       'one data chunk rescued, one reclaimed inline');
    is(join(' ', map { $st->{$_} } qw(evictions curr_items slab_reassign_busy_items
                                      slab_reassign_last_busy_status)),
       '2 1 0 none', 'two values evicted to make room, nothing busy');
    my @got = map { get_value($sock, "big$_") } 1 .. 3;
    my @state = map { !defined $got[$_] ? 'gone' : $got[$_] eq $big[$_] ? 'intact' : 'CORRUPT' } 0 .. 2;
    is("@state", 'gone gone intact', 'big3, on the other page, is intact');
    $sl = stats_of($sock, 'slabs');
    is("$sl->{\"$largest:total_pages\"} $sl->{\"$largest:free_chunks\"}", '1 1',
       'the largest class has one page left, its chunk kept for rescues free again');
}

# ---- a page whose item a slow reader still sends ----
{
    my $server = new_memcached('-m 64 -o slab_automove=0');
    my $sock = $server->sock;
    my $vb = sub { my $c = chr(ord('a') + $_[0] % 26); $c x 99990 . sprintf('%010d', $_[0]) };
    store_range($sock, 'f', 1, 1, $vb);
    my $sl = stats_of($sock, 'slabs');
    my ($cls) = map { /^(\d+):used_chunks$/ && $sl->{$_} == 1 ? $1 : () } keys %$sl;
    my $per = $sl->{"$cls:chunks_per_page"};
    my $n = 2 * $per + 1;
    store_range($sock, 'f', 2, $n, $vb);
    is(stats_of($sock, 'slabs')->{"$cls:total_pages"}, 3, "class $cls has three pages");
    # With one item of the second page deleted, every item of the first
    # page has a free chunk to go to.
    my $gone = $per + 1;
    is(send_recv($sock, "delete f$gone\r\n"), "DELETED\r\n", "deleted f$gone");
    # A client asks for f1 (on the first page) many times and reads nothing.
    my $reply = "VALUE f1 0 100000\r\n" . $vb->(1) . "\r\nEND\r\n";
    my $count = 200;
    my $slow = $server->new_sock;
    print $slow "get f1\r\n" x $count;
    my $FIONREAD = 0x541B;
    my $deadline = time + 10;
    my $pending = sub { my $b = pack('i', 0); ioctl($slow, $FIONREAD, $b); unpack('i', $b) };
    usleep(20_000) while $pending->() < 65536 && time < $deadline;
    is(send_recv($sock, "slabs reassign $cls 2\r\n"), "OK\r\n", 'reassign while f1 is being sent');
    # f1 is met last (it is in the page's last chunk). A reply still points
    # into it: it is copied all the same, the copy serving from then on,
    # and the move waits for its old memory. memcached may have written
    # its reply out to the socket's buffers already (f1 is then not busy
    # and the move ends at once); here a reply holds f1 until the client
    # reads it, so the move surely waits.
    my $st = wait_stat($sock, 'slabs_moved', sub { $_[0] > 0 || $_[1]{slab_reassign_busy_items} > 0 });
    if (is_ours()) {
        $st = wait_stat($sock, 'slab_reassign_last_busy_status', 'busy_floating');
        is("$st->{slab_reassign_running} $st->{slab_reassign_last_busy_status}", '1 busy_floating',
           'the move waits for the old memory of f1');
        is(send_recv($sock, "slabs reassign $cls 2\r\n"), "BUSY currently processing reassign request\r\n",
           'a second reassign is BUSY');
        is(send_recv($sock, "slabs reassign 0 0\r\n"), "BUSY currently processing reassign request\r\n",
           'BUSY is checked first');
    }
    mem_get_is($sock, 'f1', $vb->(1), 'f1 is served during the move');
    mem_get_is($sock, 'f2', $vb->(2), 'other items are served during the move');
    # Now the client reads: every reply is whole.
    my ($whole, $bad) = (0, 0);
    my $buf = '';
    my $sel = IO::Select->new($slow);
    while ($whole < $count && !$bad) {
        if (substr($buf, 0, length $reply) eq $reply) {
            substr($buf, 0, length $reply, '');
            $whole++;
            next;
        }
        if (length $buf >= length $reply || (length $buf && index($reply, $buf) != 0)) {
            $bad = 1;
            last;
        }
        last unless $sel->can_read(10);
        sysread($slow, $buf, 65536, length $buf) or last;
    }
    is("$whole $bad", "$count 0", "the slow reader gets all $count replies, each unchanged");
    $st = wait_moved($sock, 1);
    # Every item of the page was rescued, f1 included. When f1 was busy,
    # its copy took the last free chunk, and the next pass, holding none,
    # evicted the oldest item left (f$per + 2) to have one.
    my $busy = $st->{slab_reassign_busy_items} > 0 ? 1 : 0;
    is(join(' ', map { $st->{$_} } qw(slabs_moved slab_reassign_rescues slab_reassign_busy_deletes
                                      slab_reassign_busy_nomem evictions)),
       "1 $per 0 0 $busy", 'move finished: every item of the page rescued');
    is($busy, 1, 'f1 was busy') if is_ours();
    like($st->{slab_reassign_last_busy_status}, $busy ? qr/^busy_(?:active|floating)\z/ : qr/^none\z/,
         'the last busy status names f1 when it was busy');
    is($st->{curr_items}, $n - 1 - $busy, 'items left');
    my ($present, $wrong) = check_range($sock, 'f', 1, $n, $vb);
    is("$present $wrong", ($n - 1 - $busy) . ' 0', 'every key returns its own value');
    mem_get_is($sock, 'f1', $vb->(1), 'f1 is intact');
}

# ---- automove 2: a class that evicts takes a page ----
{
    my $server = new_memcached('-m 8 -o slab_automove=2');
    my $sock = $server->sock;
    my $va = sub { 'a' x 990 . sprintf('%010d', $_[0]) };
    my $vs = sub { sprintf('%010d', $_[0]) };
    store_range($sock, 'a', 1, 9000, $va);
    my $sl = stats_of($sock, 'slabs');
    my ($ca) = map { /^(\d+):total_pages$/ && $sl->{$_} > 1 ? $1 : () } keys %$sl;
    ok($ca && $sl->{"$ca:total_pages"} >= 7, 'the 1000-byte class took the memory');
    my $st = stats_of($sock);
    is($st->{slabs_moved}, 0, 'its own evictions move nothing: no other class has pages');
    my $per1 = $sl->{'1:chunks_per_page'} // 0;
    # Class 1 gets its first page, fills it and evicts: pages come to it.
    store_range($sock, 's', 1, 60000, $vs);
    $st = wait_moved($sock, 1);
    ok($st->{slabs_moved} >= 1, "automove 2 moved $st->{slabs_moved} page(s) to the evicting class");
    $sl = stats_of($sock, 'slabs');
    ok($sl->{'1:total_pages'} >= 2, "class 1 has $sl->{'1:total_pages'} pages");
    my ($present, $wrong) = check_range($sock, 's', 1, 60000, $vs);
    is($wrong, 0, "the $present small keys present return their values");
    ($present, $wrong) = check_range($sock, 'a', 1, 9000, $va);
    is($wrong, 0, "the $present large keys present return their values");
}

# ---- automove 1: a class with pages of free chunks gives them back ----
{
    my $server = new_memcached('-m 8 -o slab_automove=1,slab_automove_window=3');
    my $sock = $server->sock;
    store_range($sock, 'k', 1, 1, \&val);
    my $per = stats_of($sock, 'slabs')->{'1:chunks_per_page'};
    # All 8 MiB go to class 1, and 100 items more than fit are evicted.
    my $n = 8 * $per + 100;
    store_range($sock, 'k', 2, $n, \&val);
    my $sl = stats_of($sock, 'slabs');
    is("$sl->{'1:total_pages'} $sl->{total_malloced}", '8 ' . 8 * 1048576, 'class 1 took all memory');
    is(stats_of($sock)->{evictions}, 100, '100 evictions');
    my $req = '';
    $req .= "delete k$_ noreply\r\n" for 1 .. $n;
    print $sock $req;
    # With all memory allocated, once three looks in a row saw the class
    # neither take a page nor evict, it gives a page of free chunks to the
    # global pool, and another right after each move, while it has more
    # than two and a half pages of free chunks.
    my $st = wait_stat($sock, 'slab_global_page_pool', '6');
    $st = wait_moved($sock, 6);
    is(join(' ', map { $st->{$_} } qw(slab_global_page_pool slabs_moved curr_items evictions
                                      slab_reassign_rescues)),
       '6 6 0 100 0', 'six pages went back to the global pool');
    # The items stored in place of the 100 evicted ones were deleted last:
    # their chunks, on the first page moved, topped the free list, where
    # the mover met them.
    is($st->{slab_reassign_inline_reclaim}, 100, 'inline reclaims');
    $sl = stats_of($sock, 'slabs');
    is("$sl->{'1:total_pages'} $sl->{'1:free_chunks'} $sl->{total_malloced}",
       join(' ', 2, 2 * $per, 8 * 1048576),
       'class 1 kept two pages; the pool still counts in total_malloced');
    # A class that needs memory takes its pages from the pool.
    my $v9 = sub { 'y' x 300 . sprintf('%05d', $_[0]) };
    store_range($sock, 'p', 1, 10, $v9);
    is(stats_of($sock)->{slab_global_page_pool}, 5, 'a new class took a pooled page');
}

# ---- cache_memlimit shrinking then growing ----
{
    my $server = new_memcached('-m 16 -o slab_automove=0');
    my $sock = $server->sock;
    my $va = sub { 'a' x 990 . sprintf('%010d', $_[0]) };
    store_range($sock, 'a', 1, 30000, $va);
    my $sl = stats_of($sock, 'slabs');
    my ($ca) = map { /^(\d+):total_pages$/ && $sl->{$_} > 1 ? $1 : () } keys %$sl;
    is($sl->{total_malloced}, 16 * 1048576, 'all 16 MiB taken');
    for my $i (1 .. 3) {
        send_recv($sock, "slabs reassign $ca 0\r\n");
        wait_moved($sock, $i);
    }
    my $st = stats_of($sock);
    is("$st->{slab_global_page_pool} $st->{limit_maxbytes}", '3 16777216', 'three pages in the pool');
    is(send_recv($sock, "cache_memlimit 8\r\n"), "OK\r\n", 'cache_memlimit 8: OK');
    $st = stats_of($sock);
    is("$st->{slab_global_page_pool} $st->{limit_maxbytes}", '0 8388608',
       'pooled pages given back at once');
    is(stats_of($sock, 'slabs')->{total_malloced}, 13 * 1048576, 'total_malloced 13 MiB');
    is(send_recv($sock, "slabs reassign $ca 0\r\n"), "OK\r\n", 'another page to the pool');
    $st = wait_moved($sock, 4);
    is($st->{slab_global_page_pool}, 0, 'over the limit, a page sent to the pool is given back');
    is(stats_of($sock, 'slabs')->{total_malloced}, 12 * 1048576, 'total_malloced 12 MiB');
    my ($present, $wrong) = check_range($sock, 'a', 1, 30000, $va);
    is($wrong, 0, "the $present keys present return their values");
    # Stores still work: the class evicts within the pages it has.
    is(store_range($sock, 'b', 1, 2000, $va), 2000, 'stores under the lower limit');
    is(stats_of($sock, 'slabs')->{total_malloced}, 12 * 1048576, 'no page taken above the limit');
    is(send_recv($sock, "cache_memlimit 16\r\n"), "OK\r\n", 'cache_memlimit 16: OK');
    store_range($sock, 'c', 1, 6000, $va);
    $sl = stats_of($sock, 'slabs');
    is("$sl->{total_malloced} $sl->{\"$ca:total_pages\"}", 16 * 1048576 . ' 16',
       'with the limit raised the class takes pages again');
    ($present, $wrong) = check_range($sock, 'c', 1, 6000, $va);
    is("$present $wrong", '6000 0', 'the newest keys are all there');
}

done_testing();
