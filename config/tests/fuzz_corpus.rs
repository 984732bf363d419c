//! Replays the config fuzz target's committed corpus (`fuzz/corpus/config/`) on stable.

#[test]
fn every_config_corpus_input_parses_or_fails_cleanly() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| sqlmux_config::fuzz_config(&bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        n += 1;
    }
    assert!(n > 0, "an empty corpus tests nothing");
}
