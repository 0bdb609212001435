//! amqp-bench: amqp-client against lapin, amqprs and a raw-socket lower
//! bound, on a real RabbitMQ. See BENCHMARKS.md at the top of the workspace.
//!
//! ```text
//! cargo run --release -p amqp-bench -- all
//! cargo run --release -p amqp-bench -- publish confirm --rounds 3 --n 20000 --clients ours,raw
//! cargo run --release -p amqp-bench -- list
//! cargo run --release -p amqp-bench -- tls --rounds 3 --n 50000
//! cargo bench -p amqp-bench --bench codec
//! ```
//!
//! The orchestrator (this process) declares and fills each run's queue with
//! the raw connection, then runs the client in a child process (itself,
//! `child <scenario> <client> <queue> <count>`), so that CPU time and peak
//! RSS are the client's alone, then deletes the queue whatever happened.
//! Every client gets the same runtime: tokio multi-thread with 2 workers.
//!
//! `tls` (module `tls`) compares our client over plain AMQP and over TLS
//! against one private TLS node that it starts (amqp-testkit).

mod amqprs_client;
mod connections;
mod footprint;
mod lapin_client;
mod measure;
mod ours;
mod raw;
mod report;
mod scenario;
mod tls;
mod uri;

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use scenario::{Client, Figures, Job, Scenario};
use uri::BrokerUri;

pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

const USAGE: &str = "\
usage: amqp-bench [all | SCENARIO...] [options]
       amqp-bench tls [SCENARIO...] [options]
       amqp-bench connections [--counts N1,N2] [--rounds N] [--uri URI]
       amqp-bench list

scenarios: publish confirm confirm-latency consume-ack-1 consume-ack-100
           consume-noack roundtrip large-publish large-consume large-consume-10
           footprint (builds the three minimal producers and the floor, each in two profiles; slow)
           codec (runs `cargo bench -p amqp-bench --bench codec`)
