//! difftest: starts this server and memcached 1.6.45 with the same options,
//! sends both the same generated requests and compares the replies byte for
//! byte. Each seed gives one sequence of requests; the first divergence of a
//! sequence is reported with the seed, the requests and both replies, then
//! cut down to fewer requests that still diverge.

mod compare;
mod gen;
mod server;
mod wire;

use compare::Options;
use gen::{Family, Proto, Sequence, Step};
use server::Server;
use std::time::Duration;
use wire::{End, Pair, Reply};

const USAGE: &str = "\
usage: difftest [options] [-- server options...]

  --ours PATH          our server (default ./memcached)
  --reference PATH     memcached 1.6.45 (default /tmp/memcached-1.6.45/memcached)
  --seed N             first seed (default 1)
  --count N            number of sequences, seeds N, N+1, ... (default 200)
  --steps N            at most N steps per sequence (default 40)
  --family F           text, meta, binary, mixed or all (default all)
  --normalize-cas      compare CAS uniques as equal whatever their value
  --no-minimize        report divergences as found, without cutting them down
  --show-known         also print divergences that are known differences
  --verbose            print every step and both replies
  --stall-ms N         how long a server may stay silent (default 300)

Both servers run as `-p PORT -U 0 -l 127.0.0.1` (`-u nobody` as root) plus
the server options. Exit status: 0 when no unknown divergence was found, 1
otherwise, 2 on a usage or start error.";

struct Config {
    ours: String,
    reference: String,
    seed: u64,
    count: u64,
    steps: usize,
    families: Vec<Family>,
    minimize: bool,
    show_known: bool,
    verbose: bool,
    stall: Duration,
    server_args: Vec<String>,
    cmp: Options,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        ours: "./memcached".into(),
        reference: "/tmp/memcached-1.6.45/memcached".into(),
        seed: 1,
        count: 200,
        steps: 40,
        families: Family::parse("all").unwrap(),
        minimize: true,
        show_known: false,
        verbose: false,
        stall: Duration::from_millis(300),
        server_args: Vec::new(),
        cmp: Options {
            normalize_cas: false,
        },
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|_| format!("not a number: {s}"));
        match a.as_str() {
            "--ours" => c.ours = val("--ours")?,
            "--reference" => c.reference = val("--reference")?,
            "--seed" => c.seed = num(val("--seed")?)?,
            "--count" => c.count = num(val("--count")?)?,
            "--steps" => c.steps = num(val("--steps")?)?.max(1) as usize,
            "--stall-ms" => c.stall = Duration::from_millis(num(val("--stall-ms")?)?),
            "--family" => {
                let f = val("--family")?;
                c.families = Family::parse(&f).ok_or(format!("unknown family {f}"))?;
            }
            "--normalize-cas" => c.cmp.normalize_cas = true,
            "--no-minimize" => c.minimize = false,
            "--show-known" => c.show_known = true,
            "--verbose" => c.verbose = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--" => {
                c.server_args = args.collect();
                break;
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(c)
}

/// What running a sequence found.
enum Outcome {
    Same,
    Diverged {
        step: usize,
        replies: [Reply; 2],
        known: Option<&'static str>,
    },
}

// A miss on a key no sequence uses, its opaque and key echoed: unlike `mn`,
// a step's own requests cannot answer it.
const TEXT_MARKER: &[u8] = b"mg difftest-marker Odm7 k\r\n";
const TEXT_MARKER_REPLY: &[u8] = b"EN Odm7 kdifftest-marker\r\n";
const BIN_OPAQUE: u32 = 0xd1ff_7e57;

fn markers(p: Proto) -> (Vec<u8>, Vec<u8>) {
    match p {
        Proto::Text => (TEXT_MARKER.to_vec(), TEXT_MARKER_REPLY.to_vec()),
        Proto::Binary => {
            let req = gen::bin_header(0x0a, 0, 0, 0, BIN_OPAQUE, 0);
            let mut rep = req.clone();
            rep[0] = 0x81;
            (req, rep)
        }
    }
}

