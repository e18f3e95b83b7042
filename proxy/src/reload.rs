//! Reloading `--rules` and `--endpoints` while serving: on SIGHUP, or when a file changes.
//!
//! The files' directories are watched, not the files: an editor or Kubernetes (updating a
//! mounted ConfigMap) replaces a file by renaming another over it, or swaps a symbolic
//! link, and a watch on the old file would see nothing more. Any event in a watched
//! directory counts; what changed is told by the files' contents. A file written in
//! several steps is read once writes pause, and read again at each further change until
//! it parses or [`DEBOUNCE`] has passed since the first; then a broken file is refused.
//!
//! A reload swaps the new routing in: requests already routed finish on the old one, later
//! ones take the new. When only the rules changed, the router takes them in place and the
//! mirrors that stay keep their counters, pause and share; when the endpoints changed, the
//! routing is built anew and every mirror starts new counters.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::routing::{MirrorEntry, Routing, RoutingSettings};
use crate::rule_files::configuration_files;

/// How long after a change a file that does not parse is still waited for.
const DEBOUNCE: Duration = Duration::from_secs(2);
/// How long writes must pause before a changed file is read.
const SETTLE: Duration = Duration::from_millis(100);

/// What `GET /config` tells about reloads.
#[derive(Debug, Default)]
pub(crate) struct ReloadStatus(Mutex<Reloads>);

#[derive(Clone, Debug, Default, Serialize)]
struct Reloads {
    reloaded: u64,
    refused: u64,
    /// The last refusal's error and when, if the config in force is not the files'.
    refusal: Option<Refusal>,
}

#[derive(Clone, Debug, Serialize)]
struct Refusal {
    at: String,
    error: String,
}

impl ReloadStatus {
    fn update(&self, f: impl FnOnce(&mut Reloads)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

impl Serialize for ReloadStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reloads = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        reloads.serialize(serializer)
    }
}

/// Mirrors replaced by a reload, still finishing copies from before it: shutdown waits
/// for them too.
#[derive(Debug, Default)]
pub(crate) struct Retired(Mutex<Vec<MirrorEntry>>);

impl Retired {
    fn add(&self, mirrors: &[MirrorEntry]) {
        let mut retired = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|m| m.handle.in_flight() > 0);
        retired.extend(mirrors.iter().cloned());
    }

    pub(crate) fn take(&self) -> Vec<MirrorEntry> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Rebuilds the routing from its files and swaps it in.
#[derive(Debug)]
pub(crate) struct Reloader {
    pub(crate) settings: RoutingSettings,
    pub(crate) routing: Arc<ArcSwap<Routing>>,
    pub(crate) status: Arc<ReloadStatus>,
    pub(crate) retired: Arc<Retired>,
}

impl Reloader {
    /// Starts listening for SIGHUP and watching the files, before the proxy says it is
    /// ready, so that no change made after that is missed.
    pub(crate) fn start(self) -> Watching {
        let files = self.settings.watched_files();
        let changed = Arc::new(Notify::new());
        let watcher = watch(&files, changed.clone()).unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot watch the rules and endpoints files; they \
                reload on SIGHUP only");
            None
        });
        let loaded = fingerprint(&files);
        Watching {
            reloader: self,
            hangup: Hangup::new(),
            _watcher: watcher,
            files,
            changed,
            loaded,
        }
    }
}

/// A [`Reloader`] listening for SIGHUP and file changes.
#[derive(Debug)]
pub(crate) struct Watching {
    reloader: Reloader,
    hangup: Hangup,
    /// Kept alive while this runs: dropping it ends the watch.
    _watcher: Option<notify::RecommendedWatcher>,
    files: Vec<PathBuf>,
    changed: Arc<Notify>,
    /// The fingerprint of the files as last read.
    loaded: u64,
}

impl Watching {
    /// Reloads on SIGHUP and on changes to the files until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.hangup.recv() => {
                    if self.files.is_empty() {
                        tracing::info!("SIGHUP: nothing to reload without --rules");
                        continue;
                    }
                    self.loaded = fingerprint(&self.files);
                    match self.reloader.rebuild() {
                        Ok(routing) => self.reloader.apply(routing),
                        Err(error) => self.reloader.refuse(&error),
                    }
                }
                () = self.changed.notified() => self.settle_and_reload().await,
                () = crate::stop::stopped(&mut stop) => return,
            }
        }
    }

    async fn settle_and_reload(&mut self) {
        let (files, changed) = (&self.files, &*self.changed);
        let deadline = Instant::now() + DEBOUNCE;
        loop {
            // Wait for the writes to pause.
            loop {
                tokio::select! {
                    () = changed.notified() => continue,
                    () = tokio::time::sleep(SETTLE) => break,
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
            let now = fingerprint(files);
            if now == self.loaded {
                // Something else in the directory changed, or ours changed back.
                return;
            }
            match self.reloader.rebuild() {
                Ok(routing) => {
                    self.loaded = now;
                    self.reloader.apply(routing);
                    return;
                }
                Err(error) if Instant::now() >= deadline => {
                    self.loaded = now;
                    self.reloader.refuse(&error);
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, "a changed file does not parse yet; waiting for \
                        more writes");
                    tokio::select! {
                        () = changed.notified() => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
            }
        }
    }
}

impl Reloader {
    fn rebuild(&self) -> Result<Routing, String> {
        self.settings.reload(&self.routing.load())
    }

    fn apply(&self, routing: Routing) {
        let (rules, mirrors) = (routing.rules.len(), routing.mirrors.len());
        let kept: BTreeSet<String> = routing.mirrors.iter().map(|m| m.name.clone()).collect();
        let old = self.routing.swap(Arc::new(routing));
        let replaced: Vec<MirrorEntry> = old
            .mirrors
            .iter()
            .filter(|m| !kept.contains(&m.name))
            .cloned()
            .collect();
        self.retired.add(&replaced);
        self.status.update(|s| {
            s.reloaded += 1;
            s.refusal = None;
        });
        tracing::info!("reloaded: {rules} rules, {mirrors} mirrors");
    }

    fn refuse(&self, error: &str) {
        self.status.update(|s| {
            s.refused += 1;
            s.refusal = Some(Refusal {
                at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                error: error.to_owned(),
            });
        });
        tracing::warn!("reload refused: {error}; keeping the previous config");
    }
}

/// Watches the directories of `files` (a directory given itself), waking `changed` on
/// any event in them.
fn watch(
    files: &[PathBuf],
    changed: Arc<Notify>,
) -> notify::Result<Option<notify::RecommendedWatcher>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            changed.notify_one();
        }
    })?;
    let directories: BTreeSet<PathBuf> = files
        .iter()
        .map(|path| {
            if path.is_dir() {
                path.clone()
            } else {
                match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                }
            }
        })
        .collect();
    for directory in &directories {
        watcher.watch(directory, RecursiveMode::NonRecursive)?;
    }
    Ok(Some(watcher))
}

/// What the files hold now (a directory: its configuration files), as one hash.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for path in files {
        let contents: Vec<PathBuf> = if path.is_dir() {
            configuration_files(path).unwrap_or_default()
        } else {
            vec![path.clone()]
        };
        for file in contents {
            file.hash(&mut hasher);
            read_or_error(&file).hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn read_or_error(file: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| e.kind().to_string())
}

/// SIGHUP, received for as long as this lives (never, where there are no signals).
#[derive(Debug)]
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGHUP"))
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            signal.recv().await;
            return;
        }
        std::future::pending().await
    }
}
