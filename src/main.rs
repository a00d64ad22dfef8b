//! The server's entry point, in memcached's main() order: settings,
//! logging, process setup, the cache, the dump load, listeners; then
//! server.rs's event loop drives every connection.
//!
//! One process, one thread: `main` builds a single `Server` and passes it
//! down by `&mut`. Startup order follows memcached's main(): settings ->
//! logger -> process limits and identity -> auth file -> dump directory
//! check -> daemon -> slabs/assoc -> dump load -> bind -> pid file ->
//! READY=1 to systemd -> loop.

mod auth;
mod bufpool;
mod cache;
mod child;
mod conn;
mod crc32c;
mod dump;
mod event;
mod logger;
mod proto_bin;
mod proto_meta;
mod proto_text;
mod repl;
mod server;
mod settings;
mod stats;
mod sys;
mod udp;
mod util;

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::io::RawFd;

use auth::{AuthFile, LoadError};
use cache::Cache;
use conn::Transport;
use event::{EventLoop, Interest};
use server::{event_loop, Listener, Server, TOKEN_LISTENER_BASE, TOKEN_SIGNAL};
use settings::{Action, Settings};
use sys::{EX_NOINPUT, EX_OSERR, EX_USAGE};

/// Errors and warnings are printed whatever the verbosity; each `-v` adds
/// a level.
pub(crate) fn level_filter(verbose: u8) -> log::LevelFilter {
    match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Logs go to stderr as bare lines, like memcached's fprintf(stderr, ...).
fn init_logger(verbose: u8) {
    env_logger::Builder::new()
        .format(|buf, rec| writeln!(buf, "{}", rec.args()))
        .filter_level(log::LevelFilter::Trace)
        .target(env_logger::Target::Stderr)
        .init();
    log::set_max_level(level_filter(verbose));
}

/// Parses one `-l` entry: an address, optionally with `:port` (IPv6 in
/// brackets when a port is given).
fn listen_addr(spec: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Ok(sa) = spec.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let trimmed = spec.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    // A host name, with or without a port.
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<u16>().unwrap_or(default_port)),
        _ => (spec, default_port),
    };
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| format!("-l {}: cannot resolve this address", spec))
}

/// The addresses to bind for `port`: each `-l` entry, or the IPv4 and IPv6
/// wildcards. A port given in a `-l` entry wins over `port`, for TCP and
/// UDP alike, as in memcached.
fn listen_addrs(settings: &Settings, port: u16) -> Result<Vec<SocketAddr>, String> {
    if settings.inter.is_empty() {
        return Ok(vec![
            SocketAddr::new(IpAddr::from([0u8; 4]), port),
            SocketAddr::new(IpAddr::from([0u16; 8]), port),
        ]);
    }
    settings
        .inter
        .iter()
        .map(|s| listen_addr(s, port))
        .collect()
}

/// Binds a socket of `kind` (SOCK_STREAM, listening, or SOCK_DGRAM) to
/// each address. `what` names the transport in the error.
fn bind_all(settings: &Settings, port: u16, kind: i32, what: &str) -> Result<Vec<RawFd>, String> {
    let any_given = settings.inter.is_empty();
    let mut fds = Vec::new();
    for a in listen_addrs(settings, port)? {
        match sys::inet_listen(&a, kind, settings.backlog) {
            Ok(fd) => fds.push(fd),
            // The wildcard IPv6 address may be missing on hosts without
            // IPv6; memcached carries on with what it could bind.
            Err(e) if any_given && a.is_ipv6() && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {}
            Err(e) => return Err(format!("failed to listen on {} port {}: {}", what, a, e)),
        }
    }
    Ok(fds)
}

/// Opens every socket the settings ask for: the listeners (a unix socket,
/// or TCP on `-p`) and the UDP sockets on `-U`, which share the `-l`
/// addresses. `-s` turns TCP and UDP off, as in memcached.
fn open_listeners(settings: &Settings) -> Result<(Vec<Listener>, Vec<RawFd>), String> {
    let mut out = Vec::new();
    if let Some(path) = &settings.socketpath {
        let fd = sys::unix_listen(path, settings.access, settings.backlog)
            .map_err(|e| format!("failed to listen on UNIX socket \"{}\": {}", path, e))?;
        out.push(Listener {
            fd,
            transport: Transport::Unix,
            opened: 0,
        });
        return Ok((out, Vec::new()));
    }
    if settings.port != 0 {
        for fd in bind_all(settings, settings.port, libc::SOCK_STREAM, "TCP")? {
            out.push(Listener {
                fd,
                transport: Transport::Tcp,
                opened: 0,
            });
        }
    }
    let udp = if settings.udpport != 0 {
        bind_all(settings, settings.udpport, libc::SOCK_DGRAM, "UDP")?
    } else {
        Vec::new()
    };
    Ok((out, udp))
}

