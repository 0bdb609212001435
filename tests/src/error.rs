//! [`Error`]: what can go wrong finding, starting or driving a broker.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What to tell a developer whose machine has no broker, in every error that is about a missing
/// broker (and in [`require_broker`](crate::require_broker)'s panic).
pub const HOW_TO_GET_A_BROKER: &str = "start RabbitMQ with `rabbitmq-server -detached` \
     (install it first with `apt-get install rabbitmq-server`; with it installed, the test kit \
     can also start private throwaway nodes by itself), \
     or run `docker run -d -p 5672:5672 rabbitmq:3`, \
     or point AMQP_URL at a broker that is running";

/// Everything that can go wrong finding a broker or starting, stopping and driving a private
/// node, a cluster or their certificates.
///
/// Errors about a private node carry the tail of its logs ([`Error::log_tail`]), so that a
/// failed test shows why the node did not come up.
///
/// Its `Debug` shows the same text as its `Display`, so that `.expect("a private node")` in a
/// test prints a readable message and log tail rather than one long escaped string.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing answers at `url` ([`Broker::at`](crate::Broker::at),
    /// [`Broker::shared`](crate::Broker::shared)).
    #[error("no AMQP broker answers at {url} ({reason}); {HOW_TO_GET_A_BROKER}")]
    NoAnswer {
        /// The URL tried (without its password).
        url: String,
        /// Why not: the connection error.
        reason: String,
    },

    /// Nothing answers at `url`, and no private node could be started instead
    /// ([`Broker::from_env`](crate::Broker::from_env), [`Broker::find`](crate::Broker::find)).
    #[error(
        "no AMQP broker answers at {url} ({reason}), and no private RabbitMQ node could be \
         started instead: {private}; {HOW_TO_GET_A_BROKER}"
    )]
    NoBroker {
        /// The URL tried (without its password).
        url: String,
        /// Why it did not answer.
        reason: String,
        /// Why the private node could not be started.
        private: Box<Self>,
    },

    /// A program the kit needs (`rabbitmq-server`, `openssl`, ...) is not installed.
    #[error("`{program}` is not installed (looked in {looked}); {hint}")]
    NotInstalled {
        /// The program's name.
        program: String,
        /// Where the kit looked for it.
        looked: String,
        /// How to install it.
        hint: &'static str,
    },

    /// A program could not be run at all.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A command ran but failed, or did not finish in time.
    #[error("`{command}` {failure}")]
    Command {
        /// The command line.
        command: String,
        /// What happened: its exit status and output, or the time it was given.
        failure: String,
    },

    /// A private node did not start, stop, join its cluster, ... as asked.
    #[error("private RabbitMQ node {node} {problem}; its logs:\n{log_tail}")]
    Node {
        /// The node's Erlang name.
        node: String,
        /// What went wrong.
        problem: String,
        /// The last lines of its logs (see [`PrivateNode::log_tail`](crate::PrivateNode::log_tail)).
        log_tail: String,
    },

    /// An option given to a builder cannot work, e.g. a plugin name that is not one.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// No free TCP ports were found for a private node (in 20000-31999).
    #[error("no {0} free TCP ports in 20000-31999 for a private RabbitMQ node")]
    NoFreePorts(usize),

    /// A file or folder of the kit's could not be written, read or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What the kit tried: "create", "write", ...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The tail of a private node's logs, for errors about a node (and for
    /// [`NoBroker`](Error::NoBroker) when its private node failed).
    pub fn log_tail(&self) -> Option<&str> {
        match self {
            Self::Node { log_tail, .. } => Some(log_tail),
            Self::NoBroker { private, .. } => private.log_tail(),
            _ => None,
        }
    }

    /// An [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// A result with the kit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
