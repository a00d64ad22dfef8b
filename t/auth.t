#!/usr/bin/perl
# ASCII authentication (-Y FILE): the auth file read at start (and what a
# bad one does), the fake `set` whose data block is "user pass", the reply
# to every other command before it succeeds, the lines that close the
# connection, the auth counters, and the reload on SIGHUP. Checked against
# memcached 1.6.45 (MEMCACHED_BIN=/path/to/memcached-1.6.45/memcached);
# the is_ours() blocks are where we differ on purpose
# (doc/compatibility.md).
#
# memcached loses replies when several requests reach an unauthenticated
# connection in one read (each overwrites the last), so every request here
# waits for its reply before the next is sent, except in the pipelining
# tests that only run against our server.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;

# A server closing a connection we are still writing to must not kill us.
$SIG{PIPE} = 'IGNORE';

my $dir = tempdir('mcauth.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my @as_root = $< == 0 ? ('-u', 'root') : ();

# A daemon started below is not our child: never leave it behind (checking
# that the pid still names our server, with our pid file on its command
# line).
my $daemon_pidfile = "$dir/daemon.pid";
my $daemon_pid;
END {
    if ($daemon_pid && open(my $fh, '<', "/proc/$daemon_pid/cmdline")) {
        my $cmdline = <$fh> // '';
        kill 'KILL', $daemon_pid if index($cmdline, $daemon_pidfile) >= 0;
    }
}

# The contents of a file, or undef.
sub slurp {
    my $path = shift;
    open(my $fh, '<', $path) or return undef;
    local $/;
    return <$fh>;
}

# Writes an auth file and returns its path.
sub auth_file {
    my ($name, $content) = @_;
    my $path = "$dir/$name";
    open(my $fh, '>', $path) or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh or die "$path: $!";
    return $path;
}

# The authentication request for a payload: any key, flags and exptime,
# and the payload's length.
sub auth_req {
    my ($payload) = @_;
    return "set auth 0 0 " . length($payload) . "\r\n$payload\r\n";
}

# Sends one request and returns the reply line.
sub reply {
    my ($sock, $req) = @_;
    return send_recv($sock, $req) // '<closed>';
}

# True if the server closes the connection (EOF or reset) within 5 s.
sub closed {
    my $sock = shift;
    my ($n, $buf) = (1, '');
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        $n = sysread($sock, $buf, 1);
        alarm 0;
    };
    alarm 0;
    return !$n ? 1 : 0;
}

# Logs in on a fresh connection; returns the reply line.
sub try_login {
    my ($server, $user, $pass) = @_;
    my $sock = $server->new_sock or return '<no connection>';
    return reply($sock, auth_req("$user $pass"));
}

# memcached reloads on its next clock tick, within a second of the signal:
# retries a login until it gives `want` or 5 s pass.
sub login_becomes {
    my ($server, $user, $pass, $want) = @_;
    my $deadline = time + 5;
    my $got;
    do {
        $got = try_login($server, $user, $pass);
        return $got if $got eq $want;
        usleep(100_000);
    } while (time < $deadline);
    return $got;
}

# Starts the binary in the foreground with an auth file that should stop
# it; returns (exit status, output).
sub start_fails {
    my @args = @_;
    return run_binary(@as_root, '-l', '127.0.0.1', '-p', free_port(), @args);
}

my $users = auth_file('users',
    "alice:secret\nbob:hunter2\ncarol:a:b\r\ndave:two words\nerin:\n");

# ---- before authentication ----

my $server = new_memcached("-Y $users");
my $sock = $server->sock;

