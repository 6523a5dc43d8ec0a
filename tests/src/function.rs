//! A function's built `bootstrap` binary, run as a process against the Runtime API emulator,
//! with its configuration and endpoints given the way Lambda gives them: environment variables.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::root;

/// A path for a test's file in `target/testbed/` (created): `<stem>-<pid>.<ext>`, so that
/// test processes running at once never share one.
pub fn testbed_path(stem: &str, ext: &str) -> PathBuf {
    let dir = target_dir().join("testbed");
    std::fs::create_dir_all(&dir).expect("target/testbed");
    dir.join(format!("{stem}-{}.{ext}", std::process::id()))
}

/// The directory cargo builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The debug build of a function binary; `tests/run.sh` builds it before the tests run.
pub fn binary(name: &str) -> PathBuf {
    binary_of("debug", name)
}

/// A binary of the build profile `profile` (`debug`, `release`).
pub fn binary_of(profile: &str, name: &str) -> PathBuf {
    let path = target_dir().join(profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build --workspace --bins`, which tests/run.sh does)",
        path.display()
    );
    path
}

/// A running function process; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl FunctionProcess {
    /// Starts `binary` with the Lambda environment for `runtime_api` plus `env`.
    pub fn start(
        binary: &Path,
        function_name: &str,
        runtime_api: &str,
        env: &[(&str, String)],
    ) -> Self {
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]testbed")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing-management")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the function");
        let stdout = tokio::process::ChildStdout::from_std(child.stdout.take().expect("stdout"))
            .expect("async stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        // Also kept in the run's log directory, which tests/run.sh scans for secrets.
        let dir = crate::log_dir();
        std::fs::create_dir_all(&dir).expect("log dir");
        let log_path = dir.join(format!("{function_name}-{}.jsonl", child.id()));
        tokio::spawn(async move {
            let mut log = std::fs::File::create(log_path).ok();
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(f) = log.as_mut() {
                    use std::io::Write;
                    let _best_effort = writeln!(f, "{line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        FunctionProcess { child, lines }
    }

    /// The process's peak resident set so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the function is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// Waits up to `timeout` for the process to exit; its status, if it did.
    pub async fn exited(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the function") {
                // Let the reader drain what the process wrote last.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Every line the function has logged so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The log lines parsed as JSON (every line should be).
    pub fn log_json(&self) -> Vec<serde_json::Value> {
        self.log_lines()
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The reports (of accounts and clusters) the function logged, in order.
    pub fn reports(&self) -> Vec<serde_json::Value> {
        self.log_json()
            .into_iter()
            .filter(|l| l["message"] == "account report" || l["message"] == "cluster report")
            .map(|l| {
                serde_json::from_str(l["report"].as_str().expect("report field"))
                    .expect("report JSON")
            })
            .collect()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
