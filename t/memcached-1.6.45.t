#!/usr/bin/perl
# Where memcached 1.6.45 answers otherwise than 1.6.18, the server answers
# as 1.6.45 does (doc/compatibility.md, "memcached 1.6.18 -> 1.6.45").
# Every expectation here was checked against memcached 1.6.45 built from
# its source (MEMCACHED_BIN=/path/to/memcached-1.6.45/memcached prove
# t/memcached-1.6.45.t); Debian's 1.6.18 fails them.
use strict;
use warnings;
use Test::More;
use IO::Select;
use lib 't/lib';
use MemcachedTest;

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 120 s\n" };
alarm 120;

# ---- version ----

my $server = new_memcached();
my $sock = $server->sock;

is(send_recv($sock, "version\r\n"), "VERSION 1.6.45\r\n", 'version names 1.6.45');
is(stats_of($sock)->{version}, '1.6.45', 'stats version is 1.6.45');

# Sends a request followed by "version\r\n" and returns everything before
# the VERSION line: exactly the request's reply, or '' for none.
sub reply_to {
    my ($sock, $req) = @_;
    print $sock $req . "version\r\n";
    my $out = '';
    while (defined(my $line = <$sock>)) {
        last if $line =~ /^VERSION /;
        $out .= $line;
    }
    return $out;
}

my $BAD = "CLIENT_ERROR bad command line format\r\n";

# ---- short and empty command lines ----

is(reply_to($sock, "\r\n"), $BAD, 'empty line: bad command line format (1.6.18: ERROR)');
is(reply_to($sock, "\n"), $BAD, 'bare newline: bad command line format');
is(reply_to($sock, "x\r\n"), $BAD, 'a 3-byte line: bad command line format');
is(reply_to($sock, "xy\r\n"), "ERROR\r\n", 'a 4-byte line: unknown command');
is(reply_to($sock, " get foo\r\n"), "ERROR\r\n", 'a leading space: no command (1.6.18: END)');
is(reply_to($sock, "version\x00\r\n"), "ERROR\r\n", 'a NUL is part of the command name (1.6.18 ended the line)');

# ---- known commands without enough words ----

for my $cmd ('get', 'gets', 'gat 10', 'gats 10', 'set foo 0 0', 'add', 'replace foo 0',
             'append', 'prepend foo', 'cas', 'incr foo', 'decr', 'touch foo', 'delete',
             'verbosity', 'mg', 'ms foo', 'md', 'ma', 'me', 'm') {
    is(reply_to($sock, "$cmd\r\n"), $BAD, "'$cmd': bad command line format (1.6.18: ERROR)");
}

# ---- words after those a command reads ----

is(reply_to($sock, "set foo 0 0 3 a b c d e\r\nbar\r\n"), "STORED\r\n", 'set with extra words: STORED');
is(reply_to($sock, "set foo 0 0 3 noreply extra\r\nbar\r\n"), "STORED\r\n",
   'noreply counts only as the last word');
