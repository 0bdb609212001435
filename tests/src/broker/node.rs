//! [`PrivateNode`]: a throwaway RabbitMQ node of this process's own, and its options
//! ([`NodeBuilder`]).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cleanup::{self, Registration};
use super::install::{Cli, Installation};
use super::ports::PortLease;
use super::tls::TlsCertificates;
use crate::error::{Error, Result};
use crate::names::{next_id, random_hex, random_u64};
use crate::process::{self, kill_pid, port_accepts};
use crate::shared::CTL_TIMEOUT;
use crate::wait::poll_until;

/// How long a node may take to become usable after it was started, unless
/// [`NodeBuilder::start_timeout`] says otherwise. Seen here: 6-10 s for a plain node, 11-25 s
/// with TLS, up to 25 s for three nodes booting at once on two busy cores.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a clean stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a node's processes may take to go away after `kill -9`.
const KILL_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a memory alarm may take to be raised or lifted (RabbitMQ acts at once).
const ALARM_TIMEOUT: Duration = Duration::from_secs(30);

/// The memory watermark that raises an alarm on any machine: a ten-millionth of the RAM.
const ALARM_WATERMARK: &str = "0.0000001";

/// RabbitMQ's default memory watermark, which lifts the alarm.
const DEFAULT_WATERMARK: &str = "0.4";

/// How many lines of each log file [`PrivateNode::log_tail`] shows.
const LOG_TAIL_LINES: usize = 60;

/// The options of a private node: configuration, plugins, TLS. Made by
/// [`PrivateNode::builder`]; [`start`](Self::start) starts the node.
///
/// ```no_run
/// # use std::time::Duration;
/// let node = amqp_testkit::PrivateNode::builder()
///     .consumer_timeout(Duration::from_secs(3))
///     .channel_tick_interval(Duration::from_secs(1))
///     .config("max_message_size = 1048576")
///     .plugin("rabbitmq_shovel")
///     .start()?;
/// # Ok::<(), amqp_testkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    /// Lines of `rabbitmq.conf`.
    config: String,
    /// The whole `advanced.config`, if given.
    advanced_config: Option<String>,
    /// Erlang application settings given on the VM's command line: (app, key, term).
    app_env: Vec<(String, String, String)>,
    plugins: Vec<String>,
    tls: bool,
    start_timeout: Duration,
    /// The Erlang cookie: random unless a cluster shares one.
    cookie: Option<String>,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        Self {
            config: String::new(),
            advanced_config: None,
            app_env: Vec::new(),
            plugins: Vec::new(),
            tls: false,
            start_timeout: DEFAULT_START_TIMEOUT,
            cookie: None,
        }
    }
}

impl NodeBuilder {
    /// Adds `lines` to the node's `rabbitmq.conf` (RabbitMQ's `key = value` format), e.g.
    /// `"consumer_timeout = 3000"`.
    ///
    /// Leave listeners alone: the kit gives the node its own ports (see
    /// [`PrivateNode::port`]). Plugins that open ports of their own (management on 15672,
    /// prometheus on 15692, ...) need them set here, to ports that are free.
    pub fn config(mut self, lines: impl AsRef<str>) -> Self {
        let lines = lines.as_ref().trim_end();
        if !lines.is_empty() {
            self.config.push_str(lines);
            self.config.push('\n');
        }
        self
    }

    /// `consumer_timeout`: how long a delivery may stay unacknowledged before the broker
    /// closes the channel with 406 (checked at each channel tick, see
    /// [`channel_tick_interval`](Self::channel_tick_interval)).
    pub fn consumer_timeout(self, timeout: Duration) -> Self {
        self.config(format!("consumer_timeout = {}", timeout.as_millis()))
    }

    /// `max_message_size`: the largest message body the broker accepts, in bytes.
    pub fn max_message_size(self, bytes: u32) -> Self {
        self.config(format!("max_message_size = {bytes}"))
    }

    /// The `rabbit` application's `channel_tick_interval` (60 s by default): how often channels
    /// check, among others, the `consumer_timeout`. Not a `rabbitmq.conf` setting: given on the
    /// VM's command line (see [`app_env`](Self::app_env)).
    pub fn channel_tick_interval(self, interval: Duration) -> Self {
        self.app_env(
            "rabbit",
            "channel_tick_interval",
            interval.as_millis().to_string(),
        )
    }

