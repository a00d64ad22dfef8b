#!/usr/bin/perl
# watch: log streams sent to a connection. The exact line of each event
# kind (item_get, item_store, deleted, eviction, conn_new, conn_close), the
# replies of `watch` itself (names, shortened names, a watch behind other
# commands of the same batch), what a watcher may still send, several
# watchers with their own filters, and a watcher that stops reading. ts=
# and gid= are checked by pattern only; cfd= is checked against the
# client's own conn_new line. Checked against memcached 1.6.45.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_LINGER);
use lib 't/lib';
use MemcachedTest;

# Reads one log line and returns it without its "ts=... gid=... " prefix
# (checked here), or as it is for anything else ("OK\r\n", "skipped=N").
sub wline {
    my ($w) = @_;
    my $l = <$w>;
    return '<EOF>' unless defined $l;
    if ($l =~ /^ts=/) {
        return $l =~ s/^ts=\d+\.\d+ gid=\d+ //r
            if $l =~ /^ts=\d+\.\d{1,6} gid=\d+ /;
        return "bad prefix: $l";
    }
    return $l;
}

# Starts a watcher on a new connection of $server.
sub watcher {
    my ($server, $names) = @_;
    # memcached sets a new connection up on a worker thread some time after
    # accepting it: a round trip on the first connection makes sure its
    # conn_new has happened before anybody watches.
    send_recv($server->sock, "version\r\n");
    my $w = $server->new_sock;
    print $w "watch $names\r\n";
    is(scalar <$w>, "OK\r\n", "watch $names: OK");
    return $w;
}

