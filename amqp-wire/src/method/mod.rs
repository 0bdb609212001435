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
                    $( ($name::CLASS_ID, $name::METHOD_ID) => Self::$name($name::decode(&mut r)?), )*
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
        }
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

    /// True for requests the peer answers with a reply method (the spec's
    /// `synchronous="1"`). A `nowait` flag, where set, cancels the reply;
    /// that is the caller's business.
    pub fn is_synchronous(&self) -> bool {
        matches!(
            self,
            Self::ConnectionStart(_)
                | Self::ConnectionSecure(_)
                | Self::ConnectionTune(_)
                | Self::ConnectionOpen(_)
                | Self::ConnectionClose(_)
                | Self::ConnectionUpdateSecret(_)
                | Self::ChannelOpen(_)
                | Self::ChannelFlow(_)
                | Self::ChannelClose(_)
                | Self::AccessRequest(_)
                | Self::ExchangeDeclare(_)
                | Self::ExchangeDelete(_)
                | Self::ExchangeBind(_)
                | Self::ExchangeUnbind(_)
                | Self::QueueDeclare(_)
                | Self::QueueBind(_)
                | Self::QueuePurge(_)
                | Self::QueueDelete(_)
                | Self::QueueUnbind(_)
                | Self::BasicQos(_)
                | Self::BasicConsume(_)
                | Self::BasicCancel(_)
                | Self::BasicGet(_)
                | Self::BasicRecover(_)
                | Self::TxSelect(_)
                | Self::TxCommit(_)
                | Self::TxRollback(_)
                | Self::ConfirmSelect(_)
        )
    }
}