/// memcached's MEMCACHED_PORT_FILENAME: when the variable names a file and
/// the server listens on ports (not a unix socket), the port of every TCP
/// socket, then of every UDP socket, is written to `<name>.lck` as
/// memcached 1.6.45 writes it (`TCP INET: 11211`, `UDP INET6: 11211`),
/// and the file is renamed to `<name>` once complete, so a script that
/// waits for the name reads every line. A file that cannot be written is
/// reported and the start goes on, as memcached's does.
fn write_port_file(settings: &Settings, listeners: &[Listener], udp_fds: &[RawFd]) {
    let Some(name) = std::env::var_os("MEMCACHED_PORT_FILENAME") else {
        return;
    };
    if settings.socketpath.is_some() {
        return;
    }
    let mut lck = name.clone();
    lck.push(".lck");
    let tcp = listeners
        .iter()
        .filter(|l| l.transport == Transport::Tcp)
        .map(|l| ("TCP", l.fd));
    let mut text = String::new();
    for (proto, fd) in tcp.chain(udp_fds.iter().map(|&fd| ("UDP", fd))) {
        match sys::sock_name(fd) {
            Ok(sys::SockName::Inet(SocketAddr::V4(a))) => {
                text.push_str(&format!("{proto} INET: {}\n", a.port()))
            }
            Ok(sys::SockName::Inet(SocketAddr::V6(a))) => {
                text.push_str(&format!("{proto} INET6: {}\n", a.port()))
            }
            _ => {}
        }
    }
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&lck)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            if let Err(e) = std::fs::rename(&lck, &name) {
                eprintln!("Failed to rename \"{}\": {}", lck.to_string_lossy(), e);
            }
        }
        Err(e) => eprintln!("Failed to open \"{}\": {}", lck.to_string_lossy(), e),
    }
}

/// Makes each UDP socket a connection of the loop: a UDP socket is served
/// like a client, not accepted from. They do not count as client
/// connections (`curr_connections`, `-c`).
fn add_udp_conns(server: &mut Server, fds: Vec<RawFd>) -> Result<(), String> {
    for fd in fds {
        match sys::maximize_sndbuf(fd) {
            Ok((before, after)) => log::debug!("<{} send buffer was {}, now {}", fd, before, after),
            Err(e) => log::warn!("<{} could not raise the send buffer: {}", fd, e),
        }
        let entry = server.conns.vacant_entry();
        let token = entry.key();
        let now = server.core.cache.now();
        entry.insert(udp::new_conn(fd, token, now));
        server
            .core
            .ev
            .add(fd, token as u64, Interest::Read)
            .map_err(|e| format!("failed to watch a UDP socket: {}", e))?;
        log::debug!("<{} server listening (udp)", fd);
    }
    let structs = server.conns.len() as u64;
    server.core.stats.conn_structs = server.core.stats.conn_structs.max(structs);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let settings = match settings::parse_args(&args) {
        Ok(Action::Run(s)) => *s,
        Ok(Action::Exit(code)) => std::process::exit(code),
        Err(msg) => {
            eprintln!("{}", msg);
            std::process::exit(EX_USAGE);
        }
    };
    init_logger(settings.verbose);
    std::process::exit(run(settings));
}

/// Reads the `-Y` file, if any. A file that cannot be read stops the
/// start with EX_OSERR, one that is not `user:password` lines with
/// EX_USAGE; the message names the file and the line.
fn load_auth_file(settings: &Settings) -> Result<Option<AuthFile>, i32> {
    let Some(path) = settings.auth_file.as_deref() else {
        return Ok(None);
    };
    match AuthFile::load(path) {
        Ok(a) => {
            log::info!("-Y {}: {} entries", path, a.len());
            Ok(Some(a))
        }
        Err(e) => {
            eprintln!("-Y {}: {}", path, e);
            Err(match e {
                LoadError::Io(_) => EX_OSERR,
                LoadError::Malformed { .. } | LoadError::Empty => EX_USAGE,
            })
        }
    }
}

