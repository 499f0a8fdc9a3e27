//! deploy/notices/THIRD_PARTY_NOTICES is current with Cargo.lock: the
//! script that writes it, run with `--check`, finds nothing to change.

use std::process::Command;

#[test]
fn third_party_notices_are_current_with_cargo_lock() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new("python3")
        .args(["deploy/notices/notices.py", "--check"])
        .current_dir(root)
        .env("CARGO", cargo)
        .output()
        .expect("python3 runs deploy/notices/notices.py");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("is current"), "{stdout}");
}
