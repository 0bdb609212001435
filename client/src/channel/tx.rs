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
    pub async fn tx_commit(&self) -> Result<()> {
        match self.call(TxCommit {}.into()).await? {
            Some(Method::TxCommitOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(TxCommit::NAME, other)),
        }
    }

    /// tx.rollback (90/30): discards what the transaction holds.
    pub async fn tx_rollback(&self) -> Result<()> {
        match self.call(TxRollback {}.into()).await? {
            Some(Method::TxRollbackOk(_)) => Ok(()),
            other => Err(Error::unexpected_reply(TxRollback::NAME, other)),
        }
    }
}
