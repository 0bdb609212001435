//! The tx class (90): local transactions on a channel.

use amqp_wire::*;

use super::Channel;
use crate::error::{Error, Result};

impl Channel {
    /// tx.select (90/10): publishes and acks on this channel are held until
    /// [`Channel::tx_commit`] (90/20) or [`Channel::tx_rollback`] (90/30).
    pub async fn tx_select(&self) -> Result<()> {
        match self.call(TxSelect {}.into()).await? {
            Some(Method::TxSelectOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(TxSelect::NAME, other)),
        }
    }

    /// tx.commit (90/20): applies what the transaction holds.
    ///
    /// If the connection was lost (and recovered) since the last commit or
    /// rollback, the broker dropped what the transaction held then: the
    /// recovered channel is transactional again, but this commit rolls back
    /// what was sent since (tx.rollback) and fails with
    /// [`Error::ConnectionLost`], so a transaction is all or nothing. Send
    /// it again from the start.
    pub async fn tx_commit(&self) -> Result<()> {
        if let Some(cause) = self.inner.route.take_lost_transaction() {
            self.tx_rollback().await?;
            return Err(Error::ConnectionLost {
                cause: Box::new(cause),
            });
        }
        match self.call(TxCommit {}.into()).await? {
            Some(Method::TxCommitOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(TxCommit::NAME, other)),
        }
    }

    /// tx.rollback (90/30): discards what the transaction holds.
    pub async fn tx_rollback(&self) -> Result<()> {
        // What was lost is rolled back too.
        self.inner.route.take_lost_transaction();
        match self.call(TxRollback {}.into()).await? {
            Some(Method::TxRollbackOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(TxRollback::NAME, other)),
        }
    }
}