# A request is a line starting with "set" whose fifth token is a length
# read strictly (digits only, at most 11, 32 bits); anything else is
# answered unauthenticated.
for my $cmd ("get foo\r\n", "gets foo\r\n", "version\r\n", "stats\r\n",
             "mg foo v\r\n", "delete foo\r\n", "incr n 1\r\n",
             "flush_all\r\n", "verbosity 1\r\n", "set foo 0 0\r\n",
             "cas foo 0 0 1 1\r\n", "SET foo 0 0 1\r\n", "set foo 0 0 1x\r\n",
             "set foo 0 0 -1\r\n", "set foo 0 0 +1\r\n", "set foo 0 0 4294967296\r\n",
             "set foo 0 0 000000000001\r\n", "  set foo 0 0 1\r\n",
             "set\tfoo 0 0 1\r\n", "abcde\r\n", "abcdef\n") {
    (my $name = $cmd) =~ s/\r?\n$//;
    $name =~ s/\t/\\t/g;
    is(reply($sock, $cmd), "CLIENT_ERROR unauthenticated\r\n",
       "before authentication: '$name'");
}
is(reply($sock, "add foo 0 0 12\r\n"), "CLIENT_ERROR unauthenticated\r\n",
   'add is not an authentication request');
is(reply($sock, "alice secret\r\n"), "CLIENT_ERROR unauthenticated\r\n",
   'so its data line is a command line of its own');
is(reply($sock, "get foo\r\n"), "CLIENT_ERROR unauthenticated\r\n",
   'and the connection stays open');

# A line shorter than 6 bytes before its newline ("set a" is the shortest
# request) closes the connection without a reply.
for my $cmd ("quit\r\n", "mn\r\n", "get\r\n", "getx\r\n", "abcde\n",
             "\r\nget foo\r\n", "\n\n\n") {
    (my $name = $cmd) =~ s/([\r\n])/$1 eq "\r" ? '\r' : '\n'/ge;
    my $s = $server->new_sock;
    print $s $cmd;
    ok(closed($s), "'$name' before authentication closes the connection");
}

# ---- failed attempts ----

$sock = $server->new_sock;
is(reply($sock, auth_req('alice wrong')), "CLIENT_ERROR authentication failure\r\n",
   'wrong password');
is(reply($sock, auth_req('alice hunter2')), "CLIENT_ERROR authentication failure\r\n",
   "another user's password");
is(reply($sock, auth_req('mallory secret')), "CLIENT_ERROR authentication failure\r\n",
   'unknown user');
is(reply($sock, auth_req('Alice secret')), "CLIENT_ERROR authentication failure\r\n",
   'user names are case sensitive');
is(reply($sock, auth_req('alice secre')), "CLIENT_ERROR authentication failure\r\n",
   'a prefix of the password');
is(reply($sock, auth_req('alice secrets')), "CLIENT_ERROR authentication failure\r\n",
   'the password and one more byte');
is(reply($sock, auth_req('alice x secret')), "CLIENT_ERROR authentication failure\r\n",
   'the password is everything after the first space');
is(reply($sock, auth_req('alice secret trailing words')),
   "CLIENT_ERROR authentication failure\r\n", 'words after the password are part of it');
is(reply($sock, auth_req('alice secret ')), "CLIENT_ERROR authentication failure\r\n",
   'a space after the password is part of it');
is(reply($sock, auth_req(' alice secret')), "CLIENT_ERROR authentication failure\r\n",
   'a space first: an empty user');
is(reply($sock, auth_req("alice secret\r")), "CLIENT_ERROR authentication failure\r\n",
   'a carriage return is part of the password');
is(reply($sock, auth_req("alice\0 secret")), "CLIENT_ERROR authentication failure\r\n",
   'a NUL byte is part of the user');
is(reply($sock, auth_req('alice ')), "CLIENT_ERROR authentication failure\r\n",
   'user and a space: an empty password');
is(reply($sock, auth_req('alice')), "CLIENT_ERROR bad authentication token format\r\n",
   'user without a space');
is(reply($sock, auth_req('')), "CLIENT_ERROR bad authentication token format\r\n",
   'empty data block');
is(reply($sock, auth_req('alice:secret')), "CLIENT_ERROR bad authentication token format\r\n",
   'the file format is not the wire format');
is(reply($sock, auth_req("alice\tsecret")), "CLIENT_ERROR bad authentication token format\r\n",
   'only a space separates user and password');
is(reply($sock, "set auth 0 0 12\r\nalice secret\n\n"),
   "CLIENT_ERROR bad command line termination\r\n",
   'data block not ending in \r\n');
