//! amqp-testkit's brokers, against real nodes: a private node (configuration, connections,
//! `kill -9` and restart, memory alarm), a TLS node (handshake with the generated CA, EXTERNAL),
//! a three-node cluster (joined, quorum queues, drain and revive, kill and restart of a node),
//! and a node that cannot boot.
//!
//! CI time matters, so each kind of node is started once per run of this binary (in a `static`,
//! removed by the kit's clean-up when the process ends) and shared by the tests that need it;
//! tests that change a node's state hold its lock. All three start at once, when the first test
//! asks for one (see [`warm_up`]). Seen here, on two cores also busy with other builds, the five
//! Erlang VMs starting together: the private node is up after 25-30 s (alone: 6-13 s), the TLS
//! node after 30-35 s (alone: 11-16 s), the cluster after 35-45 s (alone: 30 s: the nodes boot
//! at once, then join one by one, about 4 s each); the whole binary takes 65-70 s.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Once, OnceLock};
use std::time::{Duration, Instant};

use amqp_client::wire::{self, Frame, Method};
use amqp_client::{
    BasicGetOptions, BasicProperties, Connection, ConnectionConfig, Error, FieldTable, FieldValue,
    QueueDeclareOptions, ReplyCode,
};
use amqp_testkit::{Cli, Cluster, PrivateNode, TlsCertificates};
use bytes::BytesMut;
use common::*;
use tokio::sync::{Mutex, MutexGuard};

// ===== the shared nodes =====

static NODE: OnceLock<Mutex<PrivateNode>> = OnceLock::new();
static TLS_NODE: OnceLock<PrivateNode> = OnceLock::new();
static CLUSTER: OnceLock<Mutex<Cluster>> = OnceLock::new();

/// Starts all three in the background the first time any test asks for one: the harness runs
/// only as many tests at once as there are cores (two on CI), so without this the nodes would
/// start one after the other, behind whichever tests came first. (Running a single test of this
/// file therefore starts all three too.)
fn warm_up() {
    static WARM_UP: Once = Once::new();
    WARM_UP.call_once(|| {
        std::thread::spawn(|| NODE.get_or_init(start_private_node));
        std::thread::spawn(|| TLS_NODE.get_or_init(start_tls_node));
        std::thread::spawn(|| CLUSTER.get_or_init(start_cluster));
    });
}

/// The private node of this binary, with a little configuration to check; held locked by each
/// test, since some kill it or raise alarms.
async fn private_node() -> MutexGuard<'static, PrivateNode> {
    warm_up();
    blocking(|| NODE.get_or_init(start_private_node))
        .lock()
        .await
}

fn start_private_node() -> Mutex<PrivateNode> {
    let started = Instant::now();
    let node = PrivateNode::builder()
        .consumer_timeout(Duration::from_secs(900))
        .channel_tick_interval(Duration::from_secs(7))
        .max_message_size(1 << 20)
        .start()
        .expect("a private node");
    println!("private node started in {:?}", started.elapsed());
    Mutex::new(node)
}

/// The TLS node of this binary. Nothing changes its state, so no lock.
fn tls_node() -> &'static PrivateNode {
    warm_up();
    TLS_NODE.get_or_init(start_tls_node)
}

fn start_tls_node() -> PrivateNode {
    let started = Instant::now();
    let node = PrivateNode::builder()
        .tls()
        .start()
        .expect("a private node with TLS");
    println!("TLS node started in {:?}", started.elapsed());
    node
}

/// The three-node cluster of this binary, held locked by each test.
async fn cluster() -> MutexGuard<'static, Cluster> {
    warm_up();
    blocking(|| CLUSTER.get_or_init(start_cluster)).lock().await
}

fn start_cluster() -> Mutex<Cluster> {
    let started = Instant::now();
    let cluster = Cluster::start(3).expect("a cluster of three private nodes");
    println!("cluster of 3 started in {:?}", started.elapsed());
    Mutex::new(cluster)
}

