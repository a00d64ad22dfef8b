#!/usr/bin/perl
# The general `stats` group: the names it lists, in order, and the exact
# values of the counters that commands move; `stats reset`; unknown stats
# groups; and the small admin commands version, verbosity and quit.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Time::HiRes qw(usleep);

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 300 s\n" };
alarm 300;

# Sends `stats` and returns the reply as an ordered list of [name, value].
sub stats_list {
    my $sock = shift;
    print $sock "stats\r\n";
    my @list;
    while (defined(my $line = <$sock>)) {
        last if $line eq "END\r\n";
        push @list, [$1, $2] if $line =~ /^STAT (\S+) (.*)\r\n$/;
    }
    return @list;
}

# Sends `stats` and returns a hash of name => value.
sub stats_hash {
    my $sock = shift;
    return { map { @$_ } stats_list($sock) };
}

# Checks a set of counters against exact values, one is() each.
sub counters_are {
    my ($sock, $what, %want) = @_;
    my $st = stats_hash($sock);
    for my $name (sort keys %want) {
        is($st->{$name}, $want{$name}, "$what: $name");
    }
}

# Sends one request and returns its single-line reply.
sub cmd {
    my ($sock, $req) = @_;
    print $sock $req;
    return scalar <$sock>;
}

# ---- field names of `stats`, in order ----
# Left out: fields about worker threads (threads, unexpected_napi_ids,
# round_robin_fallback); extstore and TLS fields are absent by default.

my %thread_specific = map { $_ => 1 } qw(threads unexpected_napi_ids round_robin_fallback);
my @expected_names = qw(
    pid uptime time version libevent pointer_size rusage_user
    rusage_system max_connections curr_connections total_connections
    rejected_connections connection_structures response_obj_oom
    response_obj_count response_obj_bytes read_buf_count read_buf_bytes
    read_buf_bytes_free read_buf_oom reserved_fds cmd_get cmd_set
    cmd_flush cmd_touch cmd_meta get_hits get_misses get_expired
    get_flushed delete_misses delete_hits incr_misses incr_hits
    decr_misses decr_hits cas_misses cas_hits cas_badval touch_hits
    touch_misses store_too_large store_no_memory auth_cmds auth_errors
    bytes_read bytes_written limit_maxbytes accepting_conns
    listen_disabled_num time_in_listen_disabled_us conn_yields
    hash_power_level hash_bytes hash_is_expanding slab_reassign_rescues
    slab_reassign_chunk_rescues slab_reassign_inline_reclaim
    slab_reassign_busy_items slab_reassign_busy_deletes
    slab_reassign_busy_nomem slab_reassign_last_busy_status
    slab_reassign_running slabs_moved
    lru_crawler_running lru_crawler_starts lru_maintainer_juggles
    malloc_fails log_worker_dropped log_worker_written
    log_watcher_skipped log_watcher_sent log_watchers bytes curr_items
    total_items slab_global_page_pool expired_unfetched evicted_unfetched
    evicted_active evictions reclaimed crawler_reclaimed
    crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm
    moves_within_lru direct_reclaims lru_bumps_dropped
);

my $server = new_memcached('-m 32');
my $sock = $server->sock;

print $sock "stats\r\n";
my $raw = read_until_end($sock);
is($raw =~ /\A(?:STAT [a-z_0-9]+ [^\r\n]*\r\n)+END\r\n\z/ ? 1 : 0, 1,
   'stats reply is STAT <name> <value> lines then END');
my @names = grep { !$thread_specific{$_} } map { $_->[0] } stats_list($sock);
is(join(' ', @names), join(' ', @expected_names), 'stats field names in order');
{
    # Without slab_reassign there is no page mover, and no lines of its.
    my $srv = new_memcached('-m 32 -o no_slab_reassign');
    my @got = grep { !$thread_specific{$_} } map { $_->[0] } stats_list($srv->sock);
    my @want = grep { !/^slab_reassign_|^slabs_moved\z/ } @expected_names;
    is(join(' ', @got), join(' ', @want), 'no_slab_reassign: no page mover lines');
}

my $st = stats_hash($sock);
is($st->{limit_maxbytes}, 32 * 1024 * 1024, 'limit_maxbytes for -m 32');
is($st->{pointer_size}, 64, 'pointer_size');
is($st->{max_connections}, 1024, 'max_connections defaults to 1024');
is($st->{accepting_conns}, 1, 'accepting_conns');
is("VERSION $st->{version}\r\n", cmd($sock, "version\r\n"),
   'STAT version matches the version command');
