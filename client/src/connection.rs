//! The public connection handle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use amqp_wire::{ConnectionUpdateSecret, FieldTable, ReplyCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::channel::Channel;
use crate::config::ConnectionConfig;
use crate::consumer::AckTimeoutWarning;
use crate::driver::{
    arrange, lock, tcp_connector, ChannelRoute, Command, Connector, Driver, Reconnect, ReplyTx,
    Shared, RETURN_QUEUE,
};
use crate::error::{Error, Result};
use crate::proto::{Reply, Tuning};
use crate::recovery::backoff::{seed, Backoff};
use crate::recovery::{ConnectionEvent, Endpoint};

/// How many commands may wait for the driver before senders wait too.
/// Four times the driver's batch: enough to keep it busy, while a full
/// queue of boxed publishes (~600 octets each) stays under a MiB.
const COMMAND_QUEUE: usize = 1024;

/// Seeds each connection's endpoint shuffling and jitter apart.
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

/// A connection to a broker. Cheap to clone: every clone is a handle onto
/// the same driver task, which owns the socket.
///
/// Dropping the last handle (and every channel) closes the connection
/// politely; [`Connection::close`] does it and waits for the broker's close-ok.
#[derive(Clone)]
pub struct Connection {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.shared.id)
            .field("error", &self.shared.error.get())
            .finish()
    }
}

/// Connects with a RabbitMQ URI, e.g. `amqp://guest:guest@localhost:5672/%2f`.
pub async fn connect(uri: &str) -> Result<Connection> {
    Connection::connect(ConnectionConfig::from_uri(uri)?).await
}

