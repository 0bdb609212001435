//! Scenario 8: footprint of a minimal producer (connect, declare a durable
//! queue, publish one persistent message, close) per client, and of the
//! floor under them all.
//!
//! The three producers live in `footprint/{ours,lapin,amqprs}`, each its own
//! workspace (outside this one) with its own Cargo.lock: the versions
//! measured (cargo changes it only if a manifest changed). `footprint/floor`
//! is the same program without an AMQP client: a current-thread runtime, a
//! TCP connect, the protocol header written, a read with a timeout, a
//! println. Every client's binary holds at least that much of tokio and std,
//! so binary minus floor (same profile) is the client's own share.
//!
//! Each program is built twice into a fresh, empty target directory, both
//! timed, after a `cargo fetch` that is not: `cargo build --release` (the
//! default release profile; a copy of the binary is stripped with `strip`
//! and measured), then `cargo build --profile size`, the size profile each
//! manifest declares the same way (`opt-level = "z"`, `lto = true`,
//! `panic = "abort"`, `codegen-units = 1`, `strip = true`; its own
//! directory under the target, so nothing is shared with the first build).
//! Its crates are counted with `cargo tree -e normal --prefix none` (unique
//! packages, not counting the program itself), tokio's features read from
//! `cargo tree -e features -i tokio`; then both binaries are run once
//! against the broker, to show they work.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::report::num;
use crate::scenario::Client;
use crate::Res;

#[derive(Debug, Clone)]
pub(crate) struct Footprint {
    /// `floor`, or the client's name.
    pub(crate) program: &'static str,
    /// Default release profile, stripped.
    pub(crate) stripped_bytes: u64,
    /// Size profile (stripped by the profile).
    pub(crate) size_bytes: u64,
    pub(crate) crates: usize,
    pub(crate) build_secs: f64,
    pub(crate) size_build_secs: f64,
    /// tokio's features in the build (the ones a program asks for; not the
    /// optional dependencies they switch on).
    pub(crate) tokio_features: Vec<String>,
}

/// The floor's name, as its directory and in the table.
pub(crate) const FLOOR: &str = "floor";

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

/// Builds, measures and runs (once, against `uri`) one client's producer.
pub(crate) fn measure(client: Client, uri: &str) -> Res<Footprint> {
    measure_program(client.name(), ("AMQP_URI", uri.to_owned()))
}

/// Builds, measures and runs (once, against the broker at `host`:`port`)
/// the floor.
pub(crate) fn measure_floor(host: &str, port: u16) -> Res<Footprint> {
    measure_program(FLOOR, ("AMQP_ADDR", format!("{host}:{port}")))
}

