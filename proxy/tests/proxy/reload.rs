//! Reloading --rules and --endpoints while serving: a good change applies, a broken file
//! is refused with its location and routing stays as it was, a file replaced by rename
//! (as Kubernetes updates a mounted ConfigMap) is picked up, and so is SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Request;
use http_body_util::Full;
use support::loopback::{Backend, Reply, Server, client, fetch};
use support::proxy::Proxy;

use crate::{TempDir, start};

/// Routes `httpbin` to v1 and mirrors it to `mirror` (a subset name).
fn rules(mirror: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {{host: httpbin, subset: v1}}
    mirror: {{host: httpbin, subset: {mirror}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: httpbin}}
spec:
  host: httpbin
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
  - {{name: v3, labels: {{version: v3}}}}
"
    )
}

/// Three versions of httpbin, served on loopback.
struct Versions {
    v1: Backend,
    v2: Backend,
    v3: Backend,
    _servers: Vec<Server>,
}

impl Versions {
    async fn start() -> Self {
        let v1 = Backend::new("v1", Reply::Now);
        let v2 = Backend::new("v2", Reply::Now);
        let v3 = Backend::new("v3", Reply::Now);
        let servers = vec![v1.start().await, v2.start().await, v3.start().await];
        Self {
            v1,
            v2,
            v3,
            _servers: servers,
        }
    }

    fn endpoints(&self) -> String {
        let mut yaml = "httpbin:\n".to_owned();
        for (version, server) in ["v1", "v2", "v3"].iter().zip(&self._servers) {
            yaml.push_str(&format!(
                "- {{labels: {{version: {version}}}, url: {}}}\n",
                server.url()
            ));
        }
        yaml
    }
}

async fn started(dir: &TempDir, rules_path: &Path, versions: &Versions) -> (Proxy, String) {
    let endpoints = dir.write("endpoints.yaml", &versions.endpoints());
    let mut proxy = start([
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--rules".as_ref(),
        rules_path.as_os_str(),
        "--endpoints".as_ref(),
        endpoints.as_os_str(),
    ]);
    let url = proxy.listening().await;
    (proxy, url)
}

/// Sends one request; it must be served by v1. Returns once `shadow` has its copy.
async fn copied_to(url: &str, shadow: &Backend, i: usize) {
    let before = shadow.received().len();
    let req = Request::post(format!("{url}/r/{i}"))
        .body(Full::from(format!("request {i}")))
        .unwrap();
    let answer = fetch(&client(), req).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.served_by(), "v1");
    support::eventually(Duration::from_secs(10), "the copy arrives", || {
        shadow.received().len() == before + 1
    })
    .await;
}

