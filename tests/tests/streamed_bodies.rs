//! Streamed bodies through a real broker: a 256 MiB message published from a reader and
//! consumed chunk by chunk, each side in its own process under 32 MiB of peak memory, the body
//! checked by hash at both ends; and what a streamed publish or consumer does when things go
//! wrong (a source that fails mid-body, a body dropped half-read, a connection lost mid-body).
//!
//! One private node for the binary (its `max_message_size` raised to RabbitMQ's ceiling, 512 MiB:
//! the default, 128 MiB, would refuse the message), started once in a `static`.

mod common;

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use amqp_client::{
    BasicProperties, Connection, ConnectionConfig, ConnectionEvent, Error, FieldTable, Recovery,
};
use amqp_testkit::broker::PrivateNode;
use amqp_testkit::proxy::FaultProxy;
use bytes::Bytes;
use common::*;
use tokio::io::AsyncReadExt;

const LIMIT: Duration = Duration::from_secs(120);

static NODE: OnceLock<PrivateNode> = OnceLock::new();

fn node() -> &'static PrivateNode {
    NODE.get_or_init(|| {
        PrivateNode::builder()
            .max_message_size(512 * 1024 * 1024)
            .start()
            .unwrap_or_else(|e| panic!("a private node for the streamed-body tests: {e}"))
    })
}

async fn node_url() -> String {
    blocking(|| node().url())
}

/// basic.publish of `body` to queue `q` (no confirm: the channel's later calls see it).
async fn put(ch: &amqp_client::Channel, q: &str, body: Vec<u8>) {
    let _ = step(
        "basic.publish",
        ch.basic_publish("", q, Default::default(), Default::default(), body),
    )
    .await
    .unwrap();
}

async fn connect_to(url: &str, recovery: Recovery) -> Connection {
    let config = ConnectionConfig::from_uri(url)
        .expect("the URL parses")
        .with_recovery(recovery);
    step("connect", Connection::connect(config)).await.unwrap()
}

