//! The command line: every flag is `--name value` (or `--name=value`),
//! except the switches --prefill, --prefill-only and --help.

pub const USAGE: &str = "\
usage: mcload [options]

A single-threaded epoll load generator for memcached-compatible servers.

  --server HOST:PORT     server to load (127.0.0.1:11211)
  --conns C              connections (50)
  --depth D              requests in flight per connection (1)
  --keys N               key space size (1000000)
  --key-size BYTES       key length, \"key:\" + zero-padded index (32)
  --value-size BYTES     value length (100)
  --dist uniform|zipf    key popularity (uniform)
  --zipf-theta T         Zipf exponent (0.99)
  --workload W           getset:R  get R%, else set (text)   (getset:90)
                         set       set only (text)
                         multiget:K  get of K keys (text)
                         mg        meta get  mg <key> v f
                         ms        meta set  ms <key> <len>
                         mgms:R    mg R%, else ms
                         bg        binary protocol get
                         bs        binary protocol set
                         bgbs:R    binary get R%, else binary set
  --prefill              store every key before the run (set noreply)
  --prefill-only         store every key, then exit
  --warmup SECS          unmeasured warm-up (2)
  --duration SECS        measured run (10)
  --rate OPS             open loop: total requests per second, latency
                         measured from each request's intended send time
                         (default: closed loop, D in flight per connection)
  --json FILE            write results as JSON to FILE, - for stdout
  --seed N               random seed (1)
  --help                 this text
";

/// The flags that take a value.
const VALUE_FLAGS: &[&str] = &[
    "--server",
    "--conns",
    "--depth",
    "--keys",
    "--key-size",
    "--value-size",
    "--dist",
    "--zipf-theta",
    "--workload",
    "--warmup",
    "--duration",
    "--rate",
    "--json",
    "--seed",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Text get R% of the time, else text set.
    GetSet(u32),
    /// Text get of K keys.
    MultiGet(u32),
    /// Meta get R% of the time, else meta set.
    MetaMix(u32),
    /// Binary get R% of the time, else binary set.
    BinMix(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    Uniform,
    Zipf,
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub server: String,
    pub conns: usize,
    pub depth: usize,
    pub keys: u64,
    pub key_size: usize,
    pub value_size: usize,
    pub dist: Dist,
    pub zipf_theta: f64,
    pub workload: Workload,
    /// The workload as given, for the report.
    pub workload_name: String,
    pub prefill: bool,
    pub prefill_only: bool,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub rate: Option<f64>,
    pub json: Option<String>,
    pub seed: u64,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            server: "127.0.0.1:11211".into(),
            conns: 50,
            depth: 1,
            keys: 1_000_000,
            key_size: 32,
            value_size: 100,
            dist: Dist::Uniform,
            zipf_theta: 0.99,
            workload: Workload::GetSet(90),
            workload_name: "getset:90".into(),
            prefill: false,
            prefill_only: false,
            warmup_s: 2.0,
            duration_s: 10.0,
            rate: None,
            json: None,
            seed: 1,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Help,
    Run(Opts),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        match name {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--prefill" => o.prefill = true,
            "--prefill-only" => o.prefill_only = true,
            _ if !VALUE_FLAGS.contains(&name) => return Err(format!("unknown option {arg}")),
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?,
                };
                set(&mut o, name, &value)?;
            }
        }
    }
    if o.conns == 0 || o.depth == 0 {
        return Err("--conns and --depth must be at least 1".into());
    }
    // Written so that NaN fails too.
    if !(o.duration_s.is_finite()
        && o.duration_s > 0.0
        && o.warmup_s.is_finite()
        && o.warmup_s >= 0.0)
    {
        return Err("--duration must be positive and --warmup not negative".into());
    }
    if let Some(r) = o.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err("--rate must be positive".into());
        }
    }
    if !(0.0..=100.0).contains(&o.zipf_theta) {
        return Err("--zipf-theta must be in 0..100".into());
    }
    Ok(Parsed::Run(o))
}