    /// Sets the Erlang application environment `app`'s `key` to `term` (an Erlang term without
    /// spaces, e.g. `1000` or `[a,b]`) on the VM's command line (`-app key term`), for settings
    /// that `rabbitmq.conf` does not know. Settings in `advanced.config` win over these.
    pub fn app_env(
        mut self,
        app: impl Into<String>,
        key: impl Into<String>,
        term: impl Into<String>,
    ) -> Self {
        self.app_env.push((app.into(), key.into(), term.into()));
        self
    }

    /// The node's whole `advanced.config`: Erlang terms ending with a dot, e.g.
    /// `"[{rabbit, [{channel_tick_interval, 1000}]}]."`.
    pub fn advanced_config(mut self, terms: impl Into<String>) -> Self {
        self.advanced_config = Some(terms.into());
        self
    }

    /// Enables the plugin `name` (e.g. `rabbitmq_shovel`) from the node's start.
    pub fn plugin(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.plugins.contains(&name) {
            self.plugins.push(name);
        }
        self
    }

    /// Gives the node a TLS listener with a throwaway CA and certificates
    /// ([`PrivateNode::tls`]), and the EXTERNAL mechanism (`rabbitmq_auth_mechanism_ssl`)
    /// with a user named like the client certificate's common name, who may do anything on the
    /// vhost `/`.
    ///
    /// The listener asks for a client certificate but does not insist
    /// (`fail_if_no_peer_cert = false`), so PLAIN works over TLS too. Needs the `openssl`
    /// command. Adds about 5 s to the start.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self.plugin("rabbitmq_auth_mechanism_ssl")
    }

    /// How long [`start`](Self::start) and [`PrivateNode::restart`] wait for the node
    /// ([`DEFAULT_START_TIMEOUT`] unless set).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The Erlang cookie, shared by the nodes of a cluster.
    pub(crate) fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_owned());
        self
    }

    /// Starts the node and waits until it is usable (at most the
    /// [`start_timeout`](Self::start_timeout)).
    ///
    /// Errors: RabbitMQ (or, for TLS, `openssl`) is not installed; the node exited or was not
    /// ready in time ([`Error::Node`], with the tail of its logs). Whatever was started is
    /// removed again before the error is returned.
    pub fn start(self) -> Result<PrivateNode> {
        let install = Installation::find()?;
        for plugin in &self.plugins {
            if plugin.is_empty()
                || !plugin
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(Error::InvalidOption(format!(
                    "plugin {plugin:?}: a plugin's name is lowercase letters, digits and _"
                )));
            }
        }
        let wanted = if self.tls { 3 } else { 2 };
        let ports = PortLease::take(wanted).ok_or(Error::NoFreePorts(wanted))?;
        let n = next_id();
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!(
            "amqp-testkit-node-{pid}-{n}-{:06x}",
            random_u64(n) & 0xff_ffff
        ));
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let registration = Registration::new(&dir);
        let erl_args = self
            .app_env
            .iter()
            .map(|(app, key, term)| format!("-{app} {key} {term}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut node = PrivateNode {
            install,
            node: format!("t{pid}x{n}@localhost"),
            dir,
            ports,
            tls: None,
            erl_args,
            start_timeout: self.start_timeout,
            child: None,
            beam_pid: None,
            _registration: registration,
        };
        // From here on, an error drops `node`, which kills whatever was started and removes the
        // folder.
        node.write_files(&self)?;
        node.launch()?;
        if let Some(certs) = &node.tls {
            let user = certs.client_name().to_owned();
            let password = random_hex(24);
            node.ctl(&["add_user", &user, &password])?;
            node.ctl(&["set_permissions", "-p", "/", &user, ".*", ".*", ".*"])?;
        }
        Ok(node)
    }
}

