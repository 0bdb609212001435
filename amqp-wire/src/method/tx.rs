//! Class `tx` (90): standard transactions. Publishes and acks on a channel
//! in tx mode take effect only at commit.

use crate::method::args::method;

method! {
    /// `tx.select` (90/10): puts the channel in transaction mode.
    TxSelect = 90 / 10 "tx.select" => TxSelectOk {}
}
method! {
    /// `tx.select-ok` (90/11): the channel is transactional.
    TxSelectOk = 90 / 11 "tx.select-ok" {}
}
method! {
    /// `tx.commit` (90/20): applies the publishes and acks since the last
    /// commit or rollback.
    TxCommit = 90 / 20 "tx.commit" => TxCommitOk {}
}
method! {
    /// `tx.commit-ok` (90/21): committed.
    TxCommitOk = 90 / 21 "tx.commit-ok" {}
}
method! {
    /// `tx.rollback` (90/30): discards the publishes and acks since the last
    /// commit or rollback.
    TxRollback = 90 / 30 "tx.rollback" => TxRollbackOk {}
}
method! {
    /// `tx.rollback-ok` (90/31): rolled back.
    TxRollbackOk = 90 / 31 "tx.rollback-ok" {}
}