is($st->{pid}, $server->pid, 'STAT pid is the server pid');
is($st->{slab_reassign_last_busy_status}, 'none', 'no page move met a busy item yet');

# ---- connections ----

my $before = stats_hash($sock);
my $s2 = $server->new_sock;
like(cmd($s2, "version\r\n"), qr/^VERSION /, 'second connection answers');
my $during = stats_hash($sock);
is($during->{curr_connections}, $before->{curr_connections} + 1,
   'curr_connections +1 with a second socket');
is($during->{total_connections}, $before->{total_connections} + 1,
   'total_connections +1 with a second socket');
is(stats_hash($s2)->{curr_connections}, $during->{curr_connections},
   'both sockets see the same curr_connections');
close $s2;
# The close reaches the server asynchronously: poll (bounded) for the drop.
my $after;
for (1 .. 100) {
    $after = stats_hash($sock);
    last if $after->{curr_connections} == $before->{curr_connections};
    usleep(20_000);
}
is($after->{curr_connections}, $before->{curr_connections},
   'curr_connections back down after close');
is($after->{total_connections}, $during->{total_connections},
   'total_connections does not drop after close');

# ---- counters ----
# A server without the LRU maintainer and crawler, so expired and flushed
# items are only noticed when a command touches them.

my $srv = new_memcached('-m 32 -o no_lru_maintainer,no_lru_crawler');
my $c = $srv->sock;

counters_are($c, 'fresh server',
    cmd_get => 0, cmd_set => 0, cmd_flush => 0, cmd_touch => 0,
    get_hits => 0, get_misses => 0, get_expired => 0, get_flushed => 0,
    delete_misses => 0, delete_hits => 0, incr_misses => 0, incr_hits => 0,
    decr_misses => 0, decr_hits => 0, cas_misses => 0, cas_hits => 0,
    cas_badval => 0, touch_hits => 0, touch_misses => 0,
    curr_items => 0, total_items => 0, evictions => 0);

# Storage commands: every one whose data was read counts in cmd_set,
# stored or not; each link of a new item counts in total_items.
is(cmd($c, "set a 0 0 1\r\n1\r\n"), "STORED\r\n", 'set a');
is(cmd($c, "set a 0 0 1\r\n2\r\n"), "STORED\r\n", 'set a again');
is(cmd($c, "add a 0 0 1\r\n3\r\n"), "NOT_STORED\r\n", 'add existing a');
is(cmd($c, "add b 0 0 1\r\n4\r\n"), "STORED\r\n", 'add b');
is(cmd($c, "replace c 0 0 1\r\n5\r\n"), "NOT_STORED\r\n", 'replace missing c');
is(cmd($c, "append a 0 0 1\r\n2\r\n"), "STORED\r\n", 'append to a');
is(cmd($c, "prepend zz 0 0 1\r\n6\r\n"), "NOT_STORED\r\n", 'prepend missing zz');
counters_are($c, 'after storage commands',
    cmd_set => 7, curr_items => 2, total_items => 4, cmd_get => 0);

# Retrieval: cmd_get, get_hits and get_misses count keys, not commands.
print $c "get a b c\r\n";
is(read_until_end($c), "VALUE a 0 2\r\n22\r\nVALUE b 0 1\r\n4\r\nEND\r\n", 'get a b c');
print $c "gets a\r\n";
my $gets = read_until_end($c);
my ($cas) = $gets =~ /^VALUE a 0 2 (\d+)\r\n/;
is(defined $cas ? 1 : 0, 1, 'gets a returns a cas value');
counters_are($c, 'after get a b c; gets a',
    cmd_get => 4, get_hits => 3, get_misses => 1);

# delete
is(cmd($c, "delete c\r\n"), "NOT_FOUND\r\n", 'delete missing c');
is(cmd($c, "delete b\r\n"), "DELETED\r\n", 'delete b');
counters_are($c, 'after deletes',
    delete_misses => 1, delete_hits => 1, curr_items => 1, total_items => 4);