`all` is every one of them.
`tls` starts a private RabbitMQ node with a TLS listener and runs our client
over plain AMQP and over TLS (verified against the node's throwaway CA) in
the same rounds (default scenarios: publish confirm consume-ack-100
large-publish large-consume; small bodies 64 B); --uri and --clients do not
apply. Results go to target/bench-tls-results.md.

options:
  --rounds N        rounds, each client once per scenario per round, in
                    rotated order (default 5; at least 3 for official figures)
  --n N             base message count (default 100000; confirm-latency
                    uses N/50, roundtrip N/20, large 10 x 16 MiB)
  --clients LIST    comma-separated from ours,lapin,amqprs,raw (default all)
  --uri URI         broker (default amqp://guest:guest@127.0.0.1:5672/%2f,
                    or $AMQP_URI)
  --timeout SECS    per child run (default 300)
  --pause-ms MS     pause between runs, for the broker to settle (default 500)
  --small-body N    body size of the small-message scenarios (default 32;
                    64 for `tls`)
  --out PATH        Markdown results (default target/bench-results.md)
";

struct Options {
    scenarios: Vec<Scenario>,
    footprint: bool,
    codec: bool,
    rounds: usize,
    n: u64,
    clients: Vec<Client>,
    uri: String,
    timeout: Duration,
    pause: Duration,
    out: PathBuf,
    /// Body size of the small-message scenarios.
    small_body: usize,
    /// `tls` only: the TLS URI the `ours-tls` children are given.
    tls_uri: Option<String>,
}

pub(crate) fn default_out(name: &str) -> PathBuf {
    // target/release/amqp-bench -> target/<name>
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The options; `tls` for `amqp-bench tls` (its defaults, no scenario needed).
fn parse_options(args: &[String], tls: bool) -> Res<Options> {
    let mut o = Options {
        scenarios: vec![],
        footprint: false,
        codec: false,
        rounds: 5,
        n: 100_000,
        clients: vec![Client::Raw, Client::Ours, Client::Lapin, Client::Amqprs],
        uri: std::env::var("AMQP_URI").unwrap_or_else(|_| DEFAULT_URI.into()),
        timeout: Duration::from_secs(300),
        pause: Duration::from_millis(500),
        out: default_out(if tls {
            "bench-tls-results.md"
        } else {
            "bench-results.md"
        }),
        small_body: if tls { 64 } else { scenario::SMALL_BODY },
        tls_uri: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value()?.parse()?,
            "--n" => o.n = value()?.parse()?,
            "--uri" => o.uri = value()?.clone(),
            "--timeout" => o.timeout = Duration::from_secs(value()?.parse()?),
            "--pause-ms" => o.pause = Duration::from_millis(value()?.parse()?),
            "--out" => o.out = value()?.into(),
            "--small-body" => o.small_body = value()?.parse()?,
            "--clients" => {
                let mut clients = vec![];
                for name in value()?.split(',') {
                    clients.push(Client::from_name(name).ok_or(format!("unknown client {name}"))?);
                }
                // Table order: raw, ours, lapin, amqprs.
                o.clients = [Client::Raw, Client::Ours, Client::Lapin, Client::Amqprs]
                    .into_iter()
                    .filter(|c| clients.contains(c))
                    .collect();
            }
            "all" => {
                o.scenarios = Scenario::ALL.to_vec();
                o.footprint = true;
                o.codec = true;
            }
            "footprint" => o.footprint = true,
            "codec" => o.codec = true,
            name => match Scenario::from_name(name) {
                Some(s) if !o.scenarios.contains(&s) => o.scenarios.push(s),
                Some(_) => {}
                None => {
                    return Err(format!("unknown scenario or option {name:?}\n\n{USAGE}").into())
                }
            },
        }
    }
    if tls && (o.footprint || o.codec) {
        return Err("tls: footprint and codec do not apply".into());
    }
    if tls && o.scenarios.is_empty() {
        o.scenarios = tls::SCENARIOS.to_vec();
    }
    if o.scenarios.is_empty() && !o.footprint && !o.codec {
        return Err(USAGE.into());
    }
    if o.rounds == 0 || o.n == 0 {
        return Err("--rounds and --n must be at least 1".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child_main(&args[1..]),
        Some("list") => {
            for s in Scenario::ALL {
                println!("{:16} {}", s.name(), s.title());
            }
            println!("{:16} 8. footprint of a minimal producer", "footprint");
            println!("{:16} 7. codec micro-benchmark (criterion)", "codec");
            Ok(())
        }
        Some("-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some("tls") => parse_options(&args[1..], true).and_then(tls::run),
        Some("connections") => connections::run(&args[1..]),
        Some("conn-child") => connections::child(&args[1..]),
        _ => parse_options(&args, false).and_then(orchestrate),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amqp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

// ===== child =====

/// `child <scenario> <client> <queue> <count> <uri> [<small body>]`: one
/// timed run, one RESULT line.
fn child_main(args: &[String]) -> Res<()> {
    let (scenario, client, queue, count, uri, small) = match args {
        [s, c, q, n, u] => (s, c, q, n, u, scenario::SMALL_BODY),
        [s, c, q, n, u, b] => (s, c, q, n, u, b.parse()?),
        _ => {
            return Err(
                "child: expected <scenario> <client> <queue> <count> <uri> [<small body>]".into(),
            )
        }
    };
    let scenario = Scenario::from_name(scenario).ok_or("child: unknown scenario")?;
    let client = Client::from_name(client).ok_or("child: unknown client")?;
    let job = Job {
        scenario,
        uri: BrokerUri::parse(uri)?,
        queue: queue.clone(),
        count: count.parse()?,
        // Consume scenarios publish nothing: no body to hold (it would count
        // in their peak RSS).
        body: if scenario.prefilled() {
            bytes::Bytes::new()
        } else {
            vec![b'x'; scenario.body_len_with(small)].into()
        },
    };
    let rt = runtime()?;
    let mut outcome = rt.block_on(async {
        match client {
            Client::Raw => raw::run(&job).await,
            Client::Ours | Client::OursTls => ours::run(&job).await,
            Client::Lapin => lapin_client::run(&job).await,
            Client::Amqprs => amqprs_client::run(&job).await,
        }
    })?;
    // Let the runtime (and lapin's I/O thread) wind down before reading the
    // process totals.
    rt.shutdown_timeout(Duration::from_secs(1));
    let n = job.count as f64;
    let secs = outcome.wall.as_secs_f64();
    let (p50, p99) = match &mut outcome.latencies {
        Some(l) => (l.percentile(50.0), l.percentile(99.0)),
        None => (None, None),
    };
    let figures = Figures {
        msgs_per_s: n / secs,
        cpu_us_per_msg: outcome.cpu.as_secs_f64() * 1e6 / n,
        peak_rss_kib: measure::peak_rss_kib() as f64,
        p50_us: p50,
        p99_us: p99,
        mb_per_s: n * scenario.body_len_with(small) as f64 / secs / 1e6,
        exit_cpu_us_per_msg: measure::process_cpu().as_secs_f64() * 1e6 / n,
        wall_ms: secs * 1e3,
    };
    println!("{}", figures.to_line());
    Ok(())
}

// ===== orchestrator =====

fn rotated(clients: &[Client], by: usize) -> Vec<Client> {
    let mut v = clients.to_vec();
    if !v.is_empty() {
        let k = by % v.len();
        v.rotate_left(k);
    }
    v
}

fn orchestrate(o: Options) -> Res<()> {
    let uri = BrokerUri::parse(&o.uri)?;
    // Fails early, and clearly, when there is no broker.
    let server = runtime()?.block_on(async {
        let c = raw::RawConn::connect(&uri).await?;
        let server = c.server.clone();
        c.close().await?;
        Res::Ok(server)
    });
    let server = server.map_err(|e| format!("cannot reach the broker at {}: {e}", o.uri))?;
    let mut md = String::new();
    md.push_str(&format!(
        "# amqp-bench results\n\n{} {}\n\n",
        today(),
        machine_line(&o, &uri, &server)
    ));
    if o.rounds < 3 && !o.scenarios.is_empty() {
        md.push_str("**Development run: fewer than 3 rounds, not official figures.**\n\n");
    }
    eprintln!("{}", machine_line(&o, &uri, &server));
    let mut failures = vec![];
    if !o.scenarios.is_empty() {
        let rt = runtime()?;
        let runs = rt.block_on(run_rounds(&o, &uri, &mut failures))?;
        let summary = report::summary_table(&runs, &o.scenarios, &o.clients);
        println!("\n## Summary (medians)\n\n{summary}");
        md.push_str(&format!(
            "## Summary (medians)\n\n{summary}\n## Per scenario\n\n"
        ));
        for &s in &o.scenarios {
            let t = report::scenario_table(&runs, s, &o.clients);
            println!("{t}");
            md.push_str(&t);
        }
    }
    if o.footprint {
        let mut results = vec![];
        eprintln!("footprint: building the bare-tokio floor in a fresh target dir ...");
        match footprint::measure_floor(&uri.host, uri.port) {
            Ok(f) => results.push(f),
            Err(e) => failures.push(format!("footprint floor: {e}")),
        }
        for client in o.clients.iter().copied().filter(|c| *c != Client::Raw) {
            eprintln!("footprint: building the {client} producer in a fresh target dir ...");
            match footprint::measure(client, &uri.uri) {
                Ok(f) => results.push(f),
                Err(e) => failures.push(format!("footprint {client}: {e}")),
            }
            if let Err(e) = delete_footprint_queue(&uri, client) {
                failures.push(format!("footprint {client}: deleting its queue: {e}"));
            }
        }
        let t = footprint::table(&results);
        println!("\n### 8. footprint: minimal producer\n\n{t}");
        md.push_str(&format!("### 8. footprint: minimal producer\n\n{t}\n"));
        let t = footprint::size_table(&results);
        println!("\n### 8. footprint: size profile\n\n{t}");
        md.push_str(&format!("### 8. footprint: size profile\n\n{t}\n"));
    }
    if o.codec {
        match codec_bench() {
            Ok(t) => {
                println!("\n### 7. codec (criterion, ns per case)\n\n{t}");
                md.push_str(&format!("### 7. codec (criterion, ns per case)\n\n{t}\n"));
            }
            Err(e) => failures.push(format!("codec: {e}")),
        }
    }
    if !failures.is_empty() {
        md.push_str("## Failed runs\n\n");
        for f in &failures {
            md.push_str(&format!("- {f}\n"));
        }
    }
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&o.out, &md)?;
    eprintln!("results written to {}", o.out.display());
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        Err(format!("{} run(s) failed", failures.len()).into())
    }
}

/// Today's date (UTC), from `date`, if it is there.
fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| format!("{}:", s.trim()))
        .unwrap_or_default()
}

pub(crate) fn machine_line(o: &Options, uri: &BrokerUri, server: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{server} at {}:{}; {cores} cores ({cpu}); N = {}; {} round(s); clients {}; tokio multi-thread runtime with 2 workers for every client.",
        uri.host,
        uri.port,
        o.n,
        o.rounds,
        o.clients.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
    )
}

