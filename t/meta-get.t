#!/usr/bin/perl
# Meta get (mg): every flag on a hit and on a miss, return flags in request
# order, quiet mode, the stampede flags (N vivify, R recache, W/X/Z) seen
# from two connections, base64 keys, opaque tokens and the error strings.
# Expected bytes checked against memcached 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached('-o no_lru_maintainer,no_lru_crawler');
my $sock = $server->sock;

# ---- hit and miss, with and without v ----

is(meta($sock, "mg foo\r\n"), "EN\r\n", 'mg miss: EN');
is(meta($sock, "mg foo v\r\n"), "EN\r\n", 'mg v miss: EN');
is(meta($sock, "ms foo 3 F5\r\nbar\r\n"), "HD\r\n", 'ms foo');
is(meta($sock, "mg foo\r\n"), "HD\r\n", 'mg hit without v: HD and nothing else');
is(meta($sock, "mg foo v\r\n"), "VA 3\r\nbar\r\n", 'mg v hit: VA <len>, then the data block');
is(meta($sock, "mg foo  v \r\n"), "VA 3\r\nbar\r\n", 'mg with extra spaces between and after flags');
is(meta($sock, "mg foo v\n"), "VA 3\r\nbar\r\n", 'mg ended by a bare LF');
my $cas_foo = mg_cas($sock, 'foo');
ok(defined $cas_foo, 'mg c returns a cas unique');

# ---- each return flag on a hit ----

is(meta($sock, "mg foo s\r\n"), "HD s3\r\n", 's: value size');
is(meta($sock, "mg foo f\r\n"), "HD f5\r\n", 'f: client flags');
is(meta($sock, "mg foo t\r\n"), "HD t-1\r\n", 't: -1 for an item without TTL');
is(meta($sock, "mg foo c\r\n"), "HD c$cas_foo\r\n", 'c: cas unique');
is(meta($sock, "mg foo k\r\n"), "HD kfoo\r\n", 'k: the key');
is(meta($sock, "mg foo Oxyz\r\n"), "HD Oxyz\r\n", 'O: opaque echoed');
is(meta($sock, "mg foo O\r\n"), "HD O\r\n", 'O with an empty token: bare O echoed');
is(meta($sock, "mg foo u\r\n"), "HD\r\n", 'u alone: HD');
is(meta($sock, "mg foo Pfoo Lbar\r\n"), "HD\r\n", 'P and L tokens are ignored');
is(meta($sock, "mg foo v s f t c k Oab\r\n"),
   "VA 3 s3 f5 t-1 c$cas_foo kfoo Oab\r\nbar\r\n", 'return flags in request order (v first)');
is(meta($sock, "mg foo Oab k c t f s v\r\n"),
   "VA 3 Oab kfoo c$cas_foo t-1 f5 s3\r\nbar\r\n", 'return flags in request order (reversed)');
is(meta($sock, "mg foo k k\r\n"), "CLIENT_ERROR duplicate flag\r\n", 'a flag given twice: CLIENT_ERROR duplicate flag');
is(meta($sock, "mg foo O1 O2\r\n"), "CLIENT_ERROR duplicate flag\r\n", 'O given twice: CLIENT_ERROR duplicate flag');

# C with the item's cas leaves the value out (memcached 1.6.45, as the
# protocol text says; 1.6.18 sent it).
is(meta($sock, "mg foo C$cas_foo v\r\n"), "HD\r\n", 'C with the matching cas: HD, no value');
is(meta($sock, "mg foo C1 v\r\n"), "VA 3\r\nbar\r\n", 'C with another cas: the value');

# ---- the same flags on a miss: only k and O come back ----

is(meta($sock, "mg nope s f t c k Oab h l u v\r\n"), "EN knope Oab\r\n",
   'miss: EN, with k and O echoed and the item flags left out');
is(meta($sock, "mg nope Oab k\r\n"), "EN Oab knope\r\n", 'miss: k and O in request order');

