//! Finding a broker and connecting to it: `--url`, else `AMQP_URL`, else the local default; a
//! private throwaway RabbitMQ node when nothing answers or when `--restart-broker` needs one
//! (the demo only); the one-line message that says how to get a broker when neither works; the
//! frame tap behind `--trace`; and a connection with the work queue declared.

use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqp_client::{
    without_secrets, Channel, Connection, ConnectionConfig, FrameTap, TapEvent, Tapped,
};
use amqp_testkit::{Installation, PrivateNode};
use tokio::net::TcpStream;

use crate::operator::{start_blocking, Nodes, Operator};
use crate::output::{say, Color, Fail, Style};
use crate::queue::WorkQueue;

/// The broker used when neither `--url` nor `AMQP_URL` names one.
pub const DEFAULT_URL: &str = "amqp://guest:guest@localhost:5672/%2f";

/// Set (to anything but empty or `0`) to stop the demo from starting a private node; the same
/// as `--no-private-broker`.
pub const NO_PRIVATE_BROKER_ENV: &str = "DEMO_NO_PRIVATE_BROKER";

/// How long the demo waits for a TCP answer before it decides that no broker is there.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where Debian puts `rabbitmq-server`, which is not on every user's `PATH`.
const SBIN_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// What to do when there is no broker.
pub const HOW_TO_GET_A_BROKER: &str =
    "start RabbitMQ with `docker run -d -p 5672:5672 rabbitmq:3`, \
     or on Debian/Ubuntu with `sudo apt-get install rabbitmq-server` (the package starts it), \
     or point --url or AMQP_URL at a running broker";

/// The broker URL: `flag` (`--url`), else the `AMQP_URL` environment variable, else
/// [`DEFAULT_URL`].
pub fn resolve_url(flag: Option<&str>) -> String {
    if let Some(url) = flag {
        return url.trim().to_owned();
    }
    match std::env::var("AMQP_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => DEFAULT_URL.to_owned(),
    }
}

/// Parses `url`; a bad URL is a usage error naming the part that is wrong.
pub fn parse_url(url: &str) -> Result<ConnectionConfig, Fail> {
    ConnectionConfig::from_uri(url).map_err(|e| Fail::usage(format!("{e} (in {url:?})")))
}

