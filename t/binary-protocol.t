#!/usr/bin/perl
# The binary protocol (memcached's protocol_binary.h), byte for byte as
# memcached 1.6.45 answers it: every opcode it serves, status codes and
# error bodies, CAS in requests and replies, quiet commands, and the
# errors that close the connection. Run against memcached itself with
# MEMCACHED_BIN=/path/to/memcached prove t/binary-protocol.t; the few
# checks where we differ on purpose run only against our server.
use strict;
use warnings;
use Test::More;
use IO::Select;
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';

my %OP = (get => 0x00, set => 0x01, add => 0x02, replace => 0x03,
          delete => 0x04, incr => 0x05, decr => 0x06, quit => 0x07,
          flush => 0x08, getq => 0x09, noop => 0x0a, version => 0x0b,
          getk => 0x0c, getkq => 0x0d, append => 0x0e, prepend => 0x0f,
          stat => 0x10, setq => 0x11, addq => 0x12, replaceq => 0x13,
          deleteq => 0x14, incrq => 0x15, decrq => 0x16, quitq => 0x17,
          flushq => 0x18, appendq => 0x19, prependq => 0x1a,
          verbosity => 0x1b, touch => 0x1c, gat => 0x1d, gatq => 0x1e,
          sasl_list => 0x20, sasl_auth => 0x21, sasl_step => 0x22,
          gatk => 0x23, gatkq => 0x24);

my $opaque = 0x10000;

