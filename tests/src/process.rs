//! Running other programs: [`run`] (with a time limit, both pipes drained), finding programs
//! that Debian installs outside the usual `PATH`, [`kill_pid`], and [`port_accepts`].

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Where Debian puts `rabbitmq-server` and `rabbitmqctl`, which are not on every user's `PATH`.
pub(crate) const SBIN_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// `name` found on `PATH` or in [`SBIN_DIRS`], if it is there.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// The folders [`find_program`] looks in, for error messages.
pub(crate) fn program_search_path() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    format!(
        "PATH ({}) and {}",
        path.to_string_lossy(),
        SBIN_DIRS.join(", ")
    )
}

/// A command line for messages: the program's file name and its arguments.
pub(crate) fn label(cmd: &Command) -> String {
    let program = PathBuf::from(cmd.get_program());
    let mut parts = vec![program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` to completion (at most `timeout`, then it is killed) with no input, returning its
/// standard output if it succeeded; otherwise an [`Error::Command`] with its exit status and
/// both outputs (or an [`Error::Spawn`] if it could not be started).
///
/// Both pipes are drained while it runs, so a chatty program cannot block on a full pipe. This
/// is the runner the kit uses for `rabbitmqctl` and friends; tests can use it for their own
/// helpers (a Python client, `openssl`, ...), e.g.
/// `run_command(Command::new("python3").args(["-c", "import pika"]), Duration::from_secs(30))`.
/// From async code, call it through `tokio::task::spawn_blocking`.
pub fn run_command(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let mut owned = Command::new(cmd.get_program());
    owned.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => owned.env(key, value),
            None => owned.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        owned.current_dir(dir);
    }
    run(owned, timeout)
}

/// [`run_command`], taking the command by value.
pub(crate) fn run(mut cmd: Command, timeout: Duration) -> Result<String> {
    let label = label(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: label.clone(),
        source,
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
    let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                // The reader threads end when the last holder of the pipes exits.
                return Err(Error::Command {
                    command: label,
                    failure: format!("did not finish within {timeout:?}"),
                });
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                return Err(Error::Spawn {
                    command: label,
                    source,
                })
            }
        }
    };
    let collect = |h: Option<thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    let out = collect(stdout);
    let err = collect(stderr);
    if status.success() {
        return Ok(out);
    }
    let mut failure = format!("failed ({status}): {}", err.trim());
    if !out.trim().is_empty() {
        failure.push_str(&format!("\nstdout: {}", out.trim()));
    }
    Err(Error::Command {
        command: label,
        failure,
    })
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` (within 500 ms).
pub(crate) fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Sends SIGKILL to `pid` (ignoring a process that is already gone), with the shell's own
/// `kill` (a `kill` program is not on every minimal system).
pub(crate) fn kill_pid(pid: u32) {
    let _ = Command::new("sh")
        .args(["-c", "kill -9 \"$1\"", "sh", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_returns_stdout_or_a_command_error() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo out; echo err >&2"]);
        assert_eq!(run(ok, Duration::from_secs(10)).unwrap(), "out\n");

        let mut bad = Command::new("sh");
        bad.args(["-c", "echo why >&2; exit 3"]);
        let err = run(bad, Duration::from_secs(10)).unwrap_err().to_string();
        assert!(
            err.starts_with("`sh -c echo why >&2; exit 3` failed"),
            "{err}"
        );
        assert!(err.contains("why"), "{err}");

        let mut slow = Command::new("sleep");
        slow.arg("5");
        let started = Instant::now();
        let err = run(slow, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err, "`sleep 5` did not finish within 200ms");

        let missing = Command::new("/no/such/program");
        let err = run(missing, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    }
}
