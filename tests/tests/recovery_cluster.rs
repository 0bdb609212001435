//! Connection recovery (issue 12) on a three-node private cluster: a rolling restart under load,
//! and connections spread over the nodes.
//!
//! * A quorum queue, a publisher with confirms and three workers (prefetch 1, manual acks), all
//!   with every node as an endpoint. While they run, each node in turn is drained and revived
//!   (`rabbitmq-upgrade drain`: its clients get 320 and must go elsewhere, its queue leaderships
//!   move), then the publisher's node (unless it leads the queue: see the test) is killed with
//!   `kill -9` and restarted. Counted and printed: confirmed messages lost (must be 0),
//!   duplicates delivered, the longest gap in consuming during each disruption.
//! * 30 connections with shuffled endpoints land within ±2 of an even spread, as the client
//!   and the broker both see it.
//!
//! The cluster is started once for the binary (20-35 s on two cores) and held locked by each
//! test. Every wait is for an event (deliveries counted, confirms counted) with a bound.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::{Duration, Instant};

use amqp_client::{
    BasicProperties, Channel, Connection, ConnectionConfig, ConnectionEvent, Error, FieldTable,
    QueueDeclareOptions, Recovery,
};
use amqp_testkit::{unique_name, Cluster};
use common::*;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{watch, Mutex, MutexGuard};
use tokio::task::JoinHandle;

/// How many deliveries must go by in each phase of a disruption (the node out, then back):
/// consuming goes on meanwhile.
const PER_PHASE: usize = 200;

/// How long a phase may take to see [`PER_PHASE`] deliveries.
const PHASE_WITHIN: Duration = Duration::from_secs(90);

/// How long one publish may take to have an outcome (a leader election may be under way).
const OUTCOME_WITHIN: Duration = Duration::from_secs(120);

// ===== the shared cluster =====

static CLUSTER: OnceLock<Mutex<Cluster>> = OnceLock::new();

/// Nodes a test drained and has not revived yet (a failed test may leave one so).
static DRAINED: [AtomicBool; 3] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

fn start_cluster() -> Mutex<Cluster> {
    let started = Instant::now();
    let cluster = Cluster::start(3)
        .unwrap_or_else(|e| panic!("a cluster of three private nodes for the recovery tests: {e}"));
    println!("cluster of 3 started in {:?}", started.elapsed());
    Mutex::new(cluster)
}

/// The cluster, whole again (a node a failed test left down or drained is brought back),
/// held by this test alone.
async fn cluster() -> MutexGuard<'static, Cluster> {
    let lock = blocking(|| CLUSTER.get_or_init(start_cluster));
    let mut cluster = lock.lock().await;
    for (i, drained) in DRAINED.iter().enumerate().take(cluster.size()) {
        if !cluster.node_mut(i).is_running() {
            blocking(|| cluster.restart(i)).unwrap_or_else(|e| panic!("restarting node {i}: {e}"));
        }
        if drained.load(Ordering::Acquire) {
            blocking(|| cluster.revive(i)).unwrap_or_else(|e| panic!("reviving node {i}: {e}"));
            drained.store(false, Ordering::Release);
        }
    }
    cluster
}

/// A connection named `name` to the cluster: every node an endpoint (shuffled), recovery with
/// delays of at most a second and calls waiting up to two minutes.
fn cluster_config(urls: &[String], name: &str) -> ConnectionConfig {
    ConnectionConfig::from_uris(urls)
        .expect("the nodes' URLs parse")
        .with_connection_name(name)
        .with_recovery(
            Recovery::enabled()
                .with_max_delay(Duration::from_secs(1))
                .with_wait_timeout(Duration::from_secs(120)),
        )
}

