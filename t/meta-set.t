#!/usr/bin/perl
# Meta set (ms): store modes (M), cas compare (C) and invalidation (I),
# client flags (F), TTL (T), return flags, quiet mode, and the errors on the
# command line and in the data chunk, with what is swallowed after each.
# Expected bytes checked against memcached 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached('-o no_lru_maintainer,no_lru_crawler');
my $sock = $server->sock;

# ---- plain stores and return flags ----

is(meta($sock, "ms a 3\r\nabc\r\n"), "HD\r\n", 'ms: HD');
is(meta($sock, "mg a v f t s\r\n"), "VA 3 f0 t-1 s3\r\nabc\r\n", 'stored with flags 0 and no TTL');
like(meta($sock, "ms a 3 c\r\nxyz\r\n"), qr/^HD c\d+\r\n\z/, 'c: HD c<cas>');
my $cas_a = mg_cas($sock, 'a');
is(meta($sock, "ms a 3 k Oop c\r\nabc\r\n"), "HD ka Oop c" . ($cas_a + 1) . "\r\n",
   'k O c in request order; each store takes the next cas');
is(meta($sock, "ms a 3 c Oop k\r\nabc\r\n"), "HD c" . ($cas_a + 2) . " Oop ka\r\n",
   'c O k in request order');
is(meta($sock, "ms a 0\r\n\r\n"), "HD\r\n", 'ms with datalen 0');
is(meta($sock, "mg a v s\r\n"), "VA 0 s0\r\n\r\n", 'empty value read back');
is(meta($sock, "ms a 1 P L\r\nx\r\n"), "HD\r\n", 'P and L are ignored');
is(meta($sock, "ms a 3\r\nabc\r\nms b 3\r\ndef\r\nmg a v\r\nmg b v\r\n"), "HD\r\n", 'pipelined ms ms mg mg: first');
is(scalar <$sock>, "HD\r\n", 'pipelined: second ms');
is(meta($sock, ''), "VA 3\r\nabc\r\n", 'pipelined: mg a');
is(meta($sock, ''), "VA 3\r\ndef\r\n", 'pipelined: mg b');
{
    my $bin = join('', map { chr } 0 .. 255);
    is(meta($sock, "ms bin 256\r\n$bin\r\n"), "HD\r\n", 'ms of all 256 byte values');
    is(meta($sock, "mg bin v\r\n"), "VA 256\r\n$bin\r\n", 'binary value read back');
    is(meta($sock, "ms crlf 6\r\n\r\n\r\n\r\n\r\n"), "HD\r\n", 'ms of a value made of CRLFs');
    is(meta($sock, "mg crlf v\r\n"), "VA 6\r\n\r\n\r\n\r\n\r\n", 'CRLF value read back');
}

# ---- F: client flags ----