# ---- h and l report the state before this access ----

is(meta($sock, "ms hl 1\r\nx\r\n"), "HD\r\n", 'ms hl');
is(meta($sock, "mg hl u h\r\n"), "HD h0\r\n", 'h on a never-fetched item: h0');
is(meta($sock, "mg hl h\r\n"), "HD h0\r\n", 'mg u did not mark it fetched: still h0');
is(meta($sock, "mg hl h\r\n"), "HD h1\r\n", 'the previous mg marked it fetched: h1');
is(meta($sock, "mg hl u h\r\n"), "HD h1\r\n", 'h with u on a fetched item: h1');
like(meta($sock, "mg hl h l t\r\n"), qr/^HD h1 l\d+ t-1\r\n\z/, 'h l t together, in order');

# ---- T updates the TTL on a hit ----

is(meta($sock, "ms ttl 1\r\nx\r\n"), "HD\r\n", 'ms ttl without TTL');
is(meta($sock, "mg ttl T100 t\r\n"), "HD t100\r\n", 'T100 t: the new TTL is reported');
like(meta($sock, "mg ttl t\r\n"), qr/^HD t(?:100|99)\r\n\z/, 'the TTL from T stays on the item');
is(meta($sock, "mg ttl T0 t\r\n"), "HD t-1\r\n", 'T0 takes the TTL away: t-1');
is(meta($sock, "mg ttl T-1\r\n"), "HD\r\n", 'T-1 on a hit: HD');
is(meta($sock, "mg ttl v\r\n"), "EN\r\n", 'T-1 expired the item');
is(meta($sock, "mg nope T100 t\r\n"), "EN\r\n", 'T on a miss: EN');

# ---- q: EN is suppressed, hits are not ----

print $sock "mg nope q\r\nmg nope q v k Oa\r\nmn\r\n";
is(scalar <$sock>, "MN\r\n", 'mg q misses send nothing: the next reply is MN');
is(meta($sock, "mg foo q\r\n"), "HD\r\n", 'mg q hit without v: HD is still sent');
is(meta($sock, "mg foo q v k\r\n"), "VA 3 kfoo\r\nbar\r\n", 'mg q hit with v: VA is sent');
is(meta($sock, "mg foo q O1\r\n"), "HD O1\r\n", 'mg q hit with O: HD O1');

# ---- opaque length ----

my $o31 = 'o' x 31;
my $o32 = 'o' x 32;
is(meta($sock, "mg foo O$o31\r\n"), "HD O$o31\r\n", 'O with 31 bytes (32 with the O) is echoed');
is(meta($sock, "mg nope O$o31\r\n"), "EN O$o31\r\n", 'O with 31 bytes on a miss is echoed');
is(meta($sock, "mg foo O$o32\r\n"), "CLIENT_ERROR opaque token too long\r\n",
   'O with 32 bytes: CLIENT_ERROR opaque token too long');
is(meta($sock, "mg nope O$o32 q\r\n"), "CLIENT_ERROR opaque token too long\r\n",
   'the opaque error is not suppressed by q');

# ---- N: vivify on miss, W to the first client, Z to the others ----

my $other = $server->new_sock;
is(meta($sock, "mg viv N30 v s f t\r\n"), "VA 0 s0 f0 t30 W\r\n\r\n",
   'N30 on a miss: empty item created, W after the return flags');
is(meta($other, "mg viv N30 v s t\r\n"), "VA 0 s0 t30 Z\r\n\r\n",
   'second client, N30: the stub is a hit, Z (someone else won)');
