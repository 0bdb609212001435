//! The work queue: its name and its kind. The tutorial's queue is a durable classic queue; on a
//! cluster (`demo --cluster`) it is a quorum queue, replicated on every node, so that it and its
//! messages outlive any one node.
//!
//! Every connection declares it, always with the same arguments: RabbitMQ refuses a declare
//! whose arguments differ from the queue's (406 PRECONDITION_FAILED, and the channel is
//! closed), and connection recovery declares it again, as first declared, on every new
//! connection.

use amqp_client::{Channel, Error, FieldTable, QueueDeclareOk, QueueDeclareOptions};

/// A durable work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueue {
    /// Its name.
    pub name: String,
    /// Whether it is a quorum queue (`x-queue-type: quorum`) rather than a classic one.
    pub quorum: bool,
}

impl WorkQueue {
    /// The tutorial's queue: durable, classic.
    pub fn classic(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            quorum: false,
        }
    }

    /// A durable quorum queue: replicated on the cluster's nodes (a majority must be up).
    pub fn quorum(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            quorum: true,
        }
    }

    /// The queue.declare arguments.
    pub fn arguments(&self) -> FieldTable {
        if self.quorum {
            FieldTable::new().with("x-queue-type", "quorum")
        } else {
            FieldTable::new()
        }
    }

    /// `quorum queue 'tasks'` / `queue 'tasks'`, for headings.
    pub fn describe(&self) -> String {
        if self.quorum {
            format!("quorum queue '{}'", self.name)
        } else {
            format!("queue '{}'", self.name)
        }
    }

    /// Declares it (durable) on `channel`.
    pub async fn declare(&self, channel: &Channel) -> Result<QueueDeclareOk, Error> {
        channel
            .queue_declare(&self.name, QueueDeclareOptions::durable(), self.arguments())
            .await?
            // amqp-client answers `None` only for a nowait declare, which this is not.
            .ok_or(Error::InvalidUse(
                "queue.declare without nowait gave no reply",
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_queue_says_so_in_its_arguments() {
        assert!(WorkQueue::classic("q").arguments().is_empty());
        let quorum = WorkQueue::quorum("q").arguments();
        let kind = quorum.get("x-queue-type").and_then(|v| v.as_str());
        assert_eq!(kind, Some("quorum"));
        assert_eq!(WorkQueue::quorum("q").describe(), "quorum queue 'q'");
    }
}