/// Whether the environment variable [`NO_PRIVATE_BROKER_ENV`] forbids a private node.
pub fn private_broker_disabled_by_env() -> bool {
    std::env::var(NO_PRIVATE_BROKER_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The failure for "nothing answers at `config`".
pub fn no_broker(config: &ConnectionConfig, why: &str) -> Fail {
    Fail::new(format!(
        "no AMQP broker answers at {config} ({why}); {HOW_TO_GET_A_BROKER}"
    ))
}

/// Connects with `config`; "nothing answers" becomes [`no_broker`]'s message, anything else
/// (a refused login, ...) one line naming the broker.
pub async fn connect(config: ConnectionConfig) -> Result<Connection, Fail> {
    let shown = config.clone();
    Connection::connect(config)
        .await
        .map_err(|e| connect_error(&shown, e))
}

fn connect_error(config: &ConnectionConfig, e: amqp_client::Error) -> Fail {
    match e {
        amqp_client::Error::Io(io) => no_broker(config, &io.to_string()),
        amqp_client::Error::ConnectTimeout(t) => {
            no_broker(config, &format!("no answer within {t:?}"))
        }
        other => Fail::new(format!("cannot connect to {config}: {other}")),
    }
}

/// Cuts a connection's TCP stream from under it, without any AMQP goodbye: what a crashed
/// worker or a pulled network cable looks like to the broker.
#[derive(Debug)]
pub struct Killer(std::net::TcpStream);

impl Killer {
    /// Shuts the socket down both ways. The broker sees the connection end without
    /// connection.close and requeues its unacked messages; the client's connection fails.
    pub fn kill(&self) {
        // Already closed is fine: the connection is dead either way.
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// Connects like [`connect`], keeping a second handle on the TCP socket with which the
/// connection can be killed abruptly (see [`Killer`]).
pub async fn connect_killable(config: ConnectionConfig) -> Result<(Connection, Killer), Fail> {
    let shown = config.clone();
    let fail = |e: std::io::Error| connect_error(&shown, amqp_client::Error::Io(Arc::new(e)));
    let address = (config.host.clone(), config.port);
    let stream = tokio::time::timeout(config.connection_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| {
            connect_error(
                &shown,
                amqp_client::Error::ConnectTimeout(config.connection_timeout),
            )
        })?
        .map_err(fail)?;
    stream.set_nodelay(true).map_err(fail)?;
    // tokio -> std -> clone: the clone shares the socket, so shutting it down kills the
    // connection. `into_std` leaves the socket non-blocking, as `from_std` needs it.
    let stream = stream.into_std().map_err(fail)?;
    let killer = Killer(stream.try_clone().map_err(fail)?);
    let stream = TcpStream::from_std(stream).map_err(fail)?;
    let connection = Connection::connect_stream(stream, config)
        .await
        .map_err(|e| connect_error(&shown, e))?;
    Ok((connection, killer))
}

/// Whether something accepts TCP connections at `config`'s host and port (within 2 s); the
/// error says why not.
pub async fn probe(config: &ConnectionConfig) -> Result<(), String> {
    let address = (config.host.clone(), config.port);
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}

/// Adds the `sbin` folders to `PATH` for the child processes of a private node
/// (`rabbitmq-server`, `rabbitmqctl`), which Debian installs there.
///
/// Call it first thing in `main`, before any other thread exists: it changes the process's
/// environment.
pub fn add_sbin_to_path() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for dir in SBIN_DIRS {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(dir.into());
        }
    }
    if let Ok(joined) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", joined);
    }
}

/// The `rabbitmq-server` script a private node is started with, if RabbitMQ is installed
/// (see [`Installation::find`]).
pub fn rabbitmq_server() -> Option<PathBuf> {
    Installation::find().ok().map(|found| found.server())
}

/// The broker a run uses: the one at the URL, or private nodes started for this run.
#[derive(Debug)]
pub struct Broker {
    /// The URLs to connect to: one, or one per node of a cluster.
    pub urls: Vec<String>,
    owned: Option<Operator>,
}

impl Broker {
    /// Private nodes started by the demo (see [`find_broker`], [`crate::operator::start_cluster`]).
    pub fn private(operator: Operator) -> Self {
        Self {
            urls: operator.urls().to_vec(),
            owned: Some(operator),
        }
    }

    /// Whether this is a private node (or cluster) started by the demo.
    pub fn is_private(&self) -> bool {
        self.owned.is_some()
    }

    /// The private nodes, to restart them during the run.
    pub fn operator(&self) -> Option<Operator> {
        self.owned.clone()
    }

    /// Stops and removes the private nodes, if there are any, saying so.
    pub async fn shut_down(self, style: Style) {
        if let Some(operator) = self.owned {
            operator.shut_down(style).await;
        }
    }
}

/// The broker at `url` if something answers there; else, when `allow_private` and
/// `rabbitmq-server` is installed, a private throwaway node (as in `shared/BROKER.md`); else the
/// one-line failure that says how to get a broker. `restartable` (`--restart-broker`) always
/// starts a private node: the demo restarts it, and only restarts what it started.
///
/// Ctrl+C while the node starts waits for it to be up, then removes it again.
pub async fn find_broker(
    url: String,
    allow_private: bool,
    restartable: bool,
    style: Style,
) -> Result<Broker, Fail> {
    let config = parse_url(&url)?;
    // Why a private node: said before it starts, and in the error if it does not.
    let (why_private, why_failed) = if restartable {
        let why = "--restart-broker restarts the broker, so it runs one of its own".to_owned();
        (why.clone(), why)
    } else {
        let why = match probe(&config).await {
            Ok(()) => {
                return Ok(Broker {
                    urls: vec![url],
                    owned: None,
                })
            }
            Err(why) => why,
        };
        if !allow_private {
            return Err(no_broker(&config, &why));
        }
        (
            format!("no broker answers at {config} ({why})"),
            format!("no AMQP broker answers at {config} ({why})"),
        )
    };
    let Some(server) = rabbitmq_server() else {
        return Err(Fail::new(format!(
            "{why_failed}, and rabbitmq-server is not installed for a private node; \
             {HOW_TO_GET_A_BROKER}"
        )));
    };
    say(style.paint(
        Color::Yellow,
        format!(
            " [*] {why_private}; starting a private throwaway RabbitMQ node with {} (about 6 s; \
             it is removed at the end)",
            server.display()
        ),
    ));
    let started = Instant::now();
    match start_blocking(PrivateNode::start).await? {
        Ok(node) => {
            say(style.paint(
                Color::Yellow,
                format!(
                    " [*] private RabbitMQ node ready after {:.1} s at {} (files in {})",
                    started.elapsed().as_secs_f64(),
                    parse_url(&node.url())
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    node.dir().display()
                ),
            ));
            Ok(Broker::private(Operator::new(Nodes::Single(Box::new(
                node,
            )))))
        }
        Err(first_line) => Err(Fail::new(format!(
            "{why_failed}, and a private RabbitMQ node did not start ({first_line}); \
             {HOW_TO_GET_A_BROKER}"
        ))),
    }
}

/// The frame tap behind `--trace`: one line per frame, `[c2 worker-1 +0.512s] <- ch=1
/// basic.deliver ...`, the frame as `amqp-decode` prints it, with the connection's number and
/// name, the direction and the time.
#[derive(Debug, Clone, Copy)]
pub struct Tracer {
    origin: Option<Instant>,
    style: Style,
}

impl Tracer {
    /// Times lines from `origin` (one clock for all connections of a run), or, with `None`,
    /// from the start of each connection.
    pub fn new(origin: Option<Instant>, style: Style) -> Self {
        Self { origin, style }
    }

    /// A tap for the connection called `label`.
    pub fn tap(self, label: &str) -> Arc<dyn FrameTap> {
        let label = label.to_owned();
        Arc::new(move |event: &TapEvent<'_>| {
            let at = self.origin.map_or(event.elapsed, |o| o.elapsed());
            let arrow = self.style.paint(
                match event.direction {
                    amqp_client::Direction::Sent => Color::Green,
                    amqp_client::Direction::Received => Color::Blue,
                },
                event.direction.arrow(),
            );
            let frame = match event.frame {
                Tapped::ProtocolHeader(header) => header.to_string(),
                Tapped::Frame(frame) => without_secrets(frame).to_string(),
            };
            let prefix = format!(
                "[c{} {label} +{:.3}s]",
                event.connection_id,
                at.as_secs_f64()
            );
            say(format!(
                "{} {arrow} {frame}",
                self.style.paint(Color::Dim, prefix)
            ));
        })
    }
}