is(meta($other, "mg viv v\r\n"), "VA 0 Z\r\n\r\n", 'a plain mg of the stub also sees Z');
is(meta($sock, "mg viv\r\n"), "HD Z\r\n", 'the winner asking again sees Z, not W');
is(meta($other, "mg viv q\r\n"), "HD Z\r\n", 'Z is shown with q');
is(meta($sock, "ms viv 5 T30\r\nfresh\r\n"), "HD\r\n", 'the winner stores the value');
is(meta($other, "mg viv N30 v\r\n"), "VA 5\r\nfresh\r\n", 'after the store: value, no W/Z');
is(meta($sock, "mg viv2 N30 k Oq h\r\n"), "HD kviv2 Oq h0 W\r\n", 'N without v: HD ... W');
is(meta($sock, "mg viv3 N0 t v\r\n"), "VA 0 t-1 W\r\n\r\n", 'N0 vivifies with no TTL: t-1');
is(meta($sock, "mg viv4 N30 T60 t\r\n"), "HD t60 W\r\n", 'N with T: T sets the TTL of the new stub');
is(meta($sock, "mg viv5 N30 q\r\n"), "HD W\r\n", 'N with q on a miss: the vivify hit is sent');
is(meta($sock, "mg foo N30 v\r\n"), "VA 3\r\nbar\r\n", 'N on a hit changes nothing');

# ---- R: win the recache when the TTL left is below the token ----

is(meta($sock, "ms rc 1 T10\r\nr\r\n"), "HD\r\n", 'ms rc with TTL 10');
is(meta($sock, "mg rc R5 v\r\n"), "VA 1\r\nr\r\n", 'R5 with about 10s left: no win');
is(meta($sock, "mg rc R30 v\r\n"), "VA 1 W\r\nr\r\n", 'R30 with 10s left: W');
is(meta($other, "mg rc R30 v\r\n"), "VA 1 Z\r\nr\r\n", 'second client, R30: Z');
is(meta($other, "mg rc v\r\n"), "VA 1 Z\r\nr\r\n", 'plain mg after a win: Z');
is(meta($sock, "ms rc 1 T10\r\ns\r\n"), "HD\r\n", 'the winner stores a new value');
is(meta($other, "mg rc v\r\n"), "VA 1\r\ns\r\n", 'the new item has no Z');
is(meta($sock, "ms rn 1\r\nr\r\n"), "HD\r\n", 'ms rn without TTL');
is(meta($sock, "mg rn R30 v\r\n"), "VA 1\r\nr\r\n", 'R on an item without TTL: never wins');

# ---- X: stale items (md I, ms I) ----

is(meta($sock, "ms st 3\r\nold\r\n"), "HD\r\n", 'ms st');
my $cas_st = mg_cas($sock, 'st');
is(meta($sock, "md st I\r\n"), "HD\r\n", 'md st I marks it stale');
is(meta($sock, "mg st v\r\n"), "VA 3 X W\r\nold\r\n", 'first mg of a stale item: X then W');
is(meta($other, "mg st v\r\n"), "VA 3 Z X\r\nold\r\n", 'second client: Z then X');
is(meta($sock, "mg st s t\r\n"), "HD s3 t-1 Z X\r\n", 'Z X come after the return flags');
my $cas_st2 = mg_cas($sock, 'st');
isnt($cas_st2, $cas_st, 'md I gave the item a new cas');
is(meta($sock, "md st I\r\n"), "HD\r\n", 'md I again');
is(meta($other, "mg st v\r\n"), "VA 3 X W\r\nold\r\n", 'a second md I hands out a new W');
is(meta($sock, "ms st 3\r\nnew\r\n"), "HD\r\n", 'ms st replaces the stale item');
is(meta($other, "mg st v\r\n"), "VA 3\r\nnew\r\n", 'after the store: not stale');

# ---- base64 keys ----

is(meta($sock, "ms YWJj 1 b\r\nX\r\n"), "HD\r\n", 'ms with a base64 key (abc)');
is(meta($sock, "mg YWJj b k v\r\n"), "VA 1 kYWJj b\r\nX\r\n", 'mg b k of a binary-stored item: base64 key and b');
is(meta($sock, "mg abc k v\r\n"), "VA 1 kYWJj b\r\nX\r\n",
   'mg of the decoded key without b: same item, key still shown in base64');
