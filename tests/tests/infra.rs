//! The deployment template, `infra/template.yaml`, checked by the test bed's tools: cfn-lint and
//! `sam validate --lint` find nothing; every sample event in `events/` matches exactly its own
//! EventBridge rules, with moto's EventBridge doing the matching
//! (`tests/testbed/event_patterns.py`); and each function's policy allows exactly the AWS
//! actions its code makes, as `functions/<binary>/aws-actions.txt` lists them
//! (`tests/testbed/iam_coverage.py`).

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use autofed_tests::{moto::Moto, root};

/// The test bed's Python (`.testbed/venv`, or `AUTOFED_TESTBED_PYTHON`), as the other tests
/// find it.
fn python() -> PathBuf {
    std::env::var_os("AUTOFED_TESTBED_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| root().join(".testbed/venv/bin/python"))
}

/// A tool installed by `tests/testbed/setup.sh`; panics naming the fix when it is missing.
fn tool(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `tests/testbed/setup.sh` (`tests/run.sh` does) to install the pinned test bed",
        path.display()
    );
    path
}

/// Runs `command` in the project root and returns its output (stdout, then stderr); panics with
/// that output unless it exits successfully.
fn run(what: &str, command: &mut Command) -> String {
    let out: Output = command
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// cfn-lint and the SAM CLI's `sam validate --lint` find nothing in the template. SAM runs
/// offline: no telemetry, and the region given so that no AWS configuration is needed.
#[test]
fn the_template_is_lint_clean() {
    let cfn_lint = tool(python().with_file_name("cfn-lint"));
    run(
        "cfn-lint infra/template.yaml",
        Command::new(cfn_lint).arg("infra/template.yaml"),
    );
    let sam = tool(root().join(".testbed/sam/bin/sam"));
    let text = run(
        "sam validate --lint",
        Command::new(sam)
            .args(["validate", "--lint", "--region", "us-east-1"])
            .args(["--template-file", "infra/template.yaml"])
            .env("SAM_CLI_TELEMETRY", "0"),
    );
    assert!(
        text.contains("is a valid SAM Template"),
        "sam validate said:\n{text}"
    );
}

/// Each sample event in `events/` is put on every bus in moto and reaches exactly the rules
/// the expectation table in `tests/testbed/event_patterns.py` gives it (the template's rules
/// and the StackSet's, each with its exact pattern and an SQS probe queue); every rule is
/// matched by some sample, and the negative controls match nothing.
#[tokio::test]
async fn every_sample_event_matches_exactly_its_own_rule() {
    let moto = Moto::start();
    let text = run(
        "tests/testbed/event_patterns.py",
        Command::new(tool(python()))
            .arg("tests/testbed/event_patterns.py")
            .arg("--endpoint")
            .arg(&moto.url),
    );
    assert!(text.contains("\nOK: "), "event_patterns.py said:\n{text}");
}

/// Each function's policy in the template allows every AWS action its code makes with its own
/// credentials (`functions/<binary>/aws-actions.txt`), and nothing else; the script's
/// self-test proves a missing action is caught.
#[test]
fn each_function_policy_allows_every_action_its_code_calls() {
    let text = run(
        "tests/testbed/iam_coverage.py",
        Command::new(tool(python())).arg("tests/testbed/iam_coverage.py"),
    );
    assert!(
        text.contains("self-test: ") && text.contains("\nOK: "),
        "iam_coverage.py said:\n{text}"
    );
}

/// `sam build` (run by `tests/run.sh` through `tests/testbed/sam-build.sh` before the tests)
/// made one `bootstrap` per function of the template: an arm64 Linux executable, and its zip
/// under Lambda's 50 MB limit for a direct upload.
#[test]
fn sam_build_made_an_arm64_bootstrap_for_every_function() {
    let build = autofed_tests::function::target_dir().join("sam/build");
    assert!(
        build.join("template.yaml").exists(),
        "{} is missing: run `tests/testbed/sam-build.sh` (`tests/run.sh` does)",
        build.display()
    );
    let functions = autofed_tests::routing::resources_of("AWS::Serverless::Function");
    assert_eq!(
        functions,
        [
            "AccountOnboarderFunction",
            "ClusterOnboarderFunction",
            "BackfillFunction"
        ]
    );
    for function in functions {
        let bootstrap = build.join(&function).join("bootstrap");
        let bytes =
            std::fs::read(&bootstrap).unwrap_or_else(|e| panic!("{}: {e}", bootstrap.display()));
        // ELF, 64-bit, little endian, e_machine 183 (EM_AARCH64).
        assert_eq!(&bytes[..4], b"\x7fELF", "{function}");
        assert_eq!((bytes[4], bytes[5]), (2, 1), "{function}");
        assert_eq!(
            u16::from_le_bytes([bytes[18], bytes[19]]),
            183,
            "{function}"
        );
        assert!(bytes.len() < 50 << 20, "{function}: {} bytes", bytes.len());
    }
}