pub(crate) async fn run_rounds(
    o: &Options,
    uri: &BrokerUri,
    failures: &mut Vec<String>,
) -> Res<Vec<report::Run>> {
    let mut runs = vec![];
    let total = o.rounds * o.scenarios.len() * o.clients.len();
    let mut i = 0;
    for round in 0..o.rounds {
        for (si, &scenario) in o.scenarios.iter().enumerate() {
            for client in rotated(&o.clients, round + si) {
                i += 1;
                let count = scenario.count(o.n);
                let queue = format!(
                    "amqp-bench-{scenario}-{client}-{}-r{round}",
                    std::process::id()
                );
                eprint!(
                    "[{i}/{total}] round {} {scenario} {client} ({count} msgs) ... ",
                    round + 1
                );
                let result = one_run(o, uri, scenario, client, &queue, count).await;
                match &result {
                    Ok(f) => eprintln!("{}", brief(scenario, f)),
                    Err(e) => {
                        eprintln!("FAILED: {e}");
                        failures.push(format!("round {} {scenario} {client}: {e}", round + 1));
                    }
                }
                runs.push(report::Run {
                    round,
                    scenario,
                    client,
                    result: result.map_err(|e| e.to_string()),
                });
                tokio::time::sleep(o.pause).await;
            }
        }
    }
    Ok(runs)
}