fn set(o: &mut Opts, name: &str, v: &str) -> Result<(), String> {
    fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("{name}: not a valid number: {v:?}"))
    }
    match name {
        "--server" => {
            if !v.contains(':') {
                return Err(format!("--server wants HOST:PORT, got {v:?}"));
            }
            o.server = v.to_string();
        }
        "--conns" => o.conns = num(name, v)?,
        "--depth" => o.depth = num(name, v)?,
        "--keys" => o.keys = num(name, v)?,
        "--key-size" => o.key_size = num(name, v)?,
        "--value-size" => o.value_size = num(name, v)?,
        "--dist" => {
            o.dist = match v {
                "uniform" => Dist::Uniform,
                "zipf" => Dist::Zipf,
                _ => return Err(format!("--dist wants uniform or zipf, got {v:?}")),
            }
        }
        "--zipf-theta" => o.zipf_theta = num(name, v)?,
        "--workload" => {
            o.workload = parse_workload(v)?;
            o.workload_name = v.to_string();
        }
        "--warmup" => o.warmup_s = num(name, v)?,
        "--duration" => o.duration_s = num(name, v)?,
        "--rate" => o.rate = Some(num(name, v)?),
        "--json" => o.json = Some(v.to_string()),
        "--seed" => o.seed = num(name, v)?,
        _ => return Err(format!("unknown option {name}")),
    }
    Ok(())
}

fn parse_workload(v: &str) -> Result<Workload, String> {
    let percent = |r: &str| match r.parse::<u32>() {
        Ok(r) if r <= 100 => Ok(r),
        _ => Err(format!(
            "--workload {v}: the ratio must be an integer in 0..100"
        )),
    };
    let (kind, arg) = match v.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (v, None),
    };
    match (kind, arg) {
        ("getset", Some(r)) => Ok(Workload::GetSet(percent(r)?)),
        ("set", None) => Ok(Workload::GetSet(0)),
        ("multiget", Some(k)) => match k.parse::<u32>() {
            Ok(k) if (1..=10_000).contains(&k) => Ok(Workload::MultiGet(k)),
            _ => Err(format!("--workload {v}: K must be in 1..10000")),
        },
        ("mg", None) => Ok(Workload::MetaMix(100)),
        ("ms", None) => Ok(Workload::MetaMix(0)),
        ("mgms", Some(r)) => Ok(Workload::MetaMix(percent(r)?)),
        ("bg", None) => Ok(Workload::BinMix(100)),
        ("bs", None) => Ok(Workload::BinMix(0)),
        ("bgbs", Some(r)) => Ok(Workload::BinMix(percent(r)?)),
        _ => Err(format!(
            "unknown --workload {v:?} (getset:R, set, multiget:K, mg, ms, mgms:R, bg, bs, bgbs:R)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Opts, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Parsed::Run(o) => Ok(o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = run(&[]).unwrap();
        assert_eq!(
            (o.conns, o.depth, o.keys, o.key_size, o.value_size),
            (50, 1, 1_000_000, 32, 100)
        );
        let o = run(&[
            "--conns",
            "4",
            "--depth=16",
            "--workload",
            "multiget:16",
            "--rate",
            "2e4",
            "--prefill",
        ])
        .unwrap();
        assert_eq!(
            (o.conns, o.depth, o.workload, o.rate, o.prefill),
            (4, 16, Workload::MultiGet(16), Some(20000.0), true)
        );
    }

    #[test]
    fn workloads() {
        assert_eq!(parse_workload("getset:90"), Ok(Workload::GetSet(90)));
        assert_eq!(parse_workload("set"), Ok(Workload::GetSet(0)));
        assert_eq!(parse_workload("mg"), Ok(Workload::MetaMix(100)));
        assert_eq!(parse_workload("ms"), Ok(Workload::MetaMix(0)));
        assert_eq!(parse_workload("mgms:50"), Ok(Workload::MetaMix(50)));
        assert_eq!(parse_workload("bgbs:90"), Ok(Workload::BinMix(90)));
        assert_eq!(parse_workload("bs"), Ok(Workload::BinMix(0)));
        assert!(parse_workload("getset:101").is_err());
        assert!(parse_workload("getset").is_err());
        assert!(parse_workload("multiget:0").is_err());
    }

    #[test]
    fn bad_flags() {
        assert!(run(&["--conns"]).is_err());
        assert!(run(&["--bogus", "1"]).is_err());
        assert!(run(&["--depth", "0"]).is_err());
        assert!(run(&["--dist", "pareto"]).is_err());
        assert!(run(&["--help"]).is_err());
    }
}