fn measure_program(program: &'static str, env: (&str, String)) -> Res<Footprint> {
    let dir = footprint_dir().join(program);
    let manifest = dir.join("Cargo.toml");
    let target = std::env::temp_dir().join(format!(
        "amqp-bench-footprint-{program}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&target);
    let result = build_and_run(program, &manifest, &target, env);
    let _ = std::fs::remove_dir_all(&target);
    result
}

fn build_and_run(
    program: &'static str,
    manifest: &Path,
    target: &Path,
    env: (&str, String),
) -> Res<Footprint> {
    // Downloads are not part of the build time.
    run(&mut cargo_cmd(&["fetch"], manifest, target))?;
    let t0 = Instant::now();
    run(&mut cargo_cmd(
        &["build", "--release", "--quiet"],
        manifest,
        target,
    ))?;
    let build_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    run(&mut cargo_cmd(
        &["build", "--profile", "size", "--quiet"],
        manifest,
        target,
    ))?;
    let size_build_secs = t0.elapsed().as_secs_f64();

    let name = format!("footprint-{program}");
    let bin = target.join("release").join(&name);
    let stripped = target.join("stripped");
    std::fs::copy(&bin, &stripped)?;
    run(Command::new("strip").arg(&stripped))?;
    let stripped_bytes = std::fs::metadata(&stripped)?.len();
    let size_bin = target.join("size").join(&name);
    let size_bytes = std::fs::metadata(&size_bin)?.len();

    let out = run(&mut cargo_cmd(
        &["tree", "-e", "normal", "--prefix", "none"],
        manifest,
        target,
    ))?;
    let crates = count_crates(&out);
    let out = run(&mut cargo_cmd(
        &["tree", "-e", "features", "-i", "tokio", "--prefix", "none"],
        manifest,
        target,
    ))?;
    let tokio_features = tokio_features(&out);
    // They must work, too.
    for bin in [&bin, &size_bin] {
        let status = Command::new(bin).env(env.0, &env.1).status()?;
        if !status.success() {
            return Err(format!("{} failed: {status}", bin.display()).into());
        }
    }
    Ok(Footprint {
        program,
        stripped_bytes,
        size_bytes,
        crates,
        build_secs,
        size_build_secs,
        tokio_features,
    })
}

/// tokio's features named in `cargo tree -e features -i tokio --prefix
/// none` output, sorted, without `default` and the optional dependencies
/// (`bytes`, `libc`, `mio`, ...) the features switch on.
pub(crate) fn tokio_features(tree: &str) -> Vec<String> {
    const INTERNAL: [&str; 7] = [
        "default",
        "bytes",
        "libc",
        "mio",
        "socket2",
        "tokio-macros",
        "parking_lot",
    ];
    let mut features: Vec<String> = tree
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tokio feature \""))
        .filter_map(|rest| rest.split('"').next())
        .filter(|f| !INTERNAL.contains(f))
        .map(str::to_owned)
        .collect();
    features.sort_unstable();
    features.dedup();
    features
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

fn mib(bytes: u64) -> String {
    format!("{} MiB", num(bytes as f64 / (1024.0 * 1024.0)))
}

fn kib(bytes: i64) -> String {
    format!("{} KiB", num(bytes as f64 / 1024.0))
}

pub(crate) fn table(results: &[Footprint]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| program | stripped release binary | crates in dependency tree (itself not counted) | clean release build |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for f in results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} s |",
            f.program,
            mib(f.stripped_bytes),
            f.crates,
            num(f.build_secs)
        );
    }
    s
}

/// Both profiles side by side, each client's own share (binary minus the
/// floor, same profile), and tokio's features.
pub(crate) fn size_table(results: &[Footprint]) -> String {
    let floor = results.iter().find(|f| f.program == FLOOR);
    let share = |f: &Footprint, bytes: fn(&Footprint) -> u64| match floor {
        Some(floor) if f.program != FLOOR => kib(bytes(f) as i64 - bytes(floor) as i64),
        _ => "-".to_owned(),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| program | release, stripped | its own share | size profile | its own share | clean size-profile build | tokio features |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for f in results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} s | {} |",
            f.program,
            kib(f.stripped_bytes as i64),
            share(f, |f| f.stripped_bytes),
            kib(f.size_bytes as i64),
            share(f, |f| f.size_bytes),
            num(f.size_build_secs),
            f.tokio_features.join(", ")
        );
    }
    let find = |name: &str| results.iter().find(|f| f.program == name);
    if let (Some(floor), Some(ours), Some(amqprs)) = (floor, find("ours"), find("amqprs")) {
        let ratio = (ours.size_bytes as f64 - floor.size_bytes as f64)
            / (amqprs.size_bytes as f64 - floor.size_bytes as f64);
        let _ = writeln!(
            s,
            "\nSize profile: our share is {}× amqprs' share.",
            num(ratio)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tokio_features() {
        let tree = "tokio v1.54.1\ntokio feature \"default\"\nfootprint-x v0.1.0 (/p)\ntokio feature \"rt\"\ntokio feature \"mio\"\ntokio feature \"net\"\ntokio feature \"rt\"\n";
        assert_eq!(tokio_features(tree), ["net", "rt"]);
    }

    #[test]
    fn counts_unique_packages() {
        let tree = "footprint-x v0.1.0 (/p)\ntokio v1.54.1\nbytes v1.12.1\ntokio v1.54.1 (*)\n\n";
        assert_eq!(count_crates(tree), 2);
    }
}