/// The connection settings for `url`.
/// Without recovery: these tests watch each fault end the connection (the client recovering
/// across the same faults: `recovery.rs`, `recovery_cluster.rs`).
fn config_for(url: &str) -> ConnectionConfig {
    ConnectionConfig::from_uri(url)
        .expect("the node's URL parses")
        .with_recovery(amqp_client::Recovery::disabled())
}

// ===== a private node =====

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_node_is_a_node_of_its_own_with_the_configuration_asked_for() {
    let node = private_node().await;
    assert_ne!(node.port(), 5672, "never the shared broker's port");
    assert_ne!(node.port(), node.dist_port());
    assert_eq!(
        node.url(),
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", node.port())
    );
    assert!(node.node_name().ends_with("@localhost"));
    assert_eq!(node.tls_port(), None);
    assert_eq!(node.amqps_url(), None);
    let status = blocking(|| node.ctl(&["status"])).expect("rabbitmqctl status");
    assert!(
        status.contains(&node.dir().display().to_string()),
        "its data lives in its own folder: {status}"
    );
    for (key, value) in [
        ("consumer_timeout", "900000"),
        ("channel_tick_interval", "7000"),
        ("max_message_size", "1048576"),
    ] {
        let got = blocking(|| node.ctl(&["eval", &format!("application:get_env(rabbit, {key}).")]))
            .expect("rabbitmqctl eval");
        assert_eq!(got.trim(), format!("{{ok,{value}}}"), "{key}");
    }
    // It takes connections.
    let conn = connect_with(config_for(&node.url())).await;
    let ch = confirm_channel(&conn).await;
    let q = fresh_queue(&ch, "private").await;
    publish_plain(&ch, "", &q, "hello").await;
    assert_eq!(take_body(&ch, &q).await.as_deref(), Some("hello"));
    step("connection.close", conn.close()).await.unwrap();
}