impl Connection {
    /// Connects over TCP and performs the handshake, each within
    /// `config.connection_timeout`. With several endpoints (see
    /// [`ConnectionConfig::with_endpoints`]) each is tried once, shuffled
    /// unless [`ConnectionConfig::with_endpoint_order`] says otherwise;
    /// when all fail, [`Error::Connect`] names each one's reason (with one
    /// endpoint, its error comes as it is). A refused login (403) or vhost
    /// (530) stops at once: another node would say the same.
    ///
    /// The connection is recovered if it is lost later (see
    /// [`crate::Recovery`]).
    pub async fn connect(config: ConnectionConfig) -> Result<Self> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &config.tls {
            let connector = crate::tls::tls_connector(tls)?;
            return Self::connect_via(config, connector).await;
        }
        Self::connect_via(config, tcp_connector()).await
    }

    /// Connects like [`Connection::connect`], opening each byte stream with
    /// `connect` (a transport of your own: a Unix socket, a tunnel, TLS set
    /// up your way...). Unlike [`Connection::connect_stream`], the client
    /// can open a stream again, so the connection is recovered.
    pub async fn connect_with<S, F, Fut>(config: ConnectionConfig, connect: F) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Fn(Endpoint) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::io::Result<S>> + Send + 'static,
    {
        let connect = Arc::new(connect);
        let connector: Connector<S> = Arc::new(move |endpoint| {
            let opening = connect(endpoint);
            Box::pin(async move { opening.await.map_err(Error::io) })
        });
        Self::connect_via(config, connector).await
    }

    async fn connect_via<S>(config: ConnectionConfig, connector: Connector<S>) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut rng = Backoff::new(
            config.recovery.initial_delay,
            config.recovery.max_delay,
            seed(NEXT_SEED.fetch_add(1, Ordering::Relaxed)),
        );
        let endpoints = arrange(&config.endpoints(), config.endpoint_order, &mut rng);
        let mut failures = Vec::new();
        for endpoint in endpoints {
            let timeout = config.connection_timeout;
            let attempt = async {
                let stream = connector(endpoint.clone()).await?;
                let reconnect = Reconnect::new(
                    connector.clone(),
                    config.endpoints(),
                    config.endpoint_order,
                    rng.clone(),
                );
                Self::handshake(
                    stream,
                    config.clone(),
                    Some(reconnect),
                    Some(endpoint.clone()),
                )
                .await
            };
            let error = match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(connection)) => return Ok(connection),
                Ok(Err(e)) => e,
                Err(_) => Error::ConnectTimeout(timeout),
            };
            if matches!(
                error.reply_code(),
                Some(ReplyCode::ACCESS_REFUSED | ReplyCode::NOT_ALLOWED)
            ) {
                return Err(error);
            }
            failures.push((endpoint, error));
        }
        match failures.len() {
            1 => Err(failures.swap_remove(0).1),
            _ => Err(Error::Connect { attempts: failures }),
        }
    }

    /// Performs the handshake over any byte stream (TLS, a proxy, a test
    /// double), within `config.connection_timeout`. The client cannot open
    /// such a stream again, so a connection made this way is not recovered.
    pub async fn connect_stream<S>(stream: S, config: ConnectionConfig) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let timeout = config.connection_timeout;
        tokio::time::timeout(timeout, Self::handshake(stream, config, None, None))
            .await
            .map_err(|_| Error::ConnectTimeout(timeout))?
    }

    async fn handshake<S>(
        stream: S,
        config: ConnectionConfig,
        reconnect: Option<Reconnect<S>>,
        endpoint: Option<Endpoint>,
    ) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let shared = Arc::new(Shared::new(&config));
        *lock(&shared.endpoint) = endpoint;
        let (opened_tx, opened_rx) = oneshot::channel();
        let driver = Driver::new(config, rx, shared.clone(), opened_tx);
        let task = tokio::spawn(driver.run(stream, reconnect));
        // If the handshake is abandoned (timeout), stop the driver with it.
        let mut abort = AbortOnDrop(Some(task.abort_handle()));
        match opened_rx.await {
            Ok(Ok(())) => {
                abort.0 = None;
                Ok(Self { commands, shared })
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(shared.error.get().cloned().unwrap_or(Error::ClientClosed)),
        }
    }

    /// Opens a channel on the lowest free number.
    pub async fn open_channel(&self) -> Result<Channel> {
        let (returns, returns_rx) = mpsc::channel(RETURN_QUEUE);
        let route = Arc::new(ChannelRoute::new(self.shared.clone()));
        let reply = self
            .request(|reply| Command::OpenChannel {
                reply,
                route: route.clone(),
                returns,
            })
            .await?;
        match reply {
            Reply::ChannelOpened(channel) => {
                Ok(Channel::new(self.clone(), channel, route, returns_rx))
            }
            other => Err(Error::internal(format!("{other:?} for channel.open"))),
        }
    }

    /// Closes the connection: connection.close, then waits for close-ok.
    /// Channels and consumers end with [`Error::ClientClosed`]. A broker
    /// that never answers is given `close_timeout` (10 s by default, see
    /// [`ConnectionConfig::with_close_timeout`]); then the socket is dropped
    /// and this fails with [`Error::CloseTimeout`].
    pub async fn close(&self) -> Result<()> {
        if self.is_recovering() {
            // Nothing to close politely: the recovery stops, and every
            // handle ends with ClientClosed.
            self.shared.close_asked.store(true, Ordering::Release);
            self.shared.close_requested.notify_waiters();
            let mut recovering = self.shared.recovering.subscribe();
            tokio::select! {
                _ = self.closed() => return Ok(()),
                // Recovered just before it heard: close the new connection.
                _ = recovering.wait_for(|r| !*r) => {}
            }
            self.shared.close_asked.store(false, Ordering::Release);
            if !self.is_open() {
                return Ok(()); // it ended meanwhile (gave up): closed all the same
            }
        }
        match self.send_request(|reply| Command::Close { reply }).await {
            Ok(_) | Err(Error::ClientClosed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the credential the connection was opened with
    /// (connection.update-secret, e.g. for an expiring OAuth token).
    pub async fn update_secret(&self, new_secret: &str, reason: &str) -> Result<()> {
        let method = ConnectionUpdateSecret {
            new_secret: new_secret.into(),
            reason: reason.into(),
        }
        .into();
        self.request(|reply| Command::ConnectionCall {
            method: Box::new(method),
            reply,
        })
        .await
        .map(drop)
    }

    /// The limits negotiated with connection.tune.
    pub fn tuning(&self) -> Tuning {
        lock(&self.shared.opened)
            .as_ref()
            .map(|(t, _)| *t)
            .unwrap_or(Tuning {
                channel_max: 0,
                frame_max: amqp_wire::FRAME_MIN_SIZE,
                heartbeat: 0,
            })
    }

    /// The broker's server-properties from connection.start (product,
    /// version, capabilities, ...).
    pub fn server_properties(&self) -> FieldTable {
        lock(&self.shared.opened)
            .as_ref()
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }

    /// Recovery's events (lost, recovering, recovered, what could not be
    /// restored; see [`ConnectionEvent`]) from now on: each receiver gets
    /// every event after it was made. A receiver that falls more than 1024
    /// events behind loses the oldest (`RecvError::Lagged`).
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.shared.events.subscribe()
    }

    /// True while the connection is lost and being recovered. Calls made
    /// meanwhile wait for the recovery (see [`crate::Recovery::with_wait_timeout`]).
    pub fn is_recovering(&self) -> bool {
        self.shared.is_recovering()
    }

    /// The endpoint the connection is (or was last) connected to.
    pub fn endpoint(&self) -> Option<Endpoint> {
        lock(&self.shared.endpoint).clone()
    }

    /// `Some(reason)` while the broker blocks this connection
    /// (connection.blocked, e.g. on a memory alarm).
    pub fn blocked(&self) -> Option<String> {
        self.shared.blocked.borrow().clone()
    }

    /// Watches connection.blocked / unblocked.
    pub fn watch_blocked(&self) -> watch::Receiver<Option<String>> {
        self.shared.blocked.subscribe()
    }

    /// Warnings for deliveries held unacked too long (see
    /// [`AckTimeoutWarning`]), from now on: each receiver gets every
    /// warning raised after it was made. A receiver that falls more than
    /// 1024 warnings behind loses the oldest (`RecvError::Lagged`).
    pub fn ack_timeout_warnings(&self) -> broadcast::Receiver<AckTimeoutWarning> {
        self.shared.ack_warnings.subscribe()
    }

    /// With a `blocked_publish_timeout`, waits while the broker blocks the
    /// connection (connection.blocked) for at most that long; `Err(Blocked)`
    /// once it has passed with the block still on, or the connection's
    /// error if it ends first. Without one, returns at once.
    pub(crate) async fn wait_unblocked(&self) -> Result<()> {
        let Some(timeout) = self.shared.blocked_publish_timeout else {
            // No timeout: publish as before, into the socket the broker
            // stops reading; the command queue then holds publishers back.
            return Ok(());
        };
        let mut blocked = self.shared.blocked.subscribe();
        // Bound apart from the match: the read guard must not live across an await.
        let current = blocked.borrow_and_update().clone();
        let Some(reason) = current else {
            return Ok(());
        };
        // An error (the sender gone) cannot happen while `self` holds
        // `Shared`; it would leave nothing to wait for anyway.
        let unblocked = tokio::select! {
            lifted = tokio::time::timeout(timeout, blocked.wait_for(Option::is_none)) => lifted.is_ok(),
            e = self.shared.ended() => return Err(e),
        };
        // The block is lifted when the connection ends, too: say which.
        if let Some(e) = self.shared.error.get() {
            return Err(e.clone());
        }
        if unblocked {
            Ok(())
        } else {
            Err(Error::Blocked {
                reason,
                waited: timeout,
            })
        }
    }

    /// Fails with `Err(Blocked)` once the broker has blocked the connection
    /// for `blocked_publish_timeout` without a break, or with the
    /// connection's error when it ends; with no such timeout, only the
    /// latter.
    pub(crate) async fn blocked_too_long(&self) -> Error {
        self.shared.blocked_too_long().await
    }
}

impl Shared {
    /// See [`Connection::blocked_too_long`].
    pub(crate) async fn blocked_too_long(&self) -> Error {
        tokio::select! {
            e = self.blocked_for_timeout() => e,
            e = self.ended() => e,
        }
    }

    async fn blocked_for_timeout(&self) -> Error {
        let Some(timeout) = self.blocked_publish_timeout else {
            return std::future::pending().await;
        };
        let mut blocked = self.blocked.subscribe();
        loop {
            if blocked.wait_for(Option::is_some).await.is_err() {
                return std::future::pending().await;
            }
            let reason = blocked.borrow_and_update().clone().unwrap_or_default();
            let outcome = tokio::time::timeout(timeout, blocked.wait_for(Option::is_none))
                .await
                .map(|lifted| lifted.is_ok());
            match outcome {
                Err(_) => {
                    return Error::Blocked {
                        reason,
                        waited: timeout,
                    }
                }
                Ok(false) => return std::future::pending().await,
                Ok(true) => {}
            }
        }
    }
}

impl Connection {
    /// Why the connection ended, once it has.
    pub fn error(&self) -> Option<Error> {
        self.shared.error.get().cloned()
    }

    /// True until the connection ends.
    pub fn is_open(&self) -> bool {
        self.shared.error.get().is_none()
    }

    /// Waits until the connection ends, and says why.
    pub async fn closed(&self) -> Error {
        let mut closed = self.shared.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
        self.shared
            .error
            .get()
            .cloned()
            .unwrap_or(Error::ClientClosed)
    }

    /// Numbers this process's connections from 1; the frame tap shows it.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Sends a command and waits for its reply; while the connection
    /// recovers, waits for that first.
    pub(crate) async fn request(&self, command: impl FnOnce(ReplyTx) -> Command) -> Result<Reply> {
        self.shared.recovered().await?;
        self.send_request(command).await
    }

    async fn send_request(&self, command: impl FnOnce(ReplyTx) -> Command) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())?
    }

    /// Hands a command to the driver; while the connection recovers, waits
    /// for that first.
    pub(crate) async fn send(&self, command: Command) -> Result<()> {
        self.shared.recovered().await?;
        self.commands.send(command).await.map_err(|_| self.gone())
    }

    /// The error for a driver that is no longer there.
    pub(crate) fn gone(&self) -> Error {
        self.shared
            .error
            .get()
            .cloned()
            .unwrap_or(Error::ClientClosed)
    }
}

struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}
