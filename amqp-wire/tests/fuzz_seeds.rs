//! Replays the fuzz targets' seed corpora (`fuzz/seeds/`) through the same
//! bodies the cargo-fuzz targets run, on the stable toolchain, so every
//! `cargo test` re-checks the seeds and the crashes the fuzzer once found.
//!
//! Seed names say what to expect: `ok_*` frame seeds are valid streams that
//! must decode completely; `bad_*` ones must be refused; the rest (partial
//! input, fuzzer regressions) must only not panic.

use std::fs;
use std::path::{Path, PathBuf};

use amqp_wire::field_table::decode_table;
use amqp_wire::{fuzzing, Frame};
use bytes::{Bytes, BytesMut};

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fuzz", "seeds", target]
        .iter()
        .collect();
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| (file_name(&path), fs::read(&path).expect("seed is readable")))
        .collect();
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// The frame_max the fuzz target takes from a seed's first two octets.
fn split_frame_max(seed: &[u8]) -> (u32, &[u8]) {
    (
        u32::from(u16::from_be_bytes([seed[0], seed[1]])) * 4,
        &seed[2..],
    )
}

#[test]
fn decode_frames_seeds_exist_and_never_panic() {
    let seeds = seeds("decode_frames");
    assert!(
        seeds.len() >= 12,
        "only {} decode_frames seeds",
        seeds.len()
    );
    for (name, data) in &seeds {
        println!("{name}");
        fuzzing::decode_frames(data);
    }
}

#[test]
fn decode_table_seeds_exist_and_never_panic() {
    let seeds = seeds("decode_table");
    assert!(seeds.len() >= 6, "only {} decode_table seeds", seeds.len());
    for (name, data) in &seeds {
        println!("{name}");
        fuzzing::decode_table(data);
    }
}

#[test]
fn valid_frame_seeds_decode_completely_and_bad_ones_are_refused() {
    let mut kinds = std::collections::BTreeSet::new();
    for (name, data) in seeds("decode_frames") {
        let (frame_max, stream) = split_frame_max(&data);
        let mut buf = BytesMut::from(stream);
        if name.starts_with("ok_") {
            while !buf.is_empty() {
                let frame = Frame::decode(&mut buf, frame_max)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .unwrap_or_else(|| panic!("{name}: incomplete frame"));
                kinds.insert(match frame {
                    Frame::Method { .. } => "method",
                    Frame::Header { .. } => "header",
                    Frame::Body { .. } => "body",
                    Frame::Heartbeat => "heartbeat",
                });
            }
        } else if name.starts_with("bad_") {
            let result = loop {
                match Frame::decode(&mut buf, frame_max) {
                    Ok(Some(_)) => continue,
                    other => break other,
                }
            };
            assert!(result.is_err(), "{name}: {result:?}");
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["body", "header", "heartbeat", "method"],
        "the valid seeds cover every frame type"
    );
}

#[test]
fn valid_table_seeds_decode_and_bad_ones_are_refused() {
    for (name, data) in seeds("decode_table") {
        let result = decode_table(&Bytes::from(data));
        if name.starts_with("ok_") {
            assert!(result.is_ok(), "{name}: {result:?}");
        } else if name.starts_with("bad_") {
            assert!(result.is_err(), "{name}: {result:?}");
        }
    }
}
