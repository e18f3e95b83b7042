//! The `shadow_proxy` example as a user runs it: its binary, built once per test run so it
//! is never stale, and a running proxy that is killed when dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Bounds every wait on the proxy, so a broken proxy fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(30);

/// The example's binary, built once per test run (with the `istio` feature it requires).
///
/// Cargo does not build examples for `cargo test --test e2e`, nor say where they are: the
/// test runs from `<target>/<profile>/deps/`, and the example lands in
/// `<target>/<profile>/examples/`.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("a target directory");
        // This crate lives in <repository>/tests/support.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "--example", "shadow_proxy"])
            .args(["--features", "istio", "--manifest-path"])
            .arg(manifest)
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success(),
            "cargo build --example shadow_proxy: {status}"
        );
        profile_dir
            .join("examples")
            .join(format!("shadow_proxy{}", std::env::consts::EXE_SUFFIX))
    })
}

/// The running proxy; killed (by its pid) when dropped, whatever path the test takes.
pub struct Proxy {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Proxy {
    pub fn start<I>(args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        let mut child = Command::new(binary())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the proxy starts");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdout }
    }

    /// Waits (bounded) for the first line of stdout, which must be `listening on URL`;
    /// returns the URL.
    pub async fn listening(&mut self) -> String {
        let first = tokio::time::timeout(DEADLINE, self.stdout.next_line())
            .await
            .expect("the proxy prints its address in time")
            .unwrap()
            .expect("the proxy's stdout ended before it listened");
        first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned()
    }

    /// Sends SIGTERM, as an orchestrator stopping the proxy does.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the proxy is still running");
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
    }

    /// Waits (bounded) for the proxy to exit; returns its status, the rest of its stdout,
    /// and its stderr.
    pub async fn exit(mut self) -> (ExitStatus, String, String) {
        let mut stderr = self.child.stderr.take().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        let exited = tokio::time::timeout(DEADLINE, async {
            let read_out = async {
                while let Some(line) = self.stdout.next_line().await.unwrap() {
                    out.push_str(&line);
                    out.push('\n');
                }
            };
            let (_, read_err, status) =
                tokio::join!(read_out, stderr.read_to_string(&mut err), self.child.wait());
            read_err.unwrap();
            status.unwrap()
        })
        .await;
        match exited {
            Ok(status) => (status, out, err),
            // `self` drops on the way out: the proxy is killed.
            Err(_) => panic!("the proxy did not exit in time; stdout: {out}; stderr: {err}"),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGKILL by pid; an error only means it already exited.
        let _ = self.child.start_kill();
    }
}

/// Runs the proxy with `args`, which must be refused: exit code 2 and a usage message on
/// stderr that names `names`.
pub async fn assert_refused(args: &[&str], names: &str) {
    let (status, _, stderr) = Proxy::start(args).exit().await;
    assert_eq!(
        status.code(),
        Some(2),
        "{args:?}: {status}; stderr: {stderr}"
    );
    assert!(
        stderr.contains(names),
        "{args:?}: stderr does not name {names}: {stderr}"
    );
    assert!(
        stderr.contains("usage: shadow_proxy"),
        "{args:?}: no usage: {stderr}"
    );
}
