//! Real captures: `tcpdump` on the loopback interface records a short conversation of our client
//! and one of Python's pika with the shared broker, and `amqp_wire::capture` reads the file back.
//! Each connection must show its whole handshake, the queue declared, the message published
//! (method, header, body) and got back, and the close, every frame in its direction, with no
//! gap or resynchronisation.
//!
//! Needs root (tcpdump captures), tcpdump (`.ci/setup` installs it) and pika. A machine without
//! them fails this test loudly; it never skips it.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use amqp_client::{BasicGetOptions, BasicProperties, Connection, QueueDeclareOptions};
use amqp_testkit::{amqp_url, parse_host_port, require_broker, unique_name};
use amqp_wire::capture::{self, CapturedFrame, Connection as Endpoints, Direction, Item};
use amqp_wire::{Frame, Method};

/// Upper bound for each step: starting tcpdump, a conversation, the capture reaching the file.
const STEP: Duration = Duration::from_secs(30);

#[test]
fn our_client_and_pika_seen_in_a_tcpdump_capture() {
    require_broker();
    require_tcpdump();
    require_pika();
    let url = amqp_url();
    let (host, port) = parse_host_port(&url);
    assert!(
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        "this test captures on the loopback interface: AMQP_URL must name a local broker, \
         not {host}"
    );
    let dir = std::env::temp_dir().join(unique_name("amqp-captures"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("conversations.pcap");

    let tcpdump = Tcpdump::start(&file, port);
    let ours = unique_name("capture-ours");
    let theirs = unique_name("capture-pika");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(our_conversation(&url, &ours));
    pika_conversation(&url, &theirs);
    // Stop only once both connections' last frames are in the file.
    let started = Instant::now();
    let frames = loop {
        let frames = capture::read_file(&file);
        if let Ok(frames) = &frames {
            let closed = frames
                .iter()
                .filter(|f| method_name(f) == Some("connection.close-ok"))
                .count();
            if closed >= 2 {
                break frames.clone();
            }
        }
        assert!(
            started.elapsed() < STEP,
            "the capture never showed both connections closed: {frames:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    tcpdump.stop();
    // The whole file, now that tcpdump has closed it, reads without error.
    let all = capture::read_file(&file).expect("the finished capture reads");
    assert!(all.len() >= frames.len());
    let _ = std::fs::remove_dir_all(&dir);

    for (queue, body) in [(&ours, OUR_BODY), (&theirs, PIKA_BODY)] {
        let connection = connection_declaring(&all, queue);
        let seen: Vec<&CapturedFrame> = all.iter().filter(|f| f.connection == connection).collect();
        check_conversation(&seen, queue, body, port);
    }
}

const OUR_BODY: &[u8] = b"captured from amqp-client";
const PIKA_BODY: &[u8] = b"captured from pika";

/// connect, channel.open, queue.declare, basic.publish, basic.get, queue.delete, close.
async fn our_conversation(url: &str, queue: &str) {
    let conversation = async {
        let conn: Connection = amqp_client::connect(url).await.expect("connect");
        let ch = conn.open_channel().await.expect("channel.open");
        // Exclusive: the broker deletes it with the connection even if a step below fails.
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        ch.queue_declare(queue, exclusive, Default::default())
            .await
            .expect("queue.declare")
            .expect("declare-ok");
        // Not in confirm mode: the confirm that comes back means nothing.
        let _ = ch
            .basic_publish(
                "",
                queue,
                Default::default(),
                BasicProperties::default(),
                OUR_BODY,
            )
            .await
            .expect("basic.publish");
        let no_ack = BasicGetOptions { no_ack: true };
        let got = ch
            .basic_get(queue, no_ack)
            .await
            .expect("basic.get")
            .expect("a message");
        assert_eq!(&got.delivery.body[..], OUR_BODY);
        ch.queue_delete(queue, Default::default())
            .await
            .expect("queue.delete");
        conn.close().await.expect("connection.close");
    };
    tokio::time::timeout(STEP, conversation)
        .await
        .expect("our client's conversation timed out");
}

/// The same conversation by pika.
fn pika_conversation(url: &str, queue: &str) {
    let script = r#"
import sys, pika
url, queue, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
connection = pika.BlockingConnection(pika.URLParameters(url))
channel = connection.channel()
channel.queue_declare(queue, exclusive=True)
channel.basic_publish("", queue, body)
method, properties, got = channel.basic_get(queue, auto_ack=True)
assert got == body, got
channel.queue_delete(queue)
connection.close()
"#;
    let body = std::str::from_utf8(PIKA_BODY).unwrap();
    let mut pika = Command::new("python3");
    pika.args(["-c", script, url, queue, body]);
    if let Err(e) = amqp_testkit::run_command(&mut pika, STEP) {
        panic!("pika's conversation: {e}");
    }
}

/// The connection on which `queue` was declared.
fn connection_declaring(frames: &[CapturedFrame], queue: &str) -> Endpoints {
    frames
        .iter()
        .find(|f| match &f.item {
            Item::Frame(Frame::Method {
                method: Method::QueueDeclare(declare),
                ..
            }) => declare.queue.as_bytes() == queue.as_bytes(),
            _ => false,
        })
        .unwrap_or_else(|| panic!("no queue.declare of {queue} in the capture"))
        .connection
}

/// One step of the conversation: who sends, and what.
struct Expect<'a> {
    from_client: bool,
    what: &'a str,
    check: Box<dyn Fn(&Item) -> bool + 'a>,
}

fn method<'a>(from_client: bool, name: &'a str) -> Expect<'a> {
    Expect {
        from_client,
        what: name,
        check: Box::new(move |item| match item {
            Item::Frame(Frame::Method { method, .. }) => method.name() == name,
            _ => false,
        }),
    }
}

fn step<'a>(from_client: bool, what: &'a str, check: impl Fn(&Item) -> bool + 'a) -> Expect<'a> {
    Expect {
        from_client,
        what,
        check: Box::new(check),
    }
}

/// The connection's frames hold the conversation's frames in order, each in its direction; other
/// frames (heartbeats, channel.close, queue.delete) may come between them. No notes.
fn check_conversation(seen: &[&CapturedFrame], queue: &str, body: &[u8], port: u16) {
    let shown: Vec<String> = seen.iter().map(|f| f.to_string()).collect();
    let shown = shown.join("\n");
    let first = seen.first().expect("frames");
    assert_eq!(first.connection.server.port(), port, "{shown}");
    assert!(first.connection.client.ip().is_loopback(), "{shown}");
    assert!(
        !seen.iter().any(|f| matches!(f.item, Item::Note(_))),
        "a clean capture has no notes:\n{shown}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].time <= w[1].time),
        "times go forward:\n{shown}"
    );
    let declares = move |item: &Item| match item {
        Item::Frame(Frame::Method {
            method: Method::QueueDeclare(declare),
            ..
        }) => declare.queue.as_bytes() == queue.as_bytes(),
        _ => false,
    };
    let publishes = move |item: &Item| match item {
        Item::Frame(Frame::Method {
            method: Method::BasicPublish(publish),
            ..
        }) => publish.routing_key.as_bytes() == queue.as_bytes(),
        _ => false,
    };
    let header = move |item: &Item| match item {
        Item::Frame(Frame::Header { header, .. }) => header.body_size == body.len() as u64,
        _ => false,
    };
    let body_frame = move |item: &Item| match item {
        Item::Frame(Frame::Body { payload, .. }) => &payload[..] == body,
        _ => false,
    };
    let expected = [
        step(
            true,
            "protocol-header AMQP 0-9-1",
            |item| matches!(item, Item::ProtocolHeader(h) if h.is_0_9_1()),
        ),
        method(false, "connection.start"),
        method(true, "connection.start-ok"),
        method(false, "connection.tune"),
        method(true, "connection.tune-ok"),
        method(true, "connection.open"),
        method(false, "connection.open-ok"),
        method(true, "channel.open"),
        method(false, "channel.open-ok"),
        step(true, "queue.declare of the queue", declares),
        method(false, "queue.declare-ok"),
        step(true, "basic.publish to the queue", publishes),
        step(true, "content header of the body's size", header),
        step(true, "content body", body_frame),
        method(true, "basic.get"),
        method(false, "basic.get-ok"),
        step(false, "content header of the body's size", header),
        step(false, "content body", body_frame),
        method(true, "connection.close"),
        method(false, "connection.close-ok"),
    ];
    let mut rest = seen.iter();
    for expect in &expected {
        let direction = if expect.from_client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let found = rest
            .by_ref()
            .any(|f| f.direction == direction && (expect.check)(&f.item));
        assert!(
            found,
            "expected {} from the {} next, in:\n{shown}",
            expect.what,
            if expect.from_client {
                "client"
            } else {
                "server"
            }
        );
    }
}

fn method_name(frame: &CapturedFrame) -> Option<&'static str> {
    match &frame.item {
        Item::Frame(Frame::Method { method, .. }) => Some(method.name()),
        _ => None,
    }
}

