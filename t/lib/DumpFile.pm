package DumpFile;

# Helpers for the dump file tests (t/dump-*.t): whole-file reads and writes
# in raw bytes, and CRC-32C as doc/dump-format.md defines it (Castagnoli,
# reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF),
# so a test can check a dump's checksums or forge valid ones.

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(slurp spew crc32c);

# The bytes of a file; undef if it cannot be opened.
sub slurp {
    my $path = shift;
    open(my $fh, '<:raw', $path) or return undef;
    local $/;
    my $data = <$fh>;
    return $data // '';
}

# Writes `bytes` as the whole content of `path`; dies on error.
sub spew {
    my ($path, $bytes) = @_;
    open(my $fh, '>:raw', $path) or die "$path: $!";
    print $fh $bytes;
    close $fh or die "$path: $!";
}

my @TABLE = map {
    my $c = $_;
    $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8;
    $c;
} 0 .. 255;

# CRC-32C of a byte string (slow in Perl: fine for headers and small files).
sub crc32c {
    my $crc = 0xFFFFFFFF;
    $crc = ($crc >> 8) ^ $TABLE[($crc ^ $_) & 0xFF] for unpack('C*', $_[0]);
    return $crc ^ 0xFFFFFFFF;
}

1;
