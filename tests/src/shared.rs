//! The shared broker: the one at `AMQP_URL`, by default RabbitMQ on 127.0.0.1:5672, which the
//! kit uses but never stops, reconfigures or starts.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result, HOW_TO_GET_A_BROKER};
use crate::process;

/// The shared broker used when `AMQP_URL` is not set: RabbitMQ's default `guest` user on the
/// default vhost `/`, on the local machine. (`guest` may only log in from localhost.)
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long [`probe`] waits for a TCP connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a single `rabbitmqctl` call may take before it is abandoned.
pub(crate) const CTL_TIMEOUT: Duration = Duration::from_secs(60);

/// The URL of the shared broker: the environment variable `AMQP_URL` when it is set and not
/// empty, otherwise [`DEFAULT_URL`].
pub fn amqp_url() -> String {
    match std::env::var("AMQP_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => DEFAULT_URL.to_owned(),
    }
}

/// The host and port of an `amqp://user:pass@host:port/vhost` URL (or `amqps://`).
///
/// This is a deliberately minimal parser for test set-up, not the client's URL parser: no
/// percent-decoding of the host. A missing port is 5672 (5671 for `amqps`), a missing host is
/// `localhost`, and IPv6 hosts in brackets (`[::1]`) come back without the brackets.
///
/// Panics on a port that is not a number.
pub fn parse_host_port(url: &str) -> (String, u16) {
    try_parse_host_port(url).unwrap_or_else(|e| panic!("{e}"))
}

