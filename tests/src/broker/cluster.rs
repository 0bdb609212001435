//! [`Cluster`]: private nodes joined into one RabbitMQ cluster on the loopback interface.

use std::thread;
use std::time::Duration;

use super::node::{NodeBuilder, PrivateNode};
use crate::error::{Error, Result};
use crate::names::random_hex;
use crate::wait::poll_until;

/// How long [`Cluster::start`] waits for all nodes to see each other once joined, and
/// [`Cluster::restart`] for a restarted node to be back in the cluster.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The options of a cluster: its size and the options of every node. Made by
/// [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    size: usize,
    node: NodeBuilder,
}

impl ClusterBuilder {
    /// Starts every node with `options` (configuration, plugins, TLS, start timeout).
    pub fn each_node(mut self, options: NodeBuilder) -> Self {
        self.node = options;
        self
    }

    /// Starts the nodes (all at once), joins every node to the first one, and waits until
    /// each sees all of them running.
    ///
    /// Bounded: each node's start by its start timeout, each `rabbitmqctl` call by 60 s, the
    /// last wait by 60 s. Errors carry the log tail of the node concerned; whatever was started
    /// is removed before the error is returned.
    pub fn start(self) -> Result<Cluster> {
        if self.size == 0 {
            return Err(Error::InvalidOption("a cluster of no nodes".into()));
        }
        let cookie = random_hex(20);
        let started: Vec<Result<PrivateNode>> = thread::scope(|scope| {
            let handles: Vec<_> = (0..self.size)
                .map(|_| {
                    let options = self.node.clone().cookie(&cookie);
                    scope.spawn(move || options.start())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::InvalidOption("a node's start panicked".into()))
                    })
                })
                .collect()
        });
        // Any failure drops the nodes that did start, which removes them.
        let nodes = started.into_iter().collect::<Result<Vec<_>>>()?;
        let mut cluster = Cluster { nodes };
        let first = cluster.nodes[0].node_name().to_owned();
        for node in &cluster.nodes[1..] {
            for args in [
                &["stop_app"][..],
                &["join_cluster", &first][..],
                &["start_app"][..],
            ] {
                node.ctl(args).map_err(|e| {
                    node.failure(format!("could not join the cluster of {first}: {e}"))
                })?;
            }
        }
        cluster.wait_until_whole(0, JOIN_TIMEOUT)?;
        Ok(cluster)
    }
}

/// Private nodes ([`PrivateNode`]) joined into one RabbitMQ cluster, all on 127.0.0.1, each with
/// its own ports and folder and one shared Erlang cookie; removed when dropped.
///
/// Starting three nodes takes about 20-35 s on two cores (they boot at once, then join one by
/// one). One node at a time can be stopped, killed, restarted, drained and revived, which is
/// what a rolling upgrade or a crash does to clients.
///
/// ```no_run
/// let mut cluster = amqp_testkit::Cluster::start(3)?;
/// let urls = cluster.urls(); // one URL per node
/// cluster.drain(1)?; // node 1's clients get connection.close 320
/// cluster.revive(1)?;
/// cluster.kill9(2)?;
/// cluster.restart(2)?; // back in the cluster
/// # let _ = urls;
/// # Ok::<(), amqp_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<PrivateNode>,
}

impl Cluster {
    /// A cluster of `size` nodes with RabbitMQ's defaults.
    pub fn start(size: usize) -> Result<Self> {
        Self::builder(size).start()
    }

    /// The options of a cluster of `size` nodes.
    pub fn builder(size: usize) -> ClusterBuilder {
        ClusterBuilder {
            size,
            node: NodeBuilder::default(),
        }
    }

    /// How many nodes the cluster has.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, in the order they were started (the others joined the first).
    pub fn nodes(&self) -> &[PrivateNode] {
        &self.nodes
    }

    /// Node `i`. Panics if there is no such node.
    pub fn node(&self, i: usize) -> &PrivateNode {
        &self.nodes[i]
    }

    /// Node `i`, to stop, kill or restart it directly. Panics if there is no such node.
    pub fn node_mut(&mut self, i: usize) -> &mut PrivateNode {
        &mut self.nodes[i]
    }

    /// Each node's AMQP URL, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(PrivateNode::url).collect()
    }

    /// The nodes of the cluster that node `via` sees running (Erlang names), sorted.
    pub fn running_nodes(&self, via: usize) -> Result<Vec<String>> {
        let out = self.nodes[via].ctl(&["eval", "rabbit_nodes:all_running()."])?;
        // [t1x2@localhost,t1x3@localhost], atoms perhaps quoted.
        let mut names: Vec<String> = out
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|name| name.trim().trim_matches('\'').to_owned())
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Stops node `i` cleanly ([`PrivateNode::stop`]).
    pub fn stop(&mut self, i: usize) -> Result<()> {
        self.nodes[i].stop()
    }

    /// Kills node `i` with `kill -9` ([`PrivateNode::kill9`]).
    pub fn kill9(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill9()
    }

    /// Starts node `i` again on its folder ([`PrivateNode::restart`]) and waits until it sees
    /// every running node of the cluster again.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.nodes[i].restart()?;
        self.wait_until_whole(i, JOIN_TIMEOUT)
    }

    /// Puts node `i` into maintenance mode ([`PrivateNode::drain`]).
    pub fn drain(&self, i: usize) -> Result<()> {
        self.nodes[i].drain()
    }

    /// Takes node `i` out of maintenance mode ([`PrivateNode::revive`]).
    pub fn revive(&self, i: usize) -> Result<()> {
        self.nodes[i].revive()
    }

    /// Waits until node `via` sees every node whose process runs as running in the cluster.
    fn wait_until_whole(&mut self, via: usize, timeout: Duration) -> Result<()> {
        let mut expected: Vec<String> = Vec::new();
        for node in &mut self.nodes {
            if node.is_running() {
                expected.push(node.node_name().to_owned());
            }
        }
        expected.sort();
        let mut last = Ok(Vec::new());
        if poll_until(timeout, || {
            last = self.running_nodes(via);
            matches!(&last, Ok(running) if *running == expected)
        }) {
            return Ok(());
        }
        let seen = match last {
            Ok(running) => running.join(", "),
            Err(e) => format!("(no answer: {e})"),
        };
        Err(self.nodes[via].failure(format!(
            "does not see the whole cluster within {timeout:?}: running {seen}; expected {}",
            expected.join(", ")
        )))
    }
}
