//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the fuzz targets'
//! bodies on stable: every input a fuzzing run kept (crashes found included, once fixed)
//! stays a regression test.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn every_corpus_input_passes_its_target() {
    for (target, run) in sqlmux_protocol::fuzz_targets::TARGETS {
        let inputs = corpus(target);
        assert!(
            !inputs.is_empty(),
            "{target}: an empty corpus tests nothing"
        );
        for (path, bytes) in &inputs {
            let outcome = std::panic::catch_unwind(|| run(bytes));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        }
    }
}
