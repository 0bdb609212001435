//! The protocol core driven frame by frame with a fake clock: no sockets,
//! no tokio, every frame it queues checked.

mod harness;

mod bounds;
mod channels;
mod content;
mod failures;
mod handshake;
mod heartbeat;
mod timers;
