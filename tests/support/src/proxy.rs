//! A proxy binary (`tower-mirror-proxy`) run as a user runs it: its stdout read line by
//! line, its stderr collected as it comes, signals sent to its pid, and killed (by its
//! pid) when dropped, whatever path the test takes.
//!
//! The binary's path comes from the test: a test of the binary's own package has it as
//! `env!("CARGO_BIN_EXE_<name>")`, built by Cargo before the test runs.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Bounds every wait on the proxy, so a broken proxy fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(30);

/// What the proxy wrote to stderr so far, and a wake-up for each line.
#[derive(Default)]
struct Stderr {
    text: Mutex<String>,
    grew: Notify,
}

/// The running proxy.
pub struct Proxy {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Stderr>,
    stderr_task: JoinHandle<()>,
}

impl Proxy {
    /// Starts `binary` with `args`, logging at `info` (`RUST_LOG`).
    pub fn start<I>(binary: &Path, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        Self::start_with_env(binary, args, &[])
    }

    /// Starts `binary` with `args` and these environment variables set.
    pub fn start_with_env<I>(binary: &Path, args: I, env: &[(&str, &str)]) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Self::spawn(command)
    }

    /// Starts a command prepared by the test (stdout and stderr must be piped).
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().expect("the proxy starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let stderr = Arc::new(Stderr::default());
        let collected = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = collected.text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                drop(text);
                collected.grew.notify_waiters();
            }
        });
        Self {
            child,
            stdout,
            stderr,
            stderr_task,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the proxy is still running")
    }

    /// The next line of stdout, waited for (bounded).
    pub async fn line(&mut self) -> String {
        let line = tokio::time::timeout(DEADLINE, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("no line on stdout in time; stderr: {}", self.stderr()))
            .unwrap();
        line.unwrap_or_else(|| panic!("the proxy's stdout ended; stderr: {}", self.stderr()))
    }

    /// Waits for the first line of stdout, which must be `listening on URL`; returns the
    /// URL.
    pub async fn listening(&mut self) -> String {
        let first = self.line().await;
        first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned()
    }

    /// What the proxy wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text.lock().unwrap().clone()
    }

    /// Waits (bounded) until stderr holds `needle` `count` times in all; returns the
    /// last line that holds it.
    pub async fn stderr_count(&self, needle: &str, count: usize) -> String {
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                let grew = self.stderr.grew.notified();
                tokio::pin!(grew);
                grew.as_mut().enable();
                let text = self.stderr();
                let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
                if lines.len() >= count {
                    return lines[count - 1].to_owned();
                }
                grew.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "stderr did not say {needle:?} {count} time(s) in time: {}",
                self.stderr()
            )
        })
    }

    /// Waits (bounded) for a line of stderr that holds `needle`; returns it.
    pub async fn stderr_line(&self, needle: &str) -> String {
        self.stderr_count(needle, 1).await
    }

    /// Sends a signal (`TERM`, `HUP`, ...) to the proxy's pid.
    pub fn signal(&self, name: &str) {
        let kill = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success(), "kill -{name} failed");
    }

    /// Sends SIGTERM, as an orchestrator stopping the proxy does.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits (bounded) for the proxy to exit; returns its status, the rest of its stdout,
    /// and all of its stderr.
    pub async fn exit(mut self) -> (ExitStatus, String, String) {
        let mut out = String::new();
        let exited = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                out.push_str(&line);
                out.push('\n');
            }
            let status = self.child.wait().await.unwrap();
            // The stderr pipe closes with the process.
            let _ = (&mut self.stderr_task).await;
            status
        })
        .await;
        match exited {
            Ok(status) => (status, out, self.stderr()),
            // `self` drops on the way out: the proxy is killed.
            Err(_) => panic!(
                "the proxy did not exit in time; stdout: {out}; stderr: {}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGKILL by pid; an error only means it already exited.
        let _ = self.child.start_kill();
        self.stderr_task.abort();
    }
}

/// Runs `binary` with `args`, which must be refused: exit status 2 and a message on
/// stderr that names `names`, with the usage.
pub async fn assert_refused(binary: &Path, args: &[&str], names: &str) {
    let (status, stdout, stderr) = Proxy::start(binary, args).exit().await;
    assert_eq!(
        status.code(),
        Some(2),
        "{args:?}: {status}; stderr: {stderr}"
    );
    assert!(
        stderr.contains(names),
        "{args:?}: stderr does not name {names}: {stderr}"
    );
    assert!(stderr.contains("Usage: "), "{args:?}: no usage: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: stdout: {stdout}");
}