# incr/decr; a non-numeric value counts as neither hit nor miss. A result
# that fits in the old value is written in place: no new item in total_items.
is(cmd($c, "incr a 1\r\n"), "23\r\n", 'incr a');
is(cmd($c, "incr c 1\r\n"), "NOT_FOUND\r\n", 'incr missing c');
is(cmd($c, "decr a 1\r\n"), "22\r\n", 'decr a');
is(cmd($c, "decr c 1\r\n"), "NOT_FOUND\r\n", 'decr missing c');
is(cmd($c, "decr c 1\r\n"), "NOT_FOUND\r\n", 'decr missing c again');
is(cmd($c, "set x 0 0 1\r\nx\r\n"), "STORED\r\n", 'set non-numeric x');
is(cmd($c, "incr x 1\r\n"),
   "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", 'incr x');
is(cmd($c, "decr x 1\r\n"),
   "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", 'decr x');
counters_are($c, 'after incr/decr',
    incr_hits => 1, incr_misses => 1, decr_hits => 1, decr_misses => 2,
    cmd_set => 8, curr_items => 2, total_items => 5);

# cas: hit, bad value, miss; all three count in cmd_set.
my $stale = $cas;
print $c "gets a\r\n";
($cas) = read_until_end($c) =~ /^VALUE a 0 2 (\d+)\r\n/;
is(cmd($c, "cas a 0 0 1 $cas\r\n7\r\n"), "STORED\r\n", 'cas a with current cas');
is(cmd($c, "cas a 0 0 1 $stale\r\n8\r\n"), "EXISTS\r\n", 'cas a with stale cas');
is(cmd($c, "cas c 0 0 1 1\r\n9\r\n"), "NOT_FOUND\r\n", 'cas missing c');
counters_are($c, 'after cas',
    cas_hits => 1, cas_badval => 1, cas_misses => 1, cmd_set => 11,
    cmd_get => 5, get_hits => 4);

# touch, gat, gats: count as touches, not as gets.
is(cmd($c, "touch a 100\r\n"), "TOUCHED\r\n", 'touch a');
is(cmd($c, "touch c 100\r\n"), "NOT_FOUND\r\n", 'touch missing c');
print $c "gat 100 a c\r\n";
is(read_until_end($c), "VALUE a 0 1\r\n7\r\nEND\r\n", 'gat a c');
print $c "gats 0 a\r\n";
like(read_until_end($c), qr/^VALUE a 0 1 \d+\r\n7\r\nEND\r\n$/, 'gats a');
counters_are($c, 'after touch/gat',
    cmd_touch => 5, touch_hits => 3, touch_misses => 2,
    cmd_get => 5, get_hits => 4, get_misses => 1);

# Expired items are found by the access that misses them.
is(cmd($c, "set n 0 -1 1\r\nx\r\n"), "STORED\r\n", 'set n with exptime -1');
is(cmd($c, "get n\r\n"), "END\r\n", 'get expired n');
counters_are($c, 'after get of an expired item',
    get_expired => 1, get_misses => 2, cmd_get => 6,
    curr_items => 2, total_items => 7, cmd_set => 12);
is(cmd($c, "get n\r\n"), "END\r\n", 'get n again');
counters_are($c, 'after a second get of n', get_expired => 1, get_misses => 3);
is(cmd($c, "set n 0 -1 1\r\nx\r\n"), "STORED\r\n", 'set n with exptime -1 again');
is(cmd($c, "delete n\r\n"), "NOT_FOUND\r\n", 'delete expired n');
counters_are($c, 'after delete of an expired item',
    get_expired => 2, delete_misses => 2, delete_hits => 1);

# flush_all: memcached 1.6.45 unlinks at once the items used in the
# second before it, so a get finds nothing and counts no get_flushed
# (older items are found flushed: t/watch.t). a and b are stored again in
# the same read as the flush, so that they are that young whatever the
# time the script took so far.
print $c "set a 0 0 1\r\n1\r\nset b 0 0 1\r\n1\r\nflush_all\r\n";
is(read_reply($c, 20), "STORED\r\nSTORED\r\nOK\r\n", 'set a, set b, flush_all');
print $c "get a x b\r\n";
is(read_until_end($c), "END\r\n", 'get a x b after flush_all');
counters_are($c, 'after flush_all and get',
    cmd_flush => 1, get_flushed => 0, get_misses => 6, cmd_get => 10,
    curr_items => 0);
is(cmd($c, "set f 0 0 1\r\nf\r\n"), "STORED\r\n", 'set f after flush_all');
mem_get_is($c, 'f', 'f', 'item set after flush_all is kept');