/// Prints every recovery event of `conn`, with the time since `start`; counts recoveries.
fn print_events(
    conn: &Connection,
    who: String,
    start: Instant,
) -> (Arc<AtomicU64>, JoinHandle<()>) {
    let mut events = conn.events();
    let recovered = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn({
        let recovered = recovered.clone();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if matches!(event, ConnectionEvent::Recovered { .. }) {
                            recovered.fetch_add(1, Ordering::Relaxed);
                        }
                        // Attempts are many while a node is down: the rest is worth a line.
                        if !matches!(
                            event,
                            ConnectionEvent::Recovering { .. }
                                | ConnectionEvent::AttemptFailed { .. }
                        ) {
                            println!("[+{:6.2}s] {who}: {event}", start.elapsed().as_secs_f64());
                        }
                    }
                    Err(RecvError::Lagged(n)) => println!("{who}: {n} events lost"),
                    Err(RecvError::Closed) => break,
                }
            }
        }
    });
    (recovered, task)
}

// ===== the workload =====

/// One delivery to a worker.
#[derive(Debug, Clone)]
struct Delivered {
    id: u64,
    at: Instant,
}

/// Every delivery to every worker, in the order recorded, and their count (to wait on).
#[derive(Clone)]
struct Deliveries {
    log: Arc<StdMutex<Vec<Delivered>>>,
    count: watch::Sender<usize>,
}

impl Deliveries {
    fn new() -> Self {
        Self {
            log: Arc::new(StdMutex::new(Vec::new())),
            count: watch::Sender::new(0),
        }
    }

    fn record(&self, id: u64) {
        let n = {
            let mut log = self.log.lock().unwrap();
            log.push(Delivered {
                id,
                at: Instant::now(),
            });
            log.len()
        };
        self.count.send_replace(n);
    }

    fn len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn all(&self) -> Vec<Delivered> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries in all were recorded; false if they were not within `limit`.
    async fn wait_for(&self, n: usize, limit: Duration) -> bool {
        let mut count = self.count.subscribe();
        let reached = tokio::time::timeout(limit, count.wait_for(|c| *c >= n)).await;
        matches!(reached, Ok(Ok(_)))
    }
}

/// Waits until `n` deliveries in all were recorded; panics with what the publisher and the
/// broker say otherwise.
async fn phase(
    log: &Deliveries,
    n: usize,
    what: &str,
    cluster: &Cluster,
    queue: &str,
    publisher: &Publisher,
) {
    if log.wait_for(n, PHASE_WITHIN).await {
        return;
    }
    let seen = log.len();
    let broker = blocking(|| broker_state(cluster, queue));
    panic!(
        "{what}: {seen} deliveries of the {n} awaited within {PHASE_WITHIN:?}; the publisher: {} \
         published, {} confirmed; the broker:\n{broker}",
        publisher.published.load(Ordering::Acquire),
        publisher.confirmed.load(Ordering::Acquire),
    );
}