/// A private, throwaway RabbitMQ node: its own node name, ports, data folder and Erlang
/// cookie, started by this process from the installed RabbitMQ, and removed when dropped. The
/// shared broker is never touched.
///
/// The node listens for AMQP on 127.0.0.1 only, as `guest`/`guest` on the vhost `/`
/// ([`url`](Self::url)). It runs as a child process of this one, as the same user, straight
/// from RabbitMQ's scripts (on Debian, `/usr/lib/rabbitmq/bin`, not the `/usr/sbin` wrappers
/// that switch to the `rabbitmq` user). Its files (configuration, `mnesia/`, `log/`, the
/// script's `server.stdout` and `server.stderr`, `tls/`) live in a fresh folder under the
/// system's temporary folder ([`dir`](Self::dir)).
///
/// Dropping the node kills it (`kill -9`: it is thrown away, so nothing needs flushing) and
/// removes the folder; so do Ctrl+C and the end of the process (see
/// [`cleanup`](crate::cleanup)). Starting takes about 6-10 s; each node is a whole Erlang VM,
/// so keep the number running at once small, e.g. one per test binary in a `static`.
///
/// ```no_run
/// let mut node = amqp_testkit::PrivateNode::start()?;
/// let url = node.url(); // connect a client, declare a durable queue, publish...
/// node.kill9()?;
/// node.restart()?; // ...and check that the durable queue and persistent messages survived
/// node.raise_memory_alarm()?; // publishers get connection.blocked
/// node.lift_memory_alarm()?;
/// # let _ = url;
/// # Ok::<(), amqp_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct PrivateNode {
    install: Installation,
    /// The node's folder; removed on drop.
    dir: PathBuf,
    /// The full Erlang node name, `t<pid>x<counter>@localhost`.
    node: String,
    /// AMQP, distribution and (with TLS) AMQPS ports.
    ports: PortLease,
    tls: Option<TlsCertificates>,
    /// Extra arguments for the Erlang VM (`-app key term ...`).
    erl_args: String,
    start_timeout: Duration,
    /// The `rabbitmq-server` script's process, while started.
    child: Option<Child>,
    /// The OS pid of the node's Erlang VM (`beam.smp`), known once the node is ready.
    beam_pid: Option<u32>,
    /// Dropped after [`Drop::drop`] has cleaned up: dismisses the watchdog.
    _registration: Registration,
}

impl PrivateNode {
    /// The options of a node to start.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Starts a node with RabbitMQ's defaults (see [`NodeBuilder::start`]).
    pub fn start() -> Result<Self> {
        NodeBuilder::default().start()
    }

