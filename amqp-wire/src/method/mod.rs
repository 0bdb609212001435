//! Every method of AMQP 0-9-1 with RabbitMQ's extensions, one file per
//! class, and the flat [`Method`] enum that dispatches on (class, method) ids.
//!
//! A method frame's payload is `class-id (2) | method-id (2) | arguments`.

pub(crate) mod args;

mod access;
mod basic;
mod channel;
mod confirm;
mod connection;
mod exchange;
mod queue;
mod tx;

pub use access::*;
pub use args::ArgValue;
pub use basic::*;
pub use channel::*;
pub use confirm::*;
pub use connection::*;
pub use exchange::*;
pub use queue::*;
pub use tx::*;

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::primitives::{Reader, Writer};

macro_rules! methods {
    ($($name:ident,)*) => {
        /// Any AMQP method, named `ClassMethod` after the spec's
        /// `class.method`.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Method {
            $(
                #[allow(missing_docs)]
                $name($name),
            )*
        }

        impl Method {
            /// Every (class id, method id, spec name) we know, in spec order.
            pub const ALL: &'static [(u16, u16, &'static str)] = &[
                $( ($name::CLASS_ID, $name::METHOD_ID, $name::NAME), )*
            ];

            /// Decodes a method frame's payload (class and method ids included).
            pub fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
                let mut r = Reader::new(payload, "method");
                let class_id = r.short()?;
                let method_id = r.short()?;
                let method = match (class_id, method_id) {
                    $( ($name::CLASS_ID, $name::METHOD_ID) => Self::$name($name::decode(&mut r)), )*
                    _ => return Err(DecodeError::UnknownMethod { class_id, method_id }),
                };
                r.finish().map_err(|e| match e {
                    DecodeError::TrailingBytes { extra, .. } => DecodeError::TrailingBytes {
                        context: method.name(),
                        extra,
                    },
                    other => other,
                })?;
                Ok(method)
            }

            pub(crate) fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                w.short(self.class_id());
                w.short(self.method_id());
                self.encode_args(w)
            }

            /// The arguments alone, for callers that wrote the ids already.
            pub(crate) fn encode_args(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                match self {
                    $( Self::$name(m) => m.encode(w), )*
                }
            }

            /// The class id.
            pub fn class_id(&self) -> u16 {
                match self {
                    $( Self::$name(_) => $name::CLASS_ID, )*
                }
            }

            /// The method id within its class.
            pub fn method_id(&self) -> u16 {
                match self {
                    $( Self::$name(_) => $name::METHOD_ID, )*
                }
            }

            /// The spec's name, e.g. `basic.publish`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$name(_) => $name::NAME, )*
                }
            }

            /// Calls `f` with each argument's spec name and value, in wire order.
            pub fn visit_args(&self, f: &mut dyn FnMut(&'static str, ArgValue<'_>)) {
                match self {
                    $( Self::$name(m) => m.visit_args(f), )*
                }
            }

            /// (class id, method id) of each method that answers this one,
            /// the usual reply first (the spec's `<response>` elements);
            /// empty for asynchronous methods. Ignores `nowait`.
            pub fn replies(&self) -> &'static [(u16, u16)] {
                match self {
                    $( Self::$name(_) => $name::REPLIES, )*
                }
            }

            /// True for requests the peer answers with a reply method (the
            /// spec's `synchronous="1"`), whatever their `nowait` bit says:
            /// [`Method::expected_reply`] reads that too.
            pub fn is_synchronous(&self) -> bool {
                match self {
                    $( Self::$name(_) => $name::SYNCHRONOUS, )*
                }
            }

            /// (class id, method id) of the reply to wait for after sending
            /// this method; `None` for asynchronous methods and for requests
            /// sent with their `nowait` bit set, which get no reply. Where
            /// more than one method may answer (basic.get), this is the
            /// usual one: match what arrives with [`Method::answers`].
            pub fn expected_reply(&self) -> Option<(u16, u16)> {
                match self {
                    $( Self::$name(m) => m.expected_reply(), )*
                }
            }
        }

        /// Every method's [`Method::replies`], for [`Method::answers`].
        const REPLIES: &[&[(u16, u16)]] = &[ $( $name::REPLIES, )* ];
    };
}

methods! {
    ConnectionStart, ConnectionStartOk, ConnectionSecure, ConnectionSecureOk,
    ConnectionTune, ConnectionTuneOk, ConnectionOpen, ConnectionOpenOk,
    ConnectionClose, ConnectionCloseOk, ConnectionBlocked, ConnectionUnblocked,
    ConnectionUpdateSecret, ConnectionUpdateSecretOk,
    ChannelOpen, ChannelOpenOk, ChannelFlow, ChannelFlowOk, ChannelClose, ChannelCloseOk,
    AccessRequest, AccessRequestOk,
    ExchangeDeclare, ExchangeDeclareOk, ExchangeDelete, ExchangeDeleteOk,
    ExchangeBind, ExchangeBindOk, ExchangeUnbind, ExchangeUnbindOk,
    QueueDeclare, QueueDeclareOk, QueueBind, QueueBindOk, QueuePurge, QueuePurgeOk,
    QueueDelete, QueueDeleteOk, QueueUnbind, QueueUnbindOk,
    BasicQos, BasicQosOk, BasicConsume, BasicConsumeOk, BasicCancel, BasicCancelOk,
    BasicPublish, BasicReturn, BasicDeliver, BasicGet, BasicGetOk, BasicGetEmpty,
    BasicAck, BasicReject, BasicRecoverAsync, BasicRecover, BasicRecoverOk, BasicNack,
    TxSelect, TxSelectOk, TxCommit, TxCommitOk, TxRollback, TxRollbackOk,
    ConfirmSelect, ConfirmSelectOk,
}

impl Method {
    /// True for the methods followed by a content header and body frames
    /// (the spec's `content="1"`).
    pub fn carries_content(&self) -> bool {
        matches!(
            self,
            Self::BasicPublish(_)
                | Self::BasicReturn(_)
                | Self::BasicDeliver(_)
                | Self::BasicGetOk(_)
        )
    }

    /// Whether a method with ids `got` answers the request whose
    /// [`Method::expected_reply`] was `expected`: the expected reply itself,
    /// or another the request allows (basic.get-empty for basic.get).
    pub fn answers(expected: (u16, u16), got: (u16, u16)) -> bool {
        expected == got
            || REPLIES
                .iter()
                .any(|replies| replies.first() == Some(&expected) && replies.contains(&got))
    }
}