/// What `amqp-stream-body` printed: octets, hash, peak RSS in KiB.
fn run_tool(args: &[&str]) -> (u64, String, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_amqp-stream-body"))
        .args(args)
        .output()
        .expect("amqp-stream-body runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "amqp-stream-body {args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout:?}"))
            .to_owned()
    };
    let octets = field("octets=").parse().expect("a count");
    let rss = field("peak_rss_kib=").parse().expect("a size");
    (octets, field("fnv1a="), rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_message_streams_through_in_under_32_mib_on_each_side() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let url = node_url().await;
    let conn = connect_to(&url, Recovery::disabled()).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "streamed-256").await;

    // Both at once: the consumer takes the body while the publisher is still sending it.
    let consume = {
        let (url, q) = (url.clone(), q.clone());
        tokio::task::spawn_blocking(move || run_tool(&["consume", &url, &q]))
    };
    let publish = {
        let (url, q) = (url.clone(), q.clone());
        tokio::task::spawn_blocking(move || {
            run_tool(&["publish", &url, &q, &SIZE.to_string(), "7"])
        })
    };
    let (sent, sent_hash, publisher_rss) = within(LIMIT, "the publisher", publish).await.unwrap();
    let (got, got_hash, consumer_rss) = within(LIMIT, "the consumer", consume).await.unwrap();
    println!("publisher peak RSS {publisher_rss} KiB, consumer {consumer_rss} KiB");
    assert_eq!(sent, SIZE);
    assert_eq!(got, SIZE, "the consumer read the whole body");
    assert_eq!(got_hash, sent_hash, "the body arrived as it was sent");
    assert!(
        publisher_rss < 32 * 1024,
        "publisher peak RSS {publisher_rss} KiB"
    );
    assert!(
        consumer_rss < 32 * 1024,
        "consumer peak RSS {consumer_rss} KiB"
    );
    assert_eq!(counts(&ch, &q).await.0, 0, "the message was acked");
    delete(&ch, &q).await;
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_consumers_get_every_size_in_order_and_ack_as_usual() {
    let url = node_url().await;
    let conn = connect_to(&url, Recovery::disabled()).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "streamed-sizes").await;
    let frame = conn.tuning().frame_max as usize - 8;
    // Empty, one octet, exactly one frame, one octet more, several frames.
    let sizes = [0, 1, frame, frame + 1, 5 * frame + 17];
    for (i, size) in sizes.iter().enumerate() {
        let body = pseudo_random_body(*size, i as u64);
        put(&ch, &q, body).await;
    }
    let mut consumer = step(
        "basic.consume (streamed)",
        ch.basic_consume_streamed(&q, "", Default::default(), FieldTable::new()),
    )
    .await
    .unwrap();
    assert!(
        consumer.tag().starts_with("amqp-client.stream."),
        "{}",
        consumer.tag()
    );
    for (i, size) in sizes.iter().enumerate() {
        let d = within(LIMIT, "a streamed delivery", consumer.next())
            .await
            .expect("a delivery")
            .unwrap();
        assert_eq!(d.body.body_size(), *size as u64);
        assert!(d.delivery.body.is_empty());
        let mut chunks = 0;
        let mut body = Vec::new();
        let mut stream = d.body;
        while let Some(chunk) = stream.chunk().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= frame, "one body frame per chunk");
            body.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert_eq!(chunks, size.div_ceil(frame), "message {i}: chunks");
        assert_eq!(body, pseudo_random_body(*size, i as u64), "message {i}");
        d.delivery.ack().await.unwrap();
    }
    drop(consumer);
    eventually(Duration::from_secs(10), "every message acked", || async {
        counts(&ch, &q).await == (0, 0)
    })
    .await;
    delete(&ch, &q).await;
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_dropped_half_read_is_skipped_and_the_next_delivery_follows() {
    let url = node_url().await;
    let conn = connect_to(&url, Recovery::disabled()).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "streamed-skip").await;
    let big = pseudo_random_body(8 * 1024 * 1024, 1);
    put(&ch, &q, big).await;
    put(&ch, &q, b"after".to_vec()).await;
    let mut consumer = ch
        .basic_consume_streamed(&q, "skipper", Default::default(), FieldTable::new())
        .await
        .unwrap();
    let mut first = within(LIMIT, "the big delivery", consumer.next())
        .await
        .unwrap()
        .unwrap();
    // Read a little as an AsyncRead, then let the rest go.
    let mut head = [0u8; 1000];
    first.body.read_exact(&mut head).await.unwrap();
    assert_eq!(head[..], pseudo_random_body(8 * 1024 * 1024, 1)[..1000]);
    first.delivery.ack().await.unwrap();
    drop(first.body);
    let second = within(LIMIT, "the delivery after it", consumer.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second.body.collect().await.unwrap(),
        Bytes::from_static(b"after")
    );
    second.delivery.ack().await.unwrap();
    drop(consumer);
    delete(&ch, &q).await;
    conn.close().await.unwrap();
}

/// A source that gives `good` octets, then fails.
struct Failing {
    good: usize,
}