/// [`parse_host_port`] without the panic.
pub(crate) fn try_parse_host_port(url: &str) -> Result<(String, u16), String> {
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("amqps://") {
        (rest, 5671)
    } else if let Some(rest) = url.strip_prefix("amqp://") {
        (rest, 5672)
    } else {
        (url, 5672)
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (bracketed, None),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port {p:?} in AMQP URL {:?}", redact(url)))?,
        None => default_port,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Ok((host.to_owned(), port))
}

/// `url` without its password, for messages: `amqp://guest@127.0.0.1:5672/%2f`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{}{path}", &authority[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// Whether something accepts TCP connections at `url`'s host and port within 2 s; the error
/// says why not.
pub(crate) fn probe(url: &str) -> Result<(), String> {
    let (host, port) = try_parse_host_port(url)?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .collect();
    let mut errors = Vec::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(if errors.is_empty() {
        format!("{host}:{port} resolved to no address")
    } else {
        errors.join("; ")
    })
}

/// Panics with a loud message unless a TCP connection to the host and port of [`amqp_url`]
/// succeeds within 2 s.
///
/// Call it first in every test that uses the shared broker, so that a missing broker reads as
/// what it is rather than as an obscure client error. [`Broker::shared`](crate::Broker::shared)
/// is the same check returning a `Result`.
pub fn require_broker() {
    require_broker_at(&amqp_url());
}

/// [`require_broker`] for the broker at `url`.
pub(crate) fn require_broker_at(url: &str) {
    if let Err(why) = probe(url) {
        let (host, port) = parse_host_port(url);
        panic!(
            "\n\n*** NO AMQP BROKER answers on {host}:{port} (URL {:?}, from AMQP_URL or the \
             default): {why}.\n*** These tests need a real RabbitMQ; {HOW_TO_GET_A_BROKER}.\n\n",
            redact(url)
        );
    }
}

/// Runs `rabbitmqctl ARGS...` against the shared broker's node (the machine's default node) and
/// returns its standard output, or an error naming the command, its exit status and its output.
///
/// E.g. `rabbitmqctl(&["list_queues", "name", "messages_ready"])`. `rabbitmqctl` is looked for
/// on `PATH` and in the `sbin` folders. Never use it to stop the shared broker.
///
/// When run as root, Debian's `rabbitmqctl` wrapper switches to the `rabbitmq` user with
/// `su rabbitmq -c "..."`, putting every argument in double quotes: an argument containing `$`,
/// `` ` `` or `\` is therefore expanded by a shell on the way. Queue names from
/// [`unique_name`](crate::unique_name) are safe. (A private node's
/// [`ctl`](crate::PrivateNode::ctl) has no such wrapper.)
pub fn rabbitmqctl(args: &[&str]) -> Result<String> {
    let program = process::find_program("rabbitmqctl").ok_or_else(|| Error::NotInstalled {
        program: "rabbitmqctl".into(),
        looked: process::program_search_path(),
        hint: "install RabbitMQ (`apt-get install rabbitmq-server`)",
    })?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    process::run(cmd, CTL_TIMEOUT)
}

/// How long [`close_connection`] waits for the named connection to show up in
/// `list_connections`.
const FIND_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// Closes, as an operator would (`rabbitmqctl close_connection`), the shared broker's
/// connection that the client named `connection_name` (its `connection_name` client property),
/// with `reason`: the client sees connection.close 320 CONNECTION_FORCED carrying `reason`.
///
/// Waits up to 15 s for the connection to be listed. See
/// [`PrivateNode::close_connection`](crate::PrivateNode::close_connection) for a private node.
pub fn close_connection(connection_name: &str, reason: &str) -> Result<()> {
    close_named_connection(rabbitmqctl, connection_name, reason)
}

/// [`close_connection`] with `ctl` as the `rabbitmqctl` of the node.
///
/// `rabbitmqctl close_connection` takes the Erlang pid of the connection's process in
/// RabbitMQ 3.10 (its `name`, `127.0.0.1:PORT -> 127.0.0.1:5672`, fails with
/// `invalid_pid_syntax`), and 3.10 has no `user_provided_name` column: the connection is found
/// by the name in its client properties.
pub(crate) fn close_named_connection(
    ctl: impl Fn(&[&str]) -> Result<String>,
    connection_name: &str,
    reason: &str,
) -> Result<()> {
    let quoted = format!("\"{connection_name}\"");
    let mut last = Ok(String::new());
    let mut pid = None;
    crate::wait::poll_until(FIND_CONNECTION_TIMEOUT, || {
        let columns = [
            "-q",
            "list_connections",
            "--no-table-headers",
            "pid",
            "client_properties",
        ];
        last = ctl(&columns);
        pid = last.as_ref().ok().and_then(|out| {
            out.lines()
                .find(|l| l.contains(&quoted))
                .and_then(|l| l.split('\t').next())
                .map(str::to_owned)
        });
        pid.is_some()
    });
    let Some(pid) = pid else {
        return Err(Error::Command {
            command: "rabbitmqctl list_connections pid client_properties".into(),
            failure: format!(
                "did not list a connection named {connection_name:?} within \
                 {FIND_CONNECTION_TIMEOUT:?}: {last:?}"
            ),
        });
    };
    ctl(&["close_connection", &pid, reason]).map(drop)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_host_and_port() {
        assert_eq!(parse_host_port(DEFAULT_URL), ("127.0.0.1".to_owned(), 5672));
        assert_eq!(
            parse_host_port("amqp://u:p@h:1234/v"),
            ("h".to_owned(), 1234)
        );
        assert_eq!(parse_host_port("amqp://h"), ("h".to_owned(), 5672));
        assert_eq!(parse_host_port("amqps://u@h/"), ("h".to_owned(), 5671));
        assert_eq!(
            parse_host_port("amqp://u:p@[::1]:99/x"),
            ("::1".to_owned(), 99)
        );
        assert_eq!(parse_host_port("amqp://"), ("localhost".to_owned(), 5672));
        assert_eq!(parse_host_port("amqp://a:b@c:/"), ("c".to_owned(), 5672));
        assert!(try_parse_host_port("amqp://h:port/").is_err());
    }

    #[test]
    fn redacts_the_password() {
        assert_eq!(redact(DEFAULT_URL), "amqp://guest@127.0.0.1:5672/%2f");
        assert_eq!(redact("amqps://u@h:1/v?x=y"), "amqps://u@h:1/v?x=y");
        assert_eq!(redact("amqp://h"), "amqp://h");
        assert_eq!(redact("amqp://u:p@h?a=b@c"), "amqp://u@h?a=b@c");
    }

    #[test]
    fn the_shared_broker_answers() {
        require_broker();
        let out = rabbitmqctl(&["-q", "list_vhosts", "name"]).expect("rabbitmqctl list_vhosts");
        assert!(out.lines().any(|l| l.trim() == "/"), "{out}");
        let err = rabbitmqctl(&["no_such_command"]).expect_err("an unknown command must fail");
        assert!(err.to_string().contains("no_such_command"), "{err}");
    }

    #[test]
    #[should_panic(expected = "NO AMQP BROKER answers on 127.0.0.1:")]
    fn require_broker_panics_without_a_broker() {
        require_broker_at(&format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port()));
    }

    /// A port that was free a moment ago: nothing listens there.
    pub(crate) fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port()
    }
}
