//! # amqp-wire: the AMQP 0-9-1 wire format, and nothing else
//!
//! A pure codec: bytes in, frames out, and back. No sockets, no clock, no
//! async runtime, so every rule of the protocol can be tested byte by byte.
//!
//! ```text
//!  connection  = protocol-header *frame
//!  frame       = type(1) channel(2) size(4) payload(size) frame-end(0xCE)
//!
//!  type 1  method      class-id(2) method-id(2) arguments...
//!  type 2  header      class-id(2) weight(2) body-size(8) flags(2) properties...
//!  type 3  body        size octets of the message body
//!  type 8  heartbeat   empty, channel 0
//!
//!  one message = method (basic.publish / deliver / return / get-ok)
//!              + header (body-size, properties) + body frames summing to body-size
//! ```
//!
//! Decoding is incremental: [`Frame::decode`] takes a `BytesMut` read buffer
//! and removes one frame from its front, or answers `Ok(None)` and leaves it
//! untouched while the frame is incomplete. The frame_max in force bounds
//! what it will wait for. Errors name the reply code to close the connection
//! with ([`DecodeError::reply_code`]).
//!
//! Encoding appends to a `BytesMut` and is exact: a decoded frame re-encodes
//! to the same bytes, field-table type letters included.
//!
//! ```
//! use amqp_wire::{BasicPublish, Frame, DEFAULT_FRAME_MAX};
//! use bytes::BytesMut;
//!
//! let publish = BasicPublish { routing_key: "task_queue".into(), ..Default::default() };
//! let mut buf = BytesMut::new();
//! Frame::method(1, publish.clone()).encode(&mut buf).unwrap();
//! let frame = Frame::decode(&mut buf, DEFAULT_FRAME_MAX).unwrap().unwrap();
//! assert_eq!(frame, Frame::method(1, publish));
//! assert_eq!(
//!     frame.to_string(),
//!     r#"ch=1 basic.publish exchange="" routing_key="task_queue" mandatory=false immediate=false"#
//! );
//! ```
//!
//! With the optional feature `capture`, `amqp_wire::capture` reads the frames of
//! every connection in a pcap or pcapng file (the one place this crate does
//! I/O, and its only other dependencies: `pcap-parser`, `etherparse`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack_frame;
#[cfg(feature = "capture")]
pub mod capture;
mod capture_magic;
mod constants;
pub mod display;
mod error;
pub mod field_table;
mod frame;
// The fuzz targets' bodies are public only for the fuzz crate and our own
// tests (which turn the feature on): not API that users should lean on.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod method;
mod primitives;
mod properties;
mod strings;

pub use capture_magic::is_capture_file;
pub use constants::*;
pub use error::{DecodeError, EncodeError};
pub use field_table::{Decimal, FieldArray, FieldTable, FieldValue, SpecInt};
pub use frame::{
    encode_body_frame_start, encode_content, encode_content_header, encode_method, max_body_chunk,
    Frame, ProtocolHeader,
};
pub use method::*;
pub use properties::{
    BasicProperties, ContentHeader, BASIC_CLASS_ID, DELIVERY_MODE_PERSISTENT,
    DELIVERY_MODE_TRANSIENT,
};
pub use strings::{LongString, ShortString};