    /// The node's AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.ports.get(0)
    }

    /// The node's Erlang distribution port (what `rabbitmqctl` and other cluster nodes use).
    pub fn dist_port(&self) -> u16 {
        self.ports.get(1)
    }

    /// The URL for a client: `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port())
    }

    /// The TLS listener's port on 127.0.0.1, for a node started with [`NodeBuilder::tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|_| self.ports.get(2))
    }

    /// The TLS URL for a client, for a node started with [`NodeBuilder::tls`]:
    /// `amqps://guest:guest@localhost:PORT/%2f`, with the host the server certificate names.
    /// (To log in with EXTERNAL instead, present the client certificate; many clients take
    /// `?auth_mechanism=external` on the URL, without user and password.)
    pub fn amqps_url(&self) -> Option<String> {
        let port = self.tls_port()?;
        Some(format!(
            "amqps://guest:guest@{}:{port}/%2f",
            TlsCertificates::SERVER_NAME
        ))
    }

    /// The node's certificates, for a node started with [`NodeBuilder::tls`].
    pub fn tls(&self) -> Option<&TlsCertificates> {
        self.tls.as_ref()
    }

    /// The node's full Erlang name, `t<pid>x<counter>@localhost`, e.g. for `rabbitmqctl -n`.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The node's folder (configuration files, `mnesia/`, `log/`, `tls/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the node's `rabbitmq-server` process is running (it may still be booting, or
    /// drained).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Runs `rabbitmqctl -n NODE ARGS...` against this node and returns its standard output,
    /// or an error naming the command, its exit status and its output.
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        self.cli(Cli::Ctl, args)
    }

    /// Closes, as an operator would, this node's connection that the client named
    /// `connection_name`, with `reason` (connection.close 320 CONNECTION_FORCED); see
    /// [`close_connection`](crate::close_connection).
    pub fn close_connection(&self, connection_name: &str, reason: &str) -> Result<()> {
        crate::shared::close_named_connection(|args| self.ctl(args), connection_name, reason)
    }

    /// Runs one of RabbitMQ's command-line tools against this node (`TOOL -n NODE ARGS...`),
    /// e.g. `node.cli(Cli::Plugins, &["list", "-e"])`, and returns its standard output.
    ///
    /// Arguments go to the tool as they are, with no shell in between.
    pub fn cli(&self, cli: Cli, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(self.install.cli(cli));
        clear_rabbitmq_env(&mut cmd);
        // Marked like the node: a tool still waiting on the node when the node is cleaned up
        // (`await_startup`, say) goes with it.
        cleanup::mark(&mut cmd, &self.dir);
        // The node's cookie is in its folder, which is the tools' HOME; and a tool's crash dump
        // goes there too, not into the caller's working folder.
        cmd.current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env(
                "ERL_CRASH_DUMP",
                self.dir.join("log").join("cli_crash.dump"),
            )
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .args(["-n", &self.node])
            .args(args);
        process::run(cmd, CTL_TIMEOUT)
    }

    /// Raises a memory alarm (by setting the memory high watermark to almost nothing) and
    /// waits until the node reports it: the broker then blocks publishing connections
    /// (`connection.blocked`) at their next publish.
    pub fn raise_memory_alarm(&self) -> Result<()> {
        self.ctl(&["set_vm_memory_high_watermark", ALARM_WATERMARK])?;
        self.wait_for_memory_alarm(true)
    }

    /// Lifts the memory alarm (the watermark goes back to RabbitMQ's default, 0.4) and waits
    /// until the node reports it gone: blocked connections get `connection.unblocked`.
    pub fn lift_memory_alarm(&self) -> Result<()> {
        self.ctl(&["set_vm_memory_high_watermark", DEFAULT_WATERMARK])?;
        self.wait_for_memory_alarm(false)
    }

    /// Whether the node has a memory alarm.
    pub fn has_memory_alarm(&self) -> Result<bool> {
        let alarms = self.ctl(&["eval", "rabbit_alarm:get_alarms()."])?;
        // [{{resource_limit,memory,'t1x2@localhost'},[]}], with or without quotes.
        Ok(alarms.split("resource_limit,memory,").skip(1).any(|rest| {
            rest.trim_start_matches('\'')
                .starts_with(self.node.as_str())
        }))
    }

    fn wait_for_memory_alarm(&self, raised: bool) -> Result<()> {
        let mut last = Ok(false);
        if poll_until(ALARM_TIMEOUT, || {
            last = self.has_memory_alarm();
            matches!(last, Ok(on) if on == raised)
        }) {
            return Ok(());
        }
        last?;
        Err(self.failure(format!(
            "did not {} its memory alarm within {ALARM_TIMEOUT:?}",
            if raised { "raise" } else { "lift" }
        )))
    }

    /// Puts the node into maintenance mode (`rabbitmq-upgrade drain`), as a rolling upgrade
    /// does: it closes its client connections with 320 (CONNECTION_FORCED), stops accepting
    /// new ones, and hands its queue leaderships to other cluster nodes.
    pub fn drain(&self) -> Result<()> {
        self.cli(Cli::Upgrade, &["drain"])?;
        if !poll_until(STOP_TIMEOUT, || !port_accepts(self.port())) {
            return Err(self.failure(format!(
                "was drained but still accepts connections on port {}",
                self.port()
            )));
        }
        Ok(())
    }

    /// Takes the node out of maintenance mode (`rabbitmq-upgrade revive`) and waits until it
    /// accepts connections again.
    pub fn revive(&self) -> Result<()> {
        self.cli(Cli::Upgrade, &["revive"])?;
        if !poll_until(STOP_TIMEOUT, || port_accepts(self.port())) {
            return Err(self.failure(format!(
                "was revived but does not accept connections on port {}",
                self.port()
            )));
        }
        Ok(())
    }

    /// Writes the node's definitions (queues, exchanges, bindings, users, ...) to disk now
    /// (`mnesia:dump_log()`).
    ///
    /// RabbitMQ writes a definition to disk shortly after answering the declare, not before:
    /// a durable queue declared a moment before a [`kill9`](Self::kill9) can be gone after the
    /// restart (seen with 3.10 on a busy machine). Persistent messages are on disk once their
    /// publisher confirm came. Call this between the declares and the kill when a test is
    /// about the messages.
    pub fn flush_definitions(&self) -> Result<()> {
        let out = self.ctl(&["eval", "mnesia:dump_log()."])?;
        if out.trim() == "dumped" {
            Ok(())
        } else {
            Err(self.failure(format!(
                "could not write its definitions to disk: {}",
                out.trim()
            )))
        }
    }

    /// Kills the node's Erlang VM with `kill -9` (no clean shutdown: nothing is flushed,
    /// clients see their TCP connections drop), and waits until its processes are gone and its
    /// AMQP port is closed. The folder stays, for [`restart`](Self::restart).
    ///
    /// Definitions made just before may be lost, as on a real crash: see
    /// [`flush_definitions`](Self::flush_definitions).
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(pid) = self.beam_pid.take().or_else(|| self.read_pid_file()) {
            kill_pid(pid);
        }
        // The script and the VM's helpers (erl_child_setup, inet_gethost, ...).
        cleanup::kill_processes_of(&self.dir);
        let deadline = Instant::now() + KILL_TIMEOUT;
        if !self.wait_child_exit(deadline) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let port = self.port();
        if !poll_until(KILL_TIMEOUT, || !port_accepts(port)) {
            return Err(self.failure(format!(
                "was killed, but port {port} still accepts connections after {KILL_TIMEOUT:?}"
            )));
        }
        Ok(())
    }

    /// Stops the node cleanly (`rabbitmqctl stop`) and waits until its process has exited and
    /// its AMQP port is closed. Does nothing if the node is not running. The folder stays, for
    /// [`restart`](Self::restart).
    pub fn stop(&mut self) -> Result<()> {
        if self.child.is_none() && self.beam_pid.is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        self.ctl(&["stop"])?;
        if !self.wait_child_exit(deadline) {
            return Err(self.failure(format!(
                "was asked to stop but still runs after {STOP_TIMEOUT:?}"
            )));
        }
        let port = self.port();
        if !poll_until(deadline.saturating_duration_since(Instant::now()), || {
            !port_accepts(port)
        }) {
            return Err(self.failure(format!(
                "stopped, but port {port} still accepts connections"
            )));
        }
        self.beam_pid = None;
        Ok(())
    }

    /// Starts the node again, on the same folder (so durable queues and persistent messages
    /// are still there), ports, name and cookie, and waits until it is ready (a cluster node
    /// rejoins its cluster). A node that is still running is stopped cleanly first.
    pub fn restart(&mut self) -> Result<()> {
        if self.is_running() {
            self.stop()?;
        }
        self.launch()
    }

    /// The last lines of the node's logs: the script's standard output and error, and the
    /// node's own log files. Handy in assertion messages; errors about the node carry it.
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
            let Ok(bytes) = fs::read(&file) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            if text.trim().is_empty() {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(LOG_TAIL_LINES);
            let _ = writeln!(
                out,
                "----- {} (last {} lines)",
                file.display(),
                lines.len() - from
            );
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

    /// An [`Error::Node`] about this node, with its log tail.
    pub(crate) fn failure(&self, problem: impl Into<String>) -> Error {
        Error::Node {
            node: self.node.clone(),
            problem: problem.into(),
            log_tail: self.log_tail(),
        }
    }

    /// Writes the node's configuration files (and, with TLS, its certificates).
    fn write_files(&mut self, options: &NodeBuilder) -> Result<()> {
        for sub in ["mnesia", "log"] {
            let path = self.dir.join(sub);
            fs::create_dir_all(&path).map_err(|e| Error::io("create", path, e))?;
        }
        let mut conf = String::from("# A private test node of amqp-testkit.\n");
        if options.tls {
            let certs = TlsCertificates::generate(&self.dir.join("tls"))?;
            let port = self.ports.get(2);
            let _ = write!(
                conf,
                "listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = false\n\
                 auth_mechanisms.1 = PLAIN\n\
                 auth_mechanisms.2 = AMQPLAIN\n\
                 auth_mechanisms.3 = EXTERNAL\n\
                 ssl_cert_login_from = common_name\n",
                certs.ca_cert_path().display(),
                certs.server_cert_path().display(),
                certs.server_key_path().display(),
            );
            self.tls = Some(certs);
        }
        conf.push_str(&options.config);
        let advanced = match &options.advanced_config {
            Some(terms) if !terms.trim().is_empty() => terms.clone(),
            _ => "[].\n".to_owned(),
        };
        let plugins = format!("[{}].\n", options.plugins.join(","));
        let cookie = options.cookie.clone().unwrap_or_else(|| random_hex(20));
        for (name, contents) in [
            ("rabbitmq.conf", conf.as_str()),
            ("advanced.config", advanced.as_str()),
            ("enabled_plugins", plugins.as_str()),
            // Read instead of /etc/rabbitmq/rabbitmq-env.conf, so that the machine's settings
            // for its default node (node name, ...) do not leak into this one.
            (
                "rabbitmq-env.conf",
                "# Private test node: settings come from environment variables.\n",
            ),
            (".erlang.cookie", cookie.as_str()),
        ] {
            let path = self.dir.join(name);
            fs::write(&path, contents).map_err(|e| Error::io("write", &path, e))?;
        }
        // Erlang refuses a cookie file that others may read.
        let cookie = self.dir.join(".erlang.cookie");
        fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400))
            .map_err(|e| Error::io("restrict", cookie, e))
    }

    /// Starts `rabbitmq-server` in the foreground and waits until the node is ready.
    fn launch(&mut self) -> Result<()> {
        let stdout = self.append_to("server.stdout")?;
        let stderr = self.append_to("server.stderr")?;
        let d = &self.dir;
        let mut cmd = Command::new(self.install.server());
        clear_rabbitmq_env(&mut cmd);
        cleanup::mark(&mut cmd, d);
        cmd.current_dir(d)
            // The Erlang cookie is $HOME/.erlang.cookie.
            .env("HOME", d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port().to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port().to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            // Without it the node dies with failed_to_create_feature_flags_file_directory.
            .env("RABBITMQ_FEATURE_FLAGS_FILE", d.join("feature_flags"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            // Without this the node reads /etc/rabbitmq/rabbitmq.conf, which may pin a listener
            // to the shared broker's port (it then dies with eaddrinuse).
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", &self.erl_args)
            .env("ERL_CRASH_DUMP", d.join("log").join("erl_crash.dump"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Keep terminal signals (Ctrl+C on `cargo test`) away from the node: the kit's
            // clean-up decides what happens to it.
            .process_group(0);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            command: self.install.server().display().to_string(),
            source,
        })?;
        self.child = Some(child);
        self.beam_pid = None;
        self.wait_ready()
    }

    /// Waits until the AMQP port accepts connections and `rabbitmqctl await_startup`
    /// succeeds (and, with TLS, the TLS port accepts), then records the VM's pid.
    fn wait_ready(&mut self) -> Result<()> {
        let timeout = self.start_timeout;
        let deadline = Instant::now() + timeout;
        // The port opens a moment before the node is fully usable, hence both checks.
        loop {
            self.check_alive("before its AMQP port opened")?;
            if port_accepts(self.port()) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(self.failure(format!(
                    "did not open its AMQP port {} within {timeout:?}",
                    self.port()
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(5)
                .to_string();
            match self.ctl(&["-t", &left, "await_startup"]) {
                Ok(_) => break,
                Err(e) => {
                    self.check_alive("while booting")?;
                    if Instant::now() >= deadline {
                        return Err(self.failure(format!(
                            "opened port {} but was not ready within {timeout:?} \
                             (`rabbitmqctl await_startup`: {e})",
                            self.port()
                        )));
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        if let Some(port) = self.tls_port() {
            if !poll_until(deadline.saturating_duration_since(Instant::now()), || {
                port_accepts(port)
            }) {
                return Err(self.failure(format!(
                    "is up but its TLS port {port} does not accept connections"
                )));
            }
        }
        self.beam_pid = self.read_pid_file().or_else(|| {
            let out = self.ctl(&["eval", "os:getpid()."]).ok()?;
            out.trim().trim_matches('"').parse().ok()
        });
        if self.beam_pid.is_none() {
            return Err(self.failure("is up but the OS pid of its VM is unknown"));
        }
        Ok(())
    }

    /// An error with the log tail if the `rabbitmq-server` process has exited.
    fn check_alive(&mut self, when: &str) -> Result<()> {
        let Some(child) = &mut self.child else {
            return Err(self.failure(format!("is not running {when}")));
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            return Err(self.failure(format!("exited ({status}) {when}")));
        }
        Ok(())
    }

    /// Waits until the `rabbitmq-server` process has exited and reaps it. `true` if it has
    /// (or there was none).
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

    /// The pid in the node's pid file, if there is one.
    fn read_pid_file(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Opens `name` in the node's folder for appending (logs of several runs are kept).
    fn append_to(&self, name: &str) -> Result<File> {
        let path = self.dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", path, e))
    }
}

impl Drop for PrivateNode {
    /// Kills the node and removes its folder. Never panics.
    fn drop(&mut self) {
        if let Some(pid) = self.beam_pid.take().or_else(|| self.read_pid_file()) {
            kill_pid(pid);
        }
        cleanup::remove(&self.dir);
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Keeps the `RABBITMQ_*` settings of this process's environment from reaching a private
/// node or a tool run against it.
fn clear_rabbitmq_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RABBITMQ_") {
            cmd.env_remove(key);
        }
    }
}
