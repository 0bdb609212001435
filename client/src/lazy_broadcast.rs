//! A broadcast channel allocated on first subscription. tokio's
//! `broadcast::Sender::new(n)` allocates all `n` slots at once (~100 octets
//! each for our events): two such channels per connection were most of an
//! idle connection's memory, though most applications never subscribe.

use std::sync::OnceLock;

use tokio::sync::broadcast;

pub(crate) struct LazyBroadcast<T> {
    capacity: usize,
    sender: OnceLock<broadcast::Sender<T>>,
}

impl<T: Clone> LazyBroadcast<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            sender: OnceLock::new(),
        }
    }

    /// A receiver of every value sent from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<T> {
        self.sender
            .get_or_init(|| broadcast::Sender::new(self.capacity))
            .subscribe()
    }

    /// Sends to the receivers, if any ever subscribed; built lazily so
    /// nothing is made when nobody listens.
    pub(crate) fn send(&self, value: impl FnOnce() -> T) {
        if let Some(sender) = self.sender.get() {
            if sender.receiver_count() > 0 {
                // No receiver left is no error: nobody listens any more.
                let _ = sender.send(value());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_allocated_or_kept_until_someone_subscribes() {
        let lazy = LazyBroadcast::new(4);
        lazy.send(|| 1);
        assert!(lazy.sender.get().is_none());
        let mut rx = lazy.subscribe();
        lazy.send(|| 2);
        assert_eq!(rx.try_recv(), Ok(2));
    }
}
