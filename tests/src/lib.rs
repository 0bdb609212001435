//! Helpers shared by the integration tests in `tests/tests/*.rs`, which talk to a real RabbitMQ.
//!
//! Everything here is plain, synchronous `std` code, so it can be called from any test, async or
//! not. Helpers panic with a message that says how to fix the problem: a test that needs a broker
//! must *fail* when there is none, never skip.
//!
//! * The shared broker: [`amqp_url`] (env `AMQP_URL`, default [`DEFAULT_URL`]),
//!   [`require_broker`], [`rabbitmqctl`].
//! * Names that cannot collide between tests running in parallel: [`unique_name`].
//! * Polling: [`wait_until`].
//! * A private, throwaway broker node that a test may kill, restart and reconfigure without
//!   touching the shared broker: [`PrivateNode`].
//!
//! Pitfalls (seen on Debian bookworm with RabbitMQ 3.10.8 from Debian's package):
//!
//! * When run as root, Debian's `rabbitmqctl` and `rabbitmq-server` wrappers switch to the
//!   `rabbitmq` user with `su rabbitmq -c "..."`, putting every argument in double quotes. An
//!   argument containing `$`, `` ` `` or `\` is therefore expanded by a shell on the way. Queue
//!   names from [`unique_name`] and expressions such as `os:getpid().` are safe.
//! * A node that is not told otherwise reads `/etc/rabbitmq/rabbitmq.conf`, which on the project
//!   machines pins a listener to port 5672 (the shared broker's): a second node then dies with
//!   `eaddrinuse`. [`PrivateNode`] therefore always points the node at its own configuration
//!   files, even when they are empty.

#![warn(missing_docs)]

pub mod proxy;

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The shared broker used when `AMQP_URL` is not set: RabbitMQ's default `guest` user on the
/// default vhost `/`, on the local machine. (`guest` may only log in from localhost.)
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long [`PrivateNode`] waits for a node to become usable after starting it.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a clean stop of a [`PrivateNode`] may take before it is killed instead.
const NODE_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a single `rabbitmqctl` call may take before it is abandoned.
const CTL_TIMEOUT: Duration = Duration::from_secs(60);

/// What to tell a developer whose machine has no broker.
const HOW_TO_START_A_BROKER: &str = "start one with `rabbitmq-server -detached` \
     (install it first with `apt-get install rabbitmq-server` if needed), \
     or run `docker run -d -p 5672:5672 rabbitmq:3`, \
     or point AMQP_URL at a broker that is running";

/// Process-wide counter that makes [`unique_name`]s and node names distinct within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Ports handed to a [`PrivateNode`] by this process, so that two nodes started at the same time
/// by parallel tests never get the same one.
static RESERVED_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

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
pub fn parse_host_port(url: &str) -> (String, u16) {
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
    let port = port
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("bad port {p:?} in AMQP URL {url:?}"))
        })
        .unwrap_or(default_port);
    let host = if host.is_empty() { "localhost" } else { host };
    (host.to_owned(), port)
}

/// Panics with a loud message unless a TCP connection to the host and port of [`amqp_url`]
/// succeeds within 2 s.
///
/// Call it first in every test that uses the shared broker, so that a missing broker reads as
/// what it is rather than as an obscure client error.
pub fn require_broker() {
    require_broker_at(&amqp_url());
}

/// [`require_broker`] for the broker at `url`.
fn require_broker_at(url: &str) {
    let (host, port) = parse_host_port(url);
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => panic!(
            "\n\n*** NO AMQP BROKER: cannot resolve {host}:{port} (URL {url:?}, from AMQP_URL or the default): {e}.\n\
             *** These tests need a real RabbitMQ; {HOW_TO_START_A_BROKER}.\n\n"
        ),
    };
    let mut errors = Vec::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
            Ok(_) => return,
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    panic!(
        "\n\n*** NO AMQP BROKER answers on {host}:{port} (URL {url:?}, from AMQP_URL or the default): {}.\n\
         *** These tests need a real RabbitMQ; {HOW_TO_START_A_BROKER}.\n\n",
        if errors.is_empty() {
            "the name resolved to no address".to_owned()
        } else {
            errors.join("; ")
        }
    );
}

