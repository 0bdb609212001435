//! RabbitMQ's `x-death` header: where and why a message was dead-lettered.
//!
//! When a queue dead-letters a message (rejected or nacked without requeue,
//! expired by a per-queue or per-message TTL, pushed out by a length limit,
//! or over a quorum queue's delivery limit), RabbitMQ republishes it to the
//! queue's dead-letter exchange with an `x-death` header added: an array
//! (`A`) of tables (`F`), one per (queue, reason) pair the message went
//! through, the most recent first. A message that dies twice in the same
//! queue for the same reason keeps one entry whose `count` goes up.
//!
//! The header comes from the broker, so decoding is tolerant: an entry that
//! is not a table is skipped, a missing or mistyped field gets its empty
//! value, and nothing here panics.

use amqp_wire::{FieldTable, FieldValue};

/// The header RabbitMQ adds to a dead-lettered message.
pub const X_DEATH_HEADER: &str = "x-death";

/// Why a queue dead-lettered a message: the `reason` field of an `x-death`
/// entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// `rejected`: basic.reject or basic.nack with `requeue` false.
    Rejected,
    /// `expired`: its TTL ran out (the queue's `x-message-ttl` or the
    /// message's `expiration` property).
    Expired,
    /// `maxlen`: the queue's `x-max-length` or `x-max-length-bytes` was
    /// exceeded with overflow `drop-head` (the default).
    MaxLen,
    /// `delivery_limit`: redelivered more often than a quorum queue's
    /// `x-delivery-limit` allows.
    DeliveryLimit,
    /// A reason this client does not know (a later broker's, or a missing
    /// field: then empty), kept as sent.
    Other(String),
}

impl DeadLetterReason {
    /// Maps RabbitMQ's text to a reason; unknown text is kept in `Other`.
    pub fn parse(text: &str) -> Self {
        match text {
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            "maxlen" => Self::MaxLen,
            "delivery_limit" => Self::DeliveryLimit,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The reason as RabbitMQ writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::MaxLen => "maxlen",
            Self::DeliveryLimit => "delivery_limit",
            Self::Other(text) => text,
        }
    }
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the `x-death` header: a message's deaths in one queue for
/// one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct XDeath {
    /// The queue it was dead-lettered from.
    pub queue: String,
    /// Why.
    pub reason: DeadLetterReason,
    /// How many times it died in this queue for this reason (at least 1
    /// from RabbitMQ; 0 only if the field was missing).
    pub count: u64,
    /// The exchange it had been published to before that death ("" for
    /// the default exchange).
    pub exchange: String,
    /// The routing keys it had (its routing key, then any `CC` and `BCC`
    /// header values).
    pub routing_keys: Vec<String>,
    /// When it first died there, POSIX seconds.
    pub time: Option<u64>,
    /// Its `expiration` property (per-message TTL, milliseconds as text),
    /// which RabbitMQ removes from the dead-lettered copy and keeps here.
    pub original_expiration: Option<String>,
}

impl XDeath {
    /// The `x-death` entries of a message's headers, most recent first;
    /// empty when the message was never dead-lettered.
    ///
    /// ```
    /// use amqp_client::{DeadLetterReason, Delivery, XDeath};
    ///
    /// /// True if the message reached us because it expired somewhere.
    /// fn expired(delivery: &Delivery) -> bool {
    ///     let deaths = delivery.properties.headers.as_ref().map(XDeath::from_headers);
    ///     deaths
    ///         .unwrap_or_default()
    ///         .iter()
    ///         .any(|death| death.reason == DeadLetterReason::Expired)
    /// }
    /// ```
    pub fn from_headers(headers: &FieldTable) -> Vec<Self> {
        let Some(entries) = headers.get(X_DEATH_HEADER).and_then(FieldValue::as_array) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(FieldValue::as_table)
            .map(Self::from_entry)
            .collect()
    }

    fn from_entry(entry: &FieldTable) -> Self {
        let text = |key: &str| entry.get(key).and_then(lossy_text);
        Self {
            queue: text("queue").unwrap_or_default(),
            reason: DeadLetterReason::parse(&text("reason").unwrap_or_default()),
            count: entry
                .get("count")
                .and_then(FieldValue::as_i64)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            exchange: text("exchange").unwrap_or_default(),
            routing_keys: entry
                .get("routing-keys")
                .and_then(FieldValue::as_array)
                .map(|keys| keys.iter().filter_map(lossy_text).collect())
                .unwrap_or_default(),
            time: entry.get("time").and_then(|t| match t {
                FieldValue::Timestamp(secs) => Some(*secs),
                other => other.as_i64().and_then(|n| u64::try_from(n).ok()),
            }),
            original_expiration: text("original-expiration"),
        }
    }
}

/// A long string's text; not-UTF-8 octets become U+FFFD rather than
/// losing the whole field.
fn lossy_text(value: &FieldValue) -> Option<String> {
    match value {
        FieldValue::LongString(s) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
