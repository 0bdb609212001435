//! Where RabbitMQ is installed: [`Installation`], and its command-line tools ([`Cli`]).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process;

/// Where Debian's and Ubuntu's `rabbitmq-server` package (and RabbitMQ's own RPM) put the real
/// scripts; `/usr/sbin/rabbitmq-server` there is a wrapper that switches to the `rabbitmq` user.
const PACKAGE_BIN_DIR: &str = "/usr/lib/rabbitmq/bin";

/// RabbitMQ's scripts: the folder holding the real `rabbitmq-server`, `rabbitmqctl`, ...
///
/// Private nodes are started with these scripts directly, as the user running the tests (with
/// their own `HOME` and Erlang cookie), not through Debian's `/usr/sbin` wrappers, which would
/// switch to the `rabbitmq` user and share that user's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    bin: PathBuf,
}

/// RabbitMQ's command-line tools, run against a private node with
/// [`PrivateNode::cli`](crate::PrivateNode::cli).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cli {
    /// `rabbitmqctl`
    Ctl,
    /// `rabbitmq-plugins`
    Plugins,
    /// `rabbitmq-upgrade` (`drain`, `revive`, ...)
    Upgrade,
    /// `rabbitmq-diagnostics`
    Diagnostics,
    /// `rabbitmq-queues`
    Queues,
}

impl Cli {
    /// The script's file name, e.g. `rabbitmq-plugins`.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Ctl => "rabbitmqctl",
            Self::Plugins => "rabbitmq-plugins",
            Self::Upgrade => "rabbitmq-upgrade",
            Self::Diagnostics => "rabbitmq-diagnostics",
            Self::Queues => "rabbitmq-queues",
        }
    }
}

impl Installation {
    /// The environment variable that names the folder of RabbitMQ's scripts, when they are
    /// somewhere the kit does not look (e.g. an unpacked generic-unix release's `sbin/`).
    pub const BIN_DIR_ENV: &'static str = "AMQP_TESTKIT_RABBITMQ_BIN";

    /// Finds RabbitMQ: the folder named by [`BIN_DIR_ENV`](Self::BIN_DIR_ENV) if set, else
    /// `/usr/lib/rabbitmq/bin` (Debian, Ubuntu, RPM), else the folder of the `rabbitmq-server`
    /// found on `PATH` or in the `sbin` folders (Homebrew, generic-unix releases).
    ///
    /// An [`Error::NotInstalled`] says how to install it.
    pub fn find() -> Result<Self> {
        if let Some(dir) = std::env::var_os(Self::BIN_DIR_ENV).filter(|d| !d.is_empty()) {
            let bin = PathBuf::from(dir);
            return Self::at(&bin).ok_or_else(|| {
                not_installed(format!(
                    "{} = {}, which has no rabbitmq-server",
                    Self::BIN_DIR_ENV,
                    bin.display()
                ))
            });
        }
        if let Some(found) = Self::at(Path::new(PACKAGE_BIN_DIR)) {
            return Ok(found);
        }
        process::find_program("rabbitmq-server")
            .and_then(|server| fs::canonicalize(server).ok())
            .filter(|server| !is_debian_wrapper(server))
            .and_then(|server| server.parent().and_then(Self::at))
            .ok_or_else(|| {
                not_installed(format!(
                    "{PACKAGE_BIN_DIR}, {} and {}",
                    process::program_search_path(),
                    Self::BIN_DIR_ENV
                ))
            })
    }

    /// The installation whose scripts are in `bin`, if `rabbitmq-server` is there.
    fn at(bin: &Path) -> Option<Self> {
        bin.join("rabbitmq-server").is_file().then(|| Self {
            bin: bin.to_owned(),
        })
    }

    /// The folder of the scripts.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The `rabbitmq-server` script.
    pub fn server(&self) -> PathBuf {
        self.bin.join("rabbitmq-server")
    }

    /// The script of a command-line tool.
    pub fn cli(&self, cli: Cli) -> PathBuf {
        self.bin.join(cli.file_name())
    }
}

/// Whether `script` is Debian's `/usr/sbin` wrapper (it runs the real script as `rabbitmq`).
fn is_debian_wrapper(script: &Path) -> bool {
    fs::read_to_string(script).is_ok_and(|text| text.contains("su rabbitmq"))
}

/// "rabbitmq-server is not installed", having looked in `looked`.
fn not_installed(looked: String) -> Error {
    Error::NotInstalled {
        program: "rabbitmq-server".into(),
        looked,
        hint: "install RabbitMQ: `apt-get install rabbitmq-server` on Debian or Ubuntu, \
               `brew install rabbitmq` on macOS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_installed_scripts() {
        let found = Installation::find().expect("RabbitMQ is installed on the test machines");
        assert!(found.server().is_file());
        for cli in [Cli::Ctl, Cli::Plugins, Cli::Upgrade] {
            assert!(found.cli(cli).is_file(), "{}", found.cli(cli).display());
        }
        assert!(!is_debian_wrapper(&found.server()));
    }

    #[test]
    fn an_installation_needs_rabbitmq_server() {
        assert_eq!(Installation::at(Path::new("/nonexistent")), None);
        let err = not_installed("nowhere".into()).to_string();
        assert!(err.contains("apt-get install rabbitmq-server"), "{err}");
    }
}