# Connects a client while $w watches connevents and returns it with the
# cfd its lines carry, checking the conn_new line on the way (TCP).
sub tcp_client {
    my ($server, $w) = @_;
    my $c = $server->new_sock;
    my $port = $c->sockport;
    my $l = wline($w);
    like($l, qr/^type=conn_new rip=127\.0\.0\.1 rport=$port transport=tcp cfd=\d+\n\z/,
         'conn_new: address, port, transport');
    my ($cfd) = $l =~ /cfd=(\d+)/;
    return ($c, $cfd // -1);
}

# ---- replies of `watch` ----
{
    my $server = new_memcached();
    my $sock = $server->sock;
    is(send_recv($sock, "watch bogus\r\n"), "ERROR\r\n", 'unknown name: ERROR');
    is(send_recv($sock, "watch fetchers bogus\r\n"), "ERROR\r\n",
       'one unknown name among known ones: ERROR');
    is(send_recv($sock, "watch FETCHERS\r\n"), "ERROR\r\n", 'names are case sensitive');
    is(send_recv($sock, "watch fetchersx\r\n"), "ERROR\r\n", 'a name and more: ERROR');
    is(send_recv($sock, "watch f\0\r\n"), "ERROR\r\n",
       'a start of a name and a NUL: ERROR');
    is(send_recv($sock, "watch noreply\r\n"), "ERROR\r\n",
       'watch noreply: ERROR (1.6.45 reads no noreply here), the connection stays a client');
    is(send_recv($sock, "version\r\n") =~ /^VERSION /, 1, 'still serving after ERRORs');
    # Any start of a name is the first name it starts (in memcached's
    # order: rawcmds evictions fetchers mutations sysevents connevents
    # proxyreqs proxyevents proxyuser deletions).
    my @w;
    for my $names ('rawcmds', 'sysevents', 'proxyreqs', 'proxyevents', 'proxyuser',
                   'deletions', 'fetchers mutations evictions connevents',
                   'd', 'f m e c', 'proxye', 'fetchers  deletions', "fetchers\0junk") {
        push @w, watcher($server, $names);
    }
    is(stats_of($sock)->{log_watchers}, 12, 'log_watchers: every watcher taken');
}

# ---- watch behind other commands of the same batch ----
{
    # memcached refuses a watch while replies of earlier commands of the
    # same read are still to be sent (noreply ones count); mn writes its
    # reply at once, so a watch after it is taken.
    my $server = new_memcached();
    my $s = $server->new_sock;
    my $want = "END\r\nERROR cannot pipeline other commands before watch\r\nEND\r\n";
    print $s "get a\r\nwatch\r\nget b\r\n";
    is(read_reply($s, length $want), $want,
       'watch behind a get: refused, and the connection stays a client');
    $want = "ERROR cannot pipeline other commands before watch\r\nMN\r\n";
    print $s "set x 0 0 1 noreply\r\nx\r\nwatch\r\nmn\r\n";
    is(read_reply($s, length $want), $want, 'behind a noreply set: refused');
    $want = "ERROR\r\nERROR cannot pipeline other commands before watch\r\nMN\r\n";
    print $s "bogus\r\nwatch bogus\r\nmn\r\n";
    is(read_reply($s, length $want), $want, 'refused before its names are read');
    is(send_recv($s, "get a\r\n"), "END\r\n", 'a get answered');
    is(send_recv($s, "watch\r\n"), "OK\r\n", 'then watch, in a read of its own, is taken');
    my $m = $server->new_sock;
    print $m "mn\r\nwatch fetchers\r\nget dropped\r\n";
    is(read_reply($m, 8), "MN\r\nOK\r\n", 'watch after mn in the same read is taken');
    print {$server->sock} "get k1\r\n";
    is(scalar readline($server->sock), "END\r\n", 'a client get');
    like(wline($m), qr/^type=item_get key=k1 status=not_found clsid=0 cfd=\d+ size=0\n\z/,
         'the watcher taken after mn sees it (not its own dropped get)');
}

# ---- at most 20 watchers ----
{
    my $server = new_memcached();
    my @w = map { watcher($server, 'fetchers') } 1 .. 20;
    my $extra = $server->new_sock;
    is(send_recv($extra, "watch\r\n"), "WATCHER_TOO_MANY log watcher limit reached\r\n",
       'a 21st watcher is refused');
    is(send_recv($extra, "get a\r\n"), "END\r\n", 'and stays a client');
    close(shift @w);
    wait_stat($server->sock, 'log_watchers', 19);
    is(send_recv($extra, "watch\r\n"), "OK\r\n", 'once one leaves, a new watcher is taken');
}

# ---- -W ----
{
    my $server = new_memcached('-W');
    my $sock = $server->sock;
    is(send_recv($sock, "watch\r\n"), "CLIENT_ERROR watch commands not allowed\r\n",
       '-W: watch refused');
    is(send_recv($sock, "watch bogus\r\n"), "CLIENT_ERROR watch commands not allowed\r\n",
       '-W: refused before names are looked at');
    is(send_recv($sock, "get a\r\n"), "END\r\n", '-W: the connection goes on');
    is(stats_of($sock)->{log_watchers}, 0, '-W: no watchers');
}

# ---- every event kind over TCP, line by line ----
{
    my $server = new_memcached();
    my $w = watcher($server, 'fetchers mutations connevents');
    my ($c, $f) = tcp_client($server, $w);
    my @steps = (
        ["get foo\r\n", "END\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n"],
        ["set foo 5 0 3\r\nbar\r\n", "STORED\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=$f size=3\n"],
        ["get foo foo2\r\n", "VALUE foo 5 3\r\nbar\r\nEND\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=3\n",
         "type=item_get key=foo2 status=not_found clsid=0 cfd=$f size=0\n"],
        ["add foo 0 0 1\r\nx\r\n", "NOT_STORED\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=3\n",
         "type=item_store key=foo status=not_stored cmd=add ttl=0 clsid=1 cfd=$f size=1\n"],
        ["cas foo 0 0 1 999999\r\nx\r\n", "EXISTS\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=3\n",
         "type=item_store key=foo status=exists cmd=cas ttl=0 clsid=1 cfd=$f size=1\n"],
        ["cas zz 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n",
         "type=item_get key=zz status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=zz status=not_found cmd=cas ttl=0 clsid=1 cfd=$f size=1\n"],
        ["set n 0 100 1\r\n5\r\n", "STORED\r\n",
         "type=item_get key=n status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=n status=stored cmd=set ttl=100 clsid=1 cfd=$f size=1\n"],
        ["incr n 3\r\n", "8\r\n",
         "type=item_get key=n status=found clsid=1 cfd=$f size=1\n"],
        ["decr zz 1\r\n", "NOT_FOUND\r\n",
         "type=item_get key=zz status=not_found clsid=0 cfd=$f size=0\n"],
        ["append foo 0 0 1\r\nz\r\n", "STORED\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=3\n",
         "type=item_store key=foo status=stored cmd=append ttl=0 clsid=1 cfd=$f size=4\n"],
        ["prepend zz 0 0 1\r\nz\r\n", "NOT_STORED\r\n",
         "type=item_get key=zz status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=zz status=not_stored cmd=prepend ttl=0 clsid=1 cfd=$f size=1\n"],
        ["replace nope 0 0 1\r\nz\r\n", "NOT_STORED\r\n",
         "type=item_get key=nope status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=nope status=not_stored cmd=replace ttl=0 clsid=1 cfd=$f size=1\n"],
        ["touch foo 0\r\n", "TOUCHED\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n"],
        ["gat 0 foo\r\n", "VALUE foo 5 4\r\nbarz\r\nEND\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n"],
        ["delete foo\r\n", "DELETED\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n"],
        ["delete foo\r\n", "NOT_FOUND\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n"],
        ["set a%20b,c 0 0 1\r\nx\r\n", "STORED\r\n",
         "type=item_get key=a%2520b%2Cc status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=a%2520b%2Cc status=stored cmd=set ttl=0 clsid=1 cfd=$f size=1\n"],
        ["get \x01\x7f~!\r\n", "END\r\n",
         "type=item_get key=%01%7F~%21 status=not_found clsid=0 cfd=$f size=0\n"],
        # Meta commands.
        ["mg foo v\r\n", "EN\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n"],
        ["ms foo 2 T0\r\nhi\r\n", "HD\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=$f size=2\n"],
        ["ms foo 2 MA\r\nhi\r\n", "HD\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=2\n",
         "type=item_store key=foo status=stored cmd=append ttl=0 clsid=1 cfd=$f size=4\n"],
        ["ms foo 2 ME\r\nhi\r\n", "NS\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n",
         "type=item_store key=foo status=not_stored cmd=add ttl=0 clsid=1 cfd=$f size=2\n"],
        ["ms foo 2 C1\r\nhi\r\n", "EX\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n",
         "type=item_store key=foo status=exists cmd=cas ttl=0 clsid=1 cfd=$f size=2\n"],
        ["ms foo 2 MR T100\r\nhi\r\n", "HD\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=4\n",
         "type=item_store key=foo status=stored cmd=replace ttl=100 clsid=1 cfd=$f size=2\n"],
        ["mg foo v\r\n", "VA 2\r\nhi\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=2\n"],
        ["mn\r\n", "MN\r\n"],
        ["ma n\r\n", "HD\r\n",
         "type=item_get key=n status=found clsid=1 cfd=$f size=1\n"],
        ["ma zz\r\n", "NF\r\n",
         "type=item_get key=zz status=not_found clsid=0 cfd=$f size=0\n"],
        ["ma cnt N0 J5\r\n", "HD\r\n",
         "type=item_get key=cnt status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_get key=cnt status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=cnt status=stored cmd=add ttl=0 clsid=1 cfd=$f size=1\n"],
        ["md foo\r\n", "HD\r\n",
         "type=item_get key=foo status=found clsid=1 cfd=$f size=2\n"],
        ["md foo\r\n", "NF\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n"],
        ["ms Zm9v 2 b\r\nhi\r\n", "HD\r\n",
         "type=item_get key=foo status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=$f size=2\n"],
        ["ms \xc3\xa9x 1\r\nx\r\n", "HD\r\n",
         "type=item_get key=%C3%A9x status=not_found clsid=0 cfd=$f size=0\n",
         "type=item_store key=%C3%A9x status=stored cmd=set ttl=0 clsid=1 cfd=$f size=1\n"],
    );
    for my $s (@steps) {
        my ($cmd, $reply, @lines) = @$s;
        my $name = $cmd =~ s/\r\n.*//sr;
        $name =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
        print $c $cmd;
        is(read_reply($c, length $reply), $reply, "$name: reply");
        is(wline($w), $_, "$name: line " . ($_ =~ /type=(\S+)/)[0]) for @lines;
    }
    my $port = $c->sockport;
    close $c;
    is(wline($w), "type=conn_close rip=127.0.0.1 rport=$port transport=tcp reason=normal cfd=$f\n",
       'conn_close after the client hung up: reason=normal');

    # quit is a normal close; a line too long is an error close.
    (my $q, $f) = tcp_client($server, $w);
    $port = $q->sockport;
    print $q "quit\r\n";
    is(wline($w), "type=conn_close rip=127.0.0.1 rport=$port transport=tcp reason=normal cfd=$f\n",
       'conn_close after quit: reason=normal');
    (my $e, $f) = tcp_client($server, $w);
    $port = $e->sockport;
    print $e 'x' x 3000;
    is(wline($w), "type=conn_close rip=127.0.0.1 rport=$port transport=tcp reason=error cfd=$f\n",
       'conn_close for a line too long: reason=error');
    (my $r, $f) = tcp_client($server, $w);
    $port = $r->sockport;
    setsockopt($r, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $r;
    is(wline($w), "type=conn_close rip=127.0.0.1 rport=$port transport=tcp reason=error cfd=$f\n",
       'conn_close for a reset connection: reason=error');

    # A watcher that hangs up is closed (reason=error) and removed.
    my $w2 = watcher($server, 'fetchers');
    like(wline($w), qr/^type=conn_new rip=127\.0\.0\.1 rport=\d+ transport=tcp cfd=\d+\n\z/,
         'conn_new of the second watcher');
    is(wait_stat($server->sock, 'log_watchers', 2)->{log_watchers}, 2, 'two watchers');
    print {$server->sock} "stats conns\r\n";
    my @states = read_until_end($server->sock) =~ /:state (conn_watch)\r\n/g;
    is(scalar @states, 2, 'stats conns: both watchers in conn_watch');
    my $w2port = $w2->sockport;
    close $w2;
    like(wline($w), qr/^type=conn_close rip=127\.0\.0\.1 rport=$w2port transport=tcp reason=error cfd=\d+\n\z/,
         'a watcher that hangs up: conn_close reason=error');
    is(wait_stat($server->sock, 'log_watchers', 1)->{log_watchers}, 1,
       'the watcher that hung up is removed');
}

# ---- deletions ----
{
    my $server = new_memcached();
    my $dw = watcher($server, 'deletions');
    my $aw = watcher($server, 'fetchers mutations deletions');
    my $c = $server->sock;
    # Each step: the request, its reply, the lines of the deletions
    # watcher, the lines of the watcher of everything (cfd= not compared).
    my @steps = (
        ["set foo 0 0 3\r\nbar\r\n", "STORED\r\n", [],
         ["type=item_get key=foo status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=F size=3\n"]],
        ["delete foo\r\n", "DELETED\r\n",
         ["type=deleted key=foo cmd=delete clsid=1 size=3\n"],
         ["type=item_get key=foo status=found clsid=1 cfd=F size=3\n",
          "type=deleted key=foo cmd=delete clsid=1 size=3\n"]],
        ["delete foo\r\n", "NOT_FOUND\r\n", [],
         ["type=item_get key=foo status=not_found clsid=0 cfd=F size=0\n"]],
        # An item found expired is removed by the lookup, which says so;
        # no deletion. (In one read, so that nothing else removes it
        # before the delete looks.)
        ["set k 0 -1 1\r\nx\r\ndelete k\r\n", "STORED\r\nNOT_FOUND\r\n", [],
         ["type=item_get key=k status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=k status=stored cmd=set ttl=T clsid=1 cfd=F size=1\n",
          "type=item_get key=k status=expired clsid=0 cfd=F size=0\n"]],
        ["set k 0 -1 1\r\nx\r\nget k\r\n", "STORED\r\nEND\r\n", [],
         ["type=item_get key=k status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=k status=stored cmd=set ttl=T clsid=1 cfd=F size=1\n",
          "type=item_get key=k status=expired clsid=0 cfd=F size=0\n"]],
        ["set a%b,c 0 0 2\r\nxy\r\n", "STORED\r\n", [],
         ["type=item_get key=a%25b%2Cc status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=a%25b%2Cc status=stored cmd=set ttl=0 clsid=1 cfd=F size=2\n"]],
        ["delete a%b,c noreply\r\nmn\r\n", "MN\r\n",
         ["type=deleted key=a%25b%2Cc cmd=delete clsid=1 size=2\n"],
         ["type=item_get key=a%25b%2Cc status=found clsid=1 cfd=F size=2\n",
          "type=deleted key=a%25b%2Cc cmd=delete clsid=1 size=2\n"]],
        ["ms m 4\r\nabcd\r\n", "HD\r\n", [],
         ["type=item_get key=m status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=m status=stored cmd=set ttl=0 clsid=1 cfd=F size=4\n"]],
        ["md m C1\r\n", "EX\r\n", [],
         ["type=item_get key=m status=found clsid=1 cfd=F size=4\n"]],
        ["md m I\r\n", "HD\r\n", [],
         ["type=item_get key=m status=found clsid=1 cfd=F size=4\n"]],
        ["md m q\r\nmn\r\n", "MN\r\n",
         ["type=deleted key=m cmd=md clsid=1 size=4\n"],
         ["type=item_get key=m status=found clsid=1 cfd=F size=4\n",
          "type=deleted key=m cmd=md clsid=1 size=4\n"]],
        ["md m\r\n", "NF\r\n", [],
         ["type=item_get key=m status=not_found clsid=0 cfd=F size=0\n"]],
        # md x stores an empty item with a set, and shows that one deleted.
        ["ms m 4\r\nabcd\r\n", "HD\r\n", [],
         ["type=item_get key=m status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=m status=stored cmd=set ttl=0 clsid=1 cfd=F size=4\n"]],
        ["md m x\r\n", "HD\r\n",
         ["type=deleted key=m cmd=md clsid=1 size=0\n"],
         ["type=item_get key=m status=found clsid=1 cfd=F size=4\n",
          "type=item_get key=m status=found clsid=1 cfd=F size=4\n",
          "type=item_store key=m status=stored cmd=set ttl=0 clsid=1 cfd=F size=0\n",
          "type=deleted key=m cmd=md clsid=1 size=0\n"]],
        ["md m\r\n", "HD\r\n",
         ["type=deleted key=m cmd=md clsid=1 size=0\n"],
         ["type=item_get key=m status=found clsid=1 cfd=F size=0\n",
          "type=deleted key=m cmd=md clsid=1 size=0\n"]],
        # A base64 key shows decoded.
        ["ms Zm9v 2 b\r\nhi\r\n", "HD\r\n", [],
         ["type=item_get key=foo status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=F size=2\n"]],
        ["md Zm9v b\r\n", "HD\r\n",
         ["type=deleted key=foo cmd=md clsid=1 size=2\n"],
         ["type=item_get key=foo status=found clsid=1 cfd=F size=2\n",
          "type=deleted key=foo cmd=md clsid=1 size=2\n"]],
        # Removals that are not a client's delete show nothing here.
        ["set n 0 0 1\r\n1\r\n", "STORED\r\n", [],
         ["type=item_get key=n status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=n status=stored cmd=set ttl=0 clsid=1 cfd=F size=1\n"]],
        ["flush_all\r\n", "OK\r\n", [], []],
        ["delete n\r\n", "NOT_FOUND\r\n", [],
         ["type=item_get key=n status=not_found clsid=0 cfd=F size=0\n"]],
        ["set n 0 0 1\r\n1\r\n", "STORED\r\n", [],
         ["type=item_get key=n status=not_found clsid=0 cfd=F size=0\n",
          "type=item_store key=n status=stored cmd=set ttl=0 clsid=1 cfd=F size=1\n"]],
    );
    for my $s (@steps) {
        my ($cmd, $reply, $dlines, $alines) = @$s;
        (my $name = $cmd) =~ s/\r\n.*//s;
        print $c $cmd;
        is(read_reply($c, length $reply), $reply, "deletions, $name: reply");
        is(wline($dw), $_, "deletions, $name: deletions watcher") for @$dlines;
        for my $want (@$alines) {
            my $l = wline($aw) =~ s/cfd=\d+/cfd=F/r;
            # The TTL of an item stored already expired depends on the
            # server's clock (doc/compatibility.md).
            $l =~ s/ttl=\d{6,}/ttl=T/;
            is($l, $want, "deletions, $name: watcher of everything");
        }
    }
    # The binary protocol's delete is not shown as a deletion.
    my $b = $server->new_sock;
    print $b pack('CCnCCnNNNN', 0x80, 0x04, 1, 0, 0, 0, 1, 0, 0, 0) . 'n';
    is(unpack('x6n', read_reply($b, 24)), 0, 'binary delete: status 0');
    like(wline($aw), qr/^type=item_get key=n status=found clsid=1 cfd=\d+ size=1\n\z/,
         'binary delete: its lookup, no deleted line');
    # A shortened name works as the whole one.
    my $short = watcher($server, 'd');
    print $c "set z 0 0 1\r\nz\r\ndelete z\r\n";
    is(read_reply($c, 17), "STORED\r\nDELETED\r\n", 'deletions: a last delete');
    my $last = "type=deleted key=z cmd=delete clsid=1 size=1\n";
    is(wline($dw), $last, 'deletions watcher: the last delete is its next line');
    is(wline($short), $last, 'watch d: deletions');
}

# ---- an item found flushed ----
{
    # flush_all unlinks the items used in the second before it at once,
    # so a lookup finds nothing there, and leaves older ones for lookups
    # to find flushed (without the LRU maintainer, which could take them
    # first). "old" is made older: our server's clock is moved, memcached's
    # is waited for (a bounded poll of its time).
    my $server = new_memcached('-o no_lru_maintainer');
    my $w = watcher($server, 'fetchers');
    my $c = $server->sock;
    print $c "set old 0 0 1\r\nx\r\n";
    is(scalar <$c>, "STORED\r\n", 'flushed: set old');
    if (is_ours()) {
        is(send_recv($c, "debugtime 2\r\n"), "OK\r\n", 'flushed: two seconds later');
    } else {
        my $t0 = stats_of($c)->{time};
        my $st = wait_stat($c, 'time', sub { $_[0] >= $t0 + 2 }, 10);
        ok($st->{time} >= $t0 + 2, 'flushed: two seconds later');
    }
    print $c "set new 0 0 1\r\nx\r\n";
    is(scalar <$c>, "STORED\r\n", 'flushed: set new');
    # In one read, so that nothing else can take "old" first.
    print $c "flush_all\r\nget old new\r\n";
    is(read_reply($c, 9), "OK\r\nEND\r\n", 'flushed: flush_all, and both are gone');
    my @want = ("type=item_get key=old status=not_found clsid=0 cfd=F size=0\n",
                "type=item_get key=new status=not_found clsid=0 cfd=F size=0\n",
                "type=item_get key=old status=flushed clsid=0 cfd=F size=0\n",
                "type=item_get key=new status=not_found clsid=0 cfd=F size=0\n");
    is(wline($w) =~ s/cfd=\d+/cfd=F/r, $_, 'flushed: ' . ($_ =~ /key=(\S+ status=\S+)/)[0])
        for @want;
    is(stats_of($c)->{get_flushed}, 1, 'get_flushed counts the one found flushed');
}

# ---- what a watcher may still send; two watchers with their own filters ----
{
    my $server = new_memcached();
    my $c = $server->sock;
    my $fw = $server->new_sock;
    # A command pipelined after watch is dropped, as are later ones.
    print $fw "watch fetchers\r\nget pipelined\r\n";
    is(scalar <$fw>, "OK\r\n", 'watch fetchers: OK');
    my $mw = watcher($server, 'mutations');
    print $fw "get fromwatcher\r\nset x 0 0 1\r\nx\r\n";
    print $mw "get fromwatcher\r\n";
    print $c "set k 0 0 1\r\nv\r\n";
    is(scalar <$c>, "STORED\r\n", 'client set');
    like(wline($fw), qr/^type=item_get key=k status=not_found clsid=0 cfd=\d+ size=0\n\z/,
         'fetchers watcher: the client set (nothing of what the watchers sent ran)');
    like(wline($mw), qr/^type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=\d+ size=1\n\z/,
         'mutations watcher: only the store');
    print $c "get k\r\n";
    is(read_reply($c, 21), "VALUE k 0 1\r\nv\r\nEND\r\n", 'client get');
    like(wline($fw), qr/^type=item_get key=k status=found clsid=1 cfd=\d+ size=1\n\z/,
         'fetchers watcher: the get');
    print $c "add k2 0 0 2\r\nvv\r\n";
    is(scalar <$c>, "STORED\r\n", 'client add');
    like(wline($mw), qr/^type=item_store key=k2 status=stored cmd=add ttl=0 clsid=1 cfd=\d+ size=2\n\z/,
         'mutations watcher: next line is the add (no get lines)');
    like(wline($fw), qr/^type=item_get key=k2 status=not_found/, 'fetchers watcher: the add lookup');
    my $st = stats_of($c);
    is($st->{log_watchers}, 2, 'log_watchers 2');
    is($st->{log_worker_dropped}, 0, 'log_worker_dropped 0');
    is($st->{log_watcher_skipped}, 0, 'log_watcher_skipped 0');
    is($st->{log_worker_written}, 5, 'log_worker_written: one per entry') if is_ours();
    is($st->{log_watcher_sent}, 5, 'log_watcher_sent: one per line handed to a watcher')
        if is_ours();
}

# ---- an idle client closed by idle_timeout ----
{
    # The first connection the helper opened goes idle too: lines about it
    # are passed over. A watcher is never closed for being idle.
    my $server = new_memcached('-o idle_timeout=1');
    my $w = $server->new_sock;
    print $w "watch connevents\r\n";
    is(scalar <$w>, "OK\r\n", 'watch connevents: OK');
    my $c = $server->new_sock;
    my $port = $c->sockport;
    my ($new, $l);
    while (($l = wline($w)) ne '<EOF>') {
        $new = $l, last if $l =~ /^type=conn_new .* rport=$port /;
    }
    like($new // '', qr/^type=conn_new rip=127\.0\.0\.1 rport=$port transport=tcp cfd=\d+\n\z/,
         'idle client: conn_new');
    my ($f) = ($new // '') =~ /cfd=(\d+)/;
    $f //= -1;
    while (($l = wline($w)) ne '<EOF>') {
        last if $l =~ /^type=conn_close .* rport=$port /;
    }
    is($l, "type=conn_close rip=127.0.0.1 rport=$port transport=tcp reason=idle_timeout cfd=$f\n",
       'conn_close of an idle client: reason=idle_timeout');
}

# ---- unix socket connection events ----
{
    my $server = new_memcached('', unix => 1);
    my $w = watcher($server, 'connevents fetchers');
    my $c = $server->new_sock;
    print $c "get x\r\n";
    is(scalar <$c>, "END\r\n", 'unix get');
    # memcached 1.6.18 at times also shows, late, the conn_new of a unix
    # connection made before the watcher: look for the client's among the
    # conn_new lines before its item_get.
    my (@new, $l);
    push @new, $l while ($l = wline($w)) =~ /^type=conn_new /;
    my ($f) = $l =~ /cfd=(\d+)/;
    $f //= -1;
    is($l, "type=item_get key=x status=not_found clsid=0 cfd=$f size=0\n", 'unix item_get');
    is(scalar(grep { $_ eq "type=conn_new rip=unix rport=0 transport=local cfd=$f\n" } @new), 1,
       'unix conn_new');
    is(scalar @new, 1, 'only the new client\'s conn_new') if is_ours();
    close $c;
    $l = wline($w);
    # memcached 1.6.18 at times prints an empty rip= here (it reads an
    # address it never filled in for a unix client).
    my $rip = is_ours() ? 'unix' : '(?:unix)?';
    like($l, qr/^type=conn_close rip=$rip rport=0 transport=local reason=normal cfd=$f\n\z/,
         'unix conn_close');
}

# ---- evictions ----
{
    my $server = new_memcached('-m 2');
    my $c = $server->sock;
    my $w = watcher($server, 'evictions');
    my $v = 'v' x 1000;
    my $i = 0;
    while ($i < 10000) {
        print $c "set k$i 0 0 1000\r\n$v\r\n";
        my $r = <$c>;
        is($r, "STORED\r\n", "set k$i") if $i == 0;
        $i++;
        last if $i % 100 == 0 && stats_of($c)->{evictions} > 0;
    }
    my $l = wline($w);
    like($l, qr/^type=eviction key=k0 fetch=no ttl=-1 la=\d+ clsid=12 size=1000\n\z/,
         'first eviction: the oldest key, never fetched, no expiry');
    my ($la) = $l =~ /la=(\d+)/;
    ok(defined $la && $la <= 60, 'la: seconds since last access');
}

# ---- a watcher that stops reading ----
{
    my $server = new_memcached('-o watcher_logbuf_size=8');
    my $c = $server->sock;
    my $w = $server->new_sock;
    setsockopt($w, SOL_SOCKET, SO_RCVBUF, 4096);
    print $w "watch fetchers\r\n";
    is(scalar <$w>, "OK\r\n", 'slow watcher: OK');
    my $keys = join(' ', map { "key$_" } 1 .. 100);
    my $served = 0;
    my $rounds = 0;
    while ($rounds++ < 5000) {
        print $c "get $keys\r\n";
        $served++ if scalar <$c> eq "END\r\n";
        last if $rounds % 20 == 0 && stats_of($c)->{log_watcher_skipped} > 0;
    }
    ok(stats_of($c)->{log_watcher_skipped} > 0, 'lines were skipped for the slow watcher');
    is($served, $rounds > 5000 ? 5000 : $rounds, 'every get was answered meanwhile');
    # Read what the watcher has; once its buffer has room, the next line
    # comes after a notice of how many it lost. (Against memcached this
    # takes about a minute: with the small receive buffer, its logger
    # thread finds the socket writable again only slowly.)
    # The lines are read with sysread: select cannot see what readline
    # would keep buffered.
    my $sel = IO::Select->new($w);
    my ($notice, $after);
    my $buf = '';
    my $reads = 0;
    while (!defined $after && $reads++ < 100000) {
        if (!$sel->can_read(0.2)) {
            print $c "get marker\r\n";
            <$c>;
            next;
        }
        last unless sysread($w, $buf, 65536, length $buf);
        while ($buf =~ s/\A([^\n]*\n)//) {
            my $l = $1;
            if (defined $notice) {
                $after //= $l;
            } elsif ($l =~ /^skipped=/) {
                $notice = $l;
            }
        }
    }
    like($notice // '', qr/^skipped=[1-9]\d*\n\z/, 'the skipped=N notice');
    like($after // '', qr/^ts=\d+\.\d+ gid=\d+ type=item_get key=\S+ status=not_found clsid=0 cfd=\d+ size=0\n\z/,
         'a log line follows the notice');
    my $st = stats_of($c);
    ok($st->{log_watcher_sent} > 0, 'log_watcher_sent counts lines');
    is($st->{log_worker_dropped}, 0, 'no worker buffer to drop from') if is_ours();
}

done_testing();
