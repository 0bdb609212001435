//! The broker side of `demo --restart-broker` and `demo --cluster`: private RabbitMQ nodes the
//! demo started itself (with `amqp-testkit`, as the integration tests do), so that it may
//! restart them in the middle of a run, as an operator doing a (rolling) restart would. The
//! shared broker is never touched.
//!
//! The kit's node calls are blocking (`rabbitmqctl`, waiting for ports): they run off the async
//! threads, one at a time, on nodes kept behind a mutex.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use amqp_testkit::{cleanup, Cluster, PrivateNode};

use crate::output::{say, Color, Fail, Style};

/// The private broker of a run: one node, or the nodes of one cluster.
#[derive(Debug)]
pub enum Nodes {
    /// One node (`--restart-broker`, or the fallback when no broker answers). Boxed: a node
    /// is much larger than a cluster's list of nodes.
    Single(Box<PrivateNode>),
    /// A cluster (`--cluster`).
    Cluster(Cluster),
}

impl Nodes {
    fn urls(&self) -> Vec<String> {
        match self {
            Self::Single(node) => vec![node.url()],
            Self::Cluster(cluster) => cluster.urls(),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Self::Single(node) => vec![node.dir().to_owned()],
            Self::Cluster(cluster) => cluster.nodes().iter().map(|n| n.dir().to_owned()).collect(),
        }
    }

    fn ports(&self) -> Vec<u16> {
        match self {
            Self::Single(node) => vec![node.port()],
            Self::Cluster(cluster) => cluster.nodes().iter().map(PrivateNode::port).collect(),
        }
    }
}

/// A handle on the run's private nodes, to restart them (cheap to clone).
#[derive(Debug, Clone)]
pub struct Operator {
    nodes: Arc<Mutex<Option<Nodes>>>,
    urls: Vec<String>,
    labels: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Operator {
    /// Takes charge of `nodes`.
    pub fn new(nodes: Nodes) -> Self {
        let labels = match &nodes {
            Nodes::Single(node) => vec![format!("the broker (127.0.0.1:{})", node.port())],
            Nodes::Cluster(_) => nodes
                .ports()
                .iter()
                .enumerate()
                .map(|(i, port)| format!("node {} (127.0.0.1:{port})", i + 1))
                .collect(),
        };
        Self {
            urls: nodes.urls(),
            dirs: nodes.dirs(),
            labels,
            nodes: Arc::new(Mutex::new(Some(nodes))),
        }
    }

    /// Each node's URL, in node order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// How many nodes.
    pub fn node_count(&self) -> usize {
        self.labels.len()
    }

    /// Node `i` in a line: `node 2 (127.0.0.1:40123)`, or `the broker (127.0.0.1:40123)`.
    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("?", String::as_str)
    }

    /// Restarts node `i`: a clean stop (`rabbitmqctl stop`: the broker closes every client
    /// connection with 320 CONNECTION_FORCED, then exits), a start on the same folder (durable
    /// queues and persistent messages are still there) and, in a cluster, the wait until it is
    /// back in the cluster. Returns how long it took.
    pub async fn restart(&self, i: usize) -> Result<Duration, Fail> {
        let nodes = self.nodes.clone();
        let label = self.label(i).to_owned();
        let started = Instant::now();
        let restarted = tokio::task::spawn_blocking(move || {
            let mut nodes = nodes.lock().unwrap_or_else(PoisonError::into_inner);
            match nodes.as_mut() {
                Some(Nodes::Single(node)) => node.restart(),
                Some(Nodes::Cluster(cluster)) => cluster.restart(i),
                None => Ok(()),
            }
        })
        .await;
        match restarted {
            Ok(Ok(())) => Ok(started.elapsed()),
            Ok(Err(e)) => Err(Fail::new(format!(
                "could not restart {label}: {}",
                first_line(&e.to_string())
            ))),
            Err(e) => Err(Fail::new(format!("could not restart {label}: {e}"))),
        }
    }

