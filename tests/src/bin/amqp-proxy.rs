//! `amqp-proxy`: an AMQP 0-9-1 proxy that prints every frame of every client live.
//!
//! ```text
//! amqp-proxy --listen ADDR --upstream ADDR [--json] [--latency DUR] [--bandwidth N]
//!            [--cut-after N] [--blackhole-after N]
//! ```
//!
//! Point any client (pika, the Java client, ours) at `--listen` instead of the broker. Each
//! frame is printed as the client's frame tap (`demo --trace`) prints it, which is
//! `amqp-decode`'s line with the connection, the time since the proxy started and the
//! direction in front (`->` toward the broker):
//!
//! ```text
//! [c1 +0.004s] -> protocol-header AMQP 0-9-1
//! [c1 +0.006s] <- ch=0 connection.start version_major=0 version_minor=9 ...
//! ```
//!
//! `--json` prints one object per line instead: `amqp-decode --json`'s object for the frame,
//! with `conn`, `direction` and `at` in front, so the same `jq` filters apply. SASL responses
//! and new secrets are masked (`*****`) either way.
//!
//! The proxy's address is printed on standard error once it listens (`--listen 127.0.0.1:0`
//! picks a free port). It runs until killed. Exit status: 2 for a usage error, 1 if it cannot
//! listen or resolve the upstream.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use amqp_testkit::proxy::{Direction, FaultProxy, FrameEvent, ProxyOptions};

const USAGE: &str = "usage: amqp-proxy --listen ADDR --upstream ADDR [--json] [--latency DUR] \
                     [--bandwidth N] [--cut-after N] [--blackhole-after N]";

const HELP: &str = "\
An AMQP 0-9-1 proxy that prints every frame of every client, live.

usage: amqp-proxy --listen ADDR --upstream ADDR [OPTIONS]

  --listen ADDR         where clients connect, e.g. 127.0.0.1:5673 (port 0: any free one)
  --upstream ADDR       the broker, e.g. 127.0.0.1:5672
  --json                one JSON object per line (amqp-decode --json's, plus conn,
                        direction and at)
  --latency DUR         delay each direction by DUR (e.g. 50ms, 1.5s; a bare number is ms)
  --bandwidth N         at most N octets a second each way, per connection
  --cut-after N         cut each connection (RST both ways) after N frames
  --blackhole-after N   stop forwarding on each connection after N frames, keeping its
                        sockets open (a dead network)
  -h, --help            print this help

Frames are counted both ways from the connection's start; the protocol header is not one.
";

#[derive(Debug, Default)]
struct Options {
    listen: Option<String>,
    upstream: Option<String>,
    json: bool,
    latency: Option<Duration>,
    bandwidth: Option<u64>,
    cut_after: Option<u64>,
    blackhole_after: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("amqp-proxy: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (Some(listen), Some(upstream)) = (&options.listen, &options.upstream) else {
        eprintln!("amqp-proxy: --listen and --upstream are both needed\n{USAGE}");
        return ExitCode::from(2);
    };
    let listen = match tokio::net::lookup_host(listen.as_str())
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(addr)) => addr,
        Ok(None) | Err(_) => {
            eprintln!("amqp-proxy: cannot resolve --listen {listen:?}");
            return ExitCode::FAILURE;
        }
    };
    let json = options.json;
    let print = move |event: &FrameEvent| {
        let line = if json {
            event.to_json()
        } else {
            event.to_string()
        };
        let mut out = io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            // `| head` closed the pipe: done, quietly, as amqp-decode does.
            if e.kind() == io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    };
    let proxy_options = ProxyOptions {
        listen,
        // Printed, not kept.
        log_capacity: 0,
        on_event: Some(Arc::new(print)),
        ..ProxyOptions::default()
    };
    let proxy = match FaultProxy::start_with(upstream.as_str(), proxy_options).await {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("amqp-proxy: cannot start (listen {listen}, upstream {upstream}): {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(latency) = options.latency {
        for direction in Direction::BOTH {
            proxy.set_latency(direction, latency);
        }
    }
    if let Some(rate) = options.bandwidth {
        for direction in Direction::BOTH {
            proxy.set_bandwidth(direction, Some(rate));
        }
    }
    if let Some(n) = options.cut_after {
        proxy.close_after(n);
    }
    if let Some(n) = options.blackhole_after {
        proxy.blackhole_after(n);
    }
    eprintln!(
        "amqp-proxy: listening on {}, forwarding to {}",
        proxy.addr(),
        proxy.upstream()
    );
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => options.json = true,
            "--listen" => options.listen = Some(value("--listen")?),
            "--upstream" => options.upstream = Some(value("--upstream")?),
            "--latency" => options.latency = Some(parse_duration(&value("--latency")?)?),
            "--bandwidth" => {
                options.bandwidth = Some(parse_count("--bandwidth", &value("--bandwidth")?)?)
            }
            "--cut-after" => {
                options.cut_after = Some(parse_count("--cut-after", &value("--cut-after")?)?)
            }
            "--blackhole-after" => {
                options.blackhole_after = Some(parse_count(
                    "--blackhole-after",
                    &value("--blackhole-after")?,
                )?)
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(options))
}

fn parse_count(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value:?}: expected a whole number"))
}

/// `250ms`, `1.5s`, or a bare number of milliseconds.
fn parse_duration(value: &str) -> Result<Duration, String> {
    let bad = || format!("--latency {value:?}: expected e.g. 50ms, 1.5s or 50");
    let (number, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = value.strip_suffix('s') {
        (s, 1.0)
    } else {
        (value, 1e-3)
    };
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Options>, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn flags_and_values() {
        let o = args(
            "--listen 127.0.0.1:0 --upstream=127.0.0.1:5672 --json --latency 1.5s --cut-after 9",
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(o.upstream.as_deref(), Some("127.0.0.1:5672"));
        assert!(o.json);
        assert_eq!(o.latency, Some(Duration::from_millis(1500)));
        assert_eq!(o.cut_after, Some(9));
        assert!(args("--help").unwrap().is_none());
        assert!(args("--latency").is_err());
        assert!(args("--latency soon").is_err());
        assert!(args("--frobnicate").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("40"), Ok(Duration::from_millis(40)));
        assert!(parse_duration("-1s").is_err());
    }
}
