#!/usr/bin/perl
# -F FILE with a file that cannot be loaded as it is (doc/dump.md, "Files
# that cannot be loaded"; the format is doc/dump-format.md).
#
# A good dump of 1200 items (5 blocks) is made by a real server, then
# copies of it are damaged in every way the format doc lists: cut short
# anywhere, bad magic, unknown version, each checksum, absurd lengths,
# blocks out of order, bad records under valid checksums, trailer counts
# that disagree, bytes after the trailer. For each copy a server must
# start, load exactly the blocks before the damage, move the file aside
# as FILE.damaged-<unix time> unchanged, name the file and the byte offset
# on stderr, and write a fresh FILE at the next dump without touching the
# file moved aside. Then the files it must refuse to start on (exit 66 and
# 64), a missing file, a leftover FILE.tmp, and records larger than -I.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path remove_tree);
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;
use DumpFile;

require_debug_binary();

my $top = "/tmp/mctest.$$.dump-damaged";
remove_tree($top);
make_path($top);
END { local $?; remove_tree($top) if $top && -d $top; }

# ---- the format (doc/dump-format.md) ----

my $HEADER_LEN  = 96;
my $BLOCK_HDR   = 24;
my $RECORD_HDR  = 32;
my $TRAILER_LEN = 32;
my $PAYLOAD_MAX = 32 + 250 + 2**30;    # the largest payload a reader accepts

is(sprintf('%08X', crc32c('123456789')), 'E3069283', 'crc32c("123456789") is the check value');

# Walks a dump and returns its layout: header fields, blocks (offset, end,
# sequence, payload length, record count, records with their offsets),
# trailer offset and fields. Dies on anything the format does not allow;
# with `verify` it also checks every checksum (slow in Perl: only for the
# reference dump).
sub parse_dump {
    my ($b, $verify) = @_;
    my $len = length $b;
    die "shorter than header and trailer\n" if $len < $HEADER_LEN + $TRAILER_LEN;
    my %h;
    @h{qw(magic version hlen time cas flush items imax rflags roffset replid)}
        = unpack('a8 V V q< Q< q< Q< V V Q< H40', $b);
    die "bad magic\n" unless $h{magic} eq 'MEMCDUMP';
    die "version $h{version}\n" unless $h{version} == 2;
    die "header length $h{hlen}\n" unless $h{hlen} == $HEADER_LEN;
    die "replication flags $h{rflags}\n" unless $h{rflags} <= 3;
    die "header reserved bytes\n" unless substr($b, 84, 8) eq "\0" x 8;
    die "header checksum\n" if $verify && unpack('V', substr($b, 92, 4)) != crc32c(substr($b, 0, 92));
    my @blocks;
    my $off = $HEADER_LEN;
    while (substr($b, $off, 4) eq 'MCBK') {
        my (undef, $seq, $plen, $nrec, $pcrc, $hcrc) = unpack('a4 V5', substr($b, $off, $BLOCK_HDR));
        die "block at $off: sequence $seq\n" unless $seq == @blocks;
        die "block at $off: lengths\n" unless $plen >= 1 && $nrec >= 1 && $off + $BLOCK_HDR + $plen <= $len;
        if ($verify) {
            die "block $seq: header checksum\n" unless $hcrc == crc32c(substr($b, $off, 20));
            die "block $seq: payload checksum\n"
                unless $pcrc == crc32c(substr($b, $off + $BLOCK_HDR, $plen));
        }
        my $blk = { off => $off, seq => $seq, plen => $plen, nrec => $nrec,
                    end => $off + $BLOCK_HDR + $plen, records => [] };
        my $p = $off + $BLOCK_HDR;
        for (1 .. $nrec) {
            my ($klen, $rflags, $res, $cflags, $vlen, $idle, $exp, $cas)
                = unpack('C C v V V V q< Q<', substr($b, $p, $RECORD_HDR));
            push @{$blk->{records}}, {
                off => $p, klen => $klen, rflags => $rflags, cflags => $cflags,
                vlen => $vlen, key => substr($b, $p + $RECORD_HDR, $klen),
                value => substr($b, $p + $RECORD_HDR + $klen, $vlen),
            };
            $p += $RECORD_HDR + $klen + $vlen;
        }
        die "block $seq: records do not fill the payload\n" unless $p == $blk->{end};
        push @blocks, $blk;
        $off = $p;
    }
    my %t;
    @t{qw(magic nblocks nrecords payload reserved crc)} = unpack('a4 V Q< Q< V V', substr($b, $off, $TRAILER_LEN));
    die "no trailer at $off\n" unless $t{magic} eq 'MCEN';
    die "trailer checksum\n" if $verify && $t{crc} != crc32c(substr($b, $off, 28));
    die "bytes after the trailer\n" unless $off + $TRAILER_LEN == $len;
    return { header => \%h, blocks => \@blocks, trailer_off => $off, trailer => \%t };
}