/// A connection configuration for `urls` (one broker, or every node of a cluster: the client
/// connects to one that answers, and recovery tries them all), named `name` (shown by
/// `rabbitmqctl list_connections`), traced by `tracer` if given.
pub fn config_for(
    urls: &[String],
    name: &str,
    tracer: Option<Tracer>,
) -> Result<ConnectionConfig, Fail> {
    let mut config = ConnectionConfig::from_uris(urls)
        .map_err(|e| Fail::usage(format!("{e} (in {})", urls.join(", "))))?
        .with_connection_name(name);
    if let Some(tracer) = tracer {
        config = config.with_tap(tracer.tap(name));
    }
    Ok(config)
}

/// Connects with `config` and opens a channel with the durable work queue `queue` declared on
/// it: how the publisher and the demo's control connection start.
pub async fn open_work_queue(
    config: ConnectionConfig,
    queue: &WorkQueue,
) -> Result<(Connection, Channel), Fail> {
    let connection = connect(config).await?;
    let channel = connection.open_channel().await?;
    queue.declare(&channel).await?;
    Ok((connection, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_comes_from_the_flag_first() {
        assert_eq!(resolve_url(Some(" amqp://h ")), "amqp://h");
    }

    #[test]
    fn no_broker_is_one_line_with_advice() {
        let config = parse_url("amqp://guest:secret@127.0.0.1:1/%2f").unwrap();
        let fail = no_broker(&config, "Connection refused (os error 111)");
        assert_eq!(fail.status, 1);
        assert!(!fail.message.contains('\n'));
        assert!(!fail.message.contains("secret"), "{fail}");
        assert!(fail.message.contains("127.0.0.1:1"), "{fail}");
        assert!(fail.message.contains("docker run"), "{fail}");
        assert!(
            fail.message.contains("apt-get install rabbitmq-server"),
            "{fail}"
        );
    }

    #[test]
    fn a_bad_url_is_a_usage_error() {
        let fail = parse_url("http://x").unwrap_err();
        assert_eq!(fail.status, 2);
        assert!(fail.message.contains("scheme"), "{fail}");
    }
}