fn brief(scenario: Scenario, f: &Figures) -> String {
    let head = if scenario.is_latency() {
        format!(
            "p50 {} µs, p99 {} µs",
            f.p50_us.map_or("?".into(), report::num),
            f.p99_us.map_or("?".into(), report::num)
        )
    } else if scenario.is_large() {
        format!("{} MB/s", report::num(f.mb_per_s))
    } else {
        format!("{} msgs/s", report::num(f.msgs_per_s))
    };
    format!(
        "{head}, CPU {} µs/msg, peak RSS {} MiB",
        report::num(f.cpu_us_per_msg),
        report::num(f.peak_rss_kib / 1024.0)
    )
}

/// Setup, the child, teardown (always).
async fn one_run(
    o: &Options,
    uri: &BrokerUri,
    scenario: Scenario,
    client: Client,
    queue: &str,
    count: u64,
) -> Res<Figures> {
    let setup = async {
        let mut admin = raw::RawConn::connect(uri).await?;
        admin.declare(queue, scenario.persistent()).await?;
        if scenario.prefilled() {
            let body_len = scenario.body_len_with(o.small_body);
            raw::prefill(&mut admin, queue, count, body_len).await?;
        }
        admin.close().await
    };
    let result = match tokio::time::timeout(o.timeout, setup).await {
        Ok(Ok(())) => run_child(o, scenario, client, queue, count).await,
        Ok(Err(e)) => Err(format!("setup: {e}").into()),
        Err(_) => Err("setup timed out".into()),
    };
    let teardown = async {
        let mut admin = raw::RawConn::connect(uri).await?;
        // After a consume with acks, nothing may be left: the acks all arrived.
        let left = if scenario.consume_mode().is_some() && result.is_ok() {
            admin.message_count(queue).await?
        } else {
            0
        };
        admin.delete(queue).await?;
        admin.close().await?;
        Res::Ok(left)
    };
    match tokio::time::timeout(Duration::from_secs(60), teardown).await {
        Ok(Ok(0)) => result,
        Ok(Ok(left)) => Err(format!("{left} messages left in the queue after the run").into()),
        Ok(Err(e)) => Err(format!("teardown (deleting {queue}): {e}").into()),
        Err(_) => Err(format!("teardown (deleting {queue}) timed out").into()),
    }
}

