//! moto's server, started from the project-local Python environment that `tests/run.sh`
//! installs (pinned in `tests/testbed/requirements.lock`).

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdin, Command, Stdio},
    sync::OnceLock,
};

use tokio::sync::{Mutex, MutexGuard};

use crate::root;

/// A running moto server. It stops when this value is dropped or, for the shared instance,
/// when the test process exits: the server exits as soon as its standard input closes.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Moto {
    /// Starts a new server.
    pub fn start() -> Moto {
        let python = std::env::var_os("AUTOFED_TESTBED_PYTHON")
            .map(Into::into)
            .unwrap_or_else(|| root().join(".testbed/venv/bin/python"));
        assert!(
            python.exists(),
            "{} is missing: run `tests/run.sh` (it installs the pinned test bed) or set AUTOFED_TESTBED_PYTHON",
            python.display()
        );
        let log_dir = root().join("target/testbed");
        std::fs::create_dir_all(&log_dir).expect("create target/testbed");
        let log = std::fs::File::create(log_dir.join(format!("moto-{}.log", std::process::id())))
            .expect("create moto log");
        // Where moto records the STS credentials it issues, for tests/run.sh's secret scan.
        let secrets = crate::function::target_dir().join("test-secrets");
        std::fs::create_dir_all(&secrets).expect("create target/test-secrets");
        let mut child = Command::new(python)
            .arg(root().join("tests/testbed/moto_server.py"))
            .env(
                "AUTOFED_STS_SECRETS",
                secrets.join(format!("sts-{}.txt", std::process::id())),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start moto");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read moto's port");
        let port: u16 = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("moto did not report its port: {line:?}"));
        Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _stdin: stdin,
        }
    }

    /// Forgets all state (`POST /moto-api/reset`).
    pub async fn reset(&self) {
        let status = reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.url))
            .send()
            .await
            .expect("reset moto")
            .status();
        assert!(status.is_success(), "moto reset answered {status}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static SHARED: OnceLock<Moto> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::const_new(());

/// Exclusive use of this test process's moto, reset to empty. Tests that share moto run one
/// at a time through this lock.
pub struct Session {
    /// The server.
    pub moto: &'static Moto,
    _guard: MutexGuard<'static, ()>,
}

/// Takes the shared moto (starting it on first use) and resets it.
pub async fn session() -> Session {
    // An async lock: each test has its own runtime, and a panicking test must not poison it.
    let guard = SERIAL.lock().await;
    let moto = SHARED.get_or_init(Moto::start);
    moto.reset().await;
    Session {
        moto,
        _guard: guard,
    }
}
