//! The README's Benchmarks block is what `bench/summary.py` prints for the
//! runs it names, kept in `bench/results/`: the figures shown are those of
//! real runs, byte for byte, and a new block comes with its runs.

use crate::readme::{blocks, readme, section};
use std::path::Path;
use std::process::Command;

#[test]
fn the_readmes_benchmarks_are_the_summary_of_the_kept_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = readme();
    let shown = blocks(section(&text, "### Benchmarks"), "text")
        .into_iter()
        .find(|b| b.contains("median (min-max) of the runs"))
        .expect("README.md's Benchmarks section shows no summary.py block");
    let mut runs: Vec<_> = std::fs::read_dir(root.join("bench/results"))
        .expect("bench/results: the runs the README shows")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    runs.sort();
    assert!(!runs.is_empty(), "bench/results holds no run");
    let out = Command::new("python3")
        .arg(root.join("bench/summary.py"))
        .args(&runs)
        .output()
        .expect("python3 bench/summary.py");
    assert!(out.status.success(), "summary.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        shown.trim_end(),
        printed.trim_end(),
        "README.md's Benchmarks block is not `python3 bench/summary.py bench/results/*.json`"
    );
}