/// What a persistent message carries, to check after the restart.
fn persistent_properties() -> BasicProperties {
    BasicProperties {
        content_type: Some("text/plain".into()),
        headers: Some(FieldTable::new().with("survives", true).with("n", 7i32)),
        message_id: Some("persistent-1".into()),
        timestamp: Some(1_700_000_000),
        ..BasicProperties::default().persistent()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_messages_in_durable_queues_survive_a_broker_kill() {
    let mut node = private_node().await;
    let conn = connect_with(config_for(&node.url())).await;
    let ch = channel(&conn).await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let durable = amqp_testkit::unique_name("durable");
    let transient = amqp_testkit::unique_name("transient");
    declare(
        &ch,
        &durable,
        QueueDeclareOptions::durable(),
        FieldTable::new(),
    )
    .await;
    declare(&ch, &transient, Default::default(), FieldTable::new()).await;
    let publish = |queue: &str, props: BasicProperties, body: &'static str| {
        let ch = ch.clone();
        let queue = queue.to_owned();
        async move {
            step(
                "publish",
                ch.basic_publish("", &queue, Default::default(), props, body),
            )
            .await
            .unwrap()
            .wait()
            .await
            .expect("confirmed: on disk if persistent")
        }
    };
    // Into the durable queue: a persistent message, then a transient one.
    publish(&durable, persistent_properties(), "I persist").await;
    publish(&durable, BasicProperties::default(), "I am transient").await;
    // Into the non-durable queue: a transient message.
    publish(&transient, BasicProperties::default(), "gone with my queue").await;
    assert_eq!(counts(&ch, &durable).await, (2, 0));
    assert_eq!(counts(&ch, &transient).await, (1, 0));
    let mut consumer = consume(&ch, &transient, FieldTable::new()).await;
    let d = next_delivery(&mut consumer, "the delivery").await;
    assert_eq!(&d.body[..], b"gone with my queue");
    // Left unacked: it would be redelivered after a restart if it survived.

    // RabbitMQ writes a queue's definition to disk shortly after declare-ok, not before: seen
    // here, a durable queue declared a moment before the kill was gone after the restart (2
    // runs in 10, under load). This test is about the messages, which the confirms put on disk.
    blocking(|| node.flush_definitions()).expect("the definitions on disk");
    blocking(|| node.kill9()).expect("kill -9");
    assert!(!node.is_running());
    assert!(
        TcpStream::connect(("127.0.0.1", node.port())).is_err(),
        "the port is closed"
    );
    // The client notices at once: the socket is gone, with no connection.close.
    let error = step("the connection's end", conn.closed()).await;
    assert!(matches!(error, Error::Io(_)), "{error:?}");
    let end = step("the consumer's end", consumer.next()).await;
    assert!(matches!(end, Some(Err(Error::Io(_)))), "{end:?}");

    blocking(|| node.restart()).expect("restart");
    let listed = blocking(|| node.ctl(&["-q", "list_queues", "name", "durable"]));
    assert!(
        listed.as_ref().is_ok_and(|out| out.contains(&durable)),
        "the durable queue is gone after the restart: {listed:?}\nthe node's logs:\n{}",
        node.log_tail()
    );
    let conn = connect_with(config_for(&node.url())).await;
    let ch = channel(&conn).await;
    assert_eq!(
        counts(&ch, &durable).await,
        (1, 0),
        "only the persistent message survives"
    );
    let got = step("basic.get", ch.basic_get(&durable, Default::default()))
        .await
        .unwrap()
        .expect("the persistent message");
    assert_eq!(&got.delivery.body[..], b"I persist");
    assert_eq!(got.delivery.properties, persistent_properties());
    assert_eq!(
        got.delivery
            .properties
            .headers
            .as_ref()
            .and_then(|h| h.get("survives")),
        Some(&FieldValue::Boolean(true))
    );
    step("basic.ack", got.delivery.ack()).await.unwrap();
    // The non-durable queue, and its message, are gone.
    let result = step(
        "passive declare",
        ch.queue_declare(
            &transient,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::new(),
        ),
    )
    .await;
    expect_channel_closed(result, ReplyCode::NOT_FOUND);
    let ch = channel(&conn).await;
    delete(&ch, &durable).await;
    step("connection.close", conn.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_the_connection_until_it_clears() {
    let node = private_node().await;
    let conn: Connection = connect_with(config_for(&node.url())).await;
    let ch = channel(&conn).await;
    let q = fresh_queue(&ch, "blocked").await;
    step("confirm.select", ch.confirm_select(Default::default()))
        .await
        .unwrap();
    let mut blocked = conn.watch_blocked();
    assert!(conn.blocked().is_none());

    blocking(|| node.raise_memory_alarm()).expect("raise a memory alarm");
    assert!(blocking(|| node.has_memory_alarm()).unwrap());
    // RabbitMQ blocks a connection at its first publish once the alarm has reached it
    // (state `blocking`), so wait for that before publishing.
    blocking(|| {
        amqp_testkit::wait_until(
            Duration::from_secs(30),
            "the connection to be in state blocking",
            || {
                node.ctl(&["-q", "list_connections", "--no-table-headers", "state"])
                    .is_ok_and(|out| out.lines().any(|l| l.trim() == "blocking"))
            },
        )
    });
    let confirm = step(
        "publish",
        ch.basic_publish("", &q, Default::default(), Default::default(), "held"),
    )
    .await
    .unwrap();
    within(
        Duration::from_secs(30),
        "connection.blocked",
        blocked.wait_for(|b| b.is_some()),
    )
    .await
    .expect("the connection is still there");
    let reason = conn.blocked().expect("blocked");
    println!("connection.blocked: {reason:?}");
    assert!(reason.contains("memory"), "{reason}");
    assert!(conn.is_open(), "blocked is not closed");

    blocking(|| node.lift_memory_alarm()).expect("lift the alarm");
    assert!(!blocking(|| node.has_memory_alarm()).unwrap());
    within(
        Duration::from_secs(30),
        "connection.unblocked",
        blocked.wait_for(|b| b.is_none()),
    )
    .await
    .expect("the connection is still there");
    assert!(conn.blocked().is_none());
    // What was published while blocked goes through.
    within(
        Duration::from_secs(30),
        "the held publish's confirm",
        confirm.wait(),
    )
    .await
    .unwrap();
    let got = step(
        "basic.get",
        ch.basic_get(&q, BasicGetOptions { no_ack: true }),
    )
    .await
    .unwrap()
    .expect("the held message");
    assert_eq!(&got.delivery.body[..], b"held");
    step("connection.close", conn.close()).await.unwrap();
}

// ===== a node that cannot boot =====

#[test]
fn a_node_with_an_invalid_config_fails_with_its_log_tail_within_the_bound() {
    let started = Instant::now();
    let error = PrivateNode::builder()
        .config("this is = not = a valid rabbitmq.conf line")
        .start_timeout(Duration::from_secs(60))
        .start()
        .expect_err("the node should not have started");
    let took = started.elapsed();
    println!("failed after {took:?}: {error}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(matches!(error, amqp_testkit::Error::Node { .. }), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("private RabbitMQ node t"), "{message}");
    let tail = error.log_tail().expect("a log tail");
    assert!(message.ends_with(tail));
    assert!(
        tail.contains("rabbitmq.conf"),
        "the tail names the bad file: {tail}"
    );
    // The tail names the node's files; their folder is gone.
    let file = tail
        .lines()
        .find_map(|l| l.strip_prefix("----- "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no log file named in: {tail}"));
    let dir = std::path::Path::new(file).parent().unwrap();
    assert!(!dir.exists(), "{} should have been removed", dir.display());
}

// ===== a TLS node =====

/// Runs `openssl s_client` against the TLS node with `args` and no input; its exit status.
fn s_client(node: &PrivateNode, args: &[&str]) -> std::process::ExitStatus {
    let port = node.tls_port().expect("a TLS port");
    Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl s_client")
}

#[test]
fn a_tls_node_answers_a_handshake_with_its_ca_and_not_with_another() {
    let node = tls_node();
    let certs = node.tls().expect("certificates");
    let ca = certs.ca_cert_path().display().to_string();
    assert!(s_client(node, &["-CAfile", &ca, "-verify_return_error"]).success());
    // The name in the server's certificate is the one the URL has.
    assert!(s_client(
        node,
        &[
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            certs.server_name()
        ],
    )
    .success());
    let url = node.amqps_url().expect("an amqps URL");
    assert_eq!(
        url,
        format!(
            "amqps://guest:guest@localhost:{}/%2f",
            node.tls_port().unwrap()
        )
    );
    // Another CA's certificate does not verify the server: the verification is real.
    let other = std::env::temp_dir().join(amqp_testkit::unique_name("amqp-testkit-other-ca"));
    let other_certs = TlsCertificates::generate(&other).expect("another CA");
    let other_ca = other_certs.ca_cert_path().display().to_string();
    assert!(!s_client(node, &["-CAfile", &other_ca, "-verify_return_error"]).success());
    std::fs::remove_dir_all(&other).unwrap();
    // The files hold what the PEM accessors give.
    assert_eq!(
        std::fs::read_to_string(certs.client_cert_path()).unwrap(),
        certs.client_cert_pem()
    );
    assert!(certs
        .ca_cert_pem()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

/// Logs in to the TLS node with EXTERNAL, through `openssl s_client` presenting the client
/// certificate (amqp-client has no TLS yet): sends the protocol header, then, after
/// connection.start, a connection.start-ok for EXTERNAL. Returns the methods the broker sent.
fn external_login(node: &PrivateNode) -> Vec<Method> {
    let certs = node.tls().expect("certificates");
    let port = node.tls_port().expect("a TLS port");
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("-CAfile")
        .arg(certs.ca_cert_path())
        .arg("-cert")
        .arg(certs.client_cert_path())
        .arg("-key")
        .arg(certs.client_key_path())
        .args(["-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 || tx.send(chunk[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut methods = Vec::new();
    let mut buf = BytesMut::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    stdin.write_all(&wire::PROTOCOL_HEADER).unwrap();
    stdin.flush().unwrap();
    while methods.len() < 2 && Instant::now() < deadline {
        let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        buf.extend_from_slice(&chunk);
        while let Some(frame) = Frame::decode(&mut buf, 1 << 20).expect("frames") {
            let Frame::Method { method, .. } = frame else {
                continue;
            };
            if matches!(method, Method::ConnectionStart(_)) {
                let start_ok = Frame::method(
                    0,
                    wire::ConnectionStartOk {
                        client_properties: FieldTable::new(),
                        mechanism: "EXTERNAL".into(),
                        response: "".into(),
                        locale: "en_US".into(),
                    },
                );
                let mut out = BytesMut::new();
                start_ok.encode(&mut out).unwrap();
                stdin.write_all(&out).unwrap();
                stdin.flush().unwrap();
            }
            methods.push(method);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    methods
}

#[test]
fn a_tls_node_logs_in_the_client_certificate_with_external() {
    let node = tls_node();
    let plugins = node
        .cli(Cli::Plugins, &["list", "-e"])
        .expect("rabbitmq-plugins list -e");
    assert!(
        plugins
            .lines()
            .any(|l| l.contains("[E*] rabbitmq_auth_mechanism_ssl")),
        "{plugins}"
    );
    let users = node.ctl(&["-q", "list_users"]).expect("list_users");
    let cn = node.tls().unwrap().client_name();
    assert!(users.lines().any(|l| l.starts_with(cn)), "{users}");

    let methods = external_login(node);
    match methods.first() {
        Some(Method::ConnectionStart(start)) => {
            let mechanisms = String::from_utf8_lossy(start.mechanisms.as_bytes()).into_owned();
            assert!(
                mechanisms.split(' ').any(|m| m == "EXTERNAL"),
                "{mechanisms}"
            );
        }
        other => panic!("expected connection.start, got {other:?}"),
    }
    // connection.tune means the login was accepted (a refusal is connection.close 403).
    assert!(
        matches!(methods.get(1), Some(Method::ConnectionTune(_))),
        "{methods:?}"
    );
}

// ===== a cluster =====

/// A durable quorum queue.
async fn declare_quorum_queue(ch: &amqp_client::Channel, name: &str) {
    declare(
        ch,
        name,
        QueueDeclareOptions::durable(),
        FieldTable::new().with("x-queue-type", "quorum"),
    )
    .await;
}

/// A persistent message into `queue`, confirmed.
async fn publish_persistent(ch: &amqp_client::Channel, queue: &str, body: &str) {
    let persistent = BasicProperties::default().persistent();
    publish(ch, "", queue, Default::default(), persistent, body)
        .await
        .unwrap_or_else(|e| panic!("publish {body:?}: {e}"));
}

/// The number of ready messages in `name`, by a passive declare.
async fn ready_in(ch: &amqp_client::Channel, name: &str) -> u32 {
    counts(ch, name).await.0
}

/// One test for the cluster, in three parts: they could not run at the same time anyway (each
/// would hold the cluster's lock), and as separate tests two of them would hold both of the
/// harness's threads (on two cores) while waiting for the cluster, leaving none for the tests
/// of the other nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_three_joins_shares_quorum_queues_and_survives_a_drain_and_a_kill() {
    let mut cluster = cluster().await;
    joined_with_a_quorum_queue_seen_from_every_node(&cluster).await;
    draining_a_node_closes_its_connections_with_320_until_it_is_revived(&cluster).await;
    a_killed_node_restarts_and_the_cluster_recovers(&mut cluster).await;
}

async fn joined_with_a_quorum_queue_seen_from_every_node(cluster: &Cluster) {
    let mut names: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.node_name().to_owned())
        .collect();
    names.sort();
    for i in 0..3 {
        assert_eq!(blocking(|| cluster.running_nodes(i)).unwrap(), names);
    }
    let status = blocking(|| cluster.node(1).ctl(&["cluster_status"])).expect("cluster_status");
    for name in &names {
        assert!(status.contains(name.as_str()), "{status}");
    }
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert_eq!(urls[2], cluster.node(2).url());

    let q = amqp_testkit::unique_name("quorum");
    let first = connect_with(config_for(&urls[0])).await;
    let ch = confirm_channel(&first).await;
    declare_quorum_queue(&ch, &q).await;
    publish_persistent(&ch, &q, "replicated").await;
    for url in &urls[1..] {
        let conn = connect_with(config_for(url)).await;
        let other = channel(&conn).await;
        assert_eq!(ready_in(&other, &q).await, 1, "seen from {url}");
        step("connection.close", conn.close()).await.unwrap();
    }
    delete(&ch, &q).await;
    step("connection.close", first.close()).await.unwrap();
}

async fn draining_a_node_closes_its_connections_with_320_until_it_is_revived(cluster: &Cluster) {
    let url = cluster.node(2).url();
    let conn = connect_with(config_for(&url)).await;
    let _ch = channel(&conn).await;

    blocking(|| cluster.drain(2)).expect("rabbitmq-upgrade drain");
    let error = step("the connection's end", conn.closed()).await;
    match &error {
        Error::ConnectionClosed(reason) => {
            assert_eq!(reason.reply_code, ReplyCode::CONNECTION_FORCED, "{error}");
            println!("drained: {}", reason.reply_text);
        }
        other => panic!("expected connection.close 320, got {other:?}"),
    }
    assert!(
        Connection::connect(config_for(&url)).await.is_err(),
        "a drained node takes no connections"
    );
    // The other nodes still serve clients.
    let conn = connect_with(config_for(&cluster.node(0).url())).await;
    step("connection.close", conn.close()).await.unwrap();

    blocking(|| cluster.revive(2)).expect("rabbitmq-upgrade revive");
    let conn = connect_with(config_for(&url)).await;
    let _ch = channel(&conn).await;
    step("connection.close", conn.close()).await.unwrap();
}

async fn a_killed_node_restarts_and_the_cluster_recovers(cluster: &mut Cluster) {
    let urls = cluster.urls();
    let q = amqp_testkit::unique_name("quorum-kill");
    let conn = connect_with(config_for(&urls[0])).await;
    let ch = confirm_channel(&conn).await;
    declare_quorum_queue(&ch, &q).await;
    publish_persistent(&ch, &q, "before").await;

    let killed = cluster.node(1).node_name().to_owned();
    blocking(|| cluster.kill9(1)).expect("kill -9 of node 1");
    blocking(|| {
        amqp_testkit::wait_until(Duration::from_secs(30), "node 0 to see node 1 gone", || {
            cluster.running_nodes(0).is_ok_and(|r| !r.contains(&killed))
        })
    });
    // Two of three nodes are a majority: the quorum queue still takes messages.
    publish_persistent(&ch, &q, "during").await;
    assert_eq!(ready_in(&ch, &q).await, 2);

    blocking(|| cluster.restart(1)).expect("restart of node 1");
    for i in 0..3 {
        assert_eq!(blocking(|| cluster.running_nodes(i)).unwrap().len(), 3);
    }
    let back = connect_with(config_for(&urls[1])).await;
    let ch1 = channel(&back).await;
    assert_eq!(
        ready_in(&ch1, &q).await,
        2,
        "the restarted node sees the queue"
    );
    step("connection.close", back.close()).await.unwrap();
    delete(&ch, &q).await;
    step("connection.close", conn.close()).await.unwrap();
}