# Rewrites the header checksum of a dump held in a string.
sub fix_header {
    my $b = shift;
    substr($b, 92, 4) = pack('V', crc32c(substr($b, 0, 92)));
    return $b;
}

# Rewrites the payload checksum and the header checksum of the block at
# `off` (from the payload length its header now holds).
sub fix_block {
    my ($b, $off, %opt) = @_;
    my $plen = unpack('V', substr($b, $off + 8, 4));
    substr($b, $off + 16, 4) = pack('V', crc32c(substr($b, $off + $BLOCK_HDR, $plen)))
        unless $opt{header_only};
    substr($b, $off + 20, 4) = pack('V', crc32c(substr($b, $off, 20)));
    return $b;
}

sub fix_trailer {
    my ($b, $off) = @_;
    substr($b, $off + 28, 4) = pack('V', crc32c(substr($b, $off, 28)));
    return $b;
}

# Returns the string with one 32-bit little-endian field replaced.
sub put32 {
    my ($b, $off, $v) = @_;
    substr($b, $off, 4) = pack('V', $v);
    return $b;
}

# Returns the string with the byte at `off` changed (xor 0x55).
sub flip {
    my ($b, $off) = @_;
    substr($b, $off, 1) = chr(ord(substr($b, $off, 1)) ^ 0x55);
    return $b;
}

# ---- files ----

my $case_no = 0;

# A fresh directory for one case; returns the dump file's path in it.
sub fresh_file {
    my $dir = "$top/case" . ++$case_no;
    make_path($dir);
    return "$dir/cache.dump";
}

sub damaged_names {
    my $file = shift;
    my ($dir, $base) = $file =~ m{\A(.*)/([^/]+)\z};
    opendir(my $dh, $dir) or return ();
    return sort grep { /\A\Q$base\E\.damaged-/ } readdir $dh;
}

# VmPeak of a process in kB (its largest virtual size so far).
sub vm_peak_kb {
    my $pid = shift;
    open(my $fh, '<', "/proc/$pid/status") or return undef;
    while (<$fh>) { return $1 if /^VmPeak:\s+(\d+) kB/ }
    return undef;
}

# ---- the wire ----

sub value_of { my $i = shift; return sprintf('%04d', $i) x 250 }    # 1000 bytes
sub key_of   { return sprintf('k%04d', $_[0]) }

# Fetches every key of `keys` with multi-gets and compares with `want`
# (key => [flags, value]; keys not in it must miss). Returns a list of
# differences, empty when the cache holds exactly what was expected.
sub diff_contents {
    my ($sock, $keys, $want) = @_;
    my %got;
    my @bad;
    my @all = @$keys;
    while (my @batch = splice(@all, 0, 100)) {
        print $sock "get @batch\r\n";
        while (defined(my $line = <$sock>)) {
            last if $line eq "END\r\n";
            if ($line =~ /\AVALUE (\S+) (\d+) (\d+)\r\n\z/) {
                my ($k, $f, $n) = ($1, $2, $3);
                my $data = read_reply($sock, $n + 2);
                $got{$k} = [$f, substr($data, 0, $n)];
            } else {
                push @bad, "unexpected line: $line";
                last;
            }
        }
    }
    for my $k (@$keys) {
        my ($w, $g) = ($want->{$k}, $got{$k});
        if ($w && !$g) {
            push @bad, "$k missing";
        } elsif (!$w && $g) {
            push @bad, "$k present";
        } elsif ($w && ($w->[0] != $g->[0] || $w->[1] ne $g->[1])) {
            push @bad, "$k holds flags $g->[0], " . length($g->[1]) . ' bytes, not the dumped ones';
        }
    }
    return @bad;
}

