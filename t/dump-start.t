#!/usr/bin/perl
# The dump file at start (doc/dump.md, "Files that cannot be loaded" and
# "Logs"): the directory of -F FILE or -e FILE must exist and be writable
# by the user the server runs as (after -u), or the start is refused with
# one line naming the path, before anything is loaded and before -d leaves
# the terminal; -e's file is removed once loaded, or the start is refused;
# the load's totals and the final dump at a stop are logged without -v.
#
# Tests may run as root, where permission checks pass: the unwritable
# directory is then made by running as `-u nobody` in a directory owned by
# root with mode 0755, and as another user by a directory of mode 0555.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path remove_tree);
use lib 't/lib';
use MemcachedTest;
use DumpFile;

plan(skip_all => 'memcached has no dump file (-F FILE is ours)') unless is_ours();

my $top = "/tmp/mctest.$$.dump-start";
remove_tree($top);
make_path($top);
chmod 0755, $top;
END { local $?; remove_tree($top) if $top && -d $top; }

my $case_no = 0;

# A fresh directory (mode 0755) for one case; returns it.
sub fresh_dir {
    my $dir = "$top/case" . ++$case_no;
    make_path($dir);
    chmod 0755, $dir;
    return $dir;
}

# Writes a dump of two items to `file` (a server started on it and
# stopped by SIGTERM, which writes the final dump). The final dump's line
# is printed whatever the verbosity; returns the server's output.
sub make_dump {
    my $file = shift;
    my $srv = new_memcached(['-F', $file]);
    my $s = $srv->sock;
    send_recv($s, "set a 0 0 1\r\na\r\n");
    send_recv($s, "set b 7 0 2\r\nbb\r\n");
    $srv->stop('TERM');
    die "no dump written at $file" unless -f $file;
    chmod 0644, $file;
    return $srv->output;
}

# ---- the directory does not exist, or is a file ----
{
    my $dir = "$top/no-such-dir";
    for my $flag ('-F', '-e') {
        my ($st, $out) = run_refused($flag, "$dir/cache.dump");
        is($st, 64, "$flag, directory missing: exit status 64");
        is($out, "dump file $dir/cache.dump: directory $dir: No such file or directory (os error 2)\n",
           "$flag, directory missing: one line naming the directory");
    }
    ok(!-e $dir, 'directory missing: not created');
}
{
    my $dir = fresh_dir();
    my $notdir = "$dir/a-file";
    spew($notdir, "not a directory\n");
    for my $flag ('-F', '-e') {
        my ($st, $out) = run_refused($flag, "$notdir/cache.dump");
        is($st, 64, "$flag, parent is a file: exit status 64");
        is($out, "dump file $notdir/cache.dump: $notdir is not a directory\n",
           "$flag, parent is a file: one line naming the path");
    }
    is(slurp($notdir), "not a directory\n", 'parent is a file: left unchanged');
}

# ---- a directory the server's user cannot write ----
SKIP: {
    skip 'not running as root: the -u nobody case needs root to switch user', 9 if $< != 0;
    skip 'no user nobody on this system', 9 unless defined getpwnam('nobody');
    my $dir = fresh_dir();
    my $file = "$dir/cache.dump";
    make_dump($file);
    my $before = slurp($file);
    my $want = "dump file $file: directory $dir is not writable by user nobody: Permission denied\n";
    my ($st, $out) = run_refused('-u', 'nobody', '-F', $file);
    is($st, 73, '-u nobody, directory of root 0755: exit status 73');
    is($out, $want, '-u nobody: one line naming the path, nothing loaded before it');
    is(slurp($file), $before, '-u nobody: FILE left byte for byte');
    ($st, $out) = run_refused('-u', 'nobody', '-e', $file);
    is($st, 73, '-u nobody, -e: exit status 73');
    is($out, $want, '-u nobody, -e: the same line');
    ok(-f $file, '-u nobody, -e: the file is not removed');
    # With -d the check comes before the server leaves the terminal, so
    # the line and the status reach whoever started it.
    ($st, $out) = run_refused('-d', '-u', 'nobody', '-F', $file);
    is($st, 73, '-u nobody, -d: exit status 73 (not 0 from a detached start)');
    is($out, $want, '-u nobody, -d: the line is printed on the terminal');
    is(slurp($file), $before, '-u nobody, -d: FILE left byte for byte');
}
SKIP: {
    skip 'running as root: a directory of mode 0555 does not stop root writing', 3 if $< == 0;
    my $dir = fresh_dir();
    my $file = "$dir/cache.dump";
    my $user = getpwuid($>) // "uid $>";
    chmod 0555, $dir;
    my ($st, $out) = run_refused('-F', $file);
    chmod 0755, $dir;
    is($st, 73, 'directory of mode 0555: exit status 73');
    is($out, "dump file $file: directory $dir is not writable by user $user: Permission denied\n",
       'directory of mode 0555: one line naming the path');
    ok(!-e $file, 'directory of mode 0555: no file made');
}

# ---- -e FILE: removed once loaded, or the start is refused ----
{
    my $dir = fresh_dir();
    my $file = "$dir/cache.mem";
    make_dump($file);
    my $srv = new_memcached(['-e', $file]);
    my $s = $srv->sock;
    is(stats_of($s)->{load_items}, 2, '-e: the two items are loaded');
    ok(!-e $file, '-e: the file is removed once loaded');
    print $s "get a b\r\n";
    is(read_until_end($s), "VALUE a 0 1\r\na\r\nVALUE b 7 2\r\nbb\r\nEND\r\n", '-e: the items are back');
    # After a kill -9 nothing of it comes back.
    $srv->stop('KILL');
    $srv = new_memcached(['-e', $file]);
    is(stats_of($srv->sock)->{load_status}, 'missing', '-e: after kill -9 the next start is empty');
    $srv->stop('KILL');
}
SKIP: {
    skip 'not running as root: a file owned by another user is needed', 4 if $< != 0;
    skip 'no user nobody on this system', 4 unless defined getpwnam('nobody');
    # A sticky directory anyone may write, holding root's file: nobody may
    # read it but not remove it.
    my $dir = fresh_dir();
    my $file = "$dir/cache.mem";
    make_dump($file);
    chmod 01777, $dir;
    my $before = slurp($file);
    my ($st, $out) = run_refused('-u', 'nobody', '-e', $file);
    like($out, qr/\Aloaded 2 items \(\d+ bytes\) from \Q$file\E in [0-9.]+ s; left out: 0 expired, 0 too large, 0 for lack of memory\n/,
         '-e file that cannot be removed: it was loaded');
    is(($out =~ /\n(.*\n)\z/)[0], "-e $file: cannot remove the loaded file: Operation not permitted (os error 1)\n",
       '-e file that cannot be removed: one line naming it');
    is($st, 73, '-e file that cannot be removed: exit status 73, the start is refused');
    chmod 0755, $dir;
    is(slurp($file), $before, '-e file that cannot be removed: left as it was');
}

# ---- what is logged without -v ----
{
    my $dir = fresh_dir();
    my $file = "$dir/cache.dump";
    like(make_dump($file), qr/^final dump to \Q$file\E: 2 items, \d+ bytes in [0-9.]+ s$/m,
         'the final dump at a stop is logged without -v');
    my $srv = new_memcached(['-F', $file]);
    my $out = $srv->output;
    like($out, qr/\Aloaded 2 items \(\d+ bytes\) from \Q$file\E in [0-9.]+ s; left out: 0 expired, 0 too large, 0 for lack of memory\n\z/,
         'the load totals are logged without -v');
    $srv->stop('KILL');
}

done_testing();
