//! Cleaning up what this process started, however the process ends.
//!
//! Every private node registers its folder here before it starts any process, and marks every
//! process it starts (the node, and the command-line tools run against it) with the environment
//! variable `AMQP_TESTKIT_DIR=<its folder>`, which the Erlang VM and its helpers inherit. Cleaning up a folder means: `kill -9` every process so
//! marked (except `epmd`, which all Erlang nodes of the machine share), then remove the folder.
//! Only processes this kit started carry the mark, so nothing else is ever touched: not the
//! shared broker, not another test process's nodes.
//!
//! Three layers make sure it happens:
//!
//! | how the process ends | who cleans up |
//! | --- | --- |
//! | the node is dropped | its `Drop` |
//! | Ctrl+C, `kill` (SIGINT, SIGTERM) | a signal handler thread: it cleans up everything registered, then lets the signal end the process as it would have |
//! | exit without drops: a node in a `static` (never dropped), `std::process::exit`, an abort, `kill -9` of the test process | a watchdog per folder: a small `sh` in its own process group that waits on a pipe from this process, and cleans up when the pipe closes without having been told "done" |
//!
//! The signal handler is installed when the first node starts. It goes through
//! `signal-hook`'s registry, which tokio shares, so `tokio::signal` handlers of the application
//! still run; but the handler then ends the process. An application that handles Ctrl+C itself
//! and drops its nodes on the way out (the demo does) calls [`disable_signal_handler`] before
//! starting anything, and may call [`clean_up_now`] from its own handler.
//!
//! Linux only: processes are found through `/proc`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::thread;

use crate::names::next_id;
use crate::process::kill_pid;

/// The environment variable that marks a process as belonging to a registered folder.
pub(crate) const MARKER: &str = "AMQP_TESTKIT_DIR";

/// The folders registered by this process, by registration id.
static REGISTRY: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());

/// Cleared by [`disable_signal_handler`].
static SIGNAL_HANDLER_WANTED: AtomicBool = AtomicBool::new(true);

/// Installs the signal handler once.
static SIGNAL_HANDLER: Once = Once::new();

/// The watchdog's script. `$1` is the folder; a line "done" on its input means "leave it".
const WATCHDOG: &str = r#"
IFS= read -r line
[ "$line" = done ] && exit 0
for pass in 1 2; do
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = epmd ] && continue
        if grep -qzxF "AMQP_TESTKIT_DIR=$1" "$env" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
done
rm -rf -- "$1"
"#;

/// Asks the kit not to install its SIGINT/SIGTERM handler, for an application that handles
/// those signals itself and drops its nodes on the way out (or calls [`clean_up_now`]).
///
/// Call it before starting any node: a handler already installed stays. Without the handler,
/// nodes are still cleaned up on drop, and by their watchdogs when the process ends without
/// dropping them.
pub fn disable_signal_handler() {
    SIGNAL_HANDLER_WANTED.store(false, Ordering::SeqCst);
}

/// Kills every process this process's private nodes and clusters started, and removes their
/// folders, now. For an application's own Ctrl+C handler; the nodes' handles become useless.
pub fn clean_up_now() {
    let dirs: Vec<PathBuf> = lock().values().cloned().collect();
    for dir in dirs {
        remove(&dir);
    }
}

/// A registered folder. Dropping it unregisters the folder and dismisses its watchdog: drop it
/// after having cleaned up (see [`remove`]).
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    watchdog: Option<(Child, ChildStdin)>,
}

