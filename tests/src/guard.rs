//! [`Cleanup`]: deletes a test's queues and exchanges if the test fails half-way.

use std::time::Duration;

use amqp_client::{Connection, ConnectionConfig, QueueDeleteOptions};

use crate::shared::amqp_url;

/// How long a [`Cleanup`] may take to delete everything before it gives up.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Deletes the queues and exchanges it was given if the test panics before deleting them itself,
/// so that a failing test leaves nothing behind on a shared broker (a passing test deletes its
/// own, and the guard then does nothing).
///
/// It deletes over AMQP, on a connection of its own to the broker it was made for
/// ([`Cleanup::new`]: the shared broker at [`amqp_url`]; [`Cleanup::at`]: any URL), from a
/// thread of its own (the test's runtime may be the one unwinding). Names that are already gone
/// are fine; exclusive queues go with their connection anyway.
///
/// ```no_run
/// # fn demo(broker_url: &str) {
/// use amqp_testkit::{unique_name, Cleanup};
///
/// let mut cleanup = Cleanup::at(broker_url);
/// let queue = cleanup.queue(unique_name("orders"));
/// let exchange = cleanup.exchange(unique_name("orders-x"));
/// // ... declare them, publish, assert: a failed assertion deletes both ...
/// # let _ = (queue, exchange);
/// # }
/// ```
#[derive(Debug)]
pub struct Cleanup {
    url: String,
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Default for Cleanup {
    fn default() -> Self {
        Self::new()
    }
}

impl Cleanup {
    /// A guard for the shared broker (at [`amqp_url`]), with nothing to delete yet.
    pub fn new() -> Self {
        Self::at(&amqp_url())
    }

    /// A guard for the broker at `url` (e.g. a [`PrivateNode`](crate::PrivateNode)'s URL).
    pub fn at(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            queues: Vec::new(),
            exchanges: Vec::new(),
        }
    }

    /// A guard for these queues on the shared broker.
    pub fn queues(names: &[&str]) -> Self {
        let mut guard = Self::new();
        guard.queues.extend(names.iter().map(|n| n.to_string()));
        guard
    }

    /// Names a queue to delete on failure; returns it, for chaining.
    pub fn queue(&mut self, name: String) -> String {
        self.queues.push(name.clone());
        name
    }

    /// Names an exchange to delete on failure; returns it, for chaining.
    pub fn exchange(&mut self, name: String) -> String {
        self.exchanges.push(name.clone());
        name
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !std::thread::panicking() || (self.queues.is_empty() && self.exchanges.is_empty()) {
            return;
        }
        let url = std::mem::take(&mut self.url);
        let queues = std::mem::take(&mut self.queues);
        let exchanges = std::mem::take(&mut self.exchanges);
        // A thread of its own: a runtime cannot be started from inside another.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let work = async {
                    let config = ConnectionConfig::from_uri(&url).ok()?;
                    let conn = Connection::connect(config).await.ok()?;
                    for name in &queues {
                        // A channel each: a 404 or 405 closes the channel it came on.
                        let ch = conn.open_channel().await.ok()?;
                        let _ = ch.queue_delete(name, QueueDeleteOptions::default()).await;
                    }
                    for name in &exchanges {
                        let ch = conn.open_channel().await.ok()?;
                        let _ = ch.exchange_delete(name, Default::default()).await;
                    }
                    conn.close().await.ok()
                };
                let _ = tokio::time::timeout(CLEANUP_TIMEOUT, work).await;
            });
        })
        .join();
    }
}