/// A fresh name for a queue, exchange, consumer tag, ...: `prefix`, a dash, the process id, a
/// process-wide counter and a time-based nonce, e.g. `test-q-12345-7-1a2b3c`.
///
/// Names are distinct within a process (the counter) and, in practice, between processes and
/// runs (the pid and the nonce), so tests may run in parallel against the shared broker.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nonce = random_u64(n) & 0xff_ffff;
    let prefix = prefix.trim_end_matches('-');
    if prefix.is_empty() {
        format!("{}-{n}-{nonce:06x}", std::process::id())
    } else {
        format!("{prefix}-{}-{n}-{nonce:06x}", std::process::id())
    }
}

/// Runs `rabbitmqctl ARGS...` against the shared broker's node (the machine's default node) and
/// returns its standard output, or an error naming the command, its exit status and its output.
///
/// E.g. `rabbitmqctl(&["list_queues", "name", "messages_ready"])`. See the crate documentation
/// about shell-special characters in arguments. Never use it to stop the shared broker.
pub fn rabbitmqctl(args: &[&str]) -> Result<String, String> {
    run_rabbitmqctl(None, args, CTL_TIMEOUT)
}

/// Calls `f` every 50 ms until it returns `true`; panics, naming `what`, if that does not happen
/// within `timeout`.
///
/// `f` is always called at least once, and once more after the deadline has passed, e.g.
/// `wait_until(Duration::from_secs(10), "the connection to show up in list_connections", || ...)`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if Instant::now() >= deadline {
            // One last look: the deadline may have passed while `f` or the sleep ran.
            if f() {
                return;
            }
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A private, throwaway RabbitMQ node with its own data directory and ports, for tests that kill,
/// restart or reconfigure a broker. The shared broker is never touched.
///
/// The node runs as a child process of the test (through the `rabbitmq-server` script; as root,
/// Debian's wrapper runs it as the `rabbitmq` user) under the name `t<pid>x<counter>@localhost`,
/// listening for AMQP on 127.0.0.1 only. Its files (configuration, `mnesia/`, `log/`, the
/// script's `server.stdout` and `server.stderr`) live in a fresh directory under the system's
/// temporary directory, which is removed on drop, after the node has been stopped.
///
/// Starting takes about 5-6 s. Each node is a whole Erlang VM, so keep the number of nodes running
/// at the same time small.
///
/// ```no_run
/// let mut node = amqp_testkit::PrivateNode::start();
/// let url = node.url(); // connect a client here, declare a durable queue, publish...
/// node.kill9();
/// node.restart(); // ...and check that the durable queue and persistent messages survived
/// # let _ = url;
/// ```
#[derive(Debug)]
pub struct PrivateNode {
    /// The node's directory; removed on drop.
    dir: PathBuf,
    /// The full Erlang node name, `t<pid>x<counter>@localhost`.
    node: String,
    /// The AMQP port, on 127.0.0.1.
    port: u16,
    /// The Erlang distribution port (used by `rabbitmqctl` and by clustering).
    dist_port: u16,
    /// The `rabbitmq-server` process (as root, the `su` of Debian's wrapper), while started.
    child: Option<Child>,
    /// The OS pid of the node's `beam.smp`, known once the node is ready.
    beam_pid: Option<u32>,
}

impl PrivateNode {
    /// Starts a node with no configuration beyond its defaults; waits until it is ready.
    ///
    /// Panics, with the tail of the node's logs, if it is not ready within 60 s.
    pub fn start() -> Self {
        Self::start_with_advanced_config("", "[].\n")
    }

    /// Starts a node whose `rabbitmq.conf` holds `rabbitmq_conf` (new-style `key = value`
    /// lines, e.g. `"consumer_timeout = 3000\n"`); waits until it is ready.
    ///
    /// Do not set listeners in it: the AMQP port is chosen by [`PrivateNode`] (see
    /// [`port`](Self::port)). Panics, with the tail of the node's logs, if the node is not ready
    /// within 60 s.
    pub fn start_with_config(rabbitmq_conf: &str) -> Self {
        Self::start_with_advanced_config(rabbitmq_conf, "[].\n")
    }