fn run(c: &Config, seq: &Sequence) -> Result<Outcome, String> {
    let reference = Server::start(&c.reference, &c.server_args)?;
    let ours = Server::start(&c.ours, &c.server_args)?;
    let mut pairs: Vec<Pair> = seq
        .conns
        .iter()
        .map(|_| Pair::new([reference.port, ours.port]))
        .collect();
    let mut stalls = 0;
    for (i, step) in seq.steps.iter().enumerate() {
        let proto = seq.conns[step.conn];
        let (m, mr) = markers(proto);
        let replies = pairs[step.conn]
            .exchange(&step.bytes, &m, &mr, c.stall, Duration::from_secs(2))
            .map_err(|e| format!("step {i}: {e}"))?;
        if c.verbose {
            println!("step {i} conn {}: {}", step.conn, show(&step.bytes));
            println!("  1.6.45: {}", show_reply(&replies[0]));
            println!("  ours:   {}", show_reply(&replies[1]));
        }
        if !compare::same(proto, &replies[0], &replies[1], &c.cmp) {
            let known = compare::known(&seq.conns, &seq.steps[..i], step, &replies[0], &replies[1]);
            return Ok(Outcome::Diverged {
                step: i,
                replies,
                known,
            });
        }
        if replies[0].end == End::Stalled {
            // A server waiting for bytes that will not come: little more to
            // learn from this sequence.
            stalls += 1;
            if stalls >= 3 {
                break;
            }
        }
    }
    Ok(Outcome::Same)
}

/// Removes steps while an unknown divergence remains at the last step.
fn minimize(c: &Config, seq: &Sequence, budget: &mut u32) -> Sequence {
    let mut cur = seq.clone();
    let mut chunk = (cur.steps.len() / 2).max(1);
    loop {
        let mut i = 0;
        let mut progressed = false;
        while i + 1 < cur.steps.len() && *budget > 0 {
            let n = chunk.min(cur.steps.len() - 1 - i);
            let mut tried = cur.clone();
            tried.steps.drain(i..i + n);
            *budget -= 1;
            let last = tried.steps.len() - 1;
            let ok = matches!(
                run(c, &tried),
                Ok(Outcome::Diverged { step, known: None, .. }) if step == last
            );
            if ok {
                cur = tried;
                progressed = true;
            } else {
                i += n;
            }
        }
        if *budget == 0 || (chunk == 1 && !progressed) {
            break;
        }
        if chunk > 1 {
            chunk /= 2;
        }
    }
    cur
}

fn show(b: &[u8]) -> String {
    let mut s = String::new();
    let cut = if b.len() > 600 { 300 } else { b.len() };
    for &c in &b[..cut] {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if cut < b.len() {
        s.push_str(&format!("...({} bytes in all)", b.len()));
    }
    s
}

fn show_reply(r: &Reply) -> String {
    let end = match r.end {
        End::Marker => "",
        End::Closed => " <connection closed>",
        End::Stalled => " <no more bytes>",
    };
    format!("\"{}\"{end}", show(&r.bytes))
}

fn print_steps(steps: &[Step]) {
    for (i, s) in steps.iter().enumerate() {
        println!("    [{i}] conn {}: \"{}\"", s.conn, show(&s.bytes));
    }
}

fn main() {
    let c = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("difftest: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let mut unknown = 0u64;
    let mut known = 0u64;
    let mut known_names: Vec<(&'static str, u64)> = Vec::new();
    for seed in c.seed..c.seed + c.count {
        let seq = gen::sequence(seed, &c.families, c.steps);
        let outcome = match run(&c, &seq) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("difftest: seed {seed}: {e}");
                std::process::exit(2);
            }
        };
        let Outcome::Diverged {
            step,
            replies,
            known: k,
        } = outcome
        else {
            continue;
        };
        if let Some(name) = k {
            known += 1;
            match known_names.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 += 1,
                None => known_names.push((name, 1)),
            }
            if !c.show_known {
                continue;
            }
        } else {
            unknown += 1;
        }
        println!(
            "DIVERGENCE seed {seed} step {step}{}",
            k.map(|n| format!(" (known: {n})")).unwrap_or_default()
        );
        println!(
            "  requests (conn 0..{}: {:?}):",
            seq.conns.len() - 1,
            seq.conns
        );
        print_steps(&seq.steps[..=step]);
        println!("  1.6.45: {}", show_reply(&replies[0]));
        println!("  ours:   {}", show_reply(&replies[1]));
        if c.minimize && k.is_none() && step > 0 {
            let cut = Sequence {
                conns: seq.conns.clone(),
                steps: seq.steps[..=step].to_vec(),
            };
            let mut budget = 80;
            let m = minimize(&c, &cut, &mut budget);
            if m.steps.len() < cut.steps.len() {
                if let Ok(Outcome::Diverged { replies, .. }) = run(&c, &m) {
                    println!("  cut down to {} steps:", m.steps.len());
                    print_steps(&m.steps);
                    println!("  1.6.45: {}", show_reply(&replies[0]));
                    println!("  ours:   {}", show_reply(&replies[1]));
                }
            }
        }
        println!();
    }
    println!(
        "difftest: {} sequences (seeds {}..{}): {unknown} unknown divergences, {known} known",
        c.count,
        c.seed,
        c.seed + c.count - 1
    );
    for (n, k) in &known_names {
        println!("  known {k}x: {n}");
    }
    std::process::exit(if unknown > 0 { 1 } else { 0 });
}
