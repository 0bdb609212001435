//! The content header frame (spec 4.2.6.1) and basic's 14 properties
//! (class 60, "basic" properties in the protocol definition).
//!
//! ```text
//! class-id (2) | weight (2) | body-size (8) | property-flags (2) | properties...
//! ```
//! Bit 15 of the flags word stands for the first property, bit 2 for the
//! fourteenth; only present properties follow, in order. Bit 0 would announce
//! a further flags word, which basic never needs, so we refuse it.

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::field_table::FieldTable;
use crate::primitives::{Reader, Writer};
use crate::strings::ShortString;

/// The class whose content we carry: basic (60) is the only content class
/// in AMQP 0-9-1 as RabbitMQ implements it. Taken from the method table,
/// where the class id is declared.
pub const BASIC_CLASS_ID: u16 = crate::method::BasicPublish::CLASS_ID;

/// `delivery_mode` value for a message the broker may lose on restart.
pub const DELIVERY_MODE_TRANSIENT: u8 = 1;
/// `delivery_mode` value for a message a durable queue writes to disk.
pub const DELIVERY_MODE_PERSISTENT: u8 = 2;

/// The flag bit for "another flags word follows".
const CONTINUATION_FLAG: u16 = 1;

/// A content header frame's payload: announces the body that follows.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentHeader {
    /// Always 60 (basic) when we build it.
    pub class_id: u16,
    /// Unused by the spec and always 0; kept so re-encoding is exact.
    pub weight: u16,
    /// Total octets of the body frames that follow.
    pub body_size: u64,
    /// The message properties.
    pub properties: BasicProperties,
}

impl Default for ContentHeader {
    /// An empty body with no properties, class basic.
    fn default() -> Self {
        Self::new(0, BasicProperties::default())
    }
}

impl ContentHeader {
    /// A basic-class header for a body of `body_size` octets.
    pub fn new(body_size: u64, properties: BasicProperties) -> Self {
        Self {
            class_id: BASIC_CLASS_ID,
            weight: 0,
            body_size,
            properties,
        }
    }

    #[cfg(test)]
    pub(crate) fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
        Self::decode_boxed(payload).map(|header| *header)
    }

    /// Decodes straight into a heap allocation: the properties are ~370
    /// octets, and building them on the stack to box them afterwards would
    /// copy them once more per message.
    pub(crate) fn decode_boxed(payload: &Bytes) -> Result<Box<Self>, DecodeError> {
        let mut r = Reader::new(payload, "content header");
        let class_id = r.short()?;
        if class_id != BASIC_CLASS_ID {
            return Err(DecodeError::UnknownContentClass(class_id));
        }
        let weight = r.short()?;
        let body_size = r.longlong()?;
        let mut header = Box::<Self>::default();
        header.weight = weight;
        header.body_size = body_size;
        header.properties.decode_into(&mut r)?;
        r.finish()?;
        Ok(header)
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.short(self.class_id);
        w.short(self.weight);
        w.longlong(self.body_size);
        self.properties.encode(w)
    }
}