/// A running `tcpdump -i lo -w FILE`.
struct Tcpdump {
    child: Child,
}

impl Tcpdump {
    /// Starts tcpdump and waits until it is capturing (it says "listening on" then).
    /// `--immediate-mode` hands each packet over as it comes and `-U` writes it at once: without
    /// them the last packets can still be in a kernel buffer when tcpdump is stopped. `-Z root`
    /// keeps tcpdump from switching to an unprivileged user who may not write `file`.
    fn start(file: &Path, port: u16) -> Self {
        let mut child = Command::new(tcpdump_path())
            .args(["-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-w"])
            .arg(file)
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run tcpdump: {e}"));
        let stderr = child.stderr.take().unwrap();
        let (lines, said) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut heard = Vec::new();
        loop {
            match said.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("listening on") => break,
                Ok(line) => heard.push(line),
                Err(_) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tcpdump ended ({status}) before capturing (it needs root):\n{}",
                    heard.join("\n")
                );
            }
            if started.elapsed() > STEP {
                let _ = child.kill();
                panic!("tcpdump did not start capturing:\n{}", heard.join("\n"));
            }
        }
        Self { child }
    }

    /// Stops tcpdump as Ctrl+C would, so it writes out what it has and closes the file.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        if wait_with_timeout(&mut self.child, STEP).is_none() {
            let _ = self.child.kill();
            panic!("tcpdump did not stop on SIGINT");
        }
    }
}

impl Drop for Tcpdump {
    /// A test that fails half-way leaves no tcpdump running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails loudly (never skips) when tcpdump is missing.
fn require_tcpdump() {
    let _ = tcpdump_path();
}

/// tcpdump: on `PATH`, or in an `sbin` folder that `PATH` may lack.
fn tcpdump_path() -> PathBuf {
    let on_path = Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("tcpdump");
    }
    ["/usr/sbin/tcpdump", "/sbin/tcpdump", "/usr/bin/tcpdump"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "\n\n*** this test needs tcpdump (and root): `apt-get install tcpdump` \
                 (`bash .ci/setup` does it)\n\n"
            )
        })
}

/// Fails loudly (never skips) when pika is missing.
fn require_pika() {
    let mut check = Command::new("python3");
    check.args(["-c", "import pika"]);
    if let Err(e) = amqp_testkit::run_command(&mut check, STEP) {
        panic!(
            "\n\n*** this test needs Python's pika: `pip install pika` (or `python3 -m pip \
             install --break-system-packages pika`; `bash .ci/run` does it): {e}\n\n"
        );
    }
}