# A value over -I counts in store_too_large, not cmd_set.
my $big = 1024 * 1024 + 1;
print $c "set big 0 0 $big\r\n" . ('b' x $big) . "\r\n";
is(scalar <$c>, "SERVER_ERROR object too large for cache\r\n", 'too large set');
counters_are($c, 'after too large set',
    store_too_large => 1, cmd_set => 16, total_items => 11, curr_items => 1);

# stats reset zeroes the counters but not the current state.
is(cmd($c, "stats reset\r\n"), "RESET\r\n", 'stats reset');
counters_are($c, 'after stats reset',
    cmd_get => 0, cmd_set => 0, cmd_flush => 0, cmd_touch => 0,
    get_hits => 0, get_misses => 0, get_expired => 0, get_flushed => 0,
    delete_misses => 0, delete_hits => 0, incr_misses => 0, incr_hits => 0,
    decr_misses => 0, decr_hits => 0, cas_misses => 0, cas_hits => 0,
    cas_badval => 0, touch_hits => 0, touch_misses => 0,
    store_too_large => 0, total_items => 0, total_connections => 0,
    curr_items => 1, limit_maxbytes => 33554432);
my $s3 = $srv->new_sock;
like(cmd($s3, "version\r\n"), qr/^VERSION /, 'new connection after reset');
counters_are($c, 'connection after stats reset', total_connections => 1);
mem_get_is($c, 'f', 'f', 'stats reset keeps the data');
counters_are($c, 'get after stats reset', cmd_get => 1, get_hits => 1);

# cmd_meta counts only `me` commands whose key is usable; the other meta
# commands count in their own groups (mg as a get, ms as a set, ...).
is(cmd($c, "mn\r\n"), "MN\r\n", 'mn');
is(cmd($c, "mg f s\r\n"), "HD s1\r\n", 'mg f');
is(cmd($c, "ms m 1\r\nm\r\n"), "HD\r\n", 'ms m');
is(cmd($c, "md m\r\n"), "HD\r\n", 'md m');
is(cmd($c, "ma nothere\r\n"), "NF\r\n", 'ma on a missing key');
is(cmd($c, "me nothere\r\n"), "EN\r\n", 'me on a missing key');
is(cmd($c, "me\r\n"), "CLIENT_ERROR bad command line format\r\n", 'me without a key');
is(cmd($c, "me " . ('k' x 251) . "\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'me with a key over 250 bytes');
# (memcached 1.6.45 decodes the key only when a word follows b.)
is(cmd($c, "me !!!! b x\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'me with a key that is not base64');
counters_are($c, 'after meta commands',
    cmd_meta => 1, cmd_get => 2, get_hits => 2, cmd_set => 1,
    delete_hits => 1, incr_misses => 1);

# ---- other stats groups ----

is(cmd($c, "stats foo\r\n"), "ERROR\r\n", 'stats with an unknown group');
is(cmd($c, "stats detail\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n",
   'stats detail without an argument');
mem_get_is($c, 'f', 'f', 'connection usable after stats errors');

# ---- version, verbosity, quit ----

like(cmd($c, "version\r\n"), qr/^VERSION 1\.6\.\d+\r\n$/, 'version');
is(cmd($c, "verbosity 1\r\n"), "OK\r\n", 'verbosity 1');
is(cmd($c, "verbosity 0\r\n"), "OK\r\n", 'verbosity 0');
is(cmd($c, "verbosity\r\n"), "CLIENT_ERROR bad command line format\r\n", 'verbosity without argument: CLIENT_ERROR (1.6.45)');
is(cmd($c, "verbosity abc\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'verbosity with a non-numeric level');
is(cmd($c, "verbosity 1 2 3\r\n"), "OK\r\n", 'verbosity with more tokens: the rest ignored (1.6.45)');
print $c "verbosity 1 noreply\r\n";
mem_get_is($c, 'f', 'f', 'verbosity 1 noreply: silent');

print $c "quit\r\n";
is(scalar <$c>, undef, 'quit closes the connection');
my $s4 = $srv->new_sock;
print $s4 "quit extra\r\n";
is(scalar <$s4>, undef, 'quit with an argument also closes');
mem_get_is($s3, 'f', 'f', 'other connections unaffected by quit');

done_testing();
