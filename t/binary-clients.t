#!/usr/bin/perl
# Real binary-protocol clients against the server: libmemcached's own
# conformance checker (memccapable -b) and its command-line tools with
# --binary (Debian's libmemcached-tools), and pylibmc in binary mode
# (python3-pylibmc). Each part is skipped only when its client is not
# installed. The pylibmc lines below are what it prints against
# memcached 1.6.45 too.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached('-m 64');
my $port = $server->port;
my $servers = "--servers=127.0.0.1:$port";

sub have { my $t = shift; return scalar grep { -x "$_/$t" } split /:/, $ENV{PATH} }

SKIP: {
    skip 'memccapable not installed (libmemcached-tools)', 2 unless have('memccapable');
    my $out = `memccapable -h 127.0.0.1 -p $port -b 2>&1`;
    note($out);
    is($?, 0, 'memccapable -b exits 0');
    like($out, qr/All tests passed/, 'memccapable -b: every binary test passes');
}

SKIP: {
    skip 'memccp/memccat not installed (libmemcached-tools)', 4
        unless have('memccp') && have('memccat');
    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/greeting") or die;
    print $fh "hello over binary\n";
    close $fh;
    system('memccp', '--binary', $servers, "$dir/greeting");
    is($?, 0, 'memccp --binary stores a file');
    # memccat prints a newline after each value.
    is(`memccat --binary $servers greeting`, "hello over binary\n\n", 'memccat --binary reads it');
    system('memcrm', '--binary', $servers, 'greeting');
    is($?, 0, 'memcrm --binary deletes it');
    like(`memcstat --binary $servers`, qr/^\s+pid: \d+$/m, 'memcstat --binary lists stats');
}

# A python3 that has pylibmc (Debian's package installs it for
# /usr/bin/python3, which may not be the first python3 on the PATH).
my ($python) = grep { system("$_ -c 'import pylibmc' 2>/dev/null") == 0 }
               grep { have($_) || -x $_ } ('python3', '/usr/bin/python3');

my $script = <<'PY';
import sys, pylibmc
mc = pylibmc.Client(["127.0.0.1:" + sys.argv[1]], binary=True, behaviors={"cas": True})
def t(name, f):
    try:
        r = f()
    except Exception as e:
        r = "raised %s" % type(e).__name__
    print("%s %r" % (name, r))
t("set", lambda: mc.set("a", "1"))
t("get", lambda: mc.get("a"))
t("set_multi", lambda: mc.set_multi({"x": b"1", "y": b"2", "z": "zz"}))
t("get_multi", lambda: sorted(mc.get_multi(["x", "y", "z", "nope"]).items()))
t("incr", lambda: mc.incr("x", 5))
t("decr", lambda: mc.decr("x", 2))
t("incr_miss", lambda: mc.incr("nope", 2))
t("add", lambda: mc.add("a", "2"))
t("replace", lambda: mc.replace("nope", "2"))
t("append", lambda: mc.append("z", "!"))
t("prepend", lambda: mc.prepend("z", "<"))
t("get", lambda: mc.get("z"))
v, cas = mc.gets("a")
t("cas_ok", lambda: mc.cas("a", "3", cas))
t("cas_stale", lambda: mc.cas("a", "4", cas))
t("get", lambda: mc.get("a"))
t("delete", lambda: mc.delete("a"))
t("delete", lambda: mc.delete("a"))
t("touch", lambda: mc.touch("z", 100))
t("touch_miss", lambda: mc.touch("nope", 100))
t("stats", lambda: "pid" in mc.get_stats()[0][1])
t("big", lambda: (mc.set("big", b"x" * 500000), len(mc.get("big"))))
t("pickle", lambda: (mc.set("obj", {"k": [1, 2]}), mc.get("obj")))
t("int", lambda: (mc.set("i", 42), mc.get("i")))
t("flush_all", lambda: mc.flush_all())
t("get", lambda: mc.get("z"))
t("delete_multi", lambda: (mc.set_multi({"d1": 1, "d2": 2}), mc.delete_multi(["d1", "d2", "d3"])))
PY

my $want = <<'OUT';
set True
get '1'
set_multi []
get_multi [('x', b'1'), ('y', b'2'), ('z', 'zz')]
incr 6
decr 4
incr_miss 'raised NotFound'
add False
replace 'raised NotFound'
append True
prepend True
get '<zz!'
cas_ok True
cas_stale False
get '3'
delete True
delete False
touch True
touch_miss False
stats True
big (True, 500000)
pickle (True, {'k': [1, 2]})
int (True, 42)
flush_all True
get None
delete_multi ([], False)
OUT

SKIP: {
    skip 'pylibmc not installed (python3-pylibmc)', 1 unless $python;
    my $dir = tempdir(CLEANUP => 1);
    open(my $fh, '>', "$dir/client.py") or die;
    print $fh $script;
    close $fh;
    my $got = `$python $dir/client.py $port 2>&1`;
    is($got, $want, 'pylibmc, binary=True: every call as against memcached');
}

ok($server->is_running, 'the server is still running');
done_testing();