async fn run_child(
    o: &Options,
    scenario: Scenario,
    client: Client,
    queue: &str,
    count: u64,
) -> Res<Figures> {
    let exe = std::env::current_exe()?;
    let uri = match client {
        Client::OursTls => o
            .tls_uri
            .as_deref()
            .ok_or("ours-tls needs `amqp-bench tls`")?,
        _ => &o.uri,
    };
    let child = tokio::process::Command::new(exe)
        .args(["child", scenario.name(), client.name(), queue])
        .arg(count.to_string())
        .arg(uri)
        .arg(o.small_body.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // On timeout the future is dropped, and with it the child: killed.
    let out = match tokio::time::timeout(o.timeout, child.wait_with_output()).await {
        Ok(out) => out?,
        Err(_) => return Err(format!("timed out after {} s (killed)", o.timeout.as_secs()).into()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("child {}: {}", out.status, stderr.trim()).into());
    }
    stdout
        .lines()
        .find_map(Figures::parse_line)
        .ok_or_else(|| format!("no RESULT line from the child; stderr: {}", stderr.trim()).into())
}

/// Deletes the queue a footprint producer declared when it was run.
fn delete_footprint_queue(uri: &BrokerUri, client: Client) -> Res<()> {
    runtime()?.block_on(async {
        let mut admin = raw::RawConn::connect(uri).await?;
        admin
            .delete(&format!("amqp-bench-footprint-{}", client.name()))
            .await?;
        admin.close().await
    })
}

/// Runs the criterion benchmark and tabulates its medians.
fn codec_bench() -> Res<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    eprintln!("codec: cargo bench -p amqp-bench --bench codec ...");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "-p", "amqp-bench", "--bench", "codec"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        return Err(format!("cargo bench failed ({})", out.status).into());
    }
    Ok(codec_table(&text))
}

/// Criterion prints `id  time: [low mid high]` (the id on its own line when
/// long); the middle figure is the estimate.
fn codec_table(text: &str) -> String {
    let mut rows: Vec<(String, f64)> = vec![];
    let mut last_id = String::new();
    for line in text.lines() {
        let Some((before, after)) = line.split_once("time:") else {
            if !line.trim().is_empty() && !line.starts_with(' ') {
                last_id = line.trim().to_string();
            }
            continue;
        };
        let id = match before.trim() {
            "" => last_id.clone(),
            id => id.to_string(),
        };
        let parts: Vec<&str> = after
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .collect();
        // [low unit mid unit high unit]
        if let (Some(v), Some(unit)) = (parts.get(2), parts.get(3)) {
            if let Ok(v) = v.parse::<f64>() {
                let ns = match *unit {
                    "ps" => v / 1000.0,
                    "ns" => v,
                    "µs" | "us" => v * 1e3,
                    "ms" => v * 1e6,
                    _ => v * 1e9,
                };
                rows.push((id, ns));
            }
        }
    }
    let mut s = String::from(
        "| case | op | ours ns | amq-protocol ns | ours / amq-protocol |\n|---|---|---|---|---|\n",
    );
    for case in ["deliver", "header", "start"] {
        for op in ["decode", "encode"] {
            let get = |who: &str| {
                rows.iter()
                    .find(|(id, _)| id == &format!("{op}/{case}/{who}"))
                    .map(|(_, ns)| *ns)
            };
            let (ours, theirs) = (get("ours"), get("amq-protocol"));
            let f = |v: Option<f64>| v.map_or("—".into(), report::num);
            let r = match (ours, theirs) {
                (Some(a), Some(b)) => format!("{:.2}×", a / b),
                _ => "—".into(),
            };
            s.push_str(&format!(
                "| {case} | {op} | {} | {} | {r} |\n",
                f(ours),
                f(theirs)
            ));
        }
    }
    s.push_str("\n`deliver` is 3 frames (basic.deliver, content header, 32 B body); `header` one content header with 10 mixed-type headers; `start` RabbitMQ 3.10.8's connection.start.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_changes_who_goes_first() {
        let c = [Client::Raw, Client::Ours, Client::Lapin];
        assert_eq!(rotated(&c, 1), [Client::Ours, Client::Lapin, Client::Raw]);
        assert_eq!(rotated(&c, 3), c);
    }

    #[test]
    fn criterion_output_is_tabulated() {
        let out = "decode/deliver/ours     time:   [50.1 ns 51.0 ns 52.3 ns]\n\
                   decode/deliver/amq-protocol\n                        time:   [1.0010 µs 1.0200 µs 1.0300 µs]\n";
        let t = codec_table(out);
        assert!(
            t.contains("| deliver | decode | 51.0 | 1,020 | 0.05× |"),
            "{t}"
        );
    }

    #[test]
    fn options() {
        let args: Vec<String> = ["publish", "--rounds", "3", "--clients", "lapin,raw"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_options(&args, false).unwrap();
        assert_eq!(o.scenarios, [Scenario::Publish]);
        assert_eq!(o.rounds, 3);
        assert_eq!(o.clients, [Client::Raw, Client::Lapin]);
    }
}
