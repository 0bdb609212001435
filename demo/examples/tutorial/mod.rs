//! What the tutorial examples share, so that each example shows only its AMQP idea: the broker
//! URL, a tiny option parser (`--name VALUE` options and plain words), "the next delivery,
//! unless Ctrl+C comes first" ([`CtrlC`]), and the subscriber of tutorials 4 and 5
//! ([`receive_routed_logs`]), which differ only in the exchange type and the binding keys.
//!
//! Each example includes this file with `mod tutorial;`, and not every example uses every item.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use amqp_client::{
    BasicConsumeOptions, Connection, Consumer, Delivery, FieldTable, QueueBindOptions,
    QueueDeclareOptions,
};
use demo::args::{Arg, Args};
use demo::output::{say, Fail};

pub(crate) use demo::output::finish;

/// The command line of an example: `--name VALUE` options, to be taken one by one with
/// [`Cli::take`], and the other words. `--url` and `--help` are handled here.
pub(crate) struct Cli {
    options: BTreeMap<String, String>,
    words: Vec<String>,
    url: Option<String>,
}

impl Cli {
    /// Reads the process's arguments; `Ok(None)` after printing `help` for `--help`.
    pub(crate) fn parse(help: &str) -> Result<Option<Self>, Fail> {
        let mut args = Args::from_env();
        let mut cli = Self {
            options: BTreeMap::new(),
            words: Vec::new(),
            url: None,
        };
        while let Some(arg) = args.next_arg() {
            match arg {
                Arg::Word(word) => cli.words.push(word),
                Arg::Opt { name, .. } if name == "help" => {
                    say(format!(
                        "{help}\n  --url URL       the broker (default: $AMQP_URL, else {})\n  \
                         -h, --help      this help",
                        demo::broker::DEFAULT_URL
                    ));
                    return Ok(None);
                }
                Arg::Opt { name, value } if name == "url" => {
                    cli.url = Some(args.value(&name, value)?);
                }
                Arg::Opt { name, value } => {
                    let value = args.value(&name, value)?;
                    cli.options.insert(name, value);
                }
            }
        }
        Ok(Some(cli))
    }

    /// The value of `--name`, or `default`.
    pub(crate) fn take(&mut self, name: &str, default: &str) -> String {
        self.options
            .remove(name)
            .unwrap_or_else(|| default.to_owned())
    }

    /// The value of `--name` as a number, if given.
    pub(crate) fn take_number<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, Fail> {
        match self.options.remove(name) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                Fail::usage(format!(
                    "--{name} needs a number, got {text:?} (see --help)"
                ))
            }),
        }
    }

    /// The value of `--name` in seconds (fractions allowed), or `default`.
    pub(crate) fn take_seconds(&mut self, name: &str, default: Duration) -> Result<Duration, Fail> {
        match self.take_number::<f64>(name)? {
            None => Ok(default),
            Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
                Fail::usage(format!("--{name} needs a number of seconds (see --help)"))
            }),
        }
    }

    /// The words that are not options, in order. Call it after taking every option: an option
    /// not taken by then is an error, so a typo does not go unnoticed.
    pub(crate) fn words(&self) -> Result<Vec<String>, Fail> {
        self.check_all_taken()?;
        Ok(self.words.clone())
    }

    fn check_all_taken(&self) -> Result<(), Fail> {
        match self.options.keys().next() {
            Some(unknown) => Err(Fail::usage(format!(
                "unknown option --{unknown} (see --help)"
            ))),
            None => Ok(()),
        }
    }

    /// Connects to the broker (`--url`, else `AMQP_URL`, else localhost), naming the connection
    /// `name` for `rabbitmqctl list_connections`. Call it after taking every option: an option
    /// not taken by then is an error, so a typo does not go unnoticed.
    pub(crate) async fn connect(self, name: &str) -> Result<Connection, Fail> {
        self.check_all_taken()?;
        let url = demo::broker::resolve_url(self.url.as_deref());
        demo::broker::connect(demo::broker::config_for(&[url], name, None)?).await
    }
}

/// Ctrl+C, listened for from the moment this is made: a receiver makes it before it says it is
/// waiting, so that a Ctrl+C right after that line ends it cleanly instead of killing it.
pub(crate) struct CtrlC {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    #[cfg(windows)]
    signal: tokio::signal::windows::CtrlC,
}

impl CtrlC {
    /// Starts listening.
    pub(crate) fn listen() -> Result<Self, Fail> {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        #[cfg(windows)]
        let signal = tokio::signal::windows::ctrl_c();
        let signal = signal.map_err(|e| Fail::new(format!("cannot listen for Ctrl+C: {e}")))?;
        Ok(Self { signal })
    }

    /// The next delivery of `consumer`; `None` when Ctrl+C was pressed (or the consumer was
    /// cancelled), so that the receivers, which run until Ctrl+C, close their connection
    /// cleanly.
    pub(crate) async fn or_next(
        &mut self,
        consumer: &mut Consumer,
    ) -> Result<Option<Delivery>, Fail> {
        tokio::select! {
            delivery = consumer.next() => Ok(delivery.transpose()?),
            _ = self.signal.recv() => Ok(None),
        }
    }
}

/// Whether a receiver given `--count limit` has received enough after `received` messages.
pub(crate) fn reached(received: u64, limit: Option<u64>) -> bool {
    limit.is_some_and(|limit| received >= limit)
}

/// The body as text, for printing.
pub(crate) fn text(delivery: &Delivery) -> String {
    String::from_utf8_lossy(&delivery.body).into_owned()
}

/// The log subscriber of tutorials 4 ("Routing", a `direct` exchange) and 5 ("Topics", a
/// `topic` exchange): declares `exchange` of type `kind`, binds a queue of our own to it once
/// per binding key, and prints each message with its routing key until Ctrl+C (or `count`
/// messages). The queue is the one of tutorial 3 (receive_logs, where each step is spelled
/// out): named by the broker and deleted with this connection.
pub(crate) async fn receive_routed_logs(
    connection: &Connection,
    exchange: &str,
    kind: &str,
    binding_keys: &[String],
    count: Option<u64>,
) -> Result<(), Fail> {
    let channel = connection.open_channel().await?;
    channel
        .exchange_declare(exchange, kind, Default::default(), FieldTable::new())
        .await?;
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel
        .queue_declare("", options, FieldTable::new())
        .await?
        .ok_or_else(|| Fail::no_reply("queue.declare"))?;
    let queue = queue.queue.to_string();
    for binding_key in binding_keys {
        channel
            .queue_bind(
                &queue,
                exchange,
                binding_key,
                QueueBindOptions::default(),
                FieldTable::new(),
            )
            .await?;
    }

    let options = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = channel
        .basic_consume(&queue, "", options, FieldTable::new())
        .await?;
    let mut ctrl_c = CtrlC::listen()?;
    say(" [*] Waiting for logs. To exit press CTRL+C");

    let mut received = 0;
    while let Some(delivery) = ctrl_c.or_next(&mut consumer).await? {
        say(format!(" [x] {}:{}", delivery.routing_key, text(&delivery)));
        received += 1;
        if reached(received, count) {
            break;
        }
    }
    Ok(())
}