/// `-o repl_auth_file`: the credentials a replica gives its master (the
/// first `user:password` line of a file in `-Y`'s format). Read with the
/// -Y file, for the same reasons.
fn load_repl_auth(settings: &Settings) -> Result<ReplAuth, i32> {
    let Some(path) = settings.repl_auth_file.as_deref() else {
        return Ok(None);
    };
    let fail = |why: String, code: i32| {
        eprintln!("-o repl_auth_file={}: {}", path, why);
        Err(code)
    };
    match AuthFile::load(path) {
        Ok(a) => match a.first() {
            Some(c) => Ok(Some(c)),
            None => fail(LoadError::Empty.to_string(), EX_USAGE),
        },
        Err(e @ LoadError::Io(_)) => fail(e.to_string(), EX_OSERR),
        Err(e) => fail(e.to_string(), EX_USAGE),
    }
}

/// Process setup in memcached's order: limits while still root, then the
/// user, then the daemon fork. The auth file is read in between: as the
/// user the server runs as, like memcached (so a reload on SIGHUP sees the
/// same permissions as the start), but before the fork, so that a bad file
/// is reported on the terminal and in the exit status even with `-d`.
/// Returns the auth file and a replica's credentials, or the exit status
/// on failure.
fn setup_process(settings: &Settings) -> Result<(Option<AuthFile>, ReplAuth), i32> {
    let fatal = |f: sys::Fatal| {
        eprintln!("{}", f.msg);
        f.status
    };
    if settings.maxcore {
        sys::raise_core_limit().map_err(fatal)?;
    }
    sys::raise_nofile(settings.maxconns).map_err(fatal)?;
    sys::drop_privileges(settings.username.as_deref()).map_err(fatal)?;
    let auth = load_auth_file(settings)?;
    let repl_auth = load_repl_auth(settings)?;
    // As the user the server runs as, and before -d leaves the terminal:
    // a dump directory that user cannot write refuses the start here.
    let dump_path = settings
        .dump_file
        .as_ref()
        .or(settings.memory_file.as_ref());
    if let Some(path) = dump_path {
        dump::check_dir(path).map_err(fatal)?;
    }
    if settings.daemonize {
        if let Err(e) = sys::daemonize(settings.maxcore, settings.verbose > 0) {
            eprintln!("failed to daemon() in order to daemonize: {}", e);
            return Err(1);
        }
    }
    // A peer that went away is a write error (EPIPE), never a signal.
    if let Err(e) = sys::ignore_sigpipe() {
        eprintln!("failed to ignore SIGPIPE: {}", e);
        return Err(EX_OSERR);
    }
    if settings.lock_memory {
        if let Err(e) = sys::lock_memory() {
            eprintln!("warning: -k invalid, mlockall() failed: {}", e);
        }
    }
    Ok((auth, repl_auth))
}

/// A replica's user and password for its master.
type ReplAuth = Option<(Vec<u8>, Vec<u8>)>;

/// Debug builds: environment knobs for tests. MEMCACHED_DEBUG_CLOCK_FROZEN
/// stops the wall clock at start, so only `debugtime` moves server time
/// (tests that assert ages); MEMCACHED_DEBUG_CLOCK_OFFSET
/// starts the clock that many seconds ahead (a restart after downtime);
/// MEMCACHED_DEBUG_DUMP_DELAY_MS makes a dump child wait before writing
/// (so a test can act while a dump runs).
#[cfg(feature = "debug-commands")]
fn debug_knobs(cache: &mut Cache, dump: &mut dump::DumpState) {
    let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if std::env::var_os("MEMCACHED_DEBUG_CLOCK_FROZEN").is_some() {
        cache.freeze_clock();
    }
    if let Some(s) = num("MEMCACHED_DEBUG_CLOCK_OFFSET") {
        cache.advance_clock(s as i64);
    }
    if let Some(ms) = num("MEMCACHED_DEBUG_DUMP_DELAY_MS") {
        dump.child_delay_ms = ms;
    }
}

#[cfg(not(feature = "debug-commands"))]
fn debug_knobs(_: &mut Cache, _: &mut dump::DumpState) {}

/// Loads the dump file (or -e file) into the new cache. Returns the exit
/// status if the server must not start.
fn load_dump(
    settings: &Settings,
    cache: &mut Cache,
    dump: &mut dump::DumpState,
) -> Result<(), i32> {
    let path = match &dump.path {
        Some(p) => p.clone(),
        None => return Ok(()),
    };
    match dump::load(cache, &path) {
        Ok((report, position)) => {
            dump.stats.load = report;
            dump.loaded_position = position;
            // As memcached's -e: the file is good for one restart; a crash
            // later must not bring back this old state, so a file that
            // cannot be removed refuses the start.
            if settings.memory_file.is_some() && report.status == dump::LoadStatus::Ok {
                if let Err(e) = std::fs::remove_file(&path) {
                    eprintln!("-e {}: cannot remove the loaded file: {}", path, e);
                    return Err(sys::EX_CANTCREAT);
                }
            }
            Ok(())
        }
        Err(msg) => {
            eprintln!("{}", msg);
            Err(EX_NOINPUT)
        }
    }
}

