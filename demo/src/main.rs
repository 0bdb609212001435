//! `demo`: the whole work-queue tutorial in one command (`cargo run -p demo`). See `--help` and
//! [`demo::run`].

use std::process::ExitCode;

use demo::args::{Args, COMMON_HELP};
use demo::broker::{self, Broker};
use demo::operator::start_cluster;
use demo::output::{self, say, Fail, Style};
use demo::run::options::{Fault, CLUSTER_NODES};
use demo::run::{delete_queues, queue_names, run_demo, DemoOptions, HELP};

fn main() -> ExitCode {
    // Before any thread exists: a private broker node needs rabbitmq-server and rabbitmqctl,
    // which Debian installs in /usr/sbin, not on every PATH.
    broker::add_sbin_to_path();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return output::finish(Err(Fail::new(format!("cannot start tokio: {e}")))),
    };
    output::finish(runtime.block_on(run()))
}

async fn run() -> Result<(), Fail> {
    let Some(options) = DemoOptions::parse(Args::from_env())? else {
        say(format!("{HELP}\n{COMMON_HELP}"));
        return Ok(());
    };
    let style = Style::stdout();
    let broker = match options.fault {
        Fault::Cluster => Broker::private(start_cluster(CLUSTER_NODES, style).await?),
        fault => {
            let url = broker::resolve_url(options.common.url.as_deref());
            let allow_private =
                !options.no_private_broker && !broker::private_broker_disabled_by_env();
            let restartable = fault == Fault::RestartBroker;
            broker::find_broker(url, allow_private, restartable, style).await?
        }
    };
    let queues = queue_names(&options);
    let operator = broker.operator();
    let result = tokio::select! {
        result = run_demo(&options, &broker.urls, operator.as_ref(), &queues, style) => result,
        _ = tokio::signal::ctrl_c() => {
            say(" [*] interrupted: deleting the demo's queues");
            delete_queues(&broker.urls, &queues).await;
            Err(Fail { message: "interrupted".into(), status: 130 })
        }
    };
    drop(operator);
    broker.shut_down(style).await;
    result
}
