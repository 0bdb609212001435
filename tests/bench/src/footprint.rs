//! Scenario 8: footprint of a minimal producer (connect, declare a durable
//! queue, publish one persistent message, close) per client.
//!
//! The three producers live in `footprint/{ours,lapin,amqprs}`, each its own
//! workspace (outside this one) with its own Cargo.lock: the versions
//! measured (cargo changes it only if a manifest changed). Each is built with
//! `cargo build --release` (the default release profile for all three) into
//! a fresh, empty target directory, timed, after a `cargo fetch` that is not;
//! a copy of the binary is stripped with `strip` and measured; its crates are
//! counted with `cargo tree -e normal --prefix none` (unique packages, not
//! counting the producer itself); then it is run once against the broker, to
//! show it works.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::report::num;
use crate::scenario::Client;
use crate::Res;

#[derive(Debug, Clone)]
pub(crate) struct Footprint {
    pub(crate) client: Client,
    pub(crate) stripped_bytes: u64,
    pub(crate) crates: usize,
    pub(crate) build_secs: f64,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub(crate) fn footprint_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("footprint")
}

fn run(cmd: &mut Command) -> Res<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `cargo <args> --manifest-path <manifest>` building into `target`, without
/// the variables `cargo run` set for us.
fn cargo_cmd(args: &[&str], manifest: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" {
            cmd.env_remove(&k);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target)
        .args(args)
        .arg("--manifest-path")
        .arg(manifest);
    cmd
}

/// Builds, measures and runs (once, against `uri`) one producer.
pub(crate) fn measure(client: Client, uri: &str) -> Res<Footprint> {
    let dir = footprint_dir().join(client.name());
    let manifest = dir.join("Cargo.toml");
    let target = std::env::temp_dir().join(format!(
        "amqp-bench-footprint-{}-{}",
        client.name(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&target);
    // Downloads are not part of the build time.
    run(&mut cargo_cmd(&["fetch"], &manifest, &target))?;
    let t0 = Instant::now();
    run(&mut cargo_cmd(
        &["build", "--release", "--quiet"],
        &manifest,
        &target,
    ))?;
    let build_secs = t0.elapsed().as_secs_f64();

    let bin = target
        .join("release")
        .join(format!("footprint-{}", client.name()));
    let stripped = target.join("stripped");
    std::fs::copy(&bin, &stripped)?;
    run(Command::new("strip").arg(&stripped))?;
    let stripped_bytes = std::fs::metadata(&stripped)?.len();

    let out = run(&mut cargo_cmd(
        &["tree", "-e", "normal", "--prefix", "none"],
        &manifest,
        &target,
    ))?;
    let crates = count_crates(&out);
    // It must work, too.
    let status = Command::new(&bin).env("AMQP_URI", uri).status()?;
    let _ = std::fs::remove_dir_all(&target);
    if !status.success() {
        return Err(format!("the built producer failed: {status}").into());
    }
    Ok(Footprint {
        client,
        stripped_bytes,
        crates,
        build_secs,
    })
}

/// Unique packages (name and version) in `cargo tree --prefix none`
/// output, the root (the producer itself, on the first line) left out.
pub(crate) fn count_crates(tree: &str) -> usize {
    let mut seen: Vec<String> = tree
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(format!("{} {}", parts.next()?, parts.next()?))
        })
        .collect();
    let root = seen.first().cloned();
    seen.sort_unstable();
    seen.dedup();
    seen.retain(|p| Some(p) != root.as_ref());
    seen.len()
}

pub(crate) fn table(results: &[Footprint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| client | stripped release binary | crates in dependency tree (itself not counted) | clean release build |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for f in results {
        let _ = writeln!(
            s,
            "| {} | {} MiB | {} | {} s |",
            f.client,
            num(f.stripped_bytes as f64 / (1024.0 * 1024.0)),
            f.crates,
            num(f.build_secs)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unique_packages() {
        let tree = "footprint-x v0.1.0 (/p)\ntokio v1.54.1\nbytes v1.12.1\ntokio v1.54.1 (*)\n\n";
        assert_eq!(count_crates(tree), 2);
    }
}
