//! Every example runs on the simulator and tells its story: each test runs the built binary
//! and checks the outcomes it prints (exact AWS error codes, decisions), not just its exit code.

use std::process::Command;

/// Runs an example with `args`; returns its stdout, failing with its whole output otherwise.
fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("the example binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{bin} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn assert_has(out: &str, needle: &str) {
    assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
}

#[test]
fn golden_image_runs_the_whole_mission_and_is_deterministic() {
    let bin = env!("CARGO_BIN_EXE_golden-image");
    let out = run(bin, &["--seed", "3"]);
    assert_has(&out, "all 3 component files are on its root volume");
    assert_has(&out, "eu-west-1        ami-");
    assert_has(&out, "ap-southeast-2   ami-");
    assert_has(&out, "is owned by 222222222222");
    assert_has(&out, "(not approved): refused, UnauthorizedOperation");
    assert_has(&out, "1 finding(s)");
    assert_has(&out, "2 to retire, 4 kept");
    assert_has(&out, "in use by i-");
    assert_has(&out, "\"run_id\": \"golden-2-3\"");
    // The same seed prints the same story; another seed other ids.
    assert_eq!(out, run(bin, &["--seed", "3"]));
    assert_ne!(out, run(bin, &["--seed", "4"]));
}

/// With 10% of calls throttled or failing, the workflows and the story retry, and the story's
/// outcome is the same.
#[test]
fn golden_image_tells_the_same_story_under_faults() {
    let bin = env!("CARGO_BIN_EXE_golden-image");
    let out = run(bin, &["--seed", "5", "--faults", "0.1"]);
    assert_has(&out, "10% of calls throttled");
    assert_has(&out, "all 3 component files are on its root volume");
    assert_has(&out, "(not approved): refused, UnauthorizedOperation");
    assert_has(&out, "1 finding(s)");
    assert_has(&out, "2 to retire, 4 kept");
    assert_has(&out, "of them throttled or failed, and retried");
    assert_eq!(out, run(bin, &["--seed", "5", "--faults", "0.1"]));
}

#[test]
fn share_encrypted_refuses_the_default_key_then_shares_and_revokes() {
    let out = run(env!("CARGO_BIN_EXE_share-encrypted"), &[]);
    assert_has(&out, "refused: InvalidParameter");
    assert_has(&out, "planned again after applying: empty = true");
    assert_has(&out, "the key policy lets it decrypt the snapshot");
    assert_has(&out, "no longer sees it: InvalidAMIID.NotFound");
}

#[test]
fn cross_account_copy_lists_blockers_then_adopts() {
    let out = run(env!("CARGO_BIN_EXE_cross-account-copy"), &[]);
    assert_has(&out, "[owner must grant] InvalidAMIID.NotFound");
    assert_has(&out, "[owner must grant] InvalidRequest");
    assert_has(&out, "owned by 222222222222");
    assert_has(&out, "adopting again returns the same copy: true");
    assert_has(&out, "is available in eu-west-1");
}

#[test]
fn approved_amis_guards_launches_and_scans() {
    let out = run(env!("CARGO_BIN_EXE_approved-amis"), &[]);
    assert_has(&out, "\"base-1\": approved");
    assert_has(&out, "refused, UnauthorizedOperation");
    assert_has(&out, "2 instance(s), 1 compliant, 1 finding(s)");
    assert_has(&out, "2 instance(s), 0 compliant, 2 finding(s)");
    assert_has(&out, "more than 30 days ago");
}

#[test]
fn retire_keeps_what_is_in_use_protected_or_newest() {
    let out = run(env!("CARGO_BIN_EXE_retire"), &[]);
    assert_has(&out, "4 image(s), 1 to retire, 3 kept");
    assert_has(&out, "protected by tag Keep=audit");
    assert_has(&out, "in use by i-");
    assert_has(&out, "3 image(s), 1 to retire, 2 kept");
    assert_has(&out, "\"app-4\" available");
    assert!(!out.contains("\"app-3\" available"), "{out}");
}

#[test]
fn resume_finishes_an_interrupted_run_and_rollback_removes_another() {
    let out = run(env!("CARGO_BIN_EXE_resume"), &[]);
    assert_has(
        &out,
        "the process dies: the run's future is dropped mid-flight",
    );
    assert_has(&out, "3 copies, 0 skipped");
    assert_has(
        &out,
        "CopyImage made 3 images for 3 copies: none made twice",
    );
    assert_has(
        &out,
        "rollback of svc-7-r2: 3 image(s), 3 snapshot(s) removed",
    );
    assert_has(&out, "images of run svc-7-r2: none");
    assert!(
        !out.contains("svc-7-r1: none"),
        "the rollback of run 2 must leave run 1 alone:\n{out}"
    );
}

#[test]
fn bad_command_lines_are_refused_with_the_fix() {
    let bin = env!("CARGO_BIN_EXE_golden-image");
    let out = Command::new(bin).args(["--seed", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed \"x\" is not a whole number"));
    let out = Command::new(bin)
        .args(["--accounts", "111111111111"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("this story needs 3"));
    let help = run(bin, &["--help"]);
    assert_has(&help, "--endpoint URL");
}

/// Without the `aws` feature, asking for AWS says how to rebuild, and fails.
#[cfg(not(feature = "aws"))]
#[test]
fn aws_without_the_feature_says_how_to_rebuild() {
    let out = Command::new(env!("CARGO_BIN_EXE_retire"))
        .args(["--endpoint", "http://127.0.0.1:5000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("InvalidClientConfiguration"), "{err}");
    assert!(err.contains("--features aws --bin retire"), "{err}");
}
