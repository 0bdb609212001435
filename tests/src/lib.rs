//! # amqp-testkit: real RabbitMQ brokers for tests
//!
//! A test kit for applications on RabbitMQ, and the home of `amqp-client`'s own integration
//! tests (`tests/*.rs` in this crate). Everything here is plain, synchronous `std` code, so it
//! can be called from any test, async or not (from async code, through
//! `tokio::task::spawn_blocking` or `block_in_place`: starting a node takes seconds).
//!
//! ```text
//!   your test ──▶ Broker::from_env() ──▶ the broker at AMQP_URL / 127.0.0.1:5672, if it answers
//!                                    └─▶ else a private node (PrivateNode), removed when dropped
//!             ──▶ PrivateNode::builder()…start() ─▶ own name, ports, folder, cookie; TLS on demand;
//!                                                  stop / kill -9 / restart / memory alarm
//!             ──▶ Cluster::start(3) ──▶ three private nodes joined; drain / revive / kill one
//! ```
//!
//! ## Use from an application's tests
//!
//! Add the kit as a dev-dependency, next to the client:
//!
//! ```toml
//! [dev-dependencies]
//! amqp-testkit = { path = "../amqp/tests" } # or git = "..."
//! ```
//!
//! Then, in a test:
//!
//! ```no_run
//! use amqp_testkit::{unique_name, Broker};
//!
//! #[test]
//! fn orders_are_queued() {
//!     // The shared broker if one answers, else a private node (or a loud error: never a skip).
//!     let broker = Broker::from_env().expect("a RabbitMQ broker");
//!     let queue = unique_name("orders"); // tests run in parallel: never share names
//!     // ... connect to broker.url(), declare `queue`, publish, consume ...
//! #   let _ = queue;
//! }
//! ```
//!
//! ## Testing an application through a fault proxy
//!
//! Run the application through a [`proxy::FaultProxy`], assert on the frames it exchanged, cut
//! the connection and assert on how the application takes it (the whole example:
//! `tests/examples/app_test.rs`, `cargo run -p amqp-testkit --example app_test`):
//!
//! ```no_run
//! use std::time::Duration;
//! use amqp_client::{Connection, ConnectionConfig, Error, FieldTable, QueueDeclareOptions, Recovery};
//! use amqp_testkit::proxy::{Direction, FaultProxy, What};
//! use amqp_testkit::{unique_name, Broker};
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn an_order_survives_until_the_network_fails() {
//!     let broker = tokio::task::block_in_place(Broker::from_env).expect("a RabbitMQ broker");
//!     let proxy = FaultProxy::start_for_url(broker.url()).await.unwrap();
//!     let queue = unique_name("orders"); // exclusive: it goes with the app's connection
//!
//!     // The application (here: inline), connected through the proxy.
//!     // This test looks at the failure itself, so the client must not recover from it.
//!     let config = ConnectionConfig::from_uri(&proxy.url_for(broker.url())).unwrap();
//!     let conn = Connection::connect(config.with_recovery(Recovery::disabled())).await.unwrap();
//!     let ch = conn.open_channel().await.unwrap();
//!     ch.confirm_select(Default::default()).await.unwrap();
//!     let exclusive = QueueDeclareOptions { exclusive: true, ..Default::default() };
//!     ch.queue_declare(&queue, exclusive, FieldTable::new()).await.unwrap();
//!     let props = Default::default();
//!     let confirm = ch.basic_publish("", &queue, Default::default(), props, "order #1").await;
//!     confirm.unwrap().wait().await.unwrap();
//!
//!     // The frames: the publish went out, the broker's confirm came back.
//!     let confirmed = |e: &_| e.is_method(Direction::ToClient, "basic.ack");
//!     proxy.wait_for(confirmed, Duration::from_secs(5)).await.unwrap();
//!     assert!(proxy.events().iter().any(|e| e.is_method(Direction::ToBroker, "basic.publish")));
//!
//!     // Cut: a typed I/O error, and no frame after the cut.
//!     proxy.cut();
//!     assert!(matches!(conn.closed().await, Error::Io(_)));
//!     let events = proxy.events();
//!     let cut = events.iter().position(|e| matches!(e.what, What::Cut { .. })).unwrap();
//!     assert!(events[cut..].iter().all(|e| e.frame().is_none()));
//! }
//! ```
//!
//! A private node costs 6-10 s and an Erlang VM: share one between the tests of a test binary
//! with a `static` (a node in a `static` is never dropped, and is removed when the process
//! ends, see [`cleanup`]). Hold a lock while a test kills or reconfigures it:
//!
//! ```no_run
//! use std::sync::{Mutex, OnceLock};
//! use std::time::Duration;
//! use amqp_testkit::PrivateNode;
//!
//! fn node() -> &'static Mutex<PrivateNode> {
//!     static NODE: OnceLock<Mutex<PrivateNode>> = OnceLock::new();
//!     NODE.get_or_init(|| {
//!         let node = PrivateNode::builder()
//!             .consumer_timeout(Duration::from_secs(5))
//!             .start()
//!             .unwrap_or_else(|e| panic!("{e}")); // the error carries the node's log tail
//!         Mutex::new(node)
//!     })
//! }
//!
//! #[test]
//! fn publishers_are_blocked_on_a_memory_alarm() {
//!     let node = node().lock().unwrap();
//!     node.raise_memory_alarm().unwrap();
//!     // ... connect to node.url(): connection.blocked comes at the first publish ...
//!     node.lift_memory_alarm().unwrap();
//! }
//! ```
//!
//! For TLS, [`NodeBuilder::tls`] gives a node a TLS listener with a throwaway CA and client
//! certificate ([`TlsCertificates`]: files and PEM text) and the EXTERNAL mechanism;
//! [`PrivateNode::amqps_url`] is its URL. [`Cluster`] starts nodes joined into one cluster.
//!
//! ## What the kit needs
//!
//! Linux, RabbitMQ installed (`apt-get install rabbitmq-server`: the kit runs its scripts from
//! `/usr/lib/rabbitmq/bin`, or names the folder in `AMQP_TESTKIT_RABBITMQ_BIN`, see
//! [`Installation`]), and `openssl` for TLS nodes. Nodes run as the user running the tests;
//! root is fine.
//!
//! ## What is where
//!
//! * The shared broker: [`amqp_url`] (env `AMQP_URL`, default [`DEFAULT_URL`]),
//!   [`require_broker`] (panics, for our own tests), [`rabbitmqctl`].
//! * Brokers: [`Broker`], [`PrivateNode`] and [`NodeBuilder`], [`Cluster`],
//!   [`TlsCertificates`], [`cleanup`]; every starter returns a [`Result`] with an [`Error`].
//! * Names that cannot collide between tests running in parallel: [`unique_name`].
//! * Polling: [`wait_until`]. Other programs, with a time limit: [`run_command`].
//! * A guard that deletes a failed test's queues and exchanges: [`Cleanup`].
//! * An operator closing a connection: [`close_connection`],
//!   [`PrivateNode::close_connection`].
//! * Fault injection between a client and a broker: [`proxy`].
//!
//! The kit never stops, reconfigures or kills a broker it did not start: processes are
//! cleaned up only when they carry the mark of a node this process started.
//!
//! A pitfall seen here (Debian bookworm, RabbitMQ 3.10.8 from Debian's package): a node that is
//! not told otherwise reads `/etc/rabbitmq/rabbitmq.conf`, which on the project machines pins a
//! listener to port 5672 (the shared broker's), and dies with `eaddrinuse`; private nodes are
//! therefore always pointed at their own configuration files, even when they are empty.

#![warn(missing_docs)]

pub mod broker;
mod error;
mod guard;
mod names;
mod process;
pub mod proxy;
mod shared;
mod wait;

pub use broker::cleanup;
pub use broker::{
    Broker, Cli, Cluster, ClusterBuilder, Installation, NodeBuilder, PrivateNode, TlsCertificates,
    DEFAULT_START_TIMEOUT,
};
pub use error::{Error, Result, HOW_TO_GET_A_BROKER};
pub use guard::Cleanup;
pub use names::unique_name;
pub use process::run_command;
pub use shared::{
    amqp_url, close_connection, parse_host_port, rabbitmqctl, require_broker, DEFAULT_URL,
};
pub use wait::wait_until;