/// Sets the server up and runs it; returns the exit code.
fn run(settings: Settings) -> i32 {
    // Before daemonizing: a relative dump path is taken from here.
    let mut dump = dump::DumpState::new(&settings);
    let (auth, repl_auth) = match setup_process(&settings) {
        Ok(a) => a,
        Err(code) => return code,
    };
    // Signals wait in the signalfd from here on: a SIGUSR2 or SIGTERM
    // during a long load is handled once the loop runs, not fatal.
    let sigfd = match sys::signal_fd() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("failed to set up signal handling: {}", e);
            return EX_OSERR;
        }
    };
    // The cache and its dump come back before the server listens.
    let mut cache = Cache::new(&settings);
    // memcached 1.6.45's counter starts at 1 and is raised before each
    // use, so its first CAS unique is 2; ours is the same. (With
    // -o track_sizes the size histogram has taken one already.)
    if !settings.track_sizes {
        cache.next_cas();
    }
    debug_knobs(&mut cache, &mut dump);
    if let Err(code) = load_dump(&settings, &mut cache, &mut dump) {
        return code;
    }
    let (listeners, udp_fds) = match open_listeners(&settings) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("{}", msg);
            return EX_OSERR;
        }
    };
    write_port_file(&settings, &listeners, &udp_fds);
    let ev = match EventLoop::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("failed to create the event loop: {}", e);
            return EX_OSERR;
        }
    };
    let mut server = Server::new(settings, auth, cache, dump, ev, listeners, sigfd);
    server.core.repl.auth = repl_auth;
    let now = server.core.cache.now();
    for l in &mut server.listeners {
        l.opened = now;
    }
    for (i, l) in server.listeners.iter().enumerate() {
        log::debug!(
            "<{} server listening ({})",
            l.fd,
            server.core.settings.binding_protocol.name()
        );
        if let Err(e) = server
            .core
            .ev
            .add(l.fd, TOKEN_LISTENER_BASE + i as u64, Interest::Read)
        {
            eprintln!("failed to watch a listener: {}", e);
            return EX_OSERR;
        }
    }
    if let Err(msg) = add_udp_conns(&mut server, udp_fds) {
        eprintln!("{}", msg);
        return EX_OSERR;
    }
    if let Err(e) = server.core.ev.add(sigfd, TOKEN_SIGNAL, Interest::Read) {
        eprintln!("failed to watch signals: {}", e);
        return EX_OSERR;
    }
    // With or without -d, as memcached: service managers read it.
    let pid_file = server.core.settings.pid_file.clone();
    if let Some(path) = &pid_file {
        if let Some(pid) = sys::pidfile_running_pid(path) {
            log::warn!(
                "pid file {} names running process {}; replacing it",
                path,
                pid
            );
        }
        if let Err(msg) = sys::write_pidfile(path) {
            eprintln!("{}", msg);
        }
    }
    if let Some(pos) = server.core.dump.loaded_position.take() {
        repl::resume(&mut server.core, pos);
    }
    notify_ready(&server);
    repl::replica::start(&mut server.core);
    let status = event_loop(&mut server);
    if let Some(path) = &pid_file {
        if let Err(msg) = sys::remove_pidfile(path) {
            log::warn!("{}", msg);
        }
    }
    status
}

/// Tells systemd (Type=notify) that the server is ready: the dump is
/// loaded and every socket listens. Without $NOTIFY_SOCKET nothing is sent.
fn notify_ready(server: &Server) {
    let s = &server.core.settings;
    let load = &server.core.dump.stats.load;
    let mut status = match load.status {
        dump::LoadStatus::None => String::new(),
        dump::LoadStatus::Missing => "no dump file to load; ".to_string(),
        _ => format!("{} items loaded; ", load.items),
    };
    match &s.socketpath {
        Some(path) => status.push_str(&format!("listening on {}", path)),
        None => status.push_str(&format!("listening on TCP port {}", s.port)),
    }
    if s.socketpath.is_none() && s.udpport != 0 {
        status.push_str(&format!(", UDP port {}", s.udpport));
    }
    if let Err(msg) = sys::sd_notify(&format!("READY=1\nSTATUS={}", status)) {
        log::warn!("cannot tell systemd the server is ready: {}", msg);
    }
}