macro_rules! basic_properties {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $kind:ident, $bit:literal;)*) => {
        /// basic's message properties (class 60). `None` is "absent": its flag
        /// bit is clear and nothing is sent for it.
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct BasicProperties {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        impl BasicProperties {
            /// Every flag bit that stands for a property.
            const KNOWN_FLAGS: u16 = 0 $( | (1 << $bit) )*;

            /// The property-flags word for the properties present.
            pub fn flags(&self) -> u16 {
                0 $( | if self.$field.is_some() { 1 << $bit } else { 0 } )*
            }

            /// Fills in the properties `r` holds; `self` starts all `None`.
            fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
                let flags = r.short()?;
                if flags & CONTINUATION_FLAG != 0 || flags & !Self::KNOWN_FLAGS != 0 {
                    return Err(DecodeError::BadPropertyFlags(flags));
                }
                $( if flags & (1 << $bit) != 0 { self.$field = Some(basic_properties!(@read r, $kind)); } )*
                Ok(())
            }

            pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                w.short(self.flags());
                self.encode_values(w)
            }

            /// The present properties' values, for callers that wrote the
            /// flags word already.
            pub(crate) fn encode_values(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                $( if let Some(v) = &self.$field { basic_properties!(@write w, $kind, v); } )*
                Ok(())
            }

            /// Calls `f` with the spec name (`-` as `_`) and value of each
            /// property present, in wire order.
            pub fn visit(&self, mut f: impl FnMut(&'static str, crate::ArgValue<'_>)) {
                // `arg_name`: the spec name of `r#type` is `type`.
                $( if let Some(v) = &self.$field {
                    f(crate::method::args::arg_name(stringify!($field)), basic_properties!(@arg $kind, v));
                } )*
            }
        }
    };
    (@read $r:ident, shortstr) => { $r.shortstr()? };
    (@read $r:ident, octet) => { $r.octet()? };
    (@read $r:ident, timestamp) => { $r.longlong()? };
    (@read $r:ident, table) => { FieldTable::decode($r)? };
    (@write $w:ident, shortstr, $v:ident) => { $w.shortstr($v)? };
    (@write $w:ident, octet, $v:ident) => { $w.octet(*$v) };
    (@write $w:ident, timestamp, $v:ident) => { $w.longlong(*$v) };
    (@write $w:ident, table, $v:ident) => { $v.encode($w)? };
    (@arg shortstr, $v:ident) => { crate::ArgValue::ShortStr($v) };
    (@arg octet, $v:ident) => { crate::ArgValue::Octet(*$v) };
    (@arg timestamp, $v:ident) => { crate::ArgValue::Timestamp(*$v) };
    (@arg table, $v:ident) => { crate::ArgValue::Table($v) };
}

basic_properties! {
    /// MIME content type, e.g. `text/plain`.
    content_type: ShortString = shortstr, 15;
    /// MIME content encoding, e.g. `gzip`.
    content_encoding: ShortString = shortstr, 14;
    /// Application headers; also what headers exchanges match on.
    headers: FieldTable = table, 13;
    /// 1 transient, 2 persistent ([`DELIVERY_MODE_PERSISTENT`]).
    delivery_mode: u8 = octet, 12;
    /// Priority 0-9, for priority queues.
    priority: u8 = octet, 11;
    /// Correlates an RPC reply with its request.
    correlation_id: ShortString = shortstr, 10;
    /// Queue to reply to (RPC; `amq.rabbitmq.reply-to` for direct reply-to).
    reply_to: ShortString = shortstr, 9;
    /// Per-message TTL in milliseconds, as decimal text.
    expiration: ShortString = shortstr, 8;
    /// Application message id.
    message_id: ShortString = shortstr, 7;
    /// POSIX time in seconds.
    timestamp: u64 = timestamp, 6;
    /// Application message type name.
    r#type: ShortString = shortstr, 5;
    /// Creating user id; RabbitMQ checks it against the connection's user.
    user_id: ShortString = shortstr, 4;
    /// Creating application id.
    app_id: ShortString = shortstr, 3;
    /// Deprecated in 0-9-1; must be empty when used.
    cluster_id: ShortString = shortstr, 2;
}

impl BasicProperties {
    /// Sets delivery_mode 2: the broker writes the message to disk in a
    /// durable queue, so it survives a broker restart.
    pub fn persistent(mut self) -> Self {
        self.delivery_mode = Some(DELIVERY_MODE_PERSISTENT);
        self
    }

    /// True when delivery_mode is 2.
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == Some(DELIVERY_MODE_PERSISTENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn golden_header_with_delivery_mode_2() {
        // class 60, weight 0, body size 5, flags 0x1000 (delivery-mode only), mode 2.
        let wire: &[u8] = b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x10\x00\x02";
        let header = ContentHeader::new(5, BasicProperties::default().persistent());
        let mut out = BytesMut::new();
        header.encode(&mut Writer::new(&mut out)).unwrap();
        assert_eq!(&out[..], wire);
        assert_eq!(
            ContentHeader::decode(&Bytes::from_static(wire)).unwrap(),
            header
        );
    }

    #[test]
    fn continuation_bit_is_refused() {
        let wire: &[u8] = b"\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x10\x01\x02";
        assert_eq!(
            ContentHeader::decode(&Bytes::from_static(wire)),
            Err(DecodeError::BadPropertyFlags(0x1001))
        );
    }
}