    /// Stops and removes the nodes (each is killed and its folder removed), saying so.
    pub async fn shut_down(self, style: Style) {
        let what = if self.node_count() == 1 {
            "node"
        } else {
            "cluster"
        };
        let folders = match self.dirs.as_slice() {
            [dir] => dir.display().to_string(),
            dirs => format!("its {} folders", dirs.len()),
        };
        say(style.paint(
            Color::Dim,
            format!(" [*] stopping the private RabbitMQ {what} and removing {folders}"),
        ));
        // Dropping the nodes kills them and removes their folders: blocking work, and so is
        // the lock, held by a restart that may still be under way.
        let nodes = self.nodes.clone();
        let _ = tokio::task::spawn_blocking(move || {
            drop(nodes.lock().unwrap_or_else(PoisonError::into_inner).take());
        })
        .await;
        let left: Vec<String> = self
            .dirs
            .iter()
            .filter(|d| d.exists())
            .map(|d| d.display().to_string())
            .collect();
        let gone = if left.is_empty() {
            "removed".to_owned()
        } else {
            format!("(could not remove {})", left.join(", "))
        };
        say(style.paint(
            Color::Dim,
            format!(" [*] private RabbitMQ {what} stopped, {gone}"),
        ));
    }
}

/// Runs `start` (a blocking start of private nodes) off the async threads. Ctrl+C meanwhile
/// waits for the start to end and then removes what it started: `Err` with status 130.
///
/// The demo handles Ctrl+C itself and removes its nodes on the way out; the kit's own handler
/// would end the process before the demo has said so. (A crash still leaves nothing behind:
/// each node's watchdog removes it.)
pub async fn start_blocking<T: Send + 'static>(
    start: impl FnOnce() -> amqp_testkit::Result<T> + Send + 'static,
) -> Result<Result<T, String>, Fail> {
    cleanup::disable_signal_handler();
    let mut task = tokio::task::spawn_blocking(start);
    let (joined, interrupted) = tokio::select! {
        joined = &mut task => (joined, false),
        _ = tokio::signal::ctrl_c() => {
            say(" [*] interrupted: waiting for the private RabbitMQ to be up, to remove it again");
            (task.await, true)
        }
    };
    let started = match joined {
        Ok(result) => result.map_err(|e| first_line(&e.to_string())),
        Err(e) => Err(e.to_string()),
    };
    if interrupted {
        // Dropping what started removes it.
        let _ = tokio::task::spawn_blocking(move || drop(started)).await;
        return Err(Fail {
            message: "interrupted".into(),
            status: 130,
        });
    }
    Ok(started)
}

/// Starts a private cluster of `size` nodes for `--cluster`, saying so.
pub async fn start_cluster(size: usize, style: Style) -> Result<Operator, Fail> {
    say(style.paint(
        Color::Yellow,
        format!(
            " [*] --cluster: starting a private {size}-node RabbitMQ cluster (about 20-35 s; it is \
             removed at the end)"
        ),
    ));
    let started = Instant::now();
    let cluster = start_blocking(move || Cluster::start(size))
        .await?
        .map_err(|e| Fail::new(format!("the private cluster did not start: {e}")))?;
    let operator = Operator::new(Nodes::Cluster(cluster));
    let nodes: Vec<&str> = (0..operator.node_count())
        .map(|i| operator.label(i))
        .collect();
    say(style.paint(
        Color::Yellow,
        format!(
            " [*] private cluster ready after {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            nodes.join(", ")
        ),
    ));
    Ok(operator)
}

/// The first line of an error, without the log tail the kit's errors carry: too much for one
/// line.
pub fn first_line(text: &str) -> String {
    text.split("; its logs:")
        .next()
        .unwrap_or_default()
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("it failed")
        .trim()
        .trim_end_matches(';')
        .to_owned()
}