is(meta($sock, "mg YWJj b\r\n"), "HD\r\n", 'mg b without k: HD, no b in the reply');
is(meta($sock, "ms AAEC/w== 2 b\r\nhi\r\n"), "HD\r\n", 'ms with a key of bytes 00 01 02 ff');
is(meta($sock, "mg AAEC/w== b k v\r\n"), "VA 2 kAAEC/w== b\r\nhi\r\n", 'binary key read back');
# The k echo on a hit follows how the item was stored, not this request.
is(meta($sock, "mg Zm9v b k v\r\n"), "VA 3 kfoo\r\nbar\r\n",
   'mg b k of an item stored with a plain key: plain key, no b');
is(meta($sock, "mg YWI= b k Ox\r\n"), "EN kYWI= b Ox\r\n", 'miss with b k: the key as sent, then b');
is(meta($sock, "mg YWI= b k q\r\nmn\r\n"), "MN\r\n", 'miss with b q: nothing');
is(meta($sock, "mg foo b\r\n"), "CLIENT_ERROR error decoding key\r\n", 'b with 3 chars: CLIENT_ERROR error decoding key');
is(meta($sock, "mg YQ b\r\n"), "CLIENT_ERROR error decoding key\r\n", 'b without the padding: error');
is(meta($sock, "mg YQ= b\r\n"), "CLIENT_ERROR error decoding key\r\n", 'b with short padding: error');
is(meta($sock, "mg Y*== b\r\n"), "CLIENT_ERROR error decoding key\r\n", 'b with a non-base64 byte: error');

# ---- key length (the limit applies to the key as sent) ----

