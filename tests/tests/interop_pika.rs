//! Interop with Python's pika through the real broker, both ways, on the field-table values the
//! two clients must read alike: decimals, whose value is a *signed* 32-bit integer (pika's
//! `Decimal("-1.5")` is scale 1, value -15, octets `01 FFFFFFF1`).
//!
//! The pika side is `tests/pika/decimal_headers.py`. A machine without pika fails these tests
//! loudly; it never skips them.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use amqp_client::{Decimal, FieldTable, FieldValue};
use common::*;

/// How long one run of the pika script may take.
const PIKA_TIMEOUT: Duration = Duration::from_secs(60);

/// `python3 tests/pika/decimal_headers.py ACTION QUEUE` against the shared broker; its stdout.
async fn decimal_headers_py(action: &str, queue: &str) -> String {
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "pika", "decimal_headers.py"]
        .iter()
        .collect();
    assert!(script.is_file(), "{} is missing", script.display());
    let url = amqp_testkit::amqp_url();
    let script = script.to_str().expect("a UTF-8 path");
    python3(
        &["-u", script, action, queue],
        &[("AMQP_URL", &url)],
        PIKA_TIMEOUT,
    )
    .await
}

fn decimal(scale: u8, value: i32) -> FieldValue {
    FieldValue::Decimal(Decimal { scale, value })
}

/// pika publishes `Decimal` headers, negative ones included; we consume them as pika meant them.
#[tokio::test]
async fn pika_negative_decimal_headers_reach_us_signed() {
    require_pika();
    let conn = connect().await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "interop-pika-decimal-in").await;
    let _cleanup = Cleanup::queues(&[&q]);

    let sent = decimal_headers_py("publish", &q).await;
    assert_eq!(sent.trim(), "[x] Sent");

    let mut consumer = consume_no_ack(&ch, &q).await;
    let delivery = next_delivery(&mut consumer, "pika's message").await;
    assert_eq!(&delivery.body[..], b"decimals");
    let headers = delivery.properties.headers.expect("pika's headers");
    assert_eq!(headers.get("neg"), Some(&decimal(1, -15)), "{headers:?}");
    assert_eq!(headers.get("pos"), Some(&decimal(2, 1234)), "{headers:?}");
    assert_eq!(
        headers.get("neg_int"),
        Some(&decimal(0, -100)),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("nested"),
        Some(&FieldValue::Table(
            FieldTable::new().with("neg", decimal(3, -1))
        )),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("list"),
        Some(&FieldValue::Array(vec![decimal(1, -25), decimal(0, 7)])),
        "{headers:?}"
    );
    assert_eq!(headers.len(), 5, "{headers:?}");

    assert_eq!(delete(&ch, &q).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}

/// We publish negative `Decimal` headers; pika reads the very decimals we meant.
#[tokio::test]
async fn our_negative_decimal_headers_reach_pika_signed() {
    require_pika();
    let conn = connect().await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "interop-pika-decimal-out").await;
    let _cleanup = Cleanup::queues(&[&q]);

    let headers = FieldTable::new()
        .with("neg", decimal(1, -15))
        .with("min", decimal(0, i32::MIN))
        .with("pos", decimal(2, 1999))
        .with("nested", FieldTable::new().with("neg", decimal(3, -1)))
        .with(
            "list",
            FieldValue::Array(vec![decimal(1, -25), decimal(2, -1)]),
        );
    publish(
        &ch,
        "",
        &q,
        Default::default(),
        with_headers(headers),
        "decimals",
    )
    .await
    .expect("publish with decimal headers");

    let got = decimal_headers_py("get", &q).await;
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines,
        [
            "list=[Decimal('-2.5'), Decimal('-0.01')]",
            "min=Decimal('-2147483648')",
            "neg=Decimal('-1.5')",
            "nested={'neg': Decimal('-0.001')}",
            "pos=Decimal('19.99')",
        ],
        "pika's view of our headers"
    );

    // pika took the message with auto-ack: the queue is empty.
    assert_eq!(delete(&ch, &q).await, 0);
    step("connection.close", conn.close()).await.unwrap();
}