impl tokio::io::AsyncRead for Failing {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.good == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("the disk went away")));
        }
        let n = self.good.min(buf.remaining());
        buf.put_slice(&vec![b'x'; n]);
        self.good -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_failing_mid_body_drops_the_connection_and_nothing_half_made_is_queued() {
    let url = node_url().await;
    let conn = connect_to(&url, Recovery::default()).await;
    let mut events = conn.events();
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "streamed-fail").await;
    ch.confirm_select(Default::default()).await.unwrap();
    let result = within(
        LIMIT,
        "the failing streamed publish",
        ch.basic_publish_streamed(
            "",
            &q,
            Default::default(),
            BasicProperties::default(),
            4 * 1024 * 1024,
            Failing { good: 1024 * 1024 },
        ),
    )
    .await;
    let error = result.expect_err("the source failed");
    assert!(
        error.to_string().contains("the disk went away"),
        "the source's error: {error}"
    );
    // The connection was dropped and comes back; the channel goes on.
    let lost = within(LIMIT, "the drop", events.recv()).await.unwrap();
    assert!(
        matches!(lost, ConnectionEvent::Disconnected { .. }),
        "{lost:?}"
    );
    loop {
        match within(LIMIT, "the recovery", events.recv()).await.unwrap() {
            ConnectionEvent::Recovered { .. } => break,
            ConnectionEvent::GaveUp { error, .. } => panic!("recovery gave up: {error}"),
            _ => {}
        }
    }
    // A whole streamed publish then goes through, confirmed; the broken one is not there.
    let body = pseudo_random_body(300_000, 3);
    let confirm = ch
        .basic_publish_streamed(
            "",
            &q,
            Default::default(),
            BasicProperties::default(),
            body.len() as u64,
            &body[..],
        )
        .await
        .unwrap();
    confirm.wait().await.unwrap();
    let got = get(&ch, &q, true).await.expect("the whole message");
    assert_eq!(got.delivery.body, Bytes::from(body));
    assert!(get(&ch, &q, true).await.is_none(), "nothing half-made");
    delete(&ch, &q).await;
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_made_during_a_streamed_publish_wait_for_its_end_and_keep_their_order() {
    let url = node_url().await;
    let conn = connect_to(&url, Recovery::disabled()).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "streamed-order").await;
    ch.confirm_select(Default::default()).await.unwrap();
    let big = pseudo_random_body(3 * 1024 * 1024, 9);
    let streamed = {
        let ch = ch.clone();
        let (q, big) = (q.clone(), big.clone());
        tokio::spawn(async move {
            let source = &big[..];
            let c = ch
                .basic_publish_streamed(
                    "",
                    &q,
                    Default::default(),
                    Default::default(),
                    big.len() as u64,
                    source,
                )
                .await?;
            c.wait().await
        })
    };
    // Small publishes from the same channel meanwhile: none may land inside the content.
    let mut confirms = Vec::new();
    for i in 0..50 {
        let c = ch
            .basic_publish(
                "",
                &q,
                Default::default(),
                Default::default(),
                format!("small {i}"),
            )
            .await
            .unwrap();
        confirms.push(c);
    }
    streamed.await.unwrap().unwrap();
    for c in confirms {
        c.wait().await.unwrap();
    }
    let mut bodies = Vec::new();
    while let Some(got) = get(&ch, &q, true).await {
        bodies.push(got.delivery.body);
    }
    assert_eq!(bodies.len(), 51);
    assert!(
        bodies.contains(&Bytes::from(big)),
        "the streamed message is whole"
    );
    let smalls: Vec<_> = bodies.iter().filter(|b| b.len() < 100).collect();
    for (i, b) in smalls.iter().enumerate() {
        assert_eq!(**b, Bytes::from(format!("small {i}")), "in order");
    }
    delete(&ch, &q).await;
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_body_is_an_error_from_the_body_not_a_short_body() {
    let url = node_url().await;
    let admin = connect_to(&url, Recovery::disabled()).await;
    let admin_ch = channel(&admin).await;
    let q = fresh_queue(&admin_ch, "streamed-lost").await;
    put(&admin_ch, &q, pseudo_random_body(16 * 1024 * 1024, 4)).await;
    let proxy = FaultProxy::start_for_url(&url).await.unwrap();
    let conn = connect_to(&proxy.url_for(&url), Recovery::disabled()).await;
    let ch = channel(&conn).await;
    ch.basic_qos(1, Default::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume_streamed(&q, "", Default::default(), FieldTable::new())
        .await
        .unwrap();
    let mut d = within(LIMIT, "the delivery", consumer.next())
        .await
        .unwrap()
        .unwrap();
    // The first chunk, then the connection goes away under the body.
    d.body.chunk().await.unwrap().unwrap();
    proxy.cut();
    let mut error = None;
    while let Some(chunk) = within(LIMIT, "the rest of the body", d.body.chunk()).await {
        if let Err(e) = chunk {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("an error, never a short body that looks whole");
    assert!(
        matches!(error, Error::ConnectionClosed(_) | Error::Io(_)),
        "{error:?}"
    );
    eventually(Duration::from_secs(10), "the message requeued", || async {
        counts(&admin_ch, &q).await.0 == 1
    })
    .await;
    delete(&admin_ch, &q).await;
    admin.close().await.unwrap();
}
