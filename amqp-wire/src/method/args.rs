//! How each argument type is read, written and shown; the `method!` macro
//! that turns one struct declaration per method into its codec.

use crate::error::{DecodeError, EncodeError};
use crate::field_table::FieldTable;
use crate::primitives::{Reader, Writer};
use crate::strings::{LongString, ShortString};

/// One method argument or property value, borrowed, tagged with its spec
/// domain type. This is what tools that print frames walk over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArgValue<'a> {
    /// `bit`
    Bit(bool),
    /// `octet`
    Octet(u8),
    /// `short`
    Short(u16),
    /// `long`
    Long(u32),
    /// `longlong`
    LongLong(u64),
    /// `timestamp` (properties only)
    Timestamp(u64),
    /// `shortstr`
    ShortStr(&'a ShortString),
    /// `longstr`
    LongStr(&'a LongString),
    /// `table`
    Table(&'a FieldTable),
}

/// A Rust type that stands for one of the spec's argument domains.
pub(crate) trait Arg: Sized {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
    fn arg_value(&self) -> ArgValue<'_>;
}

macro_rules! scalar_arg {
    ($($ty:ty => $read:ident, $variant:ident;)*) => {$(
        impl Arg for $ty {
            #[inline]
            fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$read()
            }
            fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                w.$read(*self);
                Ok(())
            }
            fn arg_value(&self) -> ArgValue<'_> {
                ArgValue::$variant(*self)
            }
        }
    )*};
}

scalar_arg! {
    bool => bit, Bit;
    u8 => octet, Octet;
    u16 => short, Short;
    u32 => long, Long;
    u64 => longlong, LongLong;
}

impl Arg for ShortString {
    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.shortstr()
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.shortstr(self)
    }
    fn arg_value(&self) -> ArgValue<'_> {
        ArgValue::ShortStr(self)
    }
}

impl Arg for LongString {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.longstr()
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.longstr(self.as_bytes())
    }
    fn arg_value(&self) -> ArgValue<'_> {
        ArgValue::LongStr(self)
    }
}

impl Arg for FieldTable {
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode(r)
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.encode(w)
    }
    fn arg_value(&self) -> ArgValue<'_> {
        ArgValue::Table(self)
    }
}

/// The spec's argument name from a Rust field name (`r#type` is `type`).
pub(crate) fn arg_name(field: &'static str) -> &'static str {
    field.strip_prefix("r#").unwrap_or(field)
}

/// Declares one method: its struct, ids, spec name, and codec. Fields are
/// listed in wire order, named as in the spec with `-` written `_`.
///
/// A synchronous method (the spec's `synchronous="1"`) names after `=>` the
/// methods that answer it (its `<response>` elements), the usual one first,
/// and after `unless` the bit argument that asks for no reply:
///
/// ```text
/// QueueDeclare = 50 / 10 "queue.declare" => QueueDeclareOk unless nowait { .. }
/// BasicGet = 60 / 70 "basic.get" => BasicGetOk | BasicGetEmpty { .. }
/// ```
macro_rules! method {
    (
        $(#[$doc:meta])*
        $name:ident = $class_id:literal / $method_id:literal $spec:literal
            $( => $reply:ident $( | $also:ident )* $( unless $nowait:ident )? )?
        {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl $name {
            /// Class id on the wire.
            pub const CLASS_ID: u16 = $class_id;
            /// Method id on the wire.
            pub const METHOD_ID: u16 = $method_id;
            /// Name as in the spec, `class.method`.
            pub const NAME: &'static str = $spec;
            /// (class id, method id) of each method that answers this one,
            /// the usual reply first; empty for an asynchronous method.
            pub const REPLIES: &'static [(u16, u16)] = &[
                $(
                    ($reply::CLASS_ID, $reply::METHOD_ID),
                    $( ($also::CLASS_ID, $also::METHOD_ID), )*
                )?
            ];
            /// True if the peer answers it (the spec's `synchronous="1"`),
            /// unless told not to by a `nowait` bit.
            pub const SYNCHRONOUS: bool = !Self::REPLIES.is_empty();

            /// (class id, method id) of the reply this request waits for;
            /// `None` if asynchronous or sent with its `nowait` bit set.
            /// Other methods may answer too: see [`crate::Method::answers`].
            pub fn expected_reply(&self) -> Option<(u16, u16)> {
                $( $(
                    // The spec: "the server will not respond to the method".
                    if self.$nowait {
                        return None;
                    }
                )? )?
                Self::REPLIES.first().copied()
            }

            /// Reads the arguments. A failure is kept in `r`, for its
            /// `finish` (see `Reader::keep_going`).
            #[allow(unused_variables)]
            pub(crate) fn decode(r: &mut $crate::primitives::Reader<'_>) -> Self {
                Self { $( $field: r.keep_going($crate::method::args::Arg::read), )* }
            }

            #[allow(unused_variables)]
            pub(crate) fn encode(&self, w: &mut $crate::primitives::Writer<'_>) -> Result<(), $crate::EncodeError> {
                $( $crate::method::args::Arg::write(&self.$field, w)?; )*
                Ok(())
            }

            /// Calls `f` with each argument's spec name and value, in wire order.
            #[allow(unused_variables)]
            pub fn visit_args(&self, f: &mut dyn FnMut(&'static str, $crate::ArgValue<'_>)) {
                $( f(
                    $crate::method::args::arg_name(stringify!($field)),
                    $crate::method::args::Arg::arg_value(&self.$field),
                ); )*
            }
        }

        impl From<$name> for $crate::Method {
            fn from(m: $name) -> Self {
                Self::$name(m)
            }
        }
    };
}

pub(crate) use method;