impl Registration {
    /// Registers `dir` for clean-up, starting its watchdog and, the first time, the signal
    /// handler. Call it before starting any process marked with `dir` ([`mark`]).
    pub(crate) fn new(dir: &Path) -> Self {
        install_signal_handler();
        let id = next_id();
        lock().insert(id, dir.to_owned());
        Self {
            id,
            watchdog: spawn_watchdog(dir),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock().remove(&self.id);
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Marks `cmd`'s process (and, through the environment, every process it starts) as belonging
/// to `dir`.
pub(crate) fn mark(cmd: &mut Command, dir: &Path) {
    cmd.env(MARKER, dir);
}

/// `kill -9`s every process marked with `dir` (but `epmd`), then removes `dir`.
pub(crate) fn remove(dir: &Path) {
    kill_processes_of(dir);
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("amqp-testkit: cannot remove {}: {e}", dir.display());
        }
    }
}

/// `kill -9`s every process marked with `dir` (but `epmd`).
pub(crate) fn kill_processes_of(dir: &Path) {
    // Twice: a script may have started a process while the first pass ran.
    for _ in 0..2 {
        for pid in marked_pids(dir) {
            kill_pid(pid);
        }
    }
}

/// Every live process but `epmd` (and this one) marked with `dir`.
pub(crate) fn marked_pids(dir: &Path) -> Vec<u32> {
    let mut marker = format!("{MARKER}=").into_bytes();
    marker.extend_from_slice(dir.as_os_str().as_encoded_bytes());
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
        if !environ.split(|&b| b == 0).any(|var| var == marker) {
            continue;
        }
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != "epmd" && !has_exited(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether `pid` has exited but not been reaped yet (or is gone altogether).
pub(crate) fn has_exited(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// The registry, even if a thread panicked while holding it (it is only updated whole).
fn lock() -> std::sync::MutexGuard<'static, BTreeMap<u64, PathBuf>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts `dir`'s watchdog; `None` (after a warning) if `sh` cannot be run.
fn spawn_watchdog(dir: &Path) -> Option<(Child, ChildStdin)> {
    let spawned = Command::new("sh")
        .args(["-c", WATCHDOG, "amqp-testkit-watchdog"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group: Ctrl+C must not kill the watchdog before it has
        // done its job.
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => {
            let stdin = child.stdin.take()?;
            Some((child, stdin))
        }
        Err(e) => {
            eprintln!(
                "amqp-testkit: cannot start the watchdog of {} ({e}): it is not removed if this \
                 process ends without dropping it",
                dir.display()
            );
            None
        }
    }
}

/// Installs the SIGINT/SIGTERM handler, once, unless [`disable_signal_handler`] was called.
fn install_signal_handler() {
    if !SIGNAL_HANDLER_WANTED.load(Ordering::SeqCst) {
        return;
    }
    SIGNAL_HANDLER.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("amqp-testkit: cannot handle SIGINT/SIGTERM ({e}): Ctrl+C leaves the watchdogs to clean up");
                return;
            }
        };
        let spawned = thread::Builder::new()
            .name("amqp-testkit-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    clean_up_now();
                    // End the process the way the signal would have.
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            });
        if let Err(e) = spawned {
            eprintln!("amqp-testkit: cannot start the signal thread: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    //! The exit and signal paths run in a child process: this test binary again, running only
    //! [`child_registers_a_folder_and_a_process`] (ignored in normal runs).

    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    use crate::wait::wait_until;

    /// Tells the child test what to do: `exit` or `wait-for-signal`, and in which folder.
    const CHILD_ENV: &str = "AMQP_TESTKIT_CLEANUP_CHILD";

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(crate::unique_name(&format!("amqp-testkit-{tag}")));
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/file"), "x").unwrap();
        dir
    }

    /// A `sleep` marked with `dir`, as a node's processes are.
    fn marked_sleep(dir: &Path) -> Child {
        let mut cmd = Command::new("sleep");
        // No inherited pipes: a test reading the child's output would wait for this one too.
        cmd.arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        mark(&mut cmd, dir);
        cmd.spawn().unwrap()
    }

    #[test]
    fn remove_kills_only_marked_processes_and_removes_the_folder() {
        let dir = temp_dir("remove");
        let other = temp_dir("other");
        let registration = Registration::new(&dir);
        let mut ours = marked_sleep(&dir);
        let mut theirs = marked_sleep(&other);
        wait_until(Duration::from_secs(5), "the marked process", || {
            marked_pids(&dir) == [ours.id()]
        });
        remove(&dir);
        let _ = ours.wait();
        assert!(!dir.exists());
        assert_eq!(
            theirs.try_wait().unwrap(),
            None,
            "another folder's process lives on"
        );
        drop(registration);
        let _ = theirs.kill();
        let _ = theirs.wait();
        fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn a_dropped_registration_dismisses_its_watchdog() {
        let dir = temp_dir("dismissed");
        let registration = Registration::new(&dir);
        let watchdog = registration.watchdog.as_ref().map(|(c, _)| c.id()).unwrap();
        drop(registration);
        assert!(
            has_exited(watchdog),
            "the watchdog has exited and been reaped"
        );
        assert!(dir.exists(), "a dismissed watchdog leaves the folder alone");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs the child test in `mode`; returns the child and the pid of its marked process.
    fn spawn_child(mode: &str, dir: &Path) -> (Child, u32) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "broker::cleanup::tests::child_registers_a_folder_and_a_process",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut pid = None;
        for line in stdout.lines() {
            let line = line.unwrap();
            // After the harness's "test NAME ... ", on the same line.
            if let Some((_, p)) = line.split_once("marked pid ") {
                pid = p.trim().parse().ok();
                break;
            }
        }
        (child, pid.expect("the child printed its marked pid"))
    }

    #[test]
    fn the_watchdog_cleans_up_after_a_process_that_exits_without_dropping() {
        let dir = temp_dir("exit");
        let (mut child, marked) = spawn_child("exit", &dir);
        assert!(child.wait().unwrap().success());
        wait_until(Duration::from_secs(10), "the watchdog's clean-up", || {
            has_exited(marked) && !dir.exists()
        });
    }

    #[test]
    fn sigint_cleans_up_then_ends_the_process_as_sigint_would() {
        let dir = temp_dir("sigint");
        let (mut child, marked) = spawn_child("wait-for-signal", &dir);
        assert!(!has_exited(marked));
        kill_with("-INT", child.id());
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(signal_hook::consts::SIGINT),
            "{status}"
        );
        // The handler cleaned up before the process ended (the watchdog may have helped).
        wait_until(Duration::from_secs(10), "the clean-up", || {
            has_exited(marked) && !dir.exists()
        });
    }

    fn kill_with(signal: &str, pid: u32) {
        let status = Command::new("sh")
            .args(["-c", "kill \"$1\" \"$2\"", "sh", signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    #[ignore = "run by the clean-up tests, in a child process"]
    fn child_registers_a_folder_and_a_process() {
        let Ok(job) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (mode, dir) = job.split_once(':').unwrap();
        let dir = PathBuf::from(dir);
        let registration = Registration::new(&dir);
        let mut marked = marked_sleep(&dir);
        println!("marked pid {}", marked.id());
        if mode == "exit" {
            // Neither the registration nor anything else is dropped.
            std::process::exit(0);
        }
        thread::sleep(Duration::from_secs(60));
        let _ = marked.kill();
        let _ = marked.wait();
        drop(registration);
        panic!("no signal came");
    }
}
