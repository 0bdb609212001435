//! `amqp-bench connections`: the memory an idle connection costs (issue
//! 14, section 4). Each client, in a child process of its own, opens N
//! connections one after another, one channel each, holds them 2 s and
//! reports its peak RSS. The cost of one connection is the slope between
//! two counts, (RSS(N2) - RSS(N1)) / (N2 - N1): the process's own baseline
//! (runtime, libraries) cancels out.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::Duration;

use crate::measure::peak_rss_kib;
use crate::scenario::Client;
use crate::uri::BrokerUri;
use crate::{raw, runtime, Res};

/// How long the connections are held before the peak is read.
const HOLD: Duration = Duration::from_secs(2);

const CLIENTS: [Client; 4] = [Client::Raw, Client::Ours, Client::Lapin, Client::Amqprs];

pub(crate) const USAGE: &str = "\
usage: amqp-bench connections [--counts N1,N2] [--rounds N] [--uri URI]
Peak RSS of N idle connections (one channel each) per client, each in its
own process; the slope between the two counts is the cost of one connection.
Defaults: --counts 100,500 --rounds 3. Results: target/bench-connections-results.md.";

/// The orchestrator: every client at every count, `rounds` times.
pub(crate) fn run(args: &[String]) -> Res<()> {
    let mut counts = vec![100u64, 500];
    let mut rounds = 3;
    let mut uri = std::env::var("AMQP_URI").unwrap_or_else(|_| crate::DEFAULT_URI.into());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--counts" => {
                counts = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => rounds = value()?.parse()?,
            "--uri" => uri = value()?.clone(),
            other => return Err(format!("unknown option {other:?}\n{USAGE}").into()),
        }
    }
    if counts.len() != 2 || counts[0] >= counts[1] || rounds == 0 {
        return Err(format!("two increasing counts and at least one round\n{USAGE}").into());
    }
    let exe = std::env::current_exe()?;
    // rss[client][count] = every round's peak, KiB.
    let mut rss = vec![vec![Vec::new(); counts.len()]; CLIENTS.len()];
    for round in 0..rounds {
        for (ci, client) in CLIENTS.iter().enumerate() {
            for (ni, n) in counts.iter().enumerate() {
                let out = std::process::Command::new(&exe)
                    .args(["conn-child", client.name(), &n.to_string(), &uri])
                    .stderr(Stdio::inherit())
                    .output()?;
                let text = String::from_utf8_lossy(&out.stdout);
                let kib: f64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("RESULT peak_rss_kib="))
                    .ok_or_else(|| format!("{client} with {n} connections failed: {text}"))?
                    .trim()
                    .parse()?;
                println!(
                    "round {} {client:7} {n:4} connections: {kib:.0} KiB",
                    round + 1
                );
                rss[ci][ni].push(kib);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    let table = report(&counts, &rss);
    println!("\n{table}");
    let out = crate::default_out("bench-connections-results.md");
    std::fs::write(&out, &table)?;
    println!("written to {}", out.display());
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(counts: &[u64], rss: &[Vec<Vec<f64>>]) -> String {
    let (n1, n2) = (counts[0], counts[1]);
    let mut t = format!(
        "| client | peak RSS, {n1} connections (MiB) | peak RSS, {n2} connections (MiB) | per idle connection (KiB) |\n|---|---|---|---|\n"
    );
    for (ci, client) in CLIENTS.iter().enumerate() {
        let (a, b) = (median(&rss[ci][0]), median(&rss[ci][1]));
        let per = (b - a) / (n2 - n1) as f64;
        // Writing to a String cannot fail.
        let _ = writeln!(
            t,
            "| {client} | {:.1} | {:.1} | {per:.1} |",
            a / 1024.0,
            b / 1024.0
        );
    }
    t
}

/// `conn-child <client> <n> <uri>`: opens the connections, holds them,
/// prints the peak RSS.
pub(crate) fn child(args: &[String]) -> Res<()> {
    let [client, n, uri] = args else {
        return Err("conn-child: expected <client> <n> <uri>".into());
    };
    let client = Client::from_name(client).ok_or("conn-child: unknown client")?;
    let n: usize = n.parse()?;
    let uri = BrokerUri::parse(uri)?;
    runtime()?.block_on(async {
        let held = open(client, n, &uri).await?;
        tokio::time::sleep(HOLD).await;
        println!("RESULT peak_rss_kib={}", peak_rss_kib());
        drop(held);
        Res::Ok(())
    })
}

/// Keeps whatever a client needs alive.
type Held = Vec<Box<dyn std::any::Any + Send>>;

async fn open(client: Client, n: usize, uri: &BrokerUri) -> Res<Held> {
    let mut held: Held = Vec::with_capacity(n);
    for _ in 0..n {
        match client {
            Client::Ours | Client::OursTls => {
                let conn = amqp_client::connect(&uri.uri).await?;
                let ch = conn.open_channel().await?;
                held.push(Box::new((conn, ch)));
            }
            Client::Lapin => {
                let props = lapin::ConnectionProperties::default();
                let conn = lapin::Connection::connect(&uri.uri, props).await?;
                let ch = conn.create_channel().await?;
                held.push(Box::new((conn, ch)));
            }
            Client::Amqprs => {
                let args = amqprs::connection::OpenConnectionArguments::new(
                    &uri.host,
                    uri.port,
                    &uri.user,
                    &uri.password,
                )
                .virtual_host(&uri.vhost)
                .finish();
                let conn = amqprs::connection::Connection::open(&args).await?;
                let ch = conn.open_channel(None).await?;
                held.push(Box::new((conn, ch)));
            }
            Client::Raw => held.push(Box::new(raw::RawConn::connect(uri).await?)),
        }
    }
    Ok(held)
}