is(reply_to($sock, "incr foo 1 2 3\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
   'incr with extra words: runs');
is(reply_to($sock, "touch foo 10 a b\r\n"), "TOUCHED\r\n", 'touch with extra words: runs');
is(reply_to($sock, "delete foo 1\r\n"), "DELETED\r\n", 'delete with a word after the key: runs');
is(reply_to($sock, "delete foo a b c\r\n"), "NOT_FOUND\r\n", 'delete with words after the key: runs');
is(reply_to($sock, "flush_all 0 1 2\r\n"), "OK\r\n", 'flush_all with extra words: OK');
is(reply_to($sock, "verbosity 1 2 3\r\n"), "OK\r\n", 'verbosity with extra words: OK');
is(reply_to($sock, "cache_memlimit 100 extra\r\n"), "OK\r\n", 'cache_memlimit with extra words: OK');
is(reply_to($sock, "bogus noreply\r\n"), '', 'an unknown command ending in noreply: no ERROR');
is(reply_to($sock, "slabs reassign 1 2 noreply\r\n"), '', 'an admin command ending in noreply: silent');
is(reply_to($sock, "watch noreply\r\n"), "ERROR\r\n", 'watch does not read noreply');

# ---- numbers read strictly ----

is(reply_to($sock, "set foo 0 0 +3\r\nbar\r\n"), $BAD . "ERROR\r\n", 'length with a +: refused, data read as a command');
is(reply_to($sock, "set foo 0 0 000000000003\r\nbar\r\n"), $BAD . "ERROR\r\n", 'length over 11 bytes: refused');
is(reply_to($sock, "set foo abc 0 3\r\nbar\r\n"), $BAD, 'bad flags once the length is known: data swallowed');
is(reply_to($sock, "set foo 0 0 -1 noreply\r\nbar\r\n"), $BAD . "ERROR\r\n", 'a bad length is answered even with noreply');
is(reply_to($sock, "cas foo 0 0 3\r\nbar\r\n"), $BAD, 'cas without its unique: data swallowed');
is(reply_to($sock, "cas foo 0 0 3 +1\r\nbar\r\n"), $BAD, 'cas unique with a +: refused');
is(reply_to($sock, "set " . ('k' x 251) . " 0 0 3\r\nbar\r\n"), $BAD, 'a 251-byte key: data swallowed');
is(reply_to($sock, "set n 0 0 1\r\n1\r\n"), "STORED\r\n", 'set n');
is(reply_to($sock, "incr n +1\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n", 'delta with a +');
is(reply_to($sock, "touch n +5\r\n"), "CLIENT_ERROR invalid exptime argument\r\n", 'touch exptime with a +');
is(reply_to($sock, "gat +5 n\r\n"), "CLIENT_ERROR invalid exptime argument\r\n", 'gat exptime with a +');
is(reply_to($sock, "flush_all +0\r\n"), "CLIENT_ERROR invalid exptime argument\r\n", 'flush_all delay with a +');
is(reply_to($sock, "verbosity +1\r\n"), $BAD, 'verbosity with a +');
is(reply_to($sock, "cache_memlimit +100\r\n"), "ERROR\r\n", 'cache_memlimit with a +');
is(reply_to($sock, "lru_crawler sleep +5\r\n"), $BAD, 'lru_crawler sleep with a +');
is(reply_to($sock, "slabs reassign +1 2\r\n"), $BAD, 'slabs reassign with a +');
is(reply_to($sock, "ms foo +3\r\nbar\r\n"), $BAD . "ERROR\r\n", 'ms datalen with a +');
is(reply_to($sock, "ms foo 1 T+5\r\nx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'ms T with a +');
is(reply_to($sock, "ms foo 1 F+5\r\nx\r\n"), $BAD, 'ms F with a +');
is(reply_to($sock, "ms foo 1 F4294967296\r\nx\r\n"), $BAD, 'ms F over 32 bits');
is(reply_to($sock, "ma n D+1\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma D with a +');
is(reply_to($sock, "set foo 0 0 3\r\nbarx\r\n"), "CLIENT_ERROR bad data chunk\r\n" . $BAD,
   'bad data chunk: the leftover newline is too short for a command');

# ---- subcommands by any start of their name ----

is(reply_to($sock, "stats r\r\n"), "RESET\r\n", 'stats r: reset');
like(reply_to($sock, "stats s\r\n"), qr/^STAT maxbytes \d+\r\n.*END\r\n\z/s, 'stats s: settings');
is(reply_to($sock, "stats c\r\n"), "CLIENT_ERROR bad command line\r\n", 'stats c: cachedump');
is(reply_to($sock, "stats d\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n", 'stats d: detail');
is(reply_to($sock, "stats detail o\r\n"), "OK\r\n", 'stats detail o: on');
is(reply_to($sock, "stats sizes_enable\r\n"), "ERROR\r\n", 'stats sizes_enable: gone in 1.6.45');
is(reply_to($sock, "lru_crawler c 1\r\n"), "OK\r\n", 'lru_crawler c: crawl');
is(reply_to($sock, "lru t 10 10 0.1 2\r\n"), "OK\r\n", 'lru t: tune');
is(reply_to($sock, "slabs r 1 2\r\n"), "NOSPARE source class has no spare pages\r\n", 'slabs r: reassign');
is(reply_to($sock, "lru mode f\r\n"), "OK\r\n", 'lru mode f: flat');
is(reply_to($sock, "lru mode s\r\n"), "OK\r\n", 'lru mode s: segmented');
is(reply_to($sock, "lru tune 4294967296 1 1 1\r\n"), "ERROR\r\n", 'lru tune over 32 bits: ERROR (1.6.18 kept the low bits)');
is(reply_to($sock, "lru temp_ttl 2147483648\r\n"), "ERROR\r\n", 'lru temp_ttl over 31 bits: ERROR');

# ---- HTTP, shutdown ----

is(reply_to($sock, "shutdown\r\n"), "SERVER_ERROR: shutdown not enabled\r\n", 'shutdown without -A');
is(reply_to($sock, "shutdown graceful\r\n"), "SERVER_ERROR: shutdown not enabled\r\n", 'shutdown graceful without -A');
for my $req ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /x HTTP/1.0\r\n", "foo HTTP/\r\n") {
    my $h = $server->new_sock;
    print $h $req;
    my $got = join('', <$h>);
    is($got, '', 'a request that looks like HTTP: closed without a reply');
}
my $h = $server->new_sock;
is(reply_to($h, "get / HTTP/1.1\r\n"), "END\r\n", 'a known command is never taken for HTTP');

# ---- CAS uniques ----

my $c = new_memcached();
my $cs = $c->sock;
is(reply_to($cs, "set a 0 0 1\r\n1\r\ngets a\r\n"), "STORED\r\nVALUE a 0 1 2\r\n1\r\nEND\r\n",
   'the first CAS unique is 2 (1.6.18: 1)');
is(reply_to($cs, "add a 0 0 1\r\n1\r\nset b 0 0 1\r\n1\r\ngets b\r\n"),
   "NOT_STORED\r\nSTORED\r\nVALUE b 0 1 4\r\n1\r\nEND\r\n", 'a refused add takes a CAS unique too');
is(reply_to($cs, "cas a 0 0 1 99\r\n2\r\ncas zz 0 0 1 1\r\n2\r\nappend zz 0 0 1\r\n2\r\nmg b c\r\n"),
   "EXISTS\r\nNOT_FOUND\r\nNOT_STORED\r\nHD c4\r\n", 'refused cas and append: CAS uniques used');
is(reply_to($cs, "set c 0 0 1\r\n1\r\ngets c\r\n"), "STORED\r\nVALUE c 0 1 8\r\n1\r\nEND\r\n",
   'the next store gets the CAS unique after them');
is(reply_to($cs, "ms a 1 C1\r\nx\r\nms zz 1 MR\r\nx\r\nms d 1 c\r\nx\r\n"), "EX\r\nNS\r\nHD c11\r\n",
   'refused ms take one each');
is(reply_to($cs, "ms e 1 E50\r\nx\r\nms f 1 c\r\nx\r\n"), "HD\r\nHD c12\r\n", 'an ms with E takes none');
is(reply_to($cs, "ms a 1 I\r\n1\r\nmg a c v\r\n"), "HD\r\nVA 1 c13\r\n1\r\n",
   'ms I without C: a plain set');
is(reply_to($cs, "md a I C1\r\nmg a c\r\n"), "EX\r\nHD c13\r\n", 'md I with a lower CAS: EX, nothing changed');
is(reply_to($cs, "md a I\r\nmg a c t v\r\nmg a c v\r\n"), "HD\r\nVA 1 c14 t-1 X W\r\n1\r\nVA 1 c14 Z X\r\n1\r\n",
   'md I: stale with a new CAS, the first fetch wins');

# ---- meta ----

is(reply_to($cs, "me f\r\n") =~ /^ME f exp=-1 la=\d+ cas=12 / ? 1 : 0, 1, 'me: exp -1 without TTL');
is(reply_to($cs, "ms t 1 T100\r\nx\r\n"), "HD\r\n", 'ms t with TTL 100');
like(reply_to($cs, "me t\r\n"), qr/^ME t exp=(?:100|99) /, 'me: the time left, not negated (1.6.18: exp=-100)');
like(reply_to($cs, "me t q x\r\n"), qr/^ME t exp=/, 'me: words after the key ignored');
is(reply_to($cs, "mg t !\r\n"), $BAD, 'a flag starting with neither letter nor digit: bad command line');
is(reply_to($cs, "ms t 1 !\r\nx\r\n"), $BAD . $BAD, 'ms with flag !: the datalen is not used');
is(reply_to($cs, "mg t Z\r\n"), "CLIENT_ERROR invalid flag\r\n", 'unknown flag');
is(reply_to($cs, "mg t x\r\n"), "HD\r\n", 'mg accepts x (an ms/md flag) and ignores it');
is(reply_to($cs, "md t q q\r\n"), "CLIENT_ERROR duplicate flag\r\n", 'md names the error (1.6.18: invalid or duplicate flag)');
is(reply_to($cs, "md t Z\r\n"), "CLIENT_ERROR invalid flag\r\n", 'md: invalid flag');
is(reply_to($cs, "md t Cx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'md: bad token');
is(reply_to($cs, "md abc b\r\n"), "CLIENT_ERROR error decoding key\r\n", 'md: error decoding key');
is(reply_to($cs, "ma t Z\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma keeps one error line');
is(reply_to($cs, "ma " . ('k' x 251) . "\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma: a long key too');
is(reply_to($cs, "ms t 1 P P\r\nx\r\n"), "CLIENT_ERROR duplicate flag\r\n", 'P twice: duplicate');
is(reply_to($cs, "ms t 1 MSS\r\ny\r\n"), "HD\r\n", 'M reads one letter: MSS is a set');
is(reply_to($cs, "ms t 1 M\r\ny\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'M without a letter: invalid mode');
is(reply_to($cs, "mg t Tx Z\r\n"), "CLIENT_ERROR invalid flag\r\n", 'a bad number is reported after every flag is read');
is(reply_to($cs, "mg t v v v v v v v v v v v v v v v v v v v\r\n"), "CLIENT_ERROR options flags are too long\r\n",
   'more than 20 tokens');
is(reply_to($cs, "mg t O" . ('o' x 40) . " Z\r\n"), "CLIENT_ERROR invalid flag\r\n", 'flags are read before the opaque length');
is(reply_to($cs, "ms " . ('k' x 251) . " 1\r\nx\r\n"), $BAD, 'ms with a 251-byte key: data swallowed');

# ---- lru_crawler dumps ----

# (memcached leaves the commands after a dump in the same read unanswered,
# so each dump has a connection of its own here.)
is(reply_to($c->new_sock, "lru_crawler mgdump 3\r\n"), "OK\r\nEN\r\n", 'mgdump starts with OK');
is(reply_to($c->new_sock, "lru_crawler metadump 3\r\n"), "OK\r\nEND\r\n", 'metadump starts with OK');
my $x = new_memcached('-X');
is(reply_to($x->sock, "lru_crawler mgdump all\r\n"), "ERROR key dump not allowed\r\n", '-X: mgdump refused');
is(reply_to($x->sock, "stats detail on\r\n"), "CLIENT_ERROR stats detail not allowed\r\n", '-X: stats detail refused');

# ---- options ----

my $o = new_memcached('-I 256k -o slab_chunk_max=128');
is(stats_of($o->sock, 'settings')->{slab_chunk_max}, 131072,
   '-o slab_chunk_max is read in kilobytes (1.6.18: bytes)');
my ($st, $out) = run_refused('-o', 'slab_chunk_max=131072');
isnt($st, 0, '-o slab_chunk_max in bytes: refused');
like($out, qr/slab_chunk_max/, '-o slab_chunk_max in bytes: the error names it');

my $pf = "/tmp/mctest.$$.ports";
unlink $pf;
my $p = new_memcached('-l 127.0.0.1', udp => 1, env => { MEMCACHED_PORT_FILENAME => $pf });
my $ports = '';
if (open(my $fh, '<', $pf)) {
    local $/;
    $ports = <$fh>;
    close $fh;
}
is($ports, "TCP INET: " . $p->port . "\nUDP INET: " . $p->udpport . "\n",
   'MEMCACHED_PORT_FILENAME: the TCP then the UDP port');
ok(!-e "$pf.lck", 'MEMCACHED_PORT_FILENAME: written under .lck, then renamed');
unlink $pf;

# ---- stats settings ----

# 1.6.45's lines, in its order; lines of our own may follow them. The
# lines it added since 1.6.18, and the external storage lines (shown
# whether or not a store is in use), must read as 1.6.45's.
my @settings_145 = qw(
    maxbytes maxconns tcpport udpport inter verbosity oldest evictions
    domain_socket umask shutdown_command growth_factor chunk_size
    num_threads num_threads_per_udp stat_key_prefix detail_enabled
    reqs_per_event cas_enabled tcp_backlog binding_protocol
    auth_enabled_sasl auth_enabled_ascii item_size_max maxconns_fast
    hashpower_init slab_reassign slab_automove slab_automove_ratio
    slab_automove_window slab_chunk_max lru_crawler lru_crawler_sleep
    lru_crawler_tocrawl tail_repair_time flush_enabled dump_enabled
    hash_algorithm lru_maintainer_thread lru_segmented hot_lru_pct
    warm_lru_pct hot_max_factor warm_max_factor temp_lru temporary_ttl
    idle_timeout watcher_logbuf_size worker_logbuf_size read_buf_mem_limit
    track_sizes inline_ascii_response ext_item_size ext_item_age
    ext_low_ttl ext_recache_rate ext_wbuf_size ext_compact_under
    ext_drop_under ext_max_sleep ext_max_frag slab_automove_freeratio
    ext_drop_unread num_napi_ids memory_file client_flags_size
);
{
    my $out = reply_to($sock, "stats settings\r\n");
    my @names = $out =~ /^STAT (\S+) /mg;
    is_deeply([@names[0 .. $#settings_145]], \@settings_145,
              "stats settings: 1.6.45's lines in 1.6.45's order");
    my ($tail) = $out =~ /^(STAT inline_ascii_response .*?STAT client_flags_size [^\r]*\r\n)/ms;
    is($tail, "STAT inline_ascii_response no\r\n"
            . "STAT ext_item_size 512\r\n"
            . "STAT ext_item_age 4294967295\r\n"
            . "STAT ext_low_ttl 0\r\n"
            . "STAT ext_recache_rate 2000\r\n"
            . "STAT ext_wbuf_size 4194304\r\n"
            . "STAT ext_compact_under 0\r\n"
            . "STAT ext_drop_under 0\r\n"
            . "STAT ext_max_sleep 1000000\r\n"
            . "STAT ext_max_frag 0.80\r\n"
            . "STAT slab_automove_freeratio 0.010\r\n"
            . "STAT ext_drop_unread no\r\n"
            . "STAT num_napi_ids 0\r\n"
            . "STAT memory_file (null)\r\n"
            . "STAT client_flags_size 4\r\n",
       'stats settings: the last lines, byte for byte (1.6.18: num_napi_ids (null), no client_flags_size)');
    like($out, qr/^STAT slab_automove_window 10\r$/m, 'slab_automove_window is 10 by default (1.6.18: 30)');
}

# ---- connection buffers under -o read_buf_mem_limit ----

# memcached divides the limit among its -t threads; with -t 1 the one
# worker has it all, as our one thread does.
my $LIMITED = '-t 1 -o read_buf_mem_limit=1';

# The refusal of a multi-get. memcached 1.6.45 copies this message
# without its terminating NUL, so its line may go on with stray bytes of
# its stack before the "\r\n"; ours is the message alone (t/conn-memory.t
# checks it byte for byte).
my $GET_OOM = qr/\ASERVER_ERROR out of memory writing get response[^\r\n]*\r\n\z/;

# True when the peer closed `$s` without sending a byte (an end of file or
# a reset), within 10 seconds.
sub closed_silently {
    my $s = shift;
    return 0 unless IO::Select->new($s)->can_read(10);
    my $n = sysread($s, my $buf, 4096);
    return !$n;
}

{
    my $m = new_memcached($LIMITED);
    my $s = $m->sock;
    is(stats_of($s, 'settings')->{read_buf_mem_limit}, 1048576,
       'read_buf_mem_limit: shown in bytes');
    my $w = 'w' x 1000;
    is(reply_to($s, "set w 0 0 1000\r\n$w\r\n"), "STORED\r\n", 'stored a 1000-byte value');
    # A multi-get whose replies need more than the limit: the whole reply
    # is the error, and the connection goes on.
    like(reply_to($s, 'get' . ' w' x 20000 . "\r\n"), $GET_OOM,
         'a multi-get past the limit: SERVER_ERROR out of memory writing get response');
    is(reply_to($s, "get w\r\n"), "VALUE w 0 1000\r\n$w\r\nEND\r\n",
       'after the refused multi-get: the connection is served');
}

{
    my $m = new_memcached($LIMITED);
    my $s = $m->sock;
    is(reply_to($s, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'stored a');
    close $s;
    # Each connection leaves an unfinished command, keeping its 16 KB read
    # buffer: 63 of them fit in 1 MB with the memory a reply needs.
    my @held;
    for (1 .. 63) {
        my $c = $m->new_sock;
        print $c "version\r\nget a";
        my $line = <$c> // '';
        last unless $line =~ /^VERSION /;
        push @held, $c;
    }
    is(scalar @held, 63, '63 connections each hold a read buffer under a 1 MB limit');
    my $next = $m->new_sock;
    print $next "version\r\nget a";
    ok(closed_silently($next), 'the next one is closed without a reply');
    my $h = $held[0];
    print $h "\r\n";
    is(read_until_end($h), "VALUE a 0 1\r\nA\r\nEND\r\n",
       'a connection holding its buffer finishes its command');
    like(reply_to($h, 'get' . ' a' x 600 . "\r\n"), $GET_OOM, 'at the limit, a multi-get is refused');
    is(reply_to($h, "get a\r\n"), "VALUE a 0 1\r\nA\r\nEND\r\n", 'and the connection goes on');
    my $before = stats_of($h)->{curr_connections};
    close $_ for @held[1 .. $#held];
    my $st = wait_stat($h, 'curr_connections', sub { $_[0] == $before - 62 });
    is($st->{curr_connections}, $before - 62, 'the holding connections are gone');
    my $fresh = $m->new_sock;
    is(reply_to($fresh, "get a a\r\n"), "VALUE a 0 1\r\nA\r\nVALUE a 0 1\r\nA\r\nEND\r\n",
       'with the buffers given back, a new connection is served');
}

# ---- found comparing replies with memcached 1.6.45 (tools/difftest) ----

{
    my $d = new_memcached();
    my $a = $d->sock;
    my $b = $d->new_sock;
    is(reply_to($a, " flush_all\r\n"), "OK\r\n", 'an admin command after a space is served');
    is(reply_to($a, "  verbosity 0\r\n"), "OK\r\n", 'verbosity after spaces too');
    is(reply_to($a, " version\r\n"), "ERROR\r\n", 'a parsed command after a space is not');
    # CAS uniques: a flush takes none.
    is(reply_to($a, "set a 0 0 1\r\n1\r\nflush_all\r\nset a 0 0 1\r\n1\r\ngets a\r\n"),
       "STORED\r\nOK\r\nSTORED\r\nVALUE a 0 1 3\r\n1\r\nEND\r\n", 'flush_all takes no CAS unique');
    # An ms with a bad data chunk takes its CAS unique when its line is
    # read; the next text store on that connection gets it, others do not.
    is(reply_to($a, "ms foo 2\r\nabcd\r\n"), "CLIENT_ERROR bad data chunk\r\n$BAD", 'ms: bad data chunk');
    is(reply_to($b, "set b 0 0 1\r\n1\r\ngets b\r\n"), "STORED\r\nVALUE b 0 1 5\r\n1\r\nEND\r\n",
       'another connection: a new CAS unique');
    is(reply_to($a, "set c 0 0 1\r\n1\r\ngets c\r\n"), "STORED\r\nVALUE c 0 1 4\r\n1\r\nEND\r\n",
       'the same connection: the one the ms took');
    is(reply_to($a, "ms foo 2 E99\r\nabc\r\nadd c 0 0 1\r\n1\r\nset d 0 0 1\r\n1\r\ngets d\r\n"),
       "CLIENT_ERROR bad data chunk\r\n${BAD}NOT_STORED\r\nSTORED\r\nVALUE d 0 1 6\r\n1\r\nEND\r\n",
       'an E value left so: a refused store uses it up without a new one');
    is(reply_to($a, "ms e 1 E0\r\nx\r\nmg e c\r\n"), "HD\r\nHD c7\r\n", 'ms E0: a new CAS unique');
    # ma N creating an item already expired: its CAS, and the time left as
    # an unsigned 32-bit difference.
    like(reply_to($a, "ma gone N-1 J5 c t v\r\n"), qr/^VA 1 c8 t4\d{9}\r\n5\r\n\z/,
         'ma N with a past TTL: the CAS and time left of the item made');
    is(reply_to($a, "mg gone v\r\n"), "EN\r\n", 'which is gone');
    # An item mg creates from a base64 key does not remember the base64.
    is(reply_to($a, "mg a2V5MQ== b N100 k\r\n"), "HD kkey1 W\r\n", 'mg N with b: the key shown decoded');
    is(reply_to($a, "mg a2V5MQ== b k\r\n"), "HD kkey1 Z\r\n", 'and on the next hit');
    # Meta flag errors, in memcached's order.
    my $k251 = 'k' x 251;
    is(reply_to($a, "mg $k251 x k1 k\r\n"), $BAD, 'mg: a long key before a duplicate flag');
    is(reply_to($a, "md $k251 Tx\r\n"), $BAD, 'md: a long key before a bad token');
    is(reply_to($a, "mg foo D\r\n"), "CLIENT_ERROR invalid numeric delta value\r\n",
       'mg reads D\'s number too');
    is(reply_to($a, "mg foo J1x\r\n"), "CLIENT_ERROR invalid numeric initial value\r\n",
       'and J\'s');
    is(reply_to($a, "mg foo Fx\r\n"), $BAD, 'a bad F: bad command line format');
    is(reply_to($a, "mg foo Nx Fx\r\n"), "CLIENT_ERROR bad token in command line format\r\n",
       'a bad F leaves the message of an earlier error');
    is(reply_to($a, "ms c 5 F b s\r\nabcde\r\n"), "CLIENT_ERROR error decoding key\r\n",
       'a key b cannot decode, after a bad F');
    my $many = join(' ', ('v') x 19);
    is(reply_to($a, "ma foo $many\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n",
       'ma: too many tokens is its one error line');
    is(reply_to($a, "ms foo 3 $many\r\nabc\r\n"), "CLIENT_ERROR options flags are too long\r\n",
       'ms: too many tokens, the data swallowed');
}

{
    my $d = new_memcached();
    my $a = $d->sock;
    my $long = 'O' . ('o' x 40);
    # ms: a bad mode is found before a long opaque; the opaque is looked
    # at once the CAS unique is taken, which the next store then gets.
    is(reply_to($a, "ms foo 1 M $long\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n",
       'ms: a bad mode before a long opaque');
    is(reply_to($a, "ms foo 1 $long\r\nx\r\nset x 0 0 1\r\nx\r\nset y 0 0 1\r\ny\r\ngets x y\r\n"),
       "CLIENT_ERROR opaque token too long\r\nSTORED\r\nSTORED\r\n"
       . "VALUE x 0 1 2\r\nx\r\nVALUE y 0 1 3\r\ny\r\nEND\r\n",
       'ms: a long opaque, its CAS unique left to the next store');
    # C0 makes a set a CAS store all the same.
    is(reply_to($a, "ms nope 1 C0\r\nx\r\nms x 1 C0\r\nx\r\n"), "NF\r\nEX\r\n", 'ms C0: a CAS store');
    # ms with a TTL already past: c shows the CAS the item took.
    is(reply_to($a, "ms gone 1 T-1 c\r\nx\r\nms gone 1 T-1 c E77\r\nx\r\n"), "HD c6\r\nHD c77\r\n",
       'ms c of an item stored already expired');
    # N and T apply in flag order: the last one gives an item made its TTL.
    is(reply_to($a, "ma nt N-1 T3600 v\r\nmg nt t\r\n"), "VA 1\r\n0\r\nHD t3600\r\n",
       'ma: T after N gives the item made its TTL');
    is(reply_to($a, "mg tn T50 N100 t\r\nmg tn2 N100 T50 t\r\n"), "HD t100 W\r\nHD t50 W\r\n",
       'mg: the last of T and N gives the TTL');
    # R is read as an expiry: an absolute time in the past never wins.
    is(reply_to($a, "mg tn R2592001\r\nmg tn R-1\r\n"), "HD Z\r\nHD Z\r\n", 'mg R in the past: no win');
    is(reply_to($a, "mg tn2 R2592001\r\n"), "HD Z\r\n", 'not even for an item with a TTL');
    # flush_all with a delay that is an absolute time before the server
    # started flushes nothing, and cancels a delayed flush.
    is(reply_to($a, "set keep 0 0 1\r\nk\r\nflush_all 2592001\r\nget keep\r\n"),
       "STORED\r\nOK\r\nVALUE keep 0 1\r\nk\r\nEND\r\n", 'flush_all with a past absolute time: nothing flushed');
    # An empty value is not a number, whatever the CAS given.
    is(reply_to($a, "ms empty 0\r\n\r\nma empty C1\r\n"),
       "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
       'ma on an empty value with a wrong CAS: non-numeric');
    # mg N: the item made counts as fetched; t before N shows it as it was
    # made (no TTL), t after it the TTL N gave.
    is(reply_to($a, "mg v1 t s N100\r\n"), "HD t-1 s0 W\r\n", 'mg N: a t before N shows no TTL');
    like(reply_to($a, "mg v1 h t\r\n"), qr/^HD h1 t(?:100|99) Z\r\n\z/, 'the item N made was fetched, and has its TTL');
    like(reply_to($a, "me v1\r\n"), qr/ fetch=yes /, 'me: fetch=yes');
    like(reply_to($a, "mg v1 t T200\r\n"), qr/^HD t(?:100|99) Z\r\n\z/, 'mg: a t before T shows the TTL before it');
    is(reply_to($a, "mg v1 T300 t\r\n"), "HD t300 Z\r\n", 'and after T the new one');
    is(reply_to($a, "ma n1 t N100 J1 v\r\n"), "VA 1 t-1\r\n1\r\n", 'ma N: a t before N shows no TTL');
    is(reply_to($a, "ma n2 N100 t J1 v\r\n"), "VA 1 t100\r\n1\r\n", 'ma N: after N its TTL');
    # A line whose newline is not within 16 KB closes the connection,
    # even when all of it has arrived; a get may be longer.
    my $b = $d->new_sock;
    local $SIG{PIPE} = 'IGNORE';
    print $b "set " . ('z' x 17000) . " 0 0 1\r\nx\r\n";
    is(scalar(<$b>), undef, 'a 17000-byte set line closes the connection');
    $b = $d->new_sock;
    is(reply_to($b, "get " . join(' ', ('zz') x 6000) . "\r\n"), "END\r\n", 'an 18000-byte get line is served');
}

done_testing();
