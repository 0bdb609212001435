use amqp_wire::field_table::decode_table;
use amqp_wire::{FieldTable, FieldValue};
use bytes::Bytes;

use super::*;

fn entry(queue: &str, reason: &str, count: i64) -> FieldValue {
    FieldValue::Table(
        FieldTable::new()
            .with("count", count)
            .with("reason", reason)
            .with("queue", queue)
            .with("time", FieldValue::Timestamp(1_700_000_000))
            .with("exchange", "dlx-source")
            .with(
                "routing-keys",
                vec![FieldValue::from("key-1"), FieldValue::from("cc-key")],
            )
            .with("original-expiration", "50"),
    )
}

#[test]
fn decodes_every_field_of_an_entry_as_rabbitmq_writes_it() {
    let headers = FieldTable::new().with(X_DEATH_HEADER, vec![entry("work", "expired", 2)]);
    let deaths = XDeath::from_headers(&headers);
    assert_eq!(
        deaths,
        [XDeath {
            queue: "work".into(),
            reason: DeadLetterReason::Expired,
            count: 2,
            exchange: "dlx-source".into(),
            routing_keys: vec!["key-1".into(), "cc-key".into()],
            time: Some(1_700_000_000),
            original_expiration: Some("50".into()),
        }]
    );
}

/// The headers of a message RabbitMQ 3.10.8 dead-lettered when its `expiration` of 20 ms ran
/// out in queue `ext-msg-ttl-30620-1-27392b`, captured from the integration test.
const CAPTURED_HEADERS: &str = "0000013107782d646561746841000000b446000000af05636f756e746c00000000\
    0000000106726561736f6e530000000765787069726564057175657565530000001a6578742d6d73672d74746c2d\
    33303632302d312d3237333932620474696d6554000000006b0cb7160865786368616e676553000000000c726f75\
    74696e672d6b657973410000001f530000001a6578742d6d73672d74746c2d33303632302d312d32373339326213\
    6f726967696e616c2d65787069726174696f6e5300000002323016782d66697273742d64656174682d6578636861\
    6e6765530000000013782d66697273742d64656174682d7175657565530000001a6578742d6d73672d74746c2d33\
    303632302d312d32373339326214782d66697273742d64656174682d726561736f6e530000000765787069726564";

fn unhex(text: &str) -> Bytes {
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|d| char::from(d).to_digit(16).expect("a hex digit") as u8)
        .collect();
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

#[test]
fn decodes_the_header_rabbitmq_sent() {
    let headers = decode_table(&unhex(CAPTURED_HEADERS)).expect("the captured table decodes");
    let queue = "ext-msg-ttl-30620-1-27392b";
    assert_eq!(
        XDeath::from_headers(&headers),
        [XDeath {
            queue: queue.into(),
            reason: DeadLetterReason::Expired,
            count: 1,
            exchange: String::new(),
            routing_keys: vec![queue.into()],
            time: Some(1_795_995_414),
            original_expiration: Some("20".into()),
        }]
    );
}

#[test]
fn keeps_the_entries_in_header_order_most_recent_first() {
    let headers = FieldTable::new().with(
        X_DEATH_HEADER,
        vec![entry("second", "rejected", 1), entry("first", "maxlen", 1)],
    );
    let deaths = XDeath::from_headers(&headers);
    let seen: Vec<_> = deaths
        .iter()
        .map(|d| (d.queue.as_str(), &d.reason))
        .collect();
    assert_eq!(
        seen,
        [
            ("second", &DeadLetterReason::Rejected),
            ("first", &DeadLetterReason::MaxLen)
        ]
    );
}

#[test]
fn no_header_or_a_header_of_another_type_gives_no_entries() {
    assert!(XDeath::from_headers(&FieldTable::new()).is_empty());
    let not_an_array = FieldTable::new().with(X_DEATH_HEADER, "expired");
    assert!(XDeath::from_headers(&not_an_array).is_empty());
}

#[test]
fn missing_or_mistyped_fields_get_empty_values_and_non_tables_are_skipped() {
    let odd = FieldTable::new()
        .with("count", -3i32)
        .with("reason", 7u8)
        .with(
            "routing-keys",
            vec![FieldValue::from(1u8), FieldValue::from("k")],
        )
        .with("time", 1_600_000_000i64)
        .with("queue", FieldValue::LongString(vec![b'q', 0xff].into()));
    let headers = FieldTable::new().with(
        X_DEATH_HEADER,
        vec![
            FieldValue::from("not a table"),
            FieldValue::Table(odd),
            FieldValue::Table(FieldTable::new()),
        ],
    );
    let deaths = XDeath::from_headers(&headers);
    assert_eq!(deaths.len(), 2, "{deaths:?}");
    let odd = &deaths[0];
    assert_eq!(odd.count, 0, "a negative count is no count");
    assert_eq!(odd.reason, DeadLetterReason::Other(String::new()));
    assert_eq!(odd.routing_keys, ["k"]);
    assert_eq!(odd.time, Some(1_600_000_000));
    assert_eq!(odd.queue, "q\u{fffd}");
    let empty = &deaths[1];
    assert_eq!(
        (empty.queue.as_str(), empty.exchange.as_str(), empty.count),
        ("", "", 0)
    );
    assert!(empty.routing_keys.is_empty() && empty.time.is_none());
    assert!(empty.original_expiration.is_none());
}

#[test]
fn reasons_round_trip_through_their_text_and_unknown_ones_are_kept() {
    for reason in [
        DeadLetterReason::Rejected,
        DeadLetterReason::Expired,
        DeadLetterReason::MaxLen,
        DeadLetterReason::DeliveryLimit,
        DeadLetterReason::Other("a-later-reason".into()),
    ] {
        assert_eq!(DeadLetterReason::parse(reason.as_str()), reason);
        assert_eq!(reason.to_string(), reason.as_str());
    }
}