is(meta($sock, "ms f 1 F123\r\nx\r\n"), "HD\r\n", 'ms F123');
is(meta($sock, "mg f f\r\n"), "HD f123\r\n", 'flags 123 stored');
is(meta($sock, "ms f 1 F4294967295\r\nx\r\n"), "HD\r\n", 'ms F4294967295');
is(meta($sock, "mg f f\r\n"), "HD f4294967295\r\n", 'flags 2^32-1 stored');
is(meta($sock, "ms f 1\r\nx\r\n"), "HD\r\n", 'ms without F');
is(meta($sock, "mg f f\r\n"), "HD f0\r\n", 'no F: flags 0 (not the old ones)');
is(meta($sock, "ms f 1 F-1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n", 'F-1: CLIENT_ERROR bad command line format');
is(meta($sock, "ms f 1 Fx\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n", 'F non-numeric: bad command line format');
is(meta($sock, "ms f 1 F\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n", 'F without a token: bad command line format');
is(meta($sock, "mg f f v\r\n"), "VA 1 f0\r\nx\r\n", 'the failed stores left the item alone');

# ---- T: TTL ----

is(meta($sock, "ms t 1 T100\r\nx\r\nmg t t\r\n"), "HD\r\n", 'ms T100');
like(scalar <$sock>, qr/^HD t(?:100|99)\r\n\z/, 'TTL 100 stored');
is(meta($sock, "ms t 1 T0\r\nx\r\n"), "HD\r\n", 'ms T0');
is(meta($sock, "mg t t\r\n"), "HD t-1\r\n", 'T0: no TTL');
is(meta($sock, "ms t 1 T-1\r\nx\r\n"), "HD\r\n", 'ms T-1 answers HD');
is(meta($sock, "mg t\r\n"), "EN\r\n", 'T-1: the item is already expired');
is(meta($sock, "ms t 1 Tx\r\nx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'T non-numeric: bad token');
is(meta($sock, "ms t 1 T\r\nx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'T without a token: bad token');

# ---- M: modes (upper case only) ----

is(meta($sock, "ms m 1 ME\r\n1\r\n"), "HD\r\n", 'ME (add) of a new key: HD');
is(meta($sock, "ms m 1 ME\r\n2\r\n"), "NS\r\n", 'ME of an existing key: NS');
is(meta($sock, "ms m 1 ME c\r\n2\r\n"), "NS c0\r\n", 'NS with c: c0');
is(meta($sock, "ms m 1 MA\r\nA\r\n"), "HD\r\n", 'MA (append): HD');
is(meta($sock, "ms m 1 MP\r\nP\r\n"), "HD\r\n", 'MP (prepend): HD');
is(meta($sock, "mg m v\r\n"), "VA 3\r\nP1A\r\n", 'add, append, prepend: P1A');
is(meta($sock, "ms m 1 MR\r\nR\r\n"), "HD\r\n", 'MR (replace) of an existing key: HD');
is(meta($sock, "mg m v\r\n"), "VA 1\r\nR\r\n", 'replaced');
is(meta($sock, "ms m 1 MS\r\nS\r\n"), "HD\r\n", 'MS (set): HD');
is(meta($sock, "mg m v\r\n"), "VA 1\r\nS\r\n", 'set');
is(meta($sock, "ms nm 1 MR\r\nR\r\n"), "NS\r\n", 'MR of a missing key: NS');
is(meta($sock, "ms nm 1 MA\r\nA\r\n"), "NS\r\n", 'MA of a missing key: NS');
is(meta($sock, "ms nm 1 MP\r\nP\r\n"), "NS\r\n", 'MP of a missing key: NS');
is(meta($sock, "mg nm\r\n"), "EN\r\n", 'nothing was created');
is(meta($sock, "ms m 1 Me\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'Me (lower case): invalid mode');
is(meta($sock, "ms m 1 Ma\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'Ma: invalid mode');
is(meta($sock, "ms m 1 Mp\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'Mp: invalid mode');
is(meta($sock, "ms m 1 Mr\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'Mr: invalid mode');
is(meta($sock, "ms m 1 Ms\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'Ms: invalid mode');
is(meta($sock, "ms m 1 MX\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'MX: invalid mode');
is(meta($sock, "ms m 1 M\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n", 'M without a mode: invalid mode');
is(meta($sock, "mg m v\r\n"), "VA 1\r\nS\r\n", 'the rejected modes stored nothing');
# memcached 1.6.45 reads only the letter after M (1.6.18: incorrect length).
is(meta($sock, "ms m 1 MSS\r\nx\r\n"), "HD\r\n", 'MSS: mode S');
is(meta($sock, "mg m v\r\n"), "VA 1\r\nx\r\n", 'MSS stored as a set');

# Append and prepend keep the flags and TTL of the item they extend.
is(meta($sock, "ms ap 2 F7 T100\r\nab\r\n"), "HD\r\n", 'ms ap with flags 7, TTL 100');
is(meta($sock, "ms ap 2 MA F9 T0\r\ncd\r\n"), "HD\r\n", 'append with F9 T0');
like(meta($sock, "mg ap v f t\r\n"), qr/^VA 4 f7 t(?:100|99)\r\nabcd\r\n\z/, 'append kept flags 7 and the TTL');
is(meta($sock, "ms ap 2 MP\r\nzz\r\n"), "HD\r\n", 'prepend');
like(meta($sock, "mg ap v f\r\n"), qr/^VA 6 f7\r\nzzabcd\r\n\z/, 'prepend kept flags 7');

is(meta($sock, "ms viv 1 MA Nx\r\nx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'N non-numeric: bad token');

# ---- C: compare and swap ----

is(meta($sock, "ms c 1\r\n1\r\n"), "HD\r\n", 'ms c');
my $cas_c = mg_cas($sock, 'c');
is(meta($sock, "ms c 1 C" . ($cas_c + 1000) . "\r\n2\r\n"), "EX\r\n", 'C with a wrong cas: EX');
is(meta($sock, "ms c 1 C" . ($cas_c + 1000) . " c\r\n2\r\n"), "EX c0\r\n", 'EX with c: c0');
# memcached 1.6.45 takes a CAS unique for every ms, the two refused ones
# too: the store gets the third after $cas_c.
is(meta($sock, "ms c 1 C$cas_c c\r\n3\r\n"), "HD c" . ($cas_c + 3) . "\r\n", 'C with the right cas: HD and a new cas');
is(meta($sock, "mg c v\r\n"), "VA 1\r\n3\r\n", 'the cas store went in');
is(meta($sock, "ms c 1 C$cas_c\r\n4\r\n"), "EX\r\n", 'the same cas again: EX');
is(meta($sock, "ms nc 1 C$cas_c\r\n4\r\n"), "NF\r\n", 'C on a missing key: NF');
is(meta($sock, "ms nc 1 C$cas_c c\r\n4\r\n"), "NF c0\r\n", 'NF with c: c0');
is(meta($sock, "ms c 1 C$cas_c k Oo\r\n4\r\n"), "EX kc Oo\r\n", 'EX with k O: echoed');
is(meta($sock, "ms nc 1 C$cas_c k Oo\r\n4\r\n"), "NF knc Oo\r\n", 'NF with k O: echoed');
is(meta($sock, "ms c 1 ME Oo k\r\n4\r\n"), "NS Oo kc\r\n", 'NS with O k: echoed in order');
is(meta($sock, "ms c 1 MA C1\r\nz\r\n"), "EX\r\n", 'append with a wrong cas: EX');
is(meta($sock, "ms nosuch 1 MA C1\r\nz\r\n"), "NS\r\n", 'append with a cas to a missing key: NS');
is(meta($sock, "ms nosuch 1 MP C1\r\nz\r\n"), "NS\r\n", 'prepend with a cas to a missing key: NS');
is(meta($sock, "ms c 1 Cx\r\nz\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'C non-numeric: bad token');

# ---- I: invalidate with a stale cas ----

is(meta($sock, "ms i 1 T100\r\n1\r\n"), "HD\r\n", 'ms i with TTL 100');
my $cas_i = mg_cas($sock, 'i');
is(meta($sock, "ms i 1 c\r\n2\r\n"), "HD c" . ($cas_i + 1) . "\r\n", 'ms i again (the cas moves on, TTL gone)');
is(meta($sock, "ms i 1 T100 c\r\n2\r\n"), "HD c" . ($cas_i + 2) . "\r\n", 'ms i with TTL 100 again');
is(meta($sock, "ms i 1 I C$cas_i T0 c\r\n3\r\n"), "HD c" . ($cas_i + 3) . "\r\n",
   'I with an older cas: stored, HD with a new cas');
like(meta($sock, "mg i v t\r\n"), qr/^VA 1 t(?:100|99) X W\r\n3\r\n\z/,
   'the I store is stale (X W) and kept the old TTL, not T0');
is(meta($sock, "mg i v\r\n"), "VA 1 Z X\r\n3\r\n", 'next mg: Z X');
is(meta($sock, "ms i 1 I C$cas_i\r\n4\r\n"), "HD\r\n", 'I with an older cas on a stale item');
is(meta($sock, "mg i v\r\n"), "VA 1 Z X\r\n4\r\n", 'still stale, and the win already handed out stays (Z)');
is(meta($sock, "ms i 1 I C" . ($cas_i + 1000) . "\r\n5\r\n"), "EX\r\n", 'I with a newer cas: EX');
is(meta($sock, "ms i 1 I\r\n6\r\n"), "HD\r\n", 'I without C: a plain set');
is(meta($sock, "mg i v\r\n"), "VA 1\r\n6\r\n", 'the plain set cleared the stale state');
my $cas_i2 = mg_cas($sock, 'i');
is(meta($sock, "ms i 1 I C$cas_i2\r\n7\r\n"), "HD\r\n", 'I with the current cas: a plain cas store');
is(meta($sock, "mg i v\r\n"), "VA 1\r\n7\r\n", 'not stale');
is(meta($sock, "ms ni 1 I C1\r\n1\r\n"), "NF\r\n", 'I with C on a missing key: NF');
# Only a set or a replace can store stale: an append with I and an older
# cas is a cas mismatch, an add with a cas is a plain add.
is(meta($sock, "ms i 1 MA I C$cas_i\r\n8\r\n"), "EX\r\n", 'MA with I and an older cas: EX');
is(meta($sock, "ms i 1 ME I C$cas_i\r\n8\r\n"), "NS\r\n", 'ME with I and an older cas: NS');
is(meta($sock, "mg i v\r\n"), "VA 1\r\n7\r\n", 'neither touched the item');
is(meta($sock, "ms ni 1 ME C5\r\n1\r\n"), "HD\r\n", 'ME with C on a missing key: stored');

# ---- q: suppresses HD only ----

print $sock "ms q 1 q\r\n1\r\nms q 1 q MA\r\n2\r\nmn\r\n";
is(scalar <$sock>, "MN\r\n", 'ms q stores send nothing: the next reply is MN');
is(meta($sock, "mg q v\r\n"), "VA 2\r\n12\r\n", 'both quiet stores went in');
is(meta($sock, "ms q 1 q ME\r\nx\r\n"), "NS\r\n", 'q does not hide NS');
is(meta($sock, "ms q 1 q C1\r\nx\r\n"), "EX\r\n", 'q does not hide EX');
is(meta($sock, "ms nq 1 q C1\r\nx\r\n"), "NF\r\n", 'q does not hide NF');
is(meta($sock, "ms q 1 q k Oa c\r\nx\r\nmn\r\n"), "MN\r\n", 'q hides HD even with return flags');

# ---- base64 keys ----

like(meta($sock, "ms YWJj 1 b k c Oz\r\nX\r\n"), qr/^HD kYWJj b c\d+ Oz\r\n\z/,
   'ms b k: the key comes back in base64, followed by b');
is(meta($sock, "mg abc v\r\n"), "VA 1\r\nX\r\n", 'the item is stored under the decoded key');
is(meta($sock, "ms abc 3 b\r\nxyz\r\n"), "CLIENT_ERROR error decoding key\r\n", 'b with an undecodable key: error decoding key');
my $b252 = 'eHh4' x 63;
is(meta($sock, "ms $b252 2 b\r\nmn\r\nmn\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'b with a 252-char key: too long before decoding');
is(scalar <$sock>, "MN\r\n", 'key too long: the data line is swallowed (1.6.45), the next command runs');

# ---- command line errors ----

my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
is(meta($sock, "ms $k250 1\r\nx\r\n"), "HD\r\n", 'ms with a 250-byte key');
is(meta($sock, "ms\r\n"), "CLIENT_ERROR bad command line format\r\n", 'ms without a key: bad command line format');
is(meta($sock, "ms a +1\r\nmn\r\n"), "CLIENT_ERROR bad command line format\r\n", 'datalen with a +');
is(scalar <$sock>, "MN\r\n", 'bad datalen: nothing swallowed');
is(meta($sock, "ms a\r\n"), "CLIENT_ERROR bad command line format\r\n", 'ms without datalen: bad command line format');
is(meta($sock, "ms a x\r\nmn\r\n"), "CLIENT_ERROR bad command line format\r\n", 'non-numeric datalen');
is(scalar <$sock>, "MN\r\n", 'bad datalen: nothing swallowed');
is(meta($sock, "ms a -1\r\n"), "CLIENT_ERROR bad command line format\r\n", 'negative datalen');
is(meta($sock, "ms a 1x\r\n"), "CLIENT_ERROR bad command line format\r\n", 'datalen with trailing junk');
is(meta($sock, "ms a 18446744073709551616\r\n"), "CLIENT_ERROR bad command line format\r\n", 'datalen above 2^64');
is(meta($sock, "ms $k251 2\r\nmn\r\nmn\r\n"), "CLIENT_ERROR bad command line format\r\n", '251-byte key');
is(scalar <$sock>, "MN\r\n", 'key too long: the data line is swallowed (1.6.45), the next command runs');
# A flag that starts with neither a letter nor a digit is a bad command
# line (1.6.45): the datalen is not used, the data line is a command.
is(meta($sock, "ms a 2 !\r\nmn\r\nmn\r\n"), "CLIENT_ERROR bad command line format\r\n", 'ms with flag !');
is(scalar <$sock>, "MN\r\n", 'flag !: the data line is read as a command');
is(scalar <$sock>, "MN\r\n", 'and the next command runs');
is(meta($sock, "ms mee 2 MEE\r\nzz\r\n"), "HD\r\n", 'MEE: only the E counts (1.6.45), an add');

# Errors found after the datalen swallow <datalen>+2 bytes: here "mn\r\n".
my @swallowed = (
    ['Z',        'CLIENT_ERROR invalid flag',                      'unknown flag'],
    ['P P',      'CLIENT_ERROR duplicate flag',                    'P twice'],
    ['k k',      'CLIENT_ERROR duplicate flag',                    'duplicate flag'],
    ['Tx',       'CLIENT_ERROR bad token in command line format',  'bad T'],
    ['Fx',       'CLIENT_ERROR bad command line format',           'bad F'],
    ['MX',       'CLIENT_ERROR invalid mode for ms M token',       'bad mode'],
    ['O' . ('o' x 32), 'CLIENT_ERROR opaque token too long',       'opaque of 33 bytes'],
    ['b',        'CLIENT_ERROR error decoding key',                'undecodable key'],
);
for my $case (@swallowed) {
    my ($flags, $err, $what) = @$case;
    is(meta($sock, "ms a 2 $flags\r\nmn\r\nmn\r\n"), "$err\r\n", "ms with $what: $err");
    is(scalar <$sock>, "MN\r\n", "ms with $what: the data block was swallowed");
}
is(meta($sock, "ms a 2 O" . ('o' x 31) . "\r\nmn\r\n"), "HD O" . ('o' x 31) . "\r\n", 'ms with an opaque of 32 bytes: echoed');
is(meta($sock, "ms a 2 q Z\r\nmn\r\nmn\r\n"), "CLIENT_ERROR invalid flag\r\n", 'errors are sent with q');
is(scalar <$sock>, "MN\r\n", 'and the data is swallowed');

# ---- data chunk errors ----

is(meta($sock, "ms dc 3\r\nabc\r\n"), "HD\r\n", 'ms dc');
is(meta($sock, "ms dc 3\r\nabcd\r\n"), "CLIENT_ERROR bad data chunk\r\n", 'data longer than datalen: bad data chunk');
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'the byte after the chunk (LF) is a line too short: CLIENT_ERROR');
is(meta($sock, "mg dc v\r\n"), "VA 3\r\nabc\r\n", 'a bad data chunk leaves the old item alone');
is(meta($sock, "ms dc 3\r\nab\r\n\r\n"), "CLIENT_ERROR bad data chunk\r\n", 'data shorter than datalen: bad data chunk');
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'the leftover LF: CLIENT_ERROR');
is(meta($sock, "ms dc 3\r\nabcXYmn\r\n"), "CLIENT_ERROR bad data chunk\r\n", 'no CRLF after the data: bad data chunk');
is(scalar <$sock>, "MN\r\n", 'what follows the datalen+2 bytes is the next command: MN');
is(meta($sock, "ms dc 3\r\nabc\n\r\n"), "CLIENT_ERROR bad data chunk\r\n", 'LF alone after the data: bad data chunk');
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n", 'the leftover LF: CLIENT_ERROR');
is(meta($sock, "mn\r\n"), "MN\r\n", 'connection in step after the data chunk errors');

# ---- too large ----

{
    my $big = 'x' x (1024 * 1024 + 1);
    is(meta($sock, "ms big " . length($big) . "\r\n$big\r\nmn\r\n"), "SERVER_ERROR object too large for cache\r\n",
       'ms of 1 MB + 1: SERVER_ERROR object too large for cache');
    is(scalar <$sock>, "MN\r\n", 'the too-large data was swallowed');
    is(meta($sock, "ms big " . length($big) . " q k Oa\r\n$big\r\nmn\r\n"), "SERVER_ERROR object too large for cache\r\n",
       'too large with q k O: the bare error');
    is(scalar <$sock>, "MN\r\n", 'swallowed again');
    is(meta($sock, "mg big\r\n"), "EN\r\n", 'nothing stored');
    my $ok = 'y' x (512 * 1024);
    is(meta($sock, "ms big " . length($ok) . "\r\n$ok\r\n"), "HD\r\n", 'ms of 512 KB: HD');
    is(meta($sock, "ms big " . length($big) . "\r\n$big\r\n"), "SERVER_ERROR object too large for cache\r\n",
       'too large over an existing key');
    is(meta($sock, "mg big s\r\n"), "EN\r\n", 'the failed store removed the old item');
}

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(meta($sock, "ms tt 1 T100\r\nx\r\n"), "HD\r\n", 'ms tt with TTL 100');
    is(meta($sock, "ms tt2 1 T10\r\nx\r\n"), "HD\r\n", 'ms tt2 with TTL 10');
    is(meta($sock, "ms tt2 1 MA\r\ny\r\n"), "HD\r\n", 'append to tt2');
    is(send_recv($sock, "debugtime 50\r\n"), "OK\r\n", 'clock +50s');
    is(meta($sock, "mg tt v\r\n"), "VA 1\r\nx\r\n", 'TTL 100: still there after 50s');
    is(meta($sock, "mg tt2 v\r\n"), "EN\r\n", 'append kept TTL 10: gone after 50s');
    is(meta($sock, "ms tt 1 ME\r\nz\r\n"), "NS\r\n", 'ME on a live item: NS');
    is(send_recv($sock, "debugtime 52\r\n"), "OK\r\n", 'clock +52s');
    is(meta($sock, "mg tt v\r\n"), "EN\r\n", 'TTL 100: gone after 102s');
    is(meta($sock, "ms tt 1 ME\r\nz\r\n"), "HD\r\n", 'ME on an expired item: HD');
    is(meta($sock, "ms tt 1 MR\r\nr\r\nms tt3 1 MR\r\nr\r\n"), "HD\r\n", 'MR on the new item: HD');
    is(scalar <$sock>, "NS\r\n", 'MR on a never-stored key: NS');
}

done_testing();