# A request: magic 0x80, opcode, key length, extras length, data type 0,
# vbucket 0, body length, opaque, CAS; then extras, key, value.
sub req {
    my ($op, %a) = @_;
    my ($key, $ext, $val) = map { $_ // '' } @a{qw(key ext val)};
    return pack('CCnCCnNNQ>', 0x80, $OP{$op}, length $key, length $ext, 0, 0,
                length($ext) + length($key) + length($val),
                $a{opaque} // ++$opaque, $a{cas} // 0) . $ext . $key . $val;
}

# The reply memcached sends: magic 0x81, the request's opcode, key length,
# extras length, data type 0, status, body length, the request's opaque,
# CAS; then extras, key, value.
sub res {
    my ($op, %a) = @_;
    my ($key, $ext, $val) = map { $_ // '' } @a{qw(key ext val)};
    return pack('CCnCCnNNQ>', 0x81, $OP{$op}, length $key, length $ext, 0,
                $a{status} // 0, length($ext) + length($key) + length($val),
                $a{opaque} // $opaque, $a{cas} // 0) . $ext . $key . $val;
}

# Reads one reply; returns its bytes ('' on EOF) and its fields.
sub read_res {
    my $sock = shift;
    my $hdr = read_reply($sock, 24);
    return ('') if length $hdr < 24;
    my ($magic, $op, $kl, $el, $dt, $status, $bl, $opq, $cas) =
        unpack('CCnCCnNNQ>', $hdr);
    my $body = read_reply($sock, $bl);
    my %f = (magic => $magic, opcode => $op, status => $status, cas => $cas,
             opaque => $opq, ext => substr($body, 0, $el),
             key => substr($body, $el, $kl), val => substr($body, $el + $kl));
    return ($hdr . $body, \%f);
}

# Sends a request and compares its one reply with the expected bytes;
# returns the reply's fields.
sub rt {
    my ($sock, $req, $want, $name) = @_;
    print $sock $req;
    my ($got, $f) = read_res($sock);
    is(unpack('H*', $got), unpack('H*', $want), $name);
    return $f;
}

# True if the peer closes within a few seconds without sending anything.
sub closed_quietly {
    my $sock = shift;
    return 0 unless IO::Select->new($sock)->can_read(5);
    my $n = sysread($sock, my $buf, 100);
    return defined $n && $n == 0 ? 1 : "got " . unpack('H*', $buf // '');
}

my $flags = pack('N', 0xdeadbeef);
my $setx = $flags . pack('N', 0);    # set extras: flags, exptime
my $server = new_memcached('-m 64');
my $sock = $server->sock;

# ---- noop, version, misses ----
rt($sock, req('noop'), res('noop'), 'noop');
{
    print $sock req('version');
    my ($got, $f) = read_res($sock);
    like($f->{val}, qr/^1\.6\.\d+$/, 'version: body is the version number');
    is($f->{status}, 0, 'version: success');
}
rt($sock, req('get', key => 'foo'), res('get', status => 1, val => 'Not found'),
   'get miss: Not found');
rt($sock, req('getk', key => 'foo'), res('getk', status => 1, key => 'foo'),
   'getk miss: the key, no body text');
rt($sock, req('touch', key => 'foo', ext => pack('N', 10)),
   res('touch', status => 1, val => 'Not found'), 'touch miss');
rt($sock, req('gat', key => 'foo', ext => pack('N', 10)),
   res('gat', status => 1, val => 'Not found'), 'gat miss');
rt($sock, req('gatk', key => 'foo', ext => pack('N', 10)),
   res('gatk', status => 1, key => 'foo'), 'gatk miss: the key');
{
    my $q = req('getq', key => 'foo') . req('getkq', key => 'foo')
          . req('gatq', key => 'foo', ext => pack('N', 0))
          . req('gatkq', key => 'foo', ext => pack('N', 0));
    rt($sock, $q . req('noop'), res('noop'), 'quiet misses send nothing; noop answers');
}

# ---- set, get, CAS ----
# The CAS is the server's to choose: read it back, then compare whole bytes.
print $sock req('set', key => 'foo', ext => $setx, val => 'bar');
my (undef, $sf) = read_res($sock);
my $cas = $sf->{cas};
ok($cas > 0, 'set: the reply carries the new CAS');
rt($sock, req('get', key => 'foo'), res('get', ext => $flags, val => 'bar', cas => $cas),
   'get hit: flags, value, CAS');
rt($sock, req('getk', key => 'foo'),
   res('getk', ext => $flags, key => 'foo', val => 'bar', cas => $cas),
   'getk hit: flags, key, value');
rt($sock, req('getq', key => 'foo') . req('noop'),
   res('getq', ext => $flags, val => 'bar', cas => $cas, opaque => $opaque - 1),
   'getq hit is sent');
read_res($sock);    # the noop
rt($sock, req('add', key => 'foo', ext => $setx, val => 'x'),
   res('add', status => 2, val => 'Data exists for key.'), 'add of an existing key');
rt($sock, req('replace', key => 'nope', ext => $setx, val => 'x'),
   res('replace', status => 1, val => 'Not found'), 'replace of a missing key');
rt($sock, req('set', key => 'foo', ext => $setx, val => 'x', cas => $cas + 1000),
   res('set', status => 2, val => 'Data exists for key.'), 'set with a wrong CAS');
rt($sock, req('set', key => 'nope', ext => $setx, val => 'x', cas => 5),
   res('set', status => 1, val => 'Not found'), 'set with a CAS on a missing key');
print $sock req('set', key => 'foo', ext => $setx, val => 'baz', cas => $cas);
(undef, $sf) = read_res($sock);
is($sf->{status}, 0, 'set with the right CAS succeeds');
ok($sf->{cas} > $cas, 'and the item has a new CAS');
$cas = $sf->{cas};

# ---- append, prepend ----
rt($sock, req('append', key => 'nope', val => 'x'),
   res('append', status => 5, val => 'Not stored.'), 'append to a missing key');
rt($sock, req('prepend', key => 'nope', val => 'x'),
   res('prepend', status => 5, val => 'Not stored.'), 'prepend to a missing key');
rt($sock, req('append', key => 'foo', val => '!', cas => $cas + 1000),
   res('append', status => 2, val => 'Data exists for key.'), 'append with a wrong CAS');
print $sock req('append', key => 'foo', val => '!') . req('prepend', key => 'foo', val => '<');
read_res($sock);
(undef, $sf) = read_res($sock);
rt($sock, req('get', key => 'foo'),
   res('get', ext => $flags, val => '<baz!', cas => $sf->{cas}),
   'append and prepend join values; flags kept');

# ---- delete ----
rt($sock, req('delete', key => 'nope'), res('delete', status => 1, val => 'Not found'),
   'delete miss');
rt($sock, req('delete', key => 'foo', cas => 1), res('delete', status => 2,
   val => 'Data exists for key.'), 'delete with a wrong CAS');
rt($sock, req('delete', key => 'foo', cas => $sf->{cas}), res('delete'),
   'delete with the right CAS');
rt($sock, req('deleteq', key => 'foo'), res('deleteq', status => 1, val => 'Not found'),
   'deleteq still sends its error');

# ---- incr, decr ----
sub arith_ext { pack('Q>Q>N', @_) }
rt($sock, req('incr', key => 'n', ext => arith_ext(1, 10, 0xffffffff)),
   res('incr', status => 1, val => 'Not found'), 'incr miss with expiry 0xffffffff');
print $sock req('incr', key => 'n', ext => arith_ext(1, 10, 0));
(undef, $sf) = read_res($sock);
is(unpack('H*', $sf->{val}), unpack('H*', pack('Q>', 10)), 'incr miss creates the initial value');
ok($sf->{cas} > 0, 'with a CAS');
rt($sock, req('get', key => 'n'), res('get', ext => pack('N', 0), val => '10', cas => $sf->{cas}),
   'the created item reads back as text');
print $sock req('incr', key => 'n', ext => arith_ext(5, 0, 0));
(undef, $sf) = read_res($sock);
is(unpack('H*', $sf->{val}), unpack('H*', pack('Q>', 15)), 'incr 5');
rt($sock, req('decr', key => 'n', ext => arith_ext(100, 0, 0), cas => $sf->{cas} + 1000),
   res('decr', status => 2, val => 'Data exists for key.'), 'decr with a wrong CAS');
print $sock req('decr', key => 'n', ext => arith_ext(100, 0, 0), cas => $sf->{cas});
(undef, $sf) = read_res($sock);
is(unpack('H*', $sf->{val}), unpack('H*', pack('Q>', 0)), 'decr stops at 0');
rt($sock, req('incrq', key => 'n', ext => arith_ext(7, 0, 0)) . req('noop'), res('noop'),
   'incrq sends nothing');
{
    my $c = read_cas($sock, 'n');
    # As for text incr: a shorter number is written in place, space padded.
    rt($sock, req('get', key => 'n'), res('get', ext => pack('N', 0), val => '7 ', cas => $c),
       'incrq was applied');
}
print $sock req('set', key => 'txt', ext => $setx, val => 'abc');
read_res($sock);
rt($sock, req('incr', key => 'txt', ext => arith_ext(1, 0, 0)),
   res('incr', status => 6, val => 'Non-numeric server-side value for incr or decr'),
   'incr of a non-number');

sub read_cas {
    my ($s, $key) = @_;
    print $s req('get', key => $key);
    my (undef, $g) = read_res($s);
    $opaque++;
    return $g->{cas};
}

# ---- touch, gat ----
my $tcas = read_cas($sock, 'txt');
rt($sock, req('touch', key => 'txt', ext => pack('N', 100)),
   res('touch', ext => $flags, cas => $tcas), 'touch hit: flags, no value');
rt($sock, req('gat', key => 'txt', ext => pack('N', 100)),
   res('gat', ext => $flags, val => 'abc', cas => $tcas), 'gat hit');
rt($sock, req('gatk', key => 'txt', ext => pack('N', 100)),
   res('gatk', ext => $flags, key => 'txt', val => 'abc', cas => $tcas), 'gatk hit');
rt($sock, req('gatkq', key => 'txt', ext => pack('N', 100)),
   res('gatkq', ext => $flags, key => 'txt', val => 'abc', cas => $tcas), 'gatkq hit is sent');

# ---- quiet stores, pipelined ----
{
    my $batch = req('setq', key => 'q1', ext => $setx, val => 'one')
              . req('addq', key => 'q1', ext => $setx, val => 'two')
              . req('replaceq', key => 'q2', ext => $setx, val => 'x')
              . req('appendq', key => 'q1', val => '+')
              . req('noop');
    my $o = $opaque;
    print $sock $batch;
    my @want = (res('addq', status => 2, val => 'Data exists for key.', opaque => $o - 3),
                res('replaceq', status => 1, val => 'Not found', opaque => $o - 2),
                res('noop', opaque => $o));
    for my $i (0 .. 2) {
        my ($got) = read_res($sock);
        is(unpack('H*', $got), unpack('H*', $want[$i]), "quiet batch reply $i: only errors and noop");
    }
    my $c = read_cas($sock, 'q1');
    rt($sock, req('get', key => 'q1'), res('get', ext => $flags, val => 'one+', cas => $c),
       'the quiet stores were applied');
}

# ---- a request sent one byte at a time ----
{
    my $r = req('set', key => 'slow', ext => $setx, val => 'value');
    for my $b (split //, $r) { print $sock $b; select(undef, undef, undef, 0.002); }
    my ($got, $g) = read_res($sock);
    is($g->{status}, 0, 'a request split into single bytes is served');
}

# ---- flush ----
rt($sock, req('flush'), res('flush'), 'flush');
rt($sock, req('get', key => 'q1'), res('get', status => 1, val => 'Not found'),
   'flush: items are gone');
print $sock req('set', key => 'later', ext => $setx, val => 'v');
read_res($sock);
rt($sock, req('flushq', ext => pack('N', 0)) . req('noop'), res('noop'), 'flushq with extras is quiet');

# ---- stat ----
{
    my $o = $opaque + 1;
    print $sock req('stat');
    my %st;
    while (1) {
        my ($got, $g) = read_res($sock);
        last if $got eq '' or $g->{key} eq '';
        $st{$g->{key}} = $g->{val};
        is($g->{opaque}, $o, 'stat replies echo the opaque') if $g->{key} eq 'pid';
    }
    is($st{pid}, $server->pid, 'stat: pid');
    ok(exists $st{curr_items} && exists $st{get_misses}, 'stat: the general group');
    is($st{get_misses}, 5, 'stat: get misses counted as on the text protocol');
}
for my $g (['settings', 'maxconns'], ['items', undef], ['slabs', 'total_malloced'],
           ['sizes', 'sizes_status']) {
    my ($group, $must) = @$g;
    print $sock req('stat', key => $group);
    my (%st, $last);
    while (1) {
        my ($got, $r) = read_res($sock);
        $last = $got;
        last if $got eq '' or $r->{key} eq '';
        $st{$r->{key}} = $r->{val};
    }
    is(unpack('H*', $last), unpack('H*', res('stat')), "stat $group ends with an empty reply");
    ok(exists $st{$must}, "stat $group has $must") if $must;
}
rt($sock, req('stat', key => 'reset'), res('stat'), 'stat reset: only the end reply');
rt($sock, req('stat', key => 'conns'), res('stat', status => 1, val => 'Not found'),
   'stat conns: not a binary group');
rt($sock, req('stat', key => 'bogus'), res('stat', status => 1, val => 'Not found'),
   'stat of an unknown group');
rt($sock, req('stat', key => 'detail on'), res('stat'), 'stat detail on');
rt($sock, req('stat', key => 'detail off'), res('stat'), 'stat detail off');

# ---- unknown and SASL opcodes ----
rt($sock, req('verbosity'), res('verbosity', status => 0x81, val => 'Unknown command'),
   'verbosity is not a binary command in 1.6');
rt($sock, req('sasl_list'), res('sasl_list', status => 0x81, val => 'Unknown command'),
   'SASL list mechs: Unknown command (no SASL)');
rt($sock, req('sasl_auth', key => 'PLAIN', val => "\0user\0pass"),
   res('sasl_auth', status => 0x81, val => 'Unknown command'),
   'SASL auth: Unknown command, its data dropped');
rt($sock, req('sasl_step', key => 'PLAIN', val => "xy"),
   res('sasl_step', status => 0x81, val => 'Unknown command'), 'SASL step: Unknown command');
rt($sock, req('noop'), res('noop'), 'the connection is in step after them');
if (is_ours()) {
    # memcached drops the whole body length again after the extras it
    # already read, eating 4 bytes of the next request.
    rt($sock, req('verbosity', ext => pack('N', 1)) . req('noop'),
       res('verbosity', status => 0x81, val => 'Unknown command', opaque => $opaque - 1),
       'an unknown opcode with extras');
    rt($sock, '', res('noop'), 'is dropped whole: the next request is read');
}

# ---- too large, with the value swallowed ----
{
    my $s = $server->new_sock;
    my $big = 'x' x (1024 * 1024 + 1);
    rt($s, req('set', key => 'big', ext => $setx, val => $big),
       res('set', status => 3, val => 'Too large.'), 'a value over -I: Too large.');
    rt($s, req('noop'), res('noop'), 'and its bytes were dropped');
    my $v = join('', map { chr(65 + $_ % 26) } 0 .. 600_000);
    print $s req('set', key => 'large', ext => $setx, val => $v);
    my (undef, $g) = read_res($s);
    rt($s, req('get', key => 'large'), res('get', ext => $flags, val => $v, cas => $g->{cas}),
       'a 600 kB value round trip');
}

# ---- -M: out of memory, the value swallowed ----
{
    my $srv = new_memcached('-M -m 8');
    my $s = $srv->sock;
    my ($got, $g);
    for my $i (1 .. 2000) {
        print $s req('set', key => "k$i", ext => $setx, val => 'x' x 50_000);
        ($got, $g) = read_res($s);
        last if $g->{status} != 0;
    }
    is(unpack('H*', $got), unpack('H*', res('set', status => 0x82,
       val => 'Out of memory allocating item')), '-M: a set that finds no memory');
    rt($s, req('noop'), res('noop'), 'and its value was dropped');
}

# ---- quit ----
{
    my $s = $server->new_sock;
    rt($s, req('quit'), res('quit'), 'quit answers');
    is(closed_quietly($s), 1, 'then closes');
    $s = $server->new_sock;
    print $s req('quitq');
    is(closed_quietly($s), 1, 'quitq closes without a word');
}

# ---- errors that close the connection ----
{
    my $s = $server->new_sock;
    rt($s, req('get', key => 'foo', ext => 'abcd'),
       res('get', status => 4, val => 'Invalid arguments'), 'get with extras: Invalid arguments');
    is(closed_quietly($s), 1, 'and the connection is closed');
    $s = $server->new_sock;
    rt($s, req('get', key => 'k' x 251), res('get', status => 4, val => 'Invalid arguments'),
       'a 251-byte key: Invalid arguments');
    is(closed_quietly($s), 1, 'and the connection is closed');
    $s = $server->new_sock;
    print $s pack('CCnCCnNNQ>', 0x80, 0x00, 10, 0, 0, 0, 5, 77, 0) . 'k' x 10;
    my ($got) = read_res($s);
    is(unpack('H*', $got), unpack('H*', pack('CCnCCnNNQ>', 0x81, 0, 0, 0, 0, 0x81, 15, 77, 0)
       . 'Unknown command'), 'key longer than the body: Unknown command');
    is(closed_quietly($s), 1, 'and the connection is closed');
    $s = $server->new_sock;
    print $s req('noop') . "\x81junk" . ('.' x 19);
    ($got) = read_res($s);
    is(unpack('H*', $got), unpack('H*', res('noop', opaque => $opaque)), 'noop before a bad magic');
    is(closed_quietly($s), 1, 'a bad magic closes without a reply');
}
ok($server->is_running, 'the server survived all that');

# ---- -F: flush refused ----
{
    my $srv = new_memcached('-F');
    rt($srv->sock, req('flush'), res('flush', status => 0x20, val => 'Auth failure.'),
       '-F: flush answers Auth failure.');
}

# ---- -B binary refuses text, -B ascii reads binary bytes as text ----
{
    my $srv = new_memcached('-B binary');
    my $s = $srv->sock;
    # A header's worth of bytes is awaited before the magic is looked at.
    print $s "version\r\n" x 3;
    is(closed_quietly($s), 1, '-B binary: text commands close the connection');
    rt($srv->new_sock, req('noop'), res('noop'), '-B binary: binary served');
    $srv = new_memcached('-B ascii');
    $s = $srv->sock;
    print $s req('noop') . "\r\n";
    # (1.6.18 answers ERROR, 1.6.45 CLIENT_ERROR bad command line format.)
    like(scalar <$s>, qr/^(ERROR|CLIENT_ERROR bad command line format)\r\n\z/,
         '-B ascii: binary bytes are a bad text line');
}

# ---- unix socket ----
{
    my $srv = new_memcached('', unix => 1);
    my $s = $srv->sock;
    print $s req('set', key => 'u', ext => $setx, val => 'unix');
    my (undef, $g) = read_res($s);
    is($g->{status}, 0, 'unix socket: set');
    rt($s, req('get', key => 'u'), res('get', ext => $flags, val => 'unix', cas => $g->{cas}),
       'unix socket: get');
}

# ---- UDP: the frame header, then a binary request ----
{
    my $srv = new_memcached('', udp => 1);
    my $s = $srv->sock;
    print $s req('set', key => 'udp', ext => $setx, val => 'dgram');
    my (undef, $g) = read_res($s);
    my $u = $srv->new_udp_sock;
    my $frame = pack('nnnn', 0x1234, 0, 1, 0);
    $u->send($frame . req('get', key => 'udp') . req('getq', key => 'none')
             . req('getk', key => 'udp'));
    my $o = $opaque;
    ok(IO::Select->new($u)->can_read(5), 'UDP: a reply comes');
    $u->recv(my $dgram, 2000);
    is(unpack('H*', $dgram), unpack('H*', pack('nnnn', 0x1234, 0, 1, 0)
       . res('get', ext => $flags, val => 'dgram', cas => $g->{cas}, opaque => $o - 2)
       . res('getk', ext => $flags, key => 'udp', val => 'dgram', cas => $g->{cas}, opaque => $o)),
       'UDP: binary replies after the frame header') if is_ours();
    like(unpack('H*', $dgram), qr/^12340000000100008100/, 'UDP: framed binary reply');
}

# ---- found comparing replies with memcached 1.6.45 (tools/difftest) ----
{
    my $srv = new_memcached('');
    my $s = $srv->sock;
    # An error reply is written before the next request is read: a bad
    # magic byte after it closes the connection, but the error arrives.
    print $s req('get', key => 'nope') . 'set k 0 0 1' . ("\r\n" x 8);
    my ($got) = read_res($s);
    is(unpack('H*', $got), unpack('H*', res('get', status => 1, val => 'Not found')),
       'an error reply before a bad magic is sent');
    is(closed_quietly($s), 1, 'then the connection closes');
    # incr creating an item whose expiry is already past (an absolute time
    # before the server started): the reply still carries the CAS unique
    # the item was linked with (here the first: 2).
    $s = $srv->new_sock;
    rt($s, req('incr', key => 'past', ext => arith_ext(1, 10, 2592001)),
       res('incr', val => pack('Q>', 10), cas => 2), 'incr creating an expired item: its CAS');
    rt($s, req('get', key => 'past'), res('get', status => 1, val => 'Not found'),
       'which is gone');
    # A flush takes no CAS unique: the next store gets 3.
    rt($s, req('flush'), res('flush'), 'flush');
    rt($s, req('set', key => 'a', ext => $setx, val => 'x'), res('set', cas => 3),
       'the store after a flush: the next CAS unique');
}

done_testing();
