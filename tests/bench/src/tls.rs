//! `amqp-bench tls`: our client over plain AMQP against our client over
//! TLS, on the same private RabbitMQ node, in the same rounds.
//!
//! The node is started here (amqp-testkit's `PrivateNode::builder().tls()`:
//! a TLS listener with a throwaway CA, 2048-bit RSA certificates) and
//! removed at the end. `ours` gets the node's plain URI, `ours-tls` its
//! `amqps://` URI with `cacertfile=` the CA (full verification, as an
//! application would run). Both are the same code (`ours.rs`) in the same
//! kind of child process; the harness's own setup and teardown go over the
//! plain port. The TLS handshake is in the child's connect, outside the
//! timed section (it shows in "CPU at exit").

use std::time::Instant;

use amqp_client::{Connection, ConnectionConfig};
use amqp_testkit::PrivateNode;

use crate::scenario::{Client, Scenario};
use crate::uri::BrokerUri;
use crate::{machine_line, report, run_rounds, runtime, today, Options, Res};

/// The default scenarios: publish unconfirmed, publish with confirms,
/// consume with manual acks, and 16 MiB messages both ways.
pub(crate) const SCENARIOS: [Scenario; 5] = [
    Scenario::Publish,
    Scenario::Confirm,
    Scenario::ConsumeAck100,
    Scenario::LargePublish,
    Scenario::LargeConsume,
];

fn label(scenario: Scenario, small: usize) -> String {
    match scenario {
        Scenario::Publish => format!("publish {small} B transient, unconfirmed"),
        Scenario::Confirm => format!("publish {small} B persistent, confirms pipelined"),
        Scenario::ConfirmLatency => format!("confirm latency, {small} B persistent"),
        Scenario::ConsumeAck1 => format!("consume {small} B, manual ack, prefetch 1"),
        Scenario::ConsumeAck100 => format!("consume {small} B, manual ack, prefetch 100"),
        Scenario::ConsumeNoAck => format!("consume {small} B, no-ack"),
        Scenario::RoundTrip => format!("round trip {small} B"),
        Scenario::LargePublish => "publish 10 × 16 MiB".into(),
        Scenario::LargeConsume => "consume 10 × 16 MiB, manual ack, prefetch 1".into(),
        Scenario::LargeConsume10 => "consume 10 × 16 MiB, manual ack, prefetch 10".into(),
    }
}

pub(crate) fn run(mut o: Options) -> Res<()> {
    eprintln!("tls: starting a private RabbitMQ node with a TLS listener ...");
    let started = Instant::now();
    let node = PrivateNode::builder().tls().start()?;
    eprintln!("tls: node up in {:.1} s", started.elapsed().as_secs_f64());
    let certs = node.tls().ok_or("the node has no certificates")?;
    let tls_port = node.tls_port().ok_or("the node has no TLS port")?;
    o.uri = node.url();
    o.tls_uri = Some(format!(
        "amqps://guest:guest@{}:{tls_port}/%2f?cacertfile={}",
        certs.server_name(),
        certs.ca_cert_path().display()
    ));
    o.clients = vec![Client::Ours, Client::OursTls];
    let uri = BrokerUri::parse(&o.uri)?;
    let rt = runtime()?;
    let (server, negotiated) = rt.block_on(negotiated(&node, &o))?;

    let mut md = String::new();
    md.push_str(&format!(
        "# amqp-bench tls results\n\n{} {}\n\nTLS: {negotiated}; server certificate RSA 2048 \
         of a throwaway CA, verified by the client (`cacertfile=`).\n\n",
        today(),
        machine_line(&o, &uri, &server)
    ));
    if o.rounds < 3 {
        md.push_str("**Development run: fewer than 3 rounds, not official figures.**\n\n");
    }
    eprintln!("{}\nTLS: {negotiated}", machine_line(&o, &uri, &server));
    let mut failures = vec![];
    let runs = rt.block_on(run_rounds(&o, &uri, &mut failures))?;
    let small = o.small_body;
    let t = report::pair_table(&runs, &o.scenarios, Client::Ours, Client::OursTls, |s| {
        label(s, small)
    });
    println!("\n## ours over TLS / ours over plain AMQP (medians)\n\n{t}");
    md.push_str(&format!(
        "## ours over TLS / ours over plain AMQP (medians)\n\n{t}\nMedian (min–max) of {} \
         round(s); ratios taken within each round, then the median. CPU µs/msg: all threads' \
         time on CPU in the timed section (connect and handshake excluded).\n\n## Per scenario\n\n",
        o.rounds
    ));
    for &s in &o.scenarios {
        let t = report::scenario_table(&runs, s, &o.clients);
        md.push_str(&t);
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
    drop(node);
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        Err(format!("{} run(s) failed", failures.len()).into())
    }
}

/// Connects once over TLS, as the children will, and asks the broker what
/// was agreed: (server product and version, TLS protocol and cipher).
async fn negotiated(node: &PrivateNode, o: &Options) -> Res<(String, String)> {
    let name = format!("amqp-bench-tls-probe-{}", std::process::id());
    let tls_uri = o.tls_uri.as_deref().ok_or("no TLS URI")?;
    let config = ConnectionConfig::from_uri(tls_uri)?.with_connection_name(name.clone());
    let conn = Connection::connect(config).await?;
    let raw = crate::raw::RawConn::connect(&BrokerUri::parse(&o.uri)?).await?;
    let server = raw.server.clone();
    raw.close().await?;
    let listed = tokio::task::block_in_place(|| {
        node.ctl(&[
            "-q",
            "list_connections",
            "--no-table-headers",
            "ssl_protocol",
            "ssl_cipher",
            "ssl_key_exchange",
            "client_properties",
        ])
    })?;
    conn.close().await?;
    let line = listed
        .lines()
        .find(|l| l.contains(&format!("\"{name}\"")))
        .ok_or_else(|| format!("the broker does not list {name}: {listed}"))?;
    let cols: Vec<&str> = line.split('\t').take(3).collect();
    let [protocol, cipher, kx] = cols[..] else {
        return Err(format!("unexpected list_connections line: {line}").into());
    };
    // TLS 1.3 suites name no key exchange (RabbitMQ shows `any`).
    let kx = match kx {
        "any" => String::new(),
        kx => format!(", key exchange {kx}"),
    };
    Ok((server, format!("{protocol} {cipher}{kx}")))
}