/// Replaces `path` as editors and Kubernetes do: a new file renamed over it.
fn replace_by_rename(path: &Path, contents: &str) {
    let staged: PathBuf = path.with_extension("staged");
    std::fs::write(&staged, contents).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

#[tokio::test]
async fn a_changed_rules_file_applies_and_a_broken_one_is_refused_with_its_location() {
    let versions = Versions::start().await;
    let dir = TempDir::new("reload-file");
    let rules_path = dir.write("rules.yaml", &rules("v2"));
    let (proxy, url) = started(&dir, &rules_path, &versions).await;
    copied_to(&url, &versions.v2, 0).await;

    // Written in place: the mirror moves to v3.
    std::fs::write(&rules_path, rules("v3")).unwrap();
    let reloaded = proxy.stderr_line("reloaded: ").await;
    assert!(
        reloaded.contains("reloaded: 1 rules, 1 mirrors"),
        "{reloaded}"
    );
    copied_to(&url, &versions.v3, 1).await;

    // Broken: an unknown subset. Refused, located, and v3 keeps getting the copies.
    std::fs::write(&rules_path, rules("v9")).unwrap();
    let refused = proxy.stderr_line("reload refused: ").await;
    assert!(refused.contains("rules.yaml"), "{refused}");
    assert!(refused.contains("v9"), "{refused}");
    assert!(
        refused.ends_with("; keeping the previous config"),
        "{refused}"
    );
    copied_to(&url, &versions.v3, 2).await;

    // Not YAML at all: refused with a line and column.
    std::fs::write(&rules_path, "kind: [unclosed\n").unwrap();
    let refused = proxy.stderr_count("reload refused: ", 2).await;
    assert!(refused.contains("line "), "{refused}");
    copied_to(&url, &versions.v3, 3).await;

    // Replaced by rename: back to v2.
    replace_by_rename(&rules_path, &rules("v2"));
    proxy.stderr_count("reloaded: ", 2).await;
    copied_to(&url, &versions.v2, 4).await;
    assert_eq!(versions.v1.received().len(), 5, "v1 served every request");
    assert_eq!(versions.v2.received().len(), 2);
    assert_eq!(versions.v3.received().len(), 3);
}

/// A ConfigMap mounted as a directory: each key is a symbolic link through `..data`,
/// itself a link to a timestamped directory; an update writes a new directory and renames
/// a new `..data` link over the old one.
#[cfg(unix)]
#[tokio::test]
async fn a_configmap_update_is_picked_up() {
    use std::os::unix::fs::symlink;

    let versions = Versions::start().await;
    let dir = TempDir::new("reload-configmap");
    let mount = dir.path("config");
    std::fs::create_dir_all(mount.join("..2026_11_30_1")).unwrap();
    std::fs::write(mount.join("..2026_11_30_1/rules.yaml"), rules("v2")).unwrap();
    symlink("..2026_11_30_1", mount.join("..data")).unwrap();
    symlink("..data/rules.yaml", mount.join("rules.yaml")).unwrap();
    let (proxy, url) = started(&dir, &mount, &versions).await;
    copied_to(&url, &versions.v2, 0).await;

    std::fs::create_dir_all(mount.join("..2026_11_30_2")).unwrap();
    std::fs::write(mount.join("..2026_11_30_2/rules.yaml"), rules("v3")).unwrap();
    symlink("..2026_11_30_2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    proxy.stderr_line("reloaded: 1 rules, 1 mirrors").await;
    copied_to(&url, &versions.v3, 1).await;
}

#[tokio::test]
async fn sighup_reloads_the_endpoints_too() {
    let versions = Versions::start().await;
    let dir = TempDir::new("reload-sighup");
    let rules_path = dir.write("rules.yaml", &rules("v2"));
    let (proxy, url) = started(&dir, &rules_path, &versions).await;
    copied_to(&url, &versions.v2, 0).await;

    // The endpoints now say v2 is where v3 listens.
    let moved = versions
        .endpoints()
        .replacen("version: v3", "version: v9", 1)
        .replacen("version: v2", "version: v3", 1);
    let moved = moved.replacen("version: v9", "version: v2", 1);
    std::fs::write(dir.path("endpoints.yaml"), moved).unwrap();
    proxy.stderr_line("reloaded: ").await;
    copied_to(&url, &versions.v3, 1).await;

    proxy.signal("HUP");
    proxy.stderr_count("reloaded: ", 2).await;
    copied_to(&url, &versions.v3, 2).await;
}

/// Clients keep sending through the reload (they stop only a few requests after it is
/// done, so the load never ends before it, however fast the machine), and every request
/// is served and copied exactly once, to the old rule's mirror or the new one's.
#[tokio::test]
async fn a_reload_under_load_loses_no_request_and_no_copy() {
    const CLIENTS: usize = 32;
    /// Requests each client sends once the reload is done.
    const AFTER_RELOAD: usize = 5;
    /// A bound on each client, should the reload never come.
    const MOST: usize = 5_000;
    let versions = Versions::start().await;
    let dir = TempDir::new("reload-load");
    let rules_path = dir.write("rules.yaml", &rules("v2"));
    let (proxy, url) = started(&dir, &rules_path, &versions).await;

    let reloaded = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (url, reloaded) = (url.clone(), Arc::clone(&reloaded));
        clients.push(tokio::spawn(async move {
            let client = client();
            let (mut sent, mut after, mut failures) = (0, 0, 0);
            while after < AFTER_RELOAD && sent < MOST {
                // Read before sending: a request counted "after" starts after the reload.
                let is_after = reloaded.load(Ordering::SeqCst);
                let req = Request::post(format!("{url}/load/{c}/{sent}"))
                    .body(Full::from(format!("{c}-{sent}")))
                    .unwrap();
                match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
                    Ok(Ok(res)) if res.status() == 200 => {}
                    _ => failures += 1,
                }
                sent += 1;
                after += usize::from(is_after);
            }
            (sent, failures)
        }));
    }
    support::eventually(Duration::from_secs(20), "the load is under way", || {
        versions.v1.received().len() >= CLIENTS * 3
    })
    .await;
    replace_by_rename(&rules_path, &rules("v3"));
    proxy.stderr_line("reloaded: ").await;
    reloaded.store(true, Ordering::SeqCst);
    let (mut total, mut failures) = (0, 0);
    for client in clients {
        let (sent, failed) = tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("the load ends")
            .unwrap();
        total += sent;
        failures += failed;
    }
    assert_eq!(failures, 0, "client errors during the reload");

    // Shutdown drains the copies of the mirror the reload replaced too.
    proxy.terminate();
    let (status, stdout, stderr) = proxy.exit().await;
    assert!(status.success(), "{stderr}");
    let (v2, v3) = (versions.v2.received().len(), versions.v3.received().len());
    assert_eq!(versions.v1.received().len(), total);
    assert_eq!(
        v2 + v3,
        total,
        "every request copied once, before the reload or after: {stdout}"
    );
    assert!(v2 >= CLIENTS * 3, "v2 {v2}: the copies before the reload");
    assert!(
        v3 >= CLIENTS * AFTER_RELOAD,
        "v3 {v3}: every request sent after the reload is copied to the new mirror"
    );
}