is(reply($sock, "set auth 0 0 16385\r\n"), "CLIENT_ERROR auth token too long\r\n",
   'a length over 16384: refused, the block not read');
is(reply($sock, "set auth 0 0 4294967295 noreply\r\n"),
   "CLIENT_ERROR auth token too long\r\n", 'the largest length; noreply is ignored');
is(reply($sock, "get foo\r\n"), "CLIENT_ERROR unauthenticated\r\n",
   'still unauthenticated after failures');

# ---- success ----

is(reply($sock, auth_req('alice secret')), "STORED\r\n", 'alice logs in');
is(reply($sock, "get auth\r\n"), "END\r\n", 'the authentication set stored nothing');
is(reply($sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
   'a set after authentication is a set');
mem_get_is($sock, 'foo', 'bar', 'and stores its value');
like(reply($sock, "version\r\n"), qr/^VERSION 1\.6\.\d+\r\n\z/,
   'version after authentication');
is(reply($sock, auth_req('alice wrong')), "STORED\r\n",
   'after authentication an authentication set is only a set');
mem_get_is($sock, 'auth', 'alice wrong', 'it stored its data');
is(reply($sock, "quit\r\n"), '<closed>', 'quit after authentication quits');

# ---- several users, spacing, ignored fields ----

is(try_login($server, 'bob', 'hunter2'), "STORED\r\n", 'bob logs in');
is(try_login($server, 'carol', 'a:b'), "STORED\r\n",
   'password with a colon; CRLF file line');
is(try_login($server, 'dave', 'two words'), "STORED\r\n", 'password with a space');
is(try_login($server, 'erin', ''), "STORED\r\n", 'an empty password');
is(try_login($server, 'bob', 'secret'), "CLIENT_ERROR authentication failure\r\n",
   "bob with alice's password");
{
    my $s = $server->new_sock;
    is(reply($s, "set whatever 123 -1 12 noreply\r\nalice secret\r\n"), "STORED\r\n",
       'key, flags and exptime are ignored; noreply too');
    $s = $server->new_sock;
    is(reply($s, "set k x y 12 more tokens\r\nalice secret\r\n"), "STORED\r\n",
       'flags and exptime need not be numbers; extra tokens are ignored');
    $s = $server->new_sock;
    is(reply($s, "set k 0 0 12" . (' t' x 30) . "\r\nalice secret\r\n"), "STORED\r\n",
       'many tokens');
    $s = $server->new_sock;
    is(reply($s, "set k 0 0 00000000012\r\nalice secret\r\n"), "STORED\r\n",
       'a zero-padded length of 11 digits');
    $s = $server->new_sock;
    is(reply($s, "setx k 0 0 12\r\nalice secret\r\n"), "STORED\r\n",
       'only the first three bytes must be "set"');
    $s = $server->new_sock;
    is(reply($s, "set k 0 0 12 \r\nalice secret\r\n"), "STORED\r\n",
       'a space at the end of the line');
    $s = $server->new_sock;
    is(reply($s, "set k 0 0 12\nx\r\n"), "CLIENT_ERROR bad authentication token format\r\n",
       'a line ending in a bare newline loses its last byte: length 1');
    $s = $server->new_sock;
    print $s "set k 0 0 12\r\nali";
    usleep(100_000);
    print $s "ce sec";
    usleep(100_000);
    is(reply($s, "ret\r\n"), "STORED\r\n", 'data block arriving in pieces');
}

# ---- pipelining after authentication ----

{
    my $s = $server->new_sock;
    print $s auth_req('bob hunter2') . "set p 0 0 2\r\nhi\r\nget p\r\ndelete p\r\nmn\r\n";
    is(read_until_end($s, "MN\r\n"),
       "STORED\r\nSTORED\r\nVALUE p 0 2\r\nhi\r\nEND\r\nDELETED\r\nMN\r\n",
       'commands pipelined after the login are served in the same read');
}

# ---- limits: long lines and large blocks close the connection ----

{
    my $s = $server->new_sock;
    print $s 'g' x 2048;
    usleep(100_000);
    is(reply($s, "\r\n"), "CLIENT_ERROR unauthenticated\r\n",
       'a 2048-byte line is still read');
    $s = $server->new_sock;
    print $s 'g' x 2049;
    ok(closed($s), 'more than 2048 bytes without a newline closes');
    $s = $server->new_sock;
    print $s 'get ' . ('k' x 3000);
    ok(closed($s), 'a long get too, before authentication');

    my $payload = ('x' x 16380) . ' y';
    $s = $server->new_sock;
    is(reply($s, auth_req($payload)), "CLIENT_ERROR authentication failure\r\n",
       'a 16382-byte data block is read');
    # memcached's read buffer (16384 bytes) cannot hold a block of 16383
    # or 16384 bytes with its "\r\n", and a longer one is refused.
    for my $len (16383, 16384) {
        $payload = ('x' x ($len - 2)) . ' y';
        $s = $server->new_sock;
        print $s auth_req($payload);
        ok(closed($s), "a $len-byte data block closes the connection");
    }
}

# ---- stats ----

{
    my $srv = new_memcached("-Y $users");
    my $s = $srv->sock;
    reply($s, "get foo\r\n");
    reply($s, auth_req('alice wrong'));
    reply($s, auth_req('nobody here'));
    reply($s, auth_req('alice'));
    reply($s, "set a 0 0 1\r\nxyz");
    is(reply($s, auth_req('alice secret')), "STORED\r\n", 'logged in for stats');
    print $s "stats\r\n";
    my $stats = read_until_end($s);
    like($stats, qr/^STAT auth_cmds 3\r\n/m,
         'auth_cmds: two failures and the success');
    like($stats, qr/^STAT auth_errors 2\r\n/m, 'auth_errors: the two failures');
    try_login($srv, 'bob', 'hunter2');
    try_login($srv, 'bob', 'bad');
    print $s "stats\r\n";
    $stats = read_until_end($s);
    like($stats, qr/^STAT auth_cmds 5\r\n/m, 'counted across connections');
    like($stats, qr/^STAT auth_errors 3\r\n/m, 'errors across connections');
    print $s "stats settings\r\n";
    my $settings = read_until_end($s);
    like($settings, qr/^STAT auth_enabled_ascii \Q$users\E\r\n/m,
         'stats settings names the auth file');
    like($settings, qr/^STAT binding_protocol ascii\r\n/m, '-Y implies -B ascii');
    is(reply($s, "stats reset\r\n"), "RESET\r\n", 'stats reset');
    print $s "stats\r\n";
    $stats = read_until_end($s);
    like($stats, qr/^STAT auth_cmds 0\r\nSTAT auth_errors 0\r\n/m,
         'stats reset clears both');
}

# ---- the auth file at start ----

{
    my $empty = auth_file('empty', '');
    my ($status, $out) = start_fails('-Y', $empty);
    isnt($status, 0, 'an empty file: refuses to start (nobody could log in)');
    like($out, qr/\Q$empty\E/, 'an empty file: the message names it');
    if (is_ours()) {
        is($status, 64, 'an empty file: exit 64 (EX_USAGE)');
        is($out, "-Y $empty: no user:password line\n", 'an empty file: one line');
    }
}

{
    my $missing = "$dir/missing";
    my ($status, $out) = start_fails('-Y', $missing);
    isnt($status, 0, 'missing auth file: refuses to start');
    like($out, qr/\Q$missing\E/, 'missing auth file: the message names it');
    if (is_ours()) {
        is($status, 71, 'missing auth file: exit 71 (EX_OSERR)');
        is($out, "-Y $missing: cannot read the auth file: No such file or directory (os error 2)\n",
           'missing auth file: one line, the file and the reason');
    }
}

for my $case (
    ['blank line between entries', "alice:secret\n\nbob:hunter2\n", 'line 2 is empty'],
    ['blank line at the end',      "alice:secret\n\n",             'line 2 is empty'],
    ['blank line first',           "\nalice:secret\n",             'line 1 is empty'],
    ['only a newline',             "\n",                           'line 1 is empty'],
    ['CRLF blank line',            "alice:secret\r\n\r\n",         'line 2 is empty'],
    ['line without a colon',       "alice:secret\nbob\n",          "line 2 has no ':'"],
    ['comment line',               "# users\nalice:secret\n",      "line 1 has no ':'"],
    ['spaces only',                "alice:secret\n \n",            "line 2 has no ':'"],
) {
    my ($name, $content, $why) = @$case;
    my $path = auth_file('bad', $content);
    my ($status, $out) = start_fails('-Y', $path);
    isnt($status, 0, "$name: refuses to start");
    like($out, qr/\Q$path\E/, "$name: the message names the file");
    if (is_ours()) {
        is($status, 64, "$name: exit 64 (EX_USAGE)");
        is($out, "-Y $path: $why; every line must be user:password\n",
           "$name: one line, the file and the line");
    }
}

if ($< == 0 && defined getpwnam('nobody')) {
    my $private = auth_file('private', "alice:secret\n");
    chmod 0600, $private;
    my ($status, $out) = run_binary('-u', 'nobody', '-l', '127.0.0.1',
                                    '-p', free_port(), '-Y', $private);
    isnt($status, 0, 'the file is read as the -u user: refused when it cannot');
    like($out, qr/\Q$private\E.*Permission denied/, 'and the message says why');
}

if (is_ours()) {
    # memcached starts with a directory as its auth file (and no users),
    # and with -d reports a bad file nowhere, exiting 0.
    my ($status, $out) = start_fails('-Y', $dir);
    is($status, 71, 'a directory as auth file: exit 71');
    is($out, "-Y $dir: cannot read the auth file: Is a directory (os error 21)\n",
       'a directory as auth file: the message');
    my $missing = "$dir/missing";
    ($status, $out) = start_fails('-d', '-Y', $missing);
    is($status, 71, '-d: a missing auth file is reported before detaching');
    like($out, qr/^-Y \Q$missing\E: cannot read the auth file/, '-d: with its message');
}

# ---- what we serve beyond memcached (doc/compatibility.md) ----

if (is_ours()) {
    my $many = auth_file('many',
        join('', map { "user$_:pass$_\n" } 1 .. 20) . 'long:' . ('p' x 300) . "\nlast:one\n");
    my $srv = new_memcached("-Y $many");
    is(try_login($srv, 'user9', 'pass9'), "STORED\r\n", 'the ninth entry logs in');
    is(try_login($srv, 'user20', 'pass20'), "STORED\r\n", 'the twentieth too');
    is(try_login($srv, 'long', 'p' x 300), "STORED\r\n", 'a 300-byte password');
    is(try_login($srv, 'long', 'p' x 253), "CLIENT_ERROR authentication failure\r\n",
       'is not cut short');
    is(try_login($srv, 'last', 'one'), "STORED\r\n", 'the entry after a long line');

    # One reply per request, however many arrive in one read.
    my $s = $srv->new_sock;
    print $s "get a\r\nversion\r\n" . auth_req('user1 bad') . "stats\r\n"
        . "set k 0 0 20000\r\n" . auth_req('user1 pass1') . "get a\r\n";
    is(read_until_end($s),
       "CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR unauthenticated\r\n"
       . "CLIENT_ERROR authentication failure\r\nCLIENT_ERROR unauthenticated\r\n"
       . "CLIENT_ERROR auth token too long\r\nSTORED\r\nEND\r\n",
       'pipelined before authentication: every request answered');
    # A line that closes the connection does so after those replies.
    $s = $srv->new_sock;
    print $s "get a\r\n" . auth_req('user1') . "mn\r\nget a\r\n";
    is(read_reply($s, 200),
       "CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR bad authentication token format\r\n",
       'a short line after other requests: their replies, then the close');
    # memcached waits for a third byte before it looks at a line.
    $s = $srv->new_sock;
    print $s "\n";
    ok(closed($s), 'a lone newline closes at once');
    $s = $srv->new_sock;
    print $s "set k 0 0 16383\r\n";
    ok(closed($s), 'a length too large for the read buffer closes at the command line');
}

# ---- reload on SIGHUP ----

{
    my $path = auth_file('reload', "alice:secret\n");
    my $srv = new_memcached("-Y $path");
    my $kept = $srv->sock;
    is(reply($kept, auth_req('alice secret')), "STORED\r\n", 'before reload: alice');

    auth_file('reload', "bob:hunter2\n");
    kill 'HUP', $srv->pid;
    is(login_becomes($srv, 'bob', 'hunter2', "STORED\r\n"), "STORED\r\n",
       'SIGHUP reloads the file: bob can log in');
    is(try_login($srv, 'alice', 'secret'), "CLIENT_ERROR authentication failure\r\n",
       'and alice no longer');
    is(reply($kept, "get foo\r\n"), "END\r\n",
       'a connection that logged in before stays logged in');

    auth_file('reload', "bob:hunter2\nbroken\n");
    kill 'HUP', $srv->pid;
    usleep(1_500_000);
    ok($srv->is_running, 'a bad file on reload does not stop the server');
    is(try_login($srv, 'bob', 'hunter2'), "STORED\r\n",
       'and the entries loaded before stay');
    if (is_ours()) {
        like($srv->output, qr/^-Y \Q$path\E: not reloaded, the entries loaded before stay: line 2 has no ':'/m,
             'the failed reload is logged');
    }

    unlink $path;
    kill 'HUP', $srv->pid;
    usleep(1_500_000);
    is(try_login($srv, 'bob', 'hunter2'), "STORED\r\n", 'so does a missing file');

    auth_file('reload', '');
    kill 'HUP', $srv->pid;
    usleep(1_500_000);
    is(try_login($srv, 'bob', 'hunter2'), "STORED\r\n", 'and so does an empty file');

    auth_file('reload', "carol:x\n");
    kill 'HUP', $srv->pid;
    is(login_becomes($srv, 'carol', 'x', "STORED\r\n"), "STORED\r\n",
       'a good file after them is loaded');
    is(try_login($srv, 'bob', 'hunter2'), "CLIENT_ERROR authentication failure\r\n",
       'and replaces the old entries');
}

{
    # A detached server reloads on SIGHUP too (memcached 1.6.18 ignored
    # it there; 1.6.45 does not).
    my $path = auth_file('daemon', "alice:secret\n");
    my $port = free_port();
    my ($status, $out) = run_binary(@as_root, '-d', '-P', $daemon_pidfile,
                                    '-l', '127.0.0.1', '-p', $port, '-Y', $path);
    is($status, 0, '-d with a good auth file: detaches');
    my $deadline = time + 10;
    usleep(20_000) until -s $daemon_pidfile || time > $deadline;
    ($daemon_pid) = (slurp($daemon_pidfile) // '') =~ /^(\d+)\n/;
    ok($daemon_pid, '-d: the pid file names the daemon');
    my $login = sub {
        my ($user, $pass) = @_;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp',
                                      Timeout => 5) or return '<no connection>';
        return reply($s, auth_req("$user $pass"));
    };
    is($login->('alice', 'secret'), "STORED\r\n", '-d: alice logs in');
    auth_file('daemon', "bob:hunter2\n");
    kill 'HUP', $daemon_pid if $daemon_pid;
    $deadline = time + 5;
    usleep(50_000) until $login->('bob', 'hunter2') eq "STORED\r\n" || time > $deadline;
    is($login->('bob', 'hunter2'), "STORED\r\n", '-d: SIGHUP reloads the file');
    is($login->('alice', 'secret'), "CLIENT_ERROR authentication failure\r\n",
       '-d: and the old entry is gone');
    kill 'TERM', $daemon_pid if $daemon_pid;
}

{
    my $srv = new_memcached('');
    kill 'HUP', $srv->pid;
    usleep(300_000);
    ok($srv->is_running, 'SIGHUP without -Y changes nothing');
    like(reply($srv->sock, "version\r\n"), qr/^VERSION /, 'and the server serves');
}

done_testing();