my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
is(meta($sock, "ms $k250 2\r\nok\r\n"), "HD\r\n", 'ms with a 250-byte key');
is(meta($sock, "mg $k250 k v\r\n"), "VA 2 k$k250\r\nok\r\n", 'mg with a 250-byte key');
is(meta($sock, "mg $k251 v\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'mg with a 251-byte key: CLIENT_ERROR bad command line format');
is(meta($sock, "mg $k251 q\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'key too long is not suppressed by q');
my $b248 = 'eHh4' x 62;    # 248 base64 chars: 186 bytes of x
my $b252 = 'eHh4' x 63;    # 252 base64 chars: 189 bytes of x
is(meta($sock, "mg $b248 b\r\n"), "EN\r\n", 'base64 key of 248 chars: looked up (miss)');
is(meta($sock, "mg $b252 b\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'base64 key of 252 chars (189 bytes decoded): too long before decoding');

# ---- errors, and the connection keeps working ----

# memcached 1.6.45: a missing key, or a flag that starts with neither a
# letter nor a digit, is a bad command line; x is known (ignored by mg).
is(meta($sock, "mg\r\n"), "CLIENT_ERROR bad command line format\r\n", 'mg without a key');
is(meta($sock, "mg \r\n"), "CLIENT_ERROR bad command line format\r\n", 'mg with only a space');
is(meta($sock, "MG foo\r\n"), "ERROR\r\n", 'MG (upper case): ERROR');
is(meta($sock, "mg foo !\r\n"), "CLIENT_ERROR bad command line format\r\n", 'flag !: bad command line format');
is(meta($sock, "mg foo y\r\n"), "CLIENT_ERROR invalid flag\r\n", 'unknown flag y: CLIENT_ERROR invalid flag');
is(meta($sock, "mg foo 1\r\n"), "CLIENT_ERROR invalid flag\r\n", 'a digit as flag: CLIENT_ERROR invalid flag');
is(meta($sock, "mg foo v Z\r\n"), "CLIENT_ERROR invalid flag\r\n", 'valid flag then unknown: CLIENT_ERROR invalid flag');
is(meta($sock, "mg foo Tabc t\r\n"), "CLIENT_ERROR bad token in command line format\r\n",
   'T with a non-numeric token: CLIENT_ERROR bad token in command line format');
is(meta($sock, "mg foo T t\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'T without a token: bad token');
is(meta($sock, "mg foo Nabc\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'N non-numeric: bad token');
is(meta($sock, "mg foo N\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'N without a token: bad token');
is(meta($sock, "mg foo Rx\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'R non-numeric: bad token');
is(meta($sock, "mg nv Nabc\r\nmg nv\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'bad N on a miss');
is(meta($sock, ''), "EN\r\n", 'the bad N created nothing');
is(meta($sock, "mg foo Tabc q\r\n"), "CLIENT_ERROR bad token in command line format\r\n", 'errors are sent with q');
is(meta($sock, "mg foo v\r\n"), "VA 3\r\nbar\r\n", 'connection in step after the errors');
is(meta($sock, "mg foo t\r\n"), "HD t-1\r\n", 'the failed T requests left the TTL alone');

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(meta($sock, "ms tt 1 T100\r\nx\r\n"), "HD\r\n", 'ms tt with TTL 100');
    is(send_recv($sock, "debugtime 40\r\n"), "OK\r\n", 'clock +40s');
    like(meta($sock, "mg tt t v\r\n"), qr/^VA 1 t(?:59|60|61)\r\nx\r\n\z/, 't counts down: 60 left');
    is(meta($sock, "mg tt R30 v\r\n"), "VA 1\r\nx\r\n", 'R30 with 60s left: no win');
    is(send_recv($sock, "debugtime 40\r\n"), "OK\r\n", 'clock +40s');
    is(meta($sock, "mg tt R30 v\r\n"), "VA 1 W\r\nx\r\n", 'R30 with 20s left: W');
    is(meta($other, "mg tt R30 v\r\n"), "VA 1 Z\r\nx\r\n", 'second client: Z');
    is(send_recv($sock, "debugtime 22\r\n"), "OK\r\n", 'clock +22s');
    is(meta($sock, "mg tt v\r\n"), "EN\r\n", 'the item expired');

    # The last-access time moves only when it is over 60 seconds old
    # (memcached's ITEM_UPDATE_INTERVAL), and never for mg u.
    is(meta($sock, "ms la 1\r\nx\r\n"), "HD\r\n", 'ms la');
    is(send_recv($sock, "debugtime 30\r\n"), "OK\r\n", 'clock +30s');
    like(meta($sock, "mg la l h\r\n"), qr/^HD l(?:29|30|31) h0\r\n\z/, 'l: 30 seconds since the store');
    like(meta($sock, "mg la l h\r\n"), qr/^HD l(?:29|30|31) h1\r\n\z/,
         'an access within 60s of the last update does not move the time');
    is(send_recv($sock, "debugtime 40\r\n"), "OK\r\n", 'clock +40s');
    like(meta($sock, "mg la u l\r\n"), qr/^HD l(?:69|70|71)\r\n\z/, 'mg u l: 70 seconds');
    like(meta($sock, "mg la l\r\n"), qr/^HD l(?:69|70|71)\r\n\z/, 'the u access did not move the time');
    like(meta($sock, "mg la l\r\n"), qr/^HD l[01]\r\n\z/, 'the access 70s after the store did');

    is(meta($sock, "mg vv N30 v\r\n"), "VA 0 W\r\n\r\n", 'N30 vivifies vv');
    is(send_recv($sock, "debugtime 32\r\n"), "OK\r\n", 'clock +32s');
    is(meta($other, "mg vv N30 v\r\n"), "VA 0 W\r\n\r\n", 'the stub expired: the next N wins again');

    is(meta($sock, "ms tx 1 T10\r\nx\r\n"), "HD\r\n", 'ms tx with TTL 10');
    is(meta($sock, "mg tx T100\r\n"), "HD\r\n", 'mg T100 extends it');
    is(send_recv($sock, "debugtime 50\r\n"), "OK\r\n", 'clock +50s');
    like(meta($sock, "mg tx t\r\n"), qr/^HD t(?:49|50|51)\r\n\z/, 'the item outlived its first TTL');
}

done_testing();