sub is_contents {
    my ($sock, $keys, $want, $msg) = @_;
    my @bad = diff_contents($sock, $keys, $want);
    my $n = @bad;
    splice(@bad, 5) if @bad > 5;
    is($n ? "$n differences: @bad" : 'exact', 'exact', $msg);
}

# ---- the reference dump: 1200 items of 1000 bytes, 5 blocks ----

my @keys = map { key_of($_) } 0 .. 1199;
my %all = map { (key_of($_) => [$_, value_of($_)]) } 0 .. 1199;

my $ref_file = fresh_file();
{
    my $srv = new_memcached(['-F', $ref_file]);
    my $sock = $srv->sock;
    my $stored = 0;
    for my $i (0 .. 1199) {
        print $sock "set " . key_of($i) . " $i 0 1000\r\n" . value_of($i) . "\r\n";
        $stored++ if (scalar <$sock> // '') eq "STORED\r\n";
    }
    is($stored, 1200, 'reference: 1200 items stored');
    is($srv->stop, 0, 'reference: SIGTERM writes the last dump and exits 0');
}
my $good = slurp($ref_file) // '';
my $G = eval { parse_dump($good, 1) };
ok($G, 'reference: the dump follows doc/dump-format.md, every checksum right')
    or BAIL_OUT('cannot read the reference dump: ' . ($@ // ''));
my @B = @{$G->{blocks}};
is(scalar @B, 5, 'reference: 5 blocks');
like("$G->{header}{rflags} $G->{header}{roffset} $G->{header}{replid}", qr/\A1 0 [0-9a-f]{40}\z/,
     'reference: a master with no replica keeps its replication id at offset 0');
is($G->{trailer}{nrecords}, 1200, 'reference: trailer counts 1200 records');
my $L = length $good;
my $T = $G->{trailer_off};

# Records in blocks 0 .. n-1, as key => [flags, value].
sub blocks_upto {
    my $n = shift;
    my %w;
    for my $blk (@B[0 .. $n - 1]) {
        $w{$_->{key}} = [$_->{cflags}, $_->{value}] for @{$blk->{records}};
    }
    return \%w;
}
{
    my $w = blocks_upto(5);
    my @bad = grep { !$w->{$_} || $w->{$_}[0] != $all{$_}[0] || $w->{$_}[1] ne $all{$_}[1] } @keys;
    is(scalar(@bad) . ' ' . scalar(keys %$w), '0 1200',
       'reference: its records are the 1200 items stored, flags and values exact');
}

# The undamaged file, for comparison: loads whole, stays where it is.
my $peak_good;
{
    my $file = fresh_file();
    spew($file, $good);
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is($st->{load_status}, 'ok', 'good file: load_status ok');
    is($st->{load_items}, 1200, 'good file: load_items 1200');
    is($st->{load_bytes}, $L, 'good file: load_bytes is the file size');
    is_contents($sock, \@keys, \%all, 'good file: every item back, flags and values exact');
    is(slurp($file), $good, 'good file: left in place unchanged');
    is(join(' ', damaged_names($file)), '', 'good file: nothing moved aside');
    unlike($srv->output, qr/ is damaged at byte /, 'good file: no damage reported');
    $peak_good = vm_peak_kb($srv->pid);
}

# ---- damaged files ----
#
# Each case: the bytes, how many blocks of the reference load before the
# damage (`loaded`), the bytes verified (`verified`, load_bytes), and the
# range the reported offset must fall in (`at`: the damaged structure).

sub damaged_case {
    my (%c) = @_;
    my $name = $c{name};
    my $file = fresh_file();
    spew($file, $c{bytes});
    my %taken;
    if ($c{names_taken}) {
        # Every FILE.damaged-<time> name the server could pick is taken.
        my $now = int(time);
        for my $t ($now - 5 .. $now + 300) {
            spew("$file.damaged-$t", "older $t\n");
            $taken{"cache.dump.damaged-$t"} = "older $t\n";
        }
    }
    my $want = blocks_upto($c{loaded});
    my $items = keys %$want;
    my $srv = eval { new_memcached(['-F', $file]) };
    ok($srv, "$name: the server starts") or do {
        diag($@);
        SKIP: { skip "$name: no server", 12 }
        return;
    };
    my $sock = $srv->sock;
    like(send_recv($sock, "version\r\n"), qr/\AVERSION \S+\r\n\z/, "$name: the server answers");
    my $st = stats_of($sock);
    is($st->{load_status}, 'damaged', "$name: load_status damaged");
    is($st->{load_items}, $items, "$name: load_items $items (the blocks before the damage)");
    is($st->{load_bytes}, $c{verified}, "$name: load_bytes $c{verified} (the bytes verified)");
    is_contents($sock, \@keys, $want, "$name: exactly the items of the verified blocks, the others absent");
    ok(!-e $file, "$name: FILE no longer at its path");
    my @aside = grep { !exists $taken{$_} } damaged_names($file);
    my $re = $c{names_taken} ? qr/\Acache\.dump\.damaged-\d+-\d+\z/ : qr/\Acache\.dump\.damaged-\d+(?:-\d+)?\z/;
    is(scalar(@aside) . ' ' . (grep({ $_ =~ $re } @aside) ? 'named' : 'misnamed'), '1 named',
       "$name: moved aside as FILE.damaged-<digits>" . ($c{names_taken} ? '-<n> (name taken)' : ''));
    my $aside = @aside ? "$top/case$case_no/$aside[0]" : '';
    is(slurp($aside) // '(none)', $c{bytes}, "$name: the file moved aside is byte for byte the damaged one");
    my $out = $srv->output;
    my ($at) = $out =~ /^[^\n]*\Q$file\E[^\n]*damaged[^\n]*byte (\d+)/m;
    ok(defined $at, "$name: stderr names the file and says it is damaged at byte <offset>")
        or diag("stderr: $out");
    my ($lo, $hi) = @{$c{at}};
    ok(defined $at && $at >= $lo && $at <= $hi,
       "$name: the offset reported is in the damaged part ($lo..$hi)")
        or diag('reported: ' . ($at // 'none'));

    # The next dump writes a fresh FILE and leaves the moved file alone.
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 1);
    my $fresh = slurp($file);
    my $P = defined $fresh ? eval { parse_dump($fresh) } : undef;
    is(join(' ', $st->{last_dump_status} // '', $P ? ('records', $P->{trailer}{nrecords}) : 'no FILE'),
       "ok records $items", "$name: USR2 writes a fresh FILE with the $items items");
    my @after = grep { !exists $taken{$_} } damaged_names($file);
    is(join(' ', @after) . ' ' . (slurp($aside) // '') eq join(' ', @aside) . ' ' . $c{bytes} ? 'kept' : 'touched',
       'kept', "$name: the file moved aside is untouched by the dump");
    if (%taken) {
        my @changed = grep { (slurp("$top/case$case_no/$_") // '') ne $taken{$_} } sort keys %taken;
        is(scalar @changed, 0, "$name: the names already taken keep their files");
    }
    return $srv;
}

# The reference offsets.
my @off = map { $_->{off} } @B;
my @end = map { $_->{end} } @B;
push @off, $T;    # "block 5" starts where the trailer does

damaged_case(name => 'empty file', bytes => '', loaded => 0, verified => 0, at => [0, 0]);
damaged_case(name => 'shorter than the header (40 bytes)', bytes => substr($good, 0, 40),
             loaded => 0, verified => 0, at => [0, 40]);
damaged_case(name => 'one byte short of the header (95 bytes)', bytes => substr($good, 0, 95),
             loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'bad magic', bytes => 'X' . substr($good, 1),
             loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'unknown version 3 (header checksum valid)',
             bytes => fix_header(put32($good, 8, 3)), loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'header checksum mismatch', bytes => flip($good, 20),
             loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'header reserved bytes not zero (checksum valid)',
             bytes => fix_header(put32($good, 84, 1)), loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'unknown replication flag (checksum valid)',
             bytes => fix_header(put32($good, 52, 4)), loaded => 0, verified => 0, at => [0, 95]);
damaged_case(name => 'header only', bytes => substr($good, 0, $HEADER_LEN),
             loaded => 0, verified => $HEADER_LEN, at => [$HEADER_LEN, $HEADER_LEN]);

damaged_case(name => 'block 2 header checksum mismatch', bytes => flip($good, $off[2] + 12),
             loaded => 2, verified => $off[2], at => [$off[2], $end[2]]);
damaged_case(name => 'block 1 bad magic (header checksum valid)',
             bytes => fix_block(substr($good, 0, $off[1]) . 'MCBX' . substr($good, $off[1] + 4), $off[1], header_only => 1),
             loaded => 1, verified => $off[1], at => [$off[1], $end[1]]);
for my $k (0, 2, 4) {
    my $r = $B[$k]{records}[0];
    damaged_case(name => "block $k payload checksum mismatch", bytes => flip($good, $r->{off} + $RECORD_HDR + $r->{klen}),
                 loaded => $k, verified => $off[$k], at => [$off[$k], $end[$k]]);
}

my $cut = $off[3] + $BLOCK_HDR + 1000;
damaged_case(name => 'cut in the middle of block 3', bytes => substr($good, 0, $cut),
             loaded => 3, verified => $off[3], at => [$off[3], $cut]);
damaged_case(name => 'cut in the middle of block 3 header', bytes => substr($good, 0, $off[3] + 10),
             loaded => 3, verified => $off[3], at => [$off[3], $off[3] + 10]);
damaged_case(name => 'cut right after block 2', bytes => substr($good, 0, $off[3]),
             loaded => 3, verified => $off[3], at => [$off[3], $off[3]]);
damaged_case(name => 'no trailer (cut right after the last block)', bytes => substr($good, 0, $T),
             loaded => 5, verified => $T, at => [$T, $T]);
damaged_case(name => 'cut inside the trailer', bytes => substr($good, 0, $T + 20),
             loaded => 5, verified => $T, at => [$T, $T + 20]);

# Absurd lengths: the header checksum is valid, so only the length check
# stands between the file and a huge allocation.
for my $case (['0xFFFFFFF0', 0xFFFFFFF0], ['just above the largest record', $PAYLOAD_MAX + 1],
              ['the largest record, beyond the file', $PAYLOAD_MAX], ['0', 0]) {
    my ($what, $plen) = @$case;
    my $srv = damaged_case(name => "block 1 payload length $what",
                           bytes => fix_block(put32($good, $off[1] + 8, $plen), $off[1], header_only => 1),
                           loaded => 1, verified => $off[1], at => [$off[1], $end[1]]);
    next unless $srv;
    my $peak = vm_peak_kb($srv->pid);
    ok(defined $peak && defined $peak_good && $peak < $peak_good + 256 * 1024,
       "block 1 payload length $what: nothing of that size allocated (VmPeak ${\($peak // '?')} kB,"
       . " ${\($peak_good // '?')} kB for the good file)");
}
damaged_case(name => 'last block payload length beyond the end of the file (checksum valid)',
             bytes => fix_block(put32($good, $off[4] + 8, $B[4]{plen} + $TRAILER_LEN + 1), $off[4], header_only => 1),
             loaded => 4, verified => $off[4], at => [$off[4], $L]);
damaged_case(name => 'block 1 record count 0 (checksum valid)',
             bytes => fix_block(put32($good, $off[1] + 12, 0), $off[1], header_only => 1),
             loaded => 1, verified => $off[1], at => [$off[1], $end[1]]);

# Blocks out of order, with every checksum valid.
damaged_case(name => 'blocks 1 and 2 swapped',
             bytes => substr($good, 0, $off[1]) . substr($good, $off[2], $end[2] - $off[2])
                      . substr($good, $off[1], $end[1] - $off[1]) . substr($good, $off[3]),
             loaded => 1, verified => $off[1], at => [$off[1], $off[1] + $BLOCK_HDR]);
damaged_case(name => 'block 1 repeated',
             bytes => substr($good, 0, $end[1]) . substr($good, $off[1], $end[1] - $off[1]) . substr($good, $off[2]),
             loaded => 2, verified => $off[2], at => [$off[2], $off[2] + $BLOCK_HDR]);
damaged_case(name => 'block 0 numbered 1',
             bytes => fix_block(put32($good, $off[0] + 4, 1), $off[0], header_only => 1),
             loaded => 0, verified => $off[0], at => [$off[0], $off[0] + $BLOCK_HDR]);

# Bad records in block 2 under valid checksums: record 100 is bad, records
# 0..99 are fine, and the whole block is refused.
my $r100 = $B[2]{records}[100];
my $rlast = $B[2]{records}[-1];
my $ro = $r100->{off};
for my $case (
    ['key length 0',   sub { substr($_[0], $ro, 1) = chr(0) }],
    ['key length 251', sub { substr($_[0], $ro, 1) = chr(251) }],
    ['unknown record flag 32', sub { substr($_[0], $ro + 1, 1) = chr(32) }],
    ['unknown record flag 128 with flag 2', sub { substr($_[0], $ro + 1, 1) = chr(128 | 2) }],
    ['a key with a space, no binary flag', sub { substr($_[0], $ro + $RECORD_HDR + 1, 1) = ' ' }],
    ['a key with a newline, no binary flag', sub { substr($_[0], $ro + $RECORD_HDR + 1, 1) = "\n" }],
    ['a key with 0x7F, no binary flag', sub { substr($_[0], $ro + $RECORD_HDR + 1, 1) = "\x7f" }],
    ['a value length running past the block', sub { substr($_[0], $rlast->{off} + 8, 4) = pack('V', $rlast->{vlen} + 1) }],
    ['one record more in the header than in the payload', sub { substr($_[0], $off[2] + 12, 4) = pack('V', $B[2]{nrec} + 1) }],
    ['one record less in the header than in the payload', sub { substr($_[0], $off[2] + 12, 4) = pack('V', $B[2]{nrec} - 1) }],
) {
    my ($what, $edit) = @$case;
    my $b = $good;
    $edit->($b);
    damaged_case(name => "block 2: $what (checksums valid)", bytes => fix_block($b, $off[2]),
                 loaded => 2, verified => $off[2], at => [$off[2], $end[2]]);
}

# The trailer.
damaged_case(name => 'trailer checksum mismatch', bytes => flip($good, $T + 8),
             loaded => 5, verified => $T, at => [$T, $L]);
damaged_case(name => 'trailer bad magic', bytes => substr($good, 0, $T) . 'MCEX' . substr($good, $T + 4),
             loaded => 5, verified => $T, at => [$T, $L]);
for my $case (['blocks', 4, 6], ['records', 8, 1199], ['payload bytes', 16, undef]) {
    my ($what, $at, $v) = @$case;
    my $b = $good;
    if ($at == 4) { substr($b, $T + 4, 4) = pack('V', $v) }
    elsif ($at == 8) { substr($b, $T + 8, 8) = pack('Q<', $v) }
    else { substr($b, $T + 16, 8) = pack('Q<', $G->{trailer}{payload} + 1) }
    damaged_case(name => "trailer counts $what that disagree (checksum valid)", bytes => fix_trailer($b, $T),
                 loaded => 5, verified => $T, at => [$T, $L]);
}
damaged_case(name => 'one byte after the trailer', bytes => $good . "\n",
             loaded => 5, verified => $L, at => [$L, $L]);
damaged_case(name => 'a second dump after the trailer', bytes => $good . $good,
             loaded => 5, verified => $L, at => [$L, $L]);

# FILE.damaged-<time> already taken, for every time the server may use.
damaged_case(name => 'damaged name taken', bytes => flip($good, $B[1]{records}[0]{off} + 40),
             loaded => 1, verified => $off[1], at => [$off[1], $end[1]], names_taken => 1);

# ---- valid files that look odd ----

# A key with a space is valid with the binary key flag (doc/dump-format.md,
# record flag 1): the file loads whole and the key answers under base64.
{
    my $b = $good;
    my $bin_key = substr($r100->{key}, 0, 1) . ' ' . substr($r100->{key}, 2);
    substr($b, $ro + 1, 1) = chr(ord(substr($b, $ro + 1, 1)) | 1);
    substr($b, $ro + $RECORD_HDR, $r100->{klen}) = $bin_key;
    my $file = fresh_file();
    spew($file, fix_block($b, $off[2]));
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items}", 'ok 1200', 'binary key with a space: load_status ok, 1200 items');
    my $b64 = encode_base64($bin_key, '');
    is(meta($sock, "mg $b64 b f v\r\n"), "VA 1000 f$r100->{cflags}\r\n$r100->{value}\r\n",
       'binary key with a space: its value answers under the base64 key');
    mem_get_is($sock, $r100->{key}, undef, 'binary key with a space: the key it replaced is absent');
    is(join(' ', damaged_names($file)), '', 'binary key with a space: nothing moved aside');
}

# A key twice: the second record is skipped, the first (hotter) one kept.
{
    my $b = $good;
    my $first = $B[0]{records}[0];
    substr($b, $ro + $RECORD_HDR, $r100->{klen}) = $first->{key};
    my $file = fresh_file();
    spew($file, fix_block($b, $off[2]));
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items}", 'ok 1199', 'key repeated: load_status ok, 1199 items');
    my %want = %all;
    delete $want{$r100->{key}};
    is_contents($sock, \@keys, \%want, 'key repeated: the first record kept, the repeated one skipped');
}

# ---- a missing file ----
{
    my $file = fresh_file();
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items} $st->{curr_items}", 'missing 0 0',
       'missing file: starts empty, load_status missing');
    like($srv->output, qr/^[^\n]*\Q$file\E[^\n]*(?:does not exist|missing|no such file)/mi,
         'missing file: says so on stderr, naming the file');
    print $sock "set a 0 0 1\r\nx\r\n";
    is(scalar <$sock>, "STORED\r\n", 'missing file: serves');
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 1);
    is($st->{last_dump_status}, 'ok', 'missing file: the first dump succeeds');
    is(-e $file ? sprintf('%04o', (stat $file)[2] & 07777) : 'absent', '0600',
       'missing file: the dump creates FILE, mode 0600');
}

# ---- a leftover FILE.tmp next to a good FILE ----
#
# The tmp holds a valid dump of other keys (plus garbage at its end): had
# the server read it, those keys would be there.
{
    my $tmp_dump;
    {
        my $file = fresh_file();
        my $srv = new_memcached(['-F', $file]);
        my $sock = $srv->sock;
        print $sock "set tmpkey$_ 0 0 5\r\nstale\r\n" for 1 .. 3;
        <$sock> for 1 .. 3;
        $srv->stop;
        $tmp_dump = slurp($file) // '';
    }
    my $file = fresh_file();
    spew($file, $good);
    spew("$file.tmp", $tmp_dump . "garbage\n");
    chmod 0644, "$file.tmp";
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items}", 'ok 1200', 'leftover FILE.tmp: FILE loaded, 1200 items');
    is_contents($sock, [@keys, map { "tmpkey$_" } 1 .. 3], \%all,
                'leftover FILE.tmp: the items of FILE, none of the tmp');
    is(slurp("$file.tmp"), $tmp_dump . "garbage\n", 'leftover FILE.tmp: left alone until the next dump');
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 1);
    is($st->{last_dump_status}, 'ok', 'leftover FILE.tmp: the next dump succeeds');
    ok(!-e "$file.tmp", 'leftover FILE.tmp: gone after the dump (replaced, then renamed)');
    my $P = eval { parse_dump(slurp($file) // '') };
    is($P ? $P->{trailer}{nrecords} : 'unreadable', 1200, 'leftover FILE.tmp: FILE is the new dump of 1200 items');
    is(sprintf('%04o', (stat $file)[2] & 07777), '0600', 'leftover FILE.tmp: the new FILE has mode 0600');
}

# ---- files the server refuses to start on ----
{
    my $file = fresh_file();
    make_path($file);
    my ($st, $out) = run_refused('-F', $file);
    is($st, 66, 'FILE is a directory: exit status 66');
    like($out, qr/\Q$file\E[^\n]*directory/i, 'FILE is a directory: the message names the file and the error');
    ok(-d $file, 'FILE is a directory: left in place');
}
{
    my $file = fresh_file();
    POSIX::mkfifo($file, 0600) or die "mkfifo: $!";
    my ($st, $out) = run_refused('-F', $file);
    is($st, 66, 'FILE is a pipe: exit status 66');
    like($out, qr/\Q$file\E[^\n]*(?:pipe|fifo)/i, 'FILE is a pipe: the message names the file and the error');
}
{
    my $file = fresh_file();
    symlink('/dev/null', $file) or die "symlink: $!";
    my ($st, $out) = run_refused('-F', $file);
    is($st, 66, 'FILE is a device (a symlink to /dev/null): exit status 66');
    like($out, qr/\Q$file\E[^\n]*device/i, 'FILE is a device: the message names the file and the error');
}
SKIP: {
    skip 'running as root: a file without read permission is readable to root', 3 if $< == 0;
    my $file = fresh_file();
    spew($file, $good);
    chmod 0200, $file;
    my ($st, $out) = run_refused('-F', $file);
    is($st, 66, 'FILE without read permission: exit status 66');
    like($out, qr/\Q$file\E[^\n]*Permission denied/i, 'FILE without read permission: the message names the file and the error');
    chmod 0600, $file;
    is(slurp($file), $good, 'FILE without read permission: left in place unchanged');
}
SKIP: {
    # The directory is checked before anything is loaded: a damaged file
    # there is refused by that check and never read or renamed.
    skip 'running as root: a read-only directory does not stop root writing', 3 if $< == 0;
    my $file = fresh_file();
    my ($dir) = $file =~ m{\A(.*)/};
    my $bad = flip($good, 20);
    spew($file, $bad);
    chmod 0555, $dir;
    my ($st, $out) = run_refused('-F', $file);
    chmod 0755, $dir;
    is($st, 73, 'damaged FILE in a read-only directory: exit status 73');
    like($out, qr/\Adump file \Q$file\E: directory \Q$dir\E is not writable by user [^\n]+: Permission denied\n\z/,
         'damaged FILE in a read-only directory: refused by the directory check');
    is(slurp($file), $bad, 'damaged FILE in a read-only directory: left in place unchanged');
}
{
    my $dir = "$top/no-such-dir";
    my ($st, $out) = run_refused('-F', "$dir/cache.dump");
    is($st, 64, 'directory of FILE missing: exit status 64');
    is($out, "dump file $dir/cache.dump: directory $dir: No such file or directory (os error 2)\n",
       'directory of FILE missing: the message names the directory');
    ok(!-e $dir, 'directory of FILE missing: not created');
}

# ---- records larger than the current -I ----
{
    my $file = fresh_file();
    my $big = 'B' x 1_500_000;
    {
        my $srv = new_memcached(['-F', $file, '-I', '2m']);
        my $sock = $srv->sock;
        print $sock "set big 7 0 " . length($big) . "\r\n$big\r\n";
        is(scalar <$sock>, "STORED\r\n", '-I 2m: a 1.5 MB value stored');
        for my $i (1 .. 3) {
            print $sock "set small$i $i 0 5\r\nsmal$i\r\n";
            is(scalar <$sock>, "STORED\r\n", "-I 2m: small$i stored");
        }
        is($srv->stop, 0, '-I 2m: SIGTERM writes the dump');
    }
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items} $st->{load_too_large}", 'ok 3 1',
       'default -I: load_status ok, 3 items loaded, load_too_large 1');
    mem_get_is($sock, 'big', undef, 'default -I: the 1.5 MB item is absent');
    mem_get_is($sock, "small$_", "smal$_", "default -I: small$_ present", $_) for 1 .. 3;
}

# ---- a version 1 file (64-byte header, no replication fields) loads ----
{
    my $file = fresh_file();
    my $v1 = substr($good, 0, 52);
    substr($v1, 8, 8) = pack('V V', 1, 64);
    $v1 .= "\0" x 8;
    $v1 .= pack('V', crc32c($v1));
    spew($file, $v1 . substr($good, $HEADER_LEN));
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items} $st->{load_bytes}", 'ok 1200 ' . (length($good) - 32),
       'version 1: load_status ok, every item, every byte verified');
    mem_get_is($sock, key_of(7), value_of(7), 'version 1: an item is back', 7);
}

done_testing();