    /// Starts a node with `rabbitmq_conf` as its `rabbitmq.conf` and `advanced_config` (an Erlang
    /// term ending with a dot, e.g. `"[{rabbit, [{channel_tick_interval, 1000}]}].\n"`) as its
    /// `advanced.config`; waits until it is ready.
    ///
    /// Panics, with the tail of the node's logs, if the node is not ready within 60 s.
    pub fn start_with_advanced_config(rabbitmq_conf: &str, advanced_config: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!(
            "amqp-testkit-node-{pid}-{n}-{:06x}",
            random_u64(n) & 0xff_ffff
        ));
        for sub in ["mnesia", "log"] {
            fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.join(sub).display()));
        }
        let advanced_config = if advanced_config.trim().is_empty() {
            "[].\n"
        } else {
            advanced_config
        };
        for (name, contents) in [
            ("enabled_plugins", "[].\n"),
            ("rabbitmq.conf", rabbitmq_conf),
            ("advanced.config", advanced_config),
            // Read instead of /etc/rabbitmq/rabbitmq-env.conf, so that the machine's settings
            // for its default node (node name, ...) do not leak into this one.
            (
                "rabbitmq-env.conf",
                "# Private test node: settings come from environment variables.\n",
            ),
        ] {
            write_file(&dir.join(name), contents);
        }
        let (port, dist_port) = reserve_ports();
        let mut node = Self {
            node: format!("t{pid}x{n}@localhost"),
            dir,
            port,
            dist_port,
            child: None,
            beam_pid: None,
        };
        // From here on, a panic drops `node`, which stops whatever was started and removes the
        // directory.
        if file_owner_is_root(&node.dir) {
            // As root, Debian's wrapper script runs the node as the `rabbitmq` user, which must be
            // able to write here (else: `cannot_log_to_file ... eacces`).
            let status = Command::new("chown")
                .args(["-R", "rabbitmq:rabbitmq"])
                .arg(&node.dir)
                .status();
            match status {
                Ok(s) if s.success() => {}
                other => panic!(
                    "`chown -R rabbitmq:rabbitmq {}` failed ({other:?}): is RabbitMQ installed \
                     (`apt-get install rabbitmq-server`)?",
                    node.dir.display()
                ),
            }
        }
        node.launch();
        node
    }

    /// The node's AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's Erlang distribution port (what `rabbitmqctl` and other cluster nodes use).
    pub fn dist_port(&self) -> u16 {
        self.dist_port
    }

    /// The URL for a client: `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's full Erlang name, `t<pid>x<counter>@localhost`, e.g. for `rabbitmqctl -n` or
    /// for `join_cluster` from another private node.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The node's directory (configuration files, `mnesia/`, `log/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the node's `rabbitmq-server` process is still running (it may still be booting).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Runs `rabbitmqctl -n NODE ARGS...` against this node and returns its standard output, or an
    /// error naming the command, its exit status and its output.
    ///
    /// E.g. `node.ctl(&["set_vm_memory_high_watermark", "0.0000001"])` raises a memory alarm.
    pub fn ctl(&self, args: &[&str]) -> Result<String, String> {
        run_rabbitmqctl(Some(&self.node), args, CTL_TIMEOUT)
    }

    /// Kills the node's Erlang VM with `kill -9` (no clean shutdown: nothing is flushed, clients
    /// see their TCP connections drop), reaps the `rabbitmq-server` process and waits until the
    /// AMQP port is closed.
    ///
    /// Panics if the node is not running.
    pub fn kill9(&mut self) {
        let pid = self
            .beam_pid
            .or_else(|| self.read_pid_file())
            .unwrap_or_else(|| panic!("kill9: node {} is not running", self.node));
        kill_pid(pid);
        self.beam_pid = None;
        let deadline = Instant::now() + NODE_STOP_TIMEOUT;
        if !self.wait_child_exit(deadline) {
            // The wrapper outlived its VM: it cannot do anything useful any more.
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let port = self.port;
        wait_until(
            NODE_STOP_TIMEOUT,
            &format!("port {port} to close after kill -9 of node {}", self.node),
            || !port_accepts(port),
        );
    }

    /// Starts the node again, on the same directory (so durable queues and persistent messages are
    /// still there), ports and name, and waits until it is ready. A node that is still running is
    /// stopped cleanly first.
    ///
    /// Panics, with the tail of the node's logs, if it is not ready within 60 s.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.stop();
        }
        self.launch();
    }

    /// Stops the node cleanly with `rabbitmqctl -n NODE stop` and waits until its process has
    /// exited and its AMQP port is closed. Does nothing if the node is not running.
    ///
    /// Panics if that does not happen within 15 s (the node is then killed on drop).
    pub fn stop(&mut self) {
        if let Err(e) = self.try_stop() {
            panic!("{e}");
        }
    }

    /// The last lines of the node's logs: the script's standard output and error, and the node's
    /// own log files. Handy in assertion messages.
    pub fn log_tail(&self) -> String {
        let mut files = vec![
            self.dir.join("server.stdout"),
            self.dir.join("server.stderr"),
        ];
        if let Ok(entries) = fs::read_dir(self.dir.join("log")) {
            let mut logs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "log"))
                .collect();
            logs.sort();
            files.extend(logs);
        }
        let mut out = String::new();
        for file in files {
            let text = match fs::read(&file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => continue,
            };
            if text.trim().is_empty() {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            out.push_str(&format!(
                "----- {} (last {} lines)\n",
                file.display(),
                lines.len() - from
            ));
            for line in &lines[from..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        if out.is_empty() {
            out.push_str("(no log output)\n");
        }
        out
    }

    /// Spawns `rabbitmq-server` in the foreground and waits until the node is ready.
    fn launch(&mut self) {
        let stdout = self.append_to("server.stdout");
        let stderr = self.append_to("server.stderr");
        let d = &self.dir;
        let mut cmd = Command::new("rabbitmq-server");
        // Settings inherited from the test's environment must not reach this node.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RABBITMQ_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", d.join("feature_flags"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            // Without this the node reads /etc/rabbitmq/rabbitmq.conf, which may pin a listener
            // to the shared broker's port.
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            // A VM that dies while booting writes its crash dump to its working directory
            // otherwise, which Debian's wrapper sets to the shared broker's /var/lib/rabbitmq.
            .env("ERL_CRASH_DUMP", d.join("log").join("erl_crash.dump"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Keep terminal signals (Ctrl-C on `cargo test`) away from the node's process group:
            // the node is cleaned up by `Drop`.
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `rabbitmq-server`: {e}. Install RabbitMQ \
                 (`apt-get install rabbitmq-server`) and make sure /usr/sbin is on PATH."
            )
        });
        self.child = Some(child);
        self.beam_pid = None;
        self.wait_ready();
    }

    /// Waits until the AMQP port accepts connections and `rabbitmqctl await_startup` succeeds,
    /// then records the VM's OS pid. Panics with the log tail on failure.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        let deadline = started + NODE_START_TIMEOUT;
        // The port opens a moment before the node is fully usable, hence both checks.
        loop {
            self.panic_if_exited("before its AMQP port opened");
            if port_accepts(self.port) {
                break;
            }
            if Instant::now() >= deadline {
                panic!(
                    "private RabbitMQ node {} did not open port {} within {:?}; its logs:\n{}",
                    self.node,
                    self.port,
                    NODE_START_TIMEOUT,
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(5);
            let secs = left.to_string();
            let result = run_rabbitmqctl(
                Some(&self.node),
                &["-t", &secs, "await_startup"],
                Duration::from_secs(left + 10),
            );
            match result {
                Ok(_) => break,
                Err(e) => {
                    self.panic_if_exited("while starting up");
                    if Instant::now() >= deadline {
                        panic!(
                            "private RabbitMQ node {} opened port {} but `rabbitmqctl \
                             await_startup` kept failing for {:?}: {e}\nits logs:\n{}",
                            self.node,
                            self.port,
                            NODE_START_TIMEOUT,
                            self.log_tail()
                        );
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        self.beam_pid = self.read_pid_file().or_else(|| {
            let out = self.ctl(&["eval", "os:getpid()."]).ok()?;
            out.trim().trim_matches('"').parse().ok()
        });
        if self.beam_pid.is_none() {
            panic!(
                "private RabbitMQ node {} is up but its OS pid is unknown (no pid file at {}, \
                 `rabbitmqctl eval os:getpid().` failed)",
                self.node,
                self.dir.join("pid").display()
            );
        }
    }

    /// Panics with the log tail if the `rabbitmq-server` process has exited.
    fn panic_if_exited(&mut self, when: &str) {
        let Some(child) = &mut self.child else {
            panic!("private RabbitMQ node {} is not running", self.node);
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            panic!(
                "private RabbitMQ node {} exited ({status}) {when}; its logs:\n{}",
                self.node,
                self.log_tail()
            );
        }
    }

    /// A clean stop; an error if it did not complete within [`NODE_STOP_TIMEOUT`].
    fn try_stop(&mut self) -> Result<(), String> {
        if self.child.is_none() && self.beam_pid.is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + NODE_STOP_TIMEOUT;
        run_rabbitmqctl(Some(&self.node), &["stop"], NODE_STOP_TIMEOUT)
            .map_err(|e| format!("could not stop private node {}: {e}", self.node))?;
        if !self.wait_child_exit(deadline) {
            return Err(format!(
                "private node {} was asked to stop but still runs after {NODE_STOP_TIMEOUT:?}",
                self.node
            ));
        }
        while port_accepts(self.port) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "private node {} stopped, but port {} is still open after {NODE_STOP_TIMEOUT:?}",
                    self.node, self.port
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.beam_pid = None;
        Ok(())
    }

    /// Kills whatever is left of the node: the VM, the wrapper process.
    fn force_kill(&mut self) {
        for pid in [self.beam_pid.take(), self.read_pid_file()]
            .into_iter()
            .flatten()
        {
            kill_pid(pid);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the `rabbitmq-server` process has exited and reaps it. `true` if it has (or
    /// there was none).
    fn wait_child_exit(&mut self, deadline: Instant) -> bool {
        let Some(child) = &mut self.child else {
            return true;
        };
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                    return true;
                }
                Ok(None) if Instant::now() >= deadline => return false,
                Ok(None) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `kill -9`s every process that is left of this node (see [`Self::leftover_pids`]).
    fn kill_leftovers(&self) {
        for pid in self.leftover_pids() {
            kill_pid(pid);
        }
    }

    /// Every process (but `epmd`, which all nodes on the machine share) that inherited this
    /// node's environment, i.e. whose environment names this node's directory: the VM and its
    /// helpers (`erl_child_setup`, `inet_gethost`, ...), and the start scripts.
    fn leftover_pids(&self) -> Vec<u32> {
        let marker = format!("RABBITMQ_MNESIA_BASE={}", self.dir.join("mnesia").display());
        let Ok(procs) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let me = std::process::id();
        let mut pids = Vec::new();
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(environ) = fs::read(entry.path().join("environ")) else {
                continue;
            };
            let ours = environ
                .split(|&b| b == 0)
                .any(|var| var == marker.as_bytes());
            let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if ours && comm.trim() != "epmd" {
                pids.push(pid);
            }
        }
        pids
    }

    /// The pid in the node's pid file, if there is one.
    fn read_pid_file(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Opens `name` in the node's directory for appending (logs of several runs are kept).
    fn append_to(&self, name: &str) -> File {
        let path = self.dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
    }
}

impl Drop for PrivateNode {
    /// Stops the node (cleanly if it can, else with `kill -9`) and removes its directory. Never
    /// panics: problems are reported on standard error.
    fn drop(&mut self) {
        if self.child.is_some() || self.beam_pid.is_some() {
            if let Err(e) = self.try_stop() {
                eprintln!("PrivateNode: {e}; killing it");
                self.force_kill();
            }
        }
        self.kill_leftovers();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("PrivateNode: cannot remove {}: {e}", self.dir.display());
        }
        if let Ok(mut reserved) = RESERVED_PORTS.lock() {
            if let Some(reserved) = reserved.as_mut() {
                reserved.remove(&self.port);
                reserved.remove(&self.dist_port);
            }
        }
    }
}

/// Runs `rabbitmqctl [-n NODE] ARGS...`, giving up after `timeout`.
fn run_rabbitmqctl(node: Option<&str>, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut cmd = Command::new("rabbitmqctl");
    if let Some(node) = node {
        cmd.args(["-n", node]);
    }
    cmd.args(args);
    let label = match node {
        Some(node) => format!("rabbitmqctl -n {node} {}", args.join(" ")),
        None => format!("rabbitmqctl {}", args.join(" ")),
    };
    run_with_timeout(cmd, timeout, &label)
}

/// Runs `cmd` to completion (at most `timeout`), returning its standard output if it succeeded.
fn run_with_timeout(mut cmd: Command, timeout: Duration, label: &str) -> Result<String, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot run `{label}`: {e} (is RabbitMQ installed? `apt-get install rabbitmq-server`)"
        )
    })?;
    // Read both pipes while the command runs, so that a full pipe cannot block it.
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        pipe.map(|mut pipe| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                // The reader threads end when the last holder of the pipes exits.
                return Err(format!("`{label}` did not finish within {timeout:?}"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for `{label}` failed: {e}")),
        }
    };
    let collect = |h: Option<thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    let out = collect(stdout);
    let err = collect(stderr);
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{label}` failed ({status}): {}{}",
            err.trim(),
            if out.trim().is_empty() {
                String::new()
            } else {
                format!("\nstdout: {}", out.trim())
            }
        ))
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Sends SIGKILL to `pid` (ignoring a process that is already gone).
fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether `path` (created by this process) belongs to root, i.e. whether we run as root.
fn file_owner_is_root(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.uid() == 0).unwrap_or(false)
}

/// Writes `contents` to `path`, panicking with the path on failure.
fn write_file(path: &Path, contents: &str) {
    File::create(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// A pseudo-random number mixing the time, the process id and `salt` (no cryptographic value).
fn random_u64(salt: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .hash(&mut h);
    std::process::id().hash(&mut h);
    salt.hash(&mut h);
    h.finish()
}

/// Two distinct free ports (AMQP, distribution) for a [`PrivateNode`], reserved in this process.
///
/// They are taken from 20000-31999, below Linux's default range of ephemeral ports
/// (32768-60999): a port from that range could be taken by some outgoing connection while a node
/// is down between [`PrivateNode::kill9`] and [`PrivateNode::restart`], and the node could then not
/// listen on it again.
fn reserve_ports() -> (u16, u16) {
    // The set is only ever updated whole, so a poisoned lock still holds a consistent set.
    let mut guard = RESERVED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let reserved = guard.get_or_insert_with(HashSet::new);
    let pick = |reserved: &mut HashSet<u16>| -> u16 {
        for attempt in 0..2000u64 {
            let candidate = 20000 + (random_u64(attempt) % 12000) as u16;
            if reserved.contains(&candidate) || !port_is_free(candidate) {
                continue;
            }
            reserved.insert(candidate);
            return candidate;
        }
        panic!("found no free TCP port in 20000-31999 for a private RabbitMQ node");
    };
    let amqp = pick(reserved);
    let dist = pick(reserved);
    (amqp, dist)
}

/// Whether nothing listens on `port`, on 127.0.0.1 or on all interfaces.
fn port_is_free(port: u16) -> bool {
    // One bind at a time: two listeners of ours would conflict with each other.
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        return false;
    }
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_unique() {
        let handles: Vec<_> = (0..4)
            .map(|_| thread::spawn(|| (0..500).map(|_| unique_name("test-q")).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for name in h.join().expect("a name-generating thread panicked") {
                assert!(name.starts_with("test-q-"), "{name}");
                assert!(all.insert(name.clone()), "duplicate name {name}");
            }
        }
        assert_eq!(all.len(), 2000);
        let pid = std::process::id().to_string();
        let name = unique_name("x-");
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 4, "{name}");
        assert_eq!(parts[0], "x");
        assert_eq!(parts[1], pid);
        assert!(parts[2].parse::<u64>().is_ok(), "{name}");
        assert_eq!(parts[3].len(), 6, "{name}");
    }

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
    }

    #[test]
    fn the_shared_broker_answers() {
        require_broker();
        let out = rabbitmqctl(&["-q", "list_vhosts", "name"]).expect("rabbitmqctl list_vhosts");
        assert!(out.lines().any(|l| l.trim() == "/"), "{out}");
        let err = rabbitmqctl(&["no_such_command"]).expect_err("an unknown command must fail");
        assert!(err.contains("no_such_command"), "{err}");
    }

    #[test]
    #[should_panic(expected = "NO AMQP BROKER answers on 127.0.0.1:")]
    fn require_broker_panics_without_a_broker() {
        // A port that was free a moment ago: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port();
        require_broker_at(&format!("amqp://guest:guest@127.0.0.1:{port}/%2f"));
    }

    #[test]
    fn wait_until_returns_once_true() {
        let mut calls = 0;
        wait_until(Duration::from_secs(5), "three calls", || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }

    #[test]
    #[should_panic(expected = "timed out after 120ms waiting for the impossible")]
    fn wait_until_panics_on_timeout() {
        wait_until(Duration::from_millis(120), "the impossible", || false);
    }

    #[test]
    fn free_ports_are_distinct_and_free() {
        let (a, b) = reserve_ports();
        assert_ne!(a, b);
        assert!(TcpListener::bind(("127.0.0.1", a)).is_ok());
        assert!(TcpListener::bind(("127.0.0.1", b)).is_ok());
    }

    #[test]
    fn private_node_can_be_killed_and_restarted() {
        let started = Instant::now();
        let mut node = PrivateNode::start_with_config("consumer_timeout = 900000\n");
        eprintln!("start took {:?}", started.elapsed());
        let port = node.port();
        let dir = node.dir().to_owned();
        assert!(port_accepts(port), "port {port} should accept connections");
        assert_ne!(port, node.dist_port());
        assert_eq!(
            node.url(),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
        );
        assert!(node.node_name().ends_with("@localhost"));
        let status = node.ctl(&["status"]).expect("rabbitmqctl status");
        assert!(status.contains(&dir.display().to_string()), "{status}");
        let timeout = node
            .ctl(&["eval", "application:get_env(rabbit, consumer_timeout)."])
            .expect("rabbitmqctl eval");
        assert!(
            timeout.contains("900000"),
            "config file not used: {timeout}"
        );

        // A client connection open at the time of the kill must not prevent the restart.
        let client = TcpStream::connect(("127.0.0.1", port)).expect("connect to the node");
        node.kill9();
        assert!(
            !port_accepts(port),
            "port {port} should be closed after kill9"
        );
        assert!(!node.is_running());
        drop(client);

        let restarted = Instant::now();
        node.restart();
        eprintln!("restart took {:?}", restarted.elapsed());
        assert!(
            port_accepts(port),
            "port {port} should accept connections again"
        );
        assert_eq!(node.port(), port);
        node.ctl(&["list_queues"]).expect("rabbitmqctl list_queues");
        let beam = node
            .beam_pid
            .expect("the VM's pid is known once the node is ready");
        assert!(
            node.leftover_pids().contains(&beam),
            "the VM {beam} should be found by its environment"
        );

        let stopped = Instant::now();
        drop(node);
        eprintln!("drop took {:?}", stopped.elapsed());
        assert!(!dir.exists(), "{} should have been removed", dir.display());
        assert!(
            !port_accepts(port),
            "port {port} should be closed after drop"
        );
    }

    #[test]
    fn a_node_that_cannot_boot_fails_loudly_and_is_cleaned_up() {
        let result = std::panic::catch_unwind(|| {
            PrivateNode::start_with_config("this is = not = a valid rabbitmq.conf line\n")
        });
        let message = result.expect_err("the node should not have started");
        let message = message
            .downcast_ref::<String>()
            .expect("the panic message is a formatted String");
        assert!(message.contains("private RabbitMQ node"), "{message}");
        // The log tail names the node's directory, which must be gone.
        let dir = message
            .lines()
            .find_map(|l| l.strip_prefix("----- "))
            .and_then(|l| l.split(' ').next())
            .and_then(|file| Path::new(file).parent())
            .unwrap_or_else(|| panic!("no log file named in: {message}"));
        assert!(!dir.exists(), "{} should have been removed", dir.display());
    }
}
