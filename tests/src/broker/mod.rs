//! Brokers for tests: [`Broker`] (whichever answers), [`PrivateNode`] (a throwaway node of
//! this process's own), [`Cluster`] (private nodes joined), [`TlsCertificates`] (for a node's
//! TLS listener), and the clean-up that removes them all ([`cleanup`]).
//!
//! ```text
//!   Broker::from_env()
//!     AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2f) answers? ── yes ──▶ that broker
//!       │ no
//!       ▼
//!     rabbitmq-server installed? ── yes ──▶ a private node (≈ 6-10 s), removed on drop
//!       │ no
//!       ▼
//!     Error::NoBroker: what was tried, and how to get a broker
//! ```

pub mod cleanup;
mod cluster;
mod install;
mod node;
mod ports;
mod tls;

pub use cluster::{Cluster, ClusterBuilder};
pub use install::{Cli, Installation};
pub use node::{NodeBuilder, PrivateNode, DEFAULT_START_TIMEOUT};
pub use tls::TlsCertificates;

use crate::error::{Error, Result};
use crate::shared::{amqp_url, probe, redact};

/// A broker to run tests against: one that already runs (the shared broker, or any at a URL),
/// or a private node started for the purpose (removed when the `Broker` is dropped).
///
/// Which one [`from_env`](Self::from_env) picks, cheapest first:
///
/// 1. the broker at `AMQP_URL`, or at 127.0.0.1:5672 when `AMQP_URL` is not set
///    ([`amqp_url`](crate::amqp_url())), if it answers: it costs nothing and is what CI services
///    and developers' machines usually have;
/// 2. otherwise a private node ([`PrivateNode`]), when RabbitMQ is installed: about 6-10 s,
///    and no other test sees it ([`why_private`](Self::why_private) says why the URL was not
///    used);
/// 3. otherwise an error that says what was tried and how to get a broker. A test never skips
///    silently: a skipped suite looks green.
///
/// Tests that need a broker of their own (to kill it, reconfigure it, fill its memory) start a
/// [`PrivateNode`] directly; tests that must use the shared broker call
/// [`shared`](Self::shared).
#[derive(Debug)]
pub struct Broker {
    url: String,
    node: Option<PrivateNode>,
    why_private: Option<String>,
}

impl Broker {
    /// The shared broker if it answers, else a private node, else an error (see [`Broker`]).
    pub fn from_env() -> Result<Self> {
        Self::find(&amqp_url())
    }

    /// The shared broker: the one at `AMQP_URL`, by default 127.0.0.1:5672
    /// ([`Error::NoAnswer`] if nothing answers there within 2 s).
    pub fn shared() -> Result<Self> {
        Self::at(&amqp_url())
    }

    /// The broker at `url` ([`Error::NoAnswer`] if nothing answers there within 2 s).
    pub fn at(url: &str) -> Result<Self> {
        match probe(url) {
            Ok(()) => Ok(Self {
                url: url.to_owned(),
                node: None,
                why_private: None,
            }),
            Err(reason) => Err(Error::NoAnswer {
                url: redact(url),
                reason,
            }),
        }
    }

    /// The broker at `url` if it answers, else a private node, else an error: what
    /// [`from_env`](Self::from_env) does with a URL of the caller's choosing.
    pub fn find(url: &str) -> Result<Self> {
        Self::find_with(url, PrivateNode::start)
    }

    /// A private node with RabbitMQ's defaults ([`PrivateNode::start`]).
    pub fn private() -> Result<Self> {
        PrivateNode::start().map(Self::from)
    }

    /// [`find`](Self::find), starting the private node with `start`.
    fn find_with(url: &str, start: impl FnOnce() -> Result<PrivateNode>) -> Result<Self> {
        let reason = match probe(url) {
            Ok(()) => return Self::at(url),
            Err(reason) => reason,
        };
        match start() {
            Ok(node) => {
                let mut broker = Self::from(node);
                broker.why_private = Some(format!("nothing answers at {} ({reason})", redact(url)));
                Ok(broker)
            }
            Err(private) => Err(Error::NoBroker {
                url: redact(url),
                reason,
                private: Box::new(private),
            }),
        }
    }

    /// The URL to connect to (with the password, for a client).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this is a private node started for this `Broker`.
    pub fn is_private(&self) -> bool {
        self.node.is_some()
    }

    /// Why a private node was started rather than the broker at the URL: "nothing answers at
    /// ... (...)". `None` when no private node was started, or when one was asked for.
    pub fn why_private(&self) -> Option<&str> {
        self.why_private.as_deref()
    }

    /// The private node, if this is one (to kill it, raise an alarm, ...).
    pub fn node(&self) -> Option<&PrivateNode> {
        self.node.as_ref()
    }

    /// The private node, if this is one.
    pub fn node_mut(&mut self) -> Option<&mut PrivateNode> {
        self.node.as_mut()
    }

    /// The private node, if this is one, now owned by the caller.
    pub fn into_node(self) -> Option<PrivateNode> {
        self.node
    }
}

impl From<PrivateNode> for Broker {
    fn from(node: PrivateNode) -> Self {
        Self {
            url: node.url(),
            node: Some(node),
            why_private: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::tests::free_port;
    use crate::DEFAULT_URL;

    #[test]
    fn an_answering_broker_is_used_as_it_is() {
        crate::require_broker();
        let broker = Broker::find(DEFAULT_URL).expect("the shared broker answers");
        assert_eq!(broker.url(), DEFAULT_URL);
        assert!(!broker.is_private());
        assert_eq!(broker.why_private(), None);
        assert!(broker.node().is_none());
    }

    #[test]
    fn nothing_at_the_url_is_an_error_that_says_how_to_get_a_broker() {
        let url = format!("amqp://guest:secret@127.0.0.1:{}/%2f", free_port());
        let err = Broker::at(&url).unwrap_err();
        assert!(matches!(err, Error::NoAnswer { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("no AMQP broker answers at amqp://guest@127.0.0.1:"));
        assert!(!message.contains("secret"), "{message}");
        assert!(
            message.contains("apt-get install rabbitmq-server"),
            "{message}"
        );
        assert!(message.contains("docker run"), "{message}");
    }

    #[test]
    fn neither_a_broker_nor_rabbitmq_is_an_error_naming_both() {
        let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
        let err = Broker::find_with(&url, || {
            Err(Error::NotInstalled {
                program: "rabbitmq-server".into(),
                looked: "/nowhere".into(),
                hint: "install it",
            })
        })
        .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::NoBroker { .. }), "{err:?}");
        assert!(message.contains("Connection refused"), "{message}");
        assert!(
            message.contains("`rabbitmq-server` is not installed (looked in /nowhere)"),
            "{message}"
        );
        assert!(message.contains("docker run"), "{message}");
        assert_eq!(err.log_tail(), None);
    }
}
