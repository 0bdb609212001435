//! `amqp-stream-body`: publishes or consumes one large message with streamed bodies, and says
//! how much memory that took.
//!
//! ```text
//! amqp-stream-body publish URL QUEUE SIZE SEED   # a pseudo-random body, generated as it is sent
//! amqp-stream-body consume URL QUEUE             # the first message of QUEUE, acked once read
//! ```
//!
//! Either prints one line, `octets=N fnv1a=HEX peak_rss_kib=K`: the body's length and FNV-1a
//! hash as this side saw it (the publisher's is of what it generated), and the process's peak
//! resident memory (`VmHWM`). The publisher waits for the broker's confirm. Neither side holds
//! the body: its memory stays a few MiB whatever SIZE is. Exit status 1 on any error, 2 for a
//! usage error.

use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use amqp_client::{BasicProperties, ConnectionConfig, Recovery};
use tokio::io::{AsyncRead, ReadBuf};

const USAGE: &str = "usage: amqp-stream-body publish URL QUEUE SIZE SEED | consume URL QUEUE";

/// FNV-1a, 64 bits: enough to tell two bodies apart, and no dependency.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `len` pseudo-random octets (SplitMix64 of `seed`), made as they are read, hashed on the way.
struct Generated {
    left: u64,
    state: u64,
    hash: Fnv,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left) as usize / 8 * 8;
        let n = if n == 0 { self.left.min(8) as usize } else { n };
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let take = (n - out.len()).min(8);
            out.extend_from_slice(&z.to_le_bytes()[..take]);
        }
        self.hash.update(&out);
        self.left -= n as u64;
        buf.put_slice(&out);
        Poll::Ready(Ok(()))
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn connect(url: &str) -> Res<amqp_client::Connection> {
    let config = ConnectionConfig::from_uri(url)?.with_recovery(Recovery::disabled());
    Ok(amqp_client::Connection::connect(config).await?)
}

async fn publish(url: &str, queue: &str, size: u64, seed: u64) -> Res<(u64, Fnv)> {
    let conn = connect(url).await?;
    let ch = conn.open_channel().await?;
    ch.confirm_select(Default::default()).await?;
    let mut body = Generated {
        left: size,
        state: seed,
        hash: Fnv::new(),
    };
    let properties = BasicProperties::default();
    let confirm = ch
        .basic_publish_streamed("", queue, Default::default(), properties, size, &mut body)
        .await?;
    confirm.wait().await?;
    conn.close().await?;
    Ok((size, body.hash))
}

async fn consume(url: &str, queue: &str) -> Res<(u64, Fnv)> {
    let conn = connect(url).await?;
    let ch = conn.open_channel().await?;
    ch.basic_qos(1, Default::default()).await?;
    let mut consumer = ch
        .basic_consume_streamed(queue, "", Default::default(), Default::default())
        .await?;
    let mut streamed = consumer.next().await.ok_or("the consumer ended")??;
    let (mut octets, mut hash) = (0u64, Fnv::new());
    while let Some(chunk) = streamed.body.chunk().await {
        let chunk = chunk?;
        octets += chunk.len() as u64;
        hash.update(&chunk);
    }
    streamed.delivery.ack().await?;
    drop(consumer);
    conn.close().await?;
    Ok((octets, hash))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["publish", url, queue, size, seed] => match (size.parse(), seed.parse()) {
            (Ok(size), Ok(seed)) => publish(url, queue, size, seed).await,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        ["consume", url, queue] => consume(url, queue).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok((octets, hash)) => {
            let rss = peak_rss_kib();
            println!("octets={octets} fnv1a={:016x} peak_rss_kib={rss}", hash.0);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("amqp-stream-body: {e}");
            ExitCode::FAILURE
        }
    }
}