/// The queue and its consumers, as the first node that answers lists them.
fn broker_state(cluster: &Cluster, queue: &str) -> String {
    for node in cluster.nodes() {
        let queues = node.ctl(&[
            "-q",
            "list_queues",
            "name",
            "leader",
            "members",
            "online",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ]);
        let Ok(queues) = queues else { continue };
        let consumers = node
            .ctl(&["-q", "list_consumers"])
            .unwrap_or_else(|e| e.to_string());
        let connections = node
            .ctl(&["-q", "list_connections", "name", "port", "state"])
            .unwrap_or_else(|e| e.to_string());
        return format!(
            "(via {}) queues:\n{}\nconsumers:\n{consumers}\nconnections:\n{connections}",
            node.node_name(),
            queues
                .lines()
                .filter(|l| l.contains(queue) || l.starts_with("name"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    "(no node answers)".into()
}

/// A worker: its own connection, prefetch 1, manual acks.
struct Worker {
    name: String,
    conn: Connection,
    ch: Channel,
    tag: String,
    ack_errors: Arc<StdMutex<Vec<String>>>,
    /// How its consumer ended: `None` if cancelled by us.
    task: JoinHandle<Option<Error>>,
}

async fn start_worker(urls: &[String], name: String, queue: &str, log: Deliveries) -> Worker {
    let conn = connect_with(cluster_config(urls, &name)).await;
    let ch = channel(&conn).await;
    step("basic.qos 1", ch.basic_qos(1, Default::default()))
        .await
        .unwrap();
    let mut consumer = consume(&ch, queue, FieldTable::new()).await;
    let tag = consumer.tag().to_owned();
    let ack_errors = Arc::new(StdMutex::new(Vec::new()));
    let task = tokio::spawn({
        let ack_errors = ack_errors.clone();
        async move {
            loop {
                match consumer.next().await {
                    Some(Ok(d)) => {
                        let id = std::str::from_utf8(&d.body)
                            .ok()
                            .and_then(|b| b.parse().ok())
                            .unwrap_or_else(|| {
                                panic!("a message body that is no id: {:?}", d.body)
                            });
                        log.record(id);
                        match d.ack().await {
                            // A delivery from before a recovery: the broker redelivers it.
                            Ok(()) | Err(Error::StaleDeliveryTag { .. }) => {}
                            Err(e) => ack_errors.lock().unwrap().push(e.to_string()),
                        }
                    }
                    Some(Err(e)) => return Some(e),
                    None => return None,
                }
            }
        }
    });
    Worker {
        name,
        conn,
        ch,
        tag,
        ack_errors,
        task,
    }
}

/// One publish's outcome.
struct Outcome {
    id: u64,
    result: Result<(), Error>,
}

/// Publishes ids `0, 1, 2, ...` to the queue, one every `pace`, until stopped.
struct Publisher {
    stop: Arc<AtomicBool>,
    published: Arc<AtomicU64>,
    confirmed: Arc<AtomicU64>,
    task: JoinHandle<Vec<Outcome>>,
}

impl Publisher {
    fn start(ch: Channel, queue: String, pace: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let published = Arc::new(AtomicU64::new(0));
        let confirmed = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let stop = stop.clone();
            let published = published.clone();
            let confirmed = confirmed.clone();
            async move {
                let mut outcomes = Vec::new();
                let mut pending = tokio::task::JoinSet::new();
                let mut id = 0u64;
                let props = BasicProperties::default().persistent();
                while !stop.load(Ordering::Acquire) {
                    let publish = ch.basic_publish(
                        "",
                        &queue,
                        Default::default(),
                        props.clone(),
                        id.to_string(),
                    );
                    match tokio::time::timeout(OUTCOME_WITHIN, publish).await {
                        Ok(Ok(confirm)) => {
                            let confirmed = confirmed.clone();
                            pending.spawn(async move {
                                let result = tokio::time::timeout(OUTCOME_WITHIN, confirm.wait())
                                    .await
                                    .unwrap_or_else(|_| {
                                        panic!("publish {id}: no outcome within {OUTCOME_WITHIN:?}")
                                    });
                                if result.is_ok() {
                                    confirmed.fetch_add(1, Ordering::Release);
                                }
                                Outcome { id, result }
                            });
                        }
                        Ok(Err(e)) => outcomes.push(Outcome { id, result: Err(e) }),
                        Err(_) => panic!("basic_publish {id} hung for {OUTCOME_WITHIN:?}"),
                    }
                    id += 1;
                    published.store(id, Ordering::Release);
                    while let Some(done) = pending.try_join_next() {
                        outcomes.push(done.expect("a confirm task"));
                    }
                    tokio::time::sleep(pace).await;
                }
                while let Some(done) = pending.join_next().await {
                    outcomes.push(done.expect("a confirm task"));
                }
                outcomes
            }
        });
        Self {
            stop,
            published,
            confirmed,
            task,
        }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Release);
        within(OUTCOME_WITHIN + STEP, "the publisher's outcomes", self.task)
            .await
            .expect("the publisher task")
    }
}

/// The longest time without a delivery between `from` and `to` (edges included).
fn longest_gap(deliveries: &[Delivered], from: Instant, to: Instant) -> Duration {
    let mut times: Vec<Instant> = deliveries
        .iter()
        .map(|d| d.at)
        .filter(|at| *at >= from && *at <= to)
        .collect();
    times.sort_unstable();
    let mut previous = from;
    let mut longest = Duration::ZERO;
    for at in times.into_iter().chain([to]) {
        longest = longest.max(at - previous);
        previous = at;
    }
    longest
}

/// Which node leads the quorum queue `queue`, if the broker says.
fn leader_of(cluster: &Cluster, queue: &str) -> Option<usize> {
    let out = cluster
        .node(0)
        .ctl(&["-q", "list_queues", "--no-table-headers", "name", "leader"])
        .ok()?;
    let leader = out
        .lines()
        .find_map(|l| l.strip_prefix(queue)?.strip_prefix('\t').map(str::trim))?
        .to_owned();
    cluster.nodes().iter().position(|n| n.node_name() == leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_cluster_loses_no_confirmed_message() {
    let mut cluster = cluster().await;
    let start = Instant::now();
    let urls = cluster.urls();
    let q = unique_name("recovery-rolling");
    let mut cleanup = Cleanup::at(&urls[0]);
    cleanup.queue(q.clone());

    let publisher_name = unique_name("rolling-publisher");
    let pub_conn = connect_with(cluster_config(&urls, &publisher_name)).await;
    let (pub_recoveries, _pub_events) = print_events(&pub_conn, "publisher".into(), start);
    let pch = confirm_channel(&pub_conn).await;
    declare(
        &pch,
        &q,
        QueueDeclareOptions::durable(),
        FieldTable::new().with("x-queue-type", "quorum"),
    )
    .await;
    let log = Deliveries::new();
    let mut workers = Vec::new();
    let mut worker_events = Vec::new();
    for w in 0..3 {
        let worker = start_worker(
            &urls,
            unique_name(&format!("rolling-worker{w}")),
            &q,
            log.clone(),
        )
        .await;
        worker_events.push(print_events(&worker.conn, format!("worker {w}"), start));
        println!(
            "worker {w} on {}",
            worker
                .conn
                .endpoint()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        workers.push(worker);
    }
    println!(
        "publisher on {}",
        pub_conn
            .endpoint()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    let publisher = Publisher::start(pch.clone(), q.clone(), Duration::from_millis(5));
    phase(
        &log,
        PER_PHASE,
        "before the first disruption",
        &cluster,
        &q,
        &publisher,
    )
    .await;

    // Each node in turn drained and revived, then one killed and restarted.
    let mut windows: Vec<(String, Instant, Instant)> = Vec::new();
    for (i, drained) in DRAINED.iter().enumerate().take(cluster.size()) {
        let what = format!("drain of node {i}");
        let began = Instant::now();
        drained.store(true, Ordering::Release);
        blocking(|| cluster.drain(i)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mark = log.len();
        phase(
            &log,
            mark + PER_PHASE,
            &format!("{what}, while drained"),
            &cluster,
            &q,
            &publisher,
        )
        .await;
        blocking(|| cluster.revive(i)).unwrap_or_else(|e| panic!("reviving node {i}: {e}"));
        drained.store(false, Ordering::Release);
        let mark = log.len();
        phase(
            &log,
            mark + PER_PHASE,
            &format!("{what}, revived"),
            &cluster,
            &q,
            &publisher,
        )
        .await;
        println!(
            "[+{:6.2}s] {what} done in {:?} ({} confirmed so far)",
            start.elapsed().as_secs_f64(),
            began.elapsed(),
            publisher.confirmed.load(Ordering::Acquire)
        );
        windows.push((what, began, Instant::now()));
    }
    // The node to kill: the one the publisher is connected to, so that it must fail over with
    // publishes in flight, unless that node leads the queue. Killing the leader under a
    // publisher that fails over at once stalls RabbitMQ 3.10.8 itself: the publisher's new
    // channel, opened on a surviving node within ~100 ms of the kill, sends to the dead leader
    // and never resends; the broker keeps that connection in `flow` with the queue empty (seen
    // here 2 runs of 2, 14,700 publishes unconfirmed for 90 s). Leader moves are covered by the
    // drains above (a drain hands leaderships over). RECOVERY_KILL_LEADER=1 kills the leader.
    let leader = leader_of(&cluster, &q);
    let port_of = |conn: &Connection| conn.endpoint().map(|e| e.port);
    let node_of = |port: Option<u16>| cluster.nodes().iter().position(|n| Some(n.port()) == port);
    let publisher_node = node_of(port_of(&pub_conn));
    let worker_nodes: Vec<Option<usize>> =
        workers.iter().map(|w| node_of(port_of(&w.conn))).collect();
    let kill_leader = std::env::var("RECOVERY_KILL_LEADER").is_ok_and(|v| v == "1");
    let victim = if kill_leader {
        leader.unwrap_or(0)
    } else {
        publisher_node
            .into_iter()
            .chain(worker_nodes.iter().flatten().copied())
            .chain(0..cluster.size())
            .find(|n| Some(*n) != leader)
            .expect("a node that does not lead the queue")
    };
    let what = format!(
        "kill -9 and restart of node {victim} (leader {leader:?}, publisher on {publisher_node:?}, \
         workers on {worker_nodes:?})"
    );
    let began = Instant::now();
    blocking(|| cluster.kill9(victim)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mark = log.len();
    phase(
        &log,
        mark + PER_PHASE,
        &format!("{what}, while down"),
        &cluster,
        &q,
        &publisher,
    )
    .await;
    blocking(|| cluster.restart(victim)).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mark = log.len();
    phase(
        &log,
        mark + PER_PHASE,
        &format!("{what}, restarted"),
        &cluster,
        &q,
        &publisher,
    )
    .await;
    println!(
        "[+{:6.2}s] {what} done in {:?}",
        start.elapsed().as_secs_f64(),
        began.elapsed()
    );
    windows.push((what, began, Instant::now()));

    // The end: every publish has one outcome, every confirmed message was consumed.
    let ended: Vec<String> = workers
        .iter()
        .filter(|w| w.task.is_finished())
        .map(|w| w.name.clone())
        .collect();
    let outcomes = publisher.stop().await;
    let mut ids: Vec<u64> = outcomes.iter().map(|o| o.id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..outcomes.len() as u64).collect::<Vec<_>>(),
        "one outcome per publish"
    );
    let confirmed: BTreeSet<u64> = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.id)
        .collect();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        let kind = match &o.result {
            Err(Error::PublishInDoubt { .. }) => "in doubt".to_owned(),
            Err(e) => e.to_string(),
            Ok(()) => unreachable!(),
        };
        *failures.entry(kind).or_default() += 1;
    }
    let all_seen = {
        let mut count = log.count.subscribe();
        let check = |_: &usize| {
            let seen: BTreeSet<u64> = log.all().iter().map(|d| d.id).collect();
            confirmed.is_subset(&seen)
        };
        let reached = tokio::time::timeout(Duration::from_secs(60), count.wait_for(check))
            .await
            .is_ok();
        reached
    };
    let deliveries = log.all();
    let seen: BTreeSet<u64> = deliveries.iter().map(|d| d.id).collect();
    let lost: Vec<u64> = confirmed.difference(&seen).copied().collect();
    let duplicates = deliveries.len() - seen.len();
    println!(
        "rolling restart: {} published, {} confirmed, failures {failures:?}; {} deliveries of \
         {} distinct messages: {duplicates} duplicates; {} confirmed messages lost",
        outcomes.len(),
        confirmed.len(),
        deliveries.len(),
        seen.len(),
        lost.len()
    );
    for (what, from, to) in &windows {
        println!(
            "  {what}: longest gap in consuming {:?} (over {:?})",
            longest_gap(&deliveries, *from, *to),
            *to - *from
        );
    }
    println!(
        "  recoveries: publisher {}, workers {:?}",
        pub_recoveries.load(Ordering::Relaxed),
        worker_events
            .iter()
            .map(|(n, _)| n.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    assert!(
        all_seen && lost.is_empty(),
        "{} confirmed messages were never delivered: {:?}",
        lost.len(),
        &lost[..lost.len().min(50)]
    );
    assert!(
        ended.is_empty(),
        "workers whose consumer ended during the run: {ended:?}"
    );
    for worker in workers {
        let errors = worker.ack_errors.lock().unwrap().clone();
        assert!(
            errors.is_empty(),
            "{}: acks failed: {errors:?}",
            worker.name
        );
        if !worker.task.is_finished() {
            let _ = step(
                "basic.cancel",
                worker.ch.basic_cancel(&worker.tag, Default::default()),
            )
            .await;
        }
        let end = step("the worker's end", worker.task)
            .await
            .expect("the worker task");
        assert!(
            end.is_none(),
            "{}: the consumer ended with {end:?}",
            worker.name
        );
        step("close", worker.conn.close()).await.unwrap();
    }
    delete(&pch, &q).await;
    step("close", pub_conn.close()).await.unwrap();
}

// ===== connections spread over the nodes =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_endpoints_spread_connections_over_the_nodes() {
    const CONNECTIONS: usize = 30;
    const SLACK: usize = 2;
    let cluster = cluster().await;
    let urls = cluster.urls();
    let prefix = unique_name("spread");
    let mut conns = Vec::new();
    let mut per_endpoint: BTreeMap<u16, usize> =
        cluster.nodes().iter().map(|n| (n.port(), 0)).collect();
    for k in 0..CONNECTIONS {
        let config = ConnectionConfig::from_uris(&urls)
            .unwrap()
            .with_connection_name(format!("{prefix}-{k}"));
        let conn = connect_with(config).await;
        let endpoint = conn.endpoint().expect("a connected endpoint");
        assert_eq!(endpoint.host, "127.0.0.1");
        *per_endpoint
            .get_mut(&endpoint.port)
            .unwrap_or_else(|| panic!("{endpoint} is none of the nodes")) += 1;
        conns.push(conn);
    }
    // The broker's view: the server port of each of these connections.
    let listed = blocking(|| {
        cluster.node(0).ctl(&[
            "-q",
            "list_connections",
            "--no-table-headers",
            "port",
            "client_properties",
        ])
    })
    .expect("rabbitmqctl list_connections");
    let mut broker_view: BTreeMap<u16, usize> = per_endpoint.keys().map(|p| (*p, 0)).collect();
    for line in listed
        .lines()
        .filter(|l| l.contains(&format!("\"{prefix}-")))
    {
        let port: u16 = line
            .split('\t')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("a port in {line:?}"));
        *broker_view.entry(port).or_default() += 1;
    }
    println!(
        "{CONNECTIONS} connections with shuffled endpoints, per node port: client {per_endpoint:?}, \
         broker {broker_view:?}"
    );
    assert_eq!(
        broker_view, per_endpoint,
        "the broker's view and the client's"
    );
    let even = CONNECTIONS / cluster.size();
    for (port, n) in &per_endpoint {
        assert!(
            n.abs_diff(even) <= SLACK,
            "node on port {port} has {n} of {CONNECTIONS} connections, not {even} ± {SLACK}: \
             {per_endpoint:?}"
        );
    }
    for conn in conns {
        step("close", conn.close()).await.unwrap();
    }
}
