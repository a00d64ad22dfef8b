//! mcload: a load generator for memcached-compatible servers, built to
//! cost far less CPU per request than the server it measures. One thread
//! drives every connection from one epoll loop (run.rs); requests are
//! batched into one write per connection per turn and replies are parsed
//! in place (proto.rs).
//!
//! main parses the command line, runs the prefill and the measured run,
//! and reports: a summary on stderr, JSON on request. Exit codes: 0 done,
//! 1 the run failed (protocol error, closed connection, ...), 2 bad usage.

mod conn;
mod dist;
mod hist;
mod keyspace;
mod opts;
mod proto;
mod run;
mod sys;

use std::io::Write;
use std::process::ExitCode;

use keyspace::Keyspace;
use opts::{Dist, Opts, Parsed};
use run::Report;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match opts::parse(&args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            print!("{}", opts::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mcload: {e}\n(mcload --help lists the options)");
            return ExitCode::from(2);
        }
    };
    let ks = match Keyspace::new(o.keys, o.key_size, o.value_size) {
        Ok(ks) => ks,
        Err(e) => {
            eprintln!("mcload: {e}");
            return ExitCode::from(2);
        }
    };

    if o.prefill || o.prefill_only {
        match run::prefill(&o, &ks) {
            Ok(secs) => eprintln!("mcload: prefill stored {} keys in {secs:.2} s", ks.len()),
            Err(e) => return fail(&o, Report::default(), e),
        }
        if o.prefill_only {
            return ExitCode::SUCCESS;
        }
    }

    let report = run::run(&o, &ks);
    summary(&o, &report);
    match report.error.clone() {
        Some(e) => fail(&o, report, e),
        None => match write_json(&o, &report) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcload: cannot write JSON: {e}");
                ExitCode::from(1)
            }
        },
    }
}

/// Reports a failed run: the error on stderr, JSON with "error" if asked.
fn fail(o: &Opts, mut report: Report, e: String) -> ExitCode {
    eprintln!("mcload: error: {e}");
    if report.error.is_none() {
        report.counters.errors += 1;
        report.error = Some(e);
    }
    if let Err(e) = write_json(o, &report) {
        eprintln!("mcload: cannot write JSON: {e}");
    }
    ExitCode::from(1)
}

fn us(ns: f64) -> f64 {
    ns / 1000.0
}

fn summary(o: &Opts, r: &Report) {
    let c = &r.counters;
    let h = &c.latency;
    let mode = match o.rate {
        Some(rate) => format!("open loop {rate} ops/s"),
        None => "closed loop".into(),
    };
    let dist = match o.dist {
        Dist::Uniform => "uniform".to_string(),
        Dist::Zipf => format!("zipf {}", o.zipf_theta),
    };
    eprintln!(
        "mcload: {} on {}: {} conns x depth {}, {}, {} keys {}",
        o.workload_name, o.server, o.conns, o.depth, mode, o.keys, dist
    );
    let span = match r.error {
        Some(_) => "before the error".to_string(),
        None => format!(
            "in {:.1} s = {:.1} ops/s",
            o.duration_s,
            c.requests as f64 / o.duration_s
        ),
    };
    eprintln!(
        "  {} requests {}; {} lookups: {} hits, {} misses; {} sets; {} errors; {} unfinished",
        c.requests, span, c.key_lookups, c.hits, c.misses, c.sets, c.errors, r.unfinished
    );
    eprintln!(
        "  latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
        us(h.percentile_ns(50.0) as f64),
        us(h.percentile_ns(90.0) as f64),
        us(h.percentile_ns(99.0) as f64),
        us(h.percentile_ns(99.9) as f64),
        us(h.max_ns() as f64),
        us(h.mean_ns())
    );
    let per = if c.requests > 0 {
        r.client_cpu_s * 1e6 / c.requests as f64
    } else {
        0.0
    };
    let n = c.requests.max(1) as f64;
    eprintln!(
        "  client cpu {:.3} s = {:.3} us per request; per request {:.2} reads, {:.2} writes, {:.2} epoll_waits",
        r.client_cpu_s,
        per,
        r.reads as f64 / n,
        r.writes as f64 / n,
        r.waits as f64 / n
    );
}

/// The JSON document, one object; the field names are the interface.
fn json(o: &Opts, r: &Report) -> String {
    let c = &r.counters;
    let h = &c.latency;
    let rate = o.rate.map_or("null".to_string(), num);
    let dist = match o.dist {
        Dist::Uniform => "uniform",
        Dist::Zipf => "zipf",
    };
    let theta = if o.dist == Dist::Zipf {
        num(o.zipf_theta)
    } else {
        "null".into()
    };
    let mut s = format!(
        "{{\"workload\":{},\"conns\":{},\"depth\":{},\"keys\":{},\"key_size\":{},\"value_size\":{},\
         \"dist\":\"{}\",\"zipf_theta\":{},\"rate\":{},\"seed\":{},\
         \"duration_s\":{},\"requests\":{},\"ops_per_sec\":{},\"key_lookups\":{},\"hits\":{},\
         \"misses\":{},\"sets\":{},\"errors\":{},\"unfinished\":{},\
         \"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{}}},\
         \"client_cpu_s\":{}",
        quote(&o.workload_name),
        o.conns,
        o.depth,
        o.keys,
        o.key_size,
        o.value_size,
        dist,
        theta,
        rate,
        o.seed,
        num(o.duration_s),
        c.requests,
        num(c.requests as f64 / o.duration_s),
        c.key_lookups,
        c.hits,
        c.misses,
        c.sets,
        c.errors,
        r.unfinished,
        num(us(h.percentile_ns(50.0) as f64)),
        num(us(h.percentile_ns(90.0) as f64)),
        num(us(h.percentile_ns(99.0) as f64)),
        num(us(h.percentile_ns(99.9) as f64)),
        num(us(h.max_ns() as f64)),
        num(us(h.mean_ns())),
        num(r.client_cpu_s),
    );
    if let Some(e) = &r.error {
        s.push_str(&format!(",\"error\":{}", quote(e)));
    }
    s.push_str("}\n");
    s
}

/// A finite number for JSON, to three decimals at most, with a fraction
/// so that readers see a float (10.0, not 10).
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn write_json(o: &Opts, r: &Report) -> std::io::Result<()> {
    let Some(path) = &o.json else { return Ok(()) };
    let doc = json(o, r);
    if path == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(doc.as_bytes())?;
        out.flush()
    } else {
        std::fs::write(path, doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_and_strings() {
        assert_eq!(num(10.0), "10.0");
        assert_eq!(num(12345.6), "12345.6");
        assert_eq!(num(0.1234), "0.123");
        assert_eq!(num(f64::NAN), "null");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }

    #[test]
    fn json_document_has_the_fields() {
        let o = Opts {
            json: Some("-".into()),
            ..Opts::default()
        };
        let mut r = Report::default();
        r.counters.latency.record(40_000);
        r.counters.requests = 1;
        r.error = Some("boom".into());
        let doc = json(&o, &r);
        for field in [
            "\"workload\":\"getset:90\"",
            "\"conns\":50",
            "\"rate\":null",
            "\"duration_s\":10.0",
            "\"requests\":1",
            "\"p50\":40.",
            "\"p999\":",
            "\"client_cpu_s\":0.0",
            "\"error\":\"boom\"",
        ] {
            assert!(doc.contains(field), "{field} missing in {doc}");
        }
    }
}
