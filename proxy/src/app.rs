//! The proxy's life: build the routing from the flags, serve clients (and the admin
//! address), reload on demand, and on SIGTERM or Ctrl-C drain and print each mirror's
//! stats.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::admin::{self, Admin};
use crate::cli::{Args, MaxConnections};
use crate::forwarding::Forwarding;
use crate::gateway::Gateway;
use crate::reload::{ReloadStatus, Reloader, Retired};
use crate::routing::{MirrorEntry, RoutingSettings};
use crate::server::{self, ClientLimits};
use crate::stats;
use crate::tls;

/// `--max-connections auto` never goes past this.
const AUTO_MAX_CONNECTIONS: usize = 10_000;

/// Why the proxy could not run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The flags or the files they name cannot be used (exit status 2).
    Usage(String),
    /// Something failed while running, such as binding the address (exit status 1).
    Runtime(String),
}

/// What the flags make of the proxy, checked before anything is served.
pub(crate) struct Proxy {
    args: Args,
    settings: RoutingSettings,
    tls: Option<tls::Acceptor>,
}

impl Proxy {
    pub(crate) fn new(args: Args) -> Result<Self, Failure> {
        // Mirrors record metrics only where they can be read: on --admin's /metrics.
        let metrics = cfg!(feature = "metrics") && args.admin.is_some();
        let settings = RoutingSettings::from_args(&args, metrics).map_err(Failure::Usage)?;
        let tls = tls::acceptor(&args).map_err(Failure::Usage)?;
        Ok(Self {
            args,
            settings,
            tls,
        })
    }

    pub(crate) async fn run(self) -> Result<(), Failure> {
        let Self {
            args,
            settings,
            tls,
        } = self;
        // Installed before the mirrors are built: their series register with it.
        #[cfg(feature = "metrics")]
        let prometheus = match args.admin {
            Some(_) => Some(crate::metrics::install().map_err(Failure::Runtime)?),
            None => None,
        };
        let routing = Arc::new(ArcSwap::from_pointee(
            settings.build().map_err(Failure::Usage)?,
        ));
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::Runtime(format!("cannot listen on {}: {e}", args.listen)))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.to_string()))?;

        let shutdown = ShutdownSignal::new();
        let status = Arc::new(ReloadStatus::default());
        let retired = Arc::new(Retired::default());
        let files: Vec<String> = settings
            .watched_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let reloader = Reloader {
            settings,
            routing: routing.clone(),
            status: status.clone(),
            retired: retired.clone(),
        }
        .start();
        let admin = match args.admin {
            Some(addr) => {
                let admin = Arc::new(Admin {
                    routing: routing.clone(),
                    reload: status,
                    files,
                    #[cfg(feature = "metrics")]
                    prometheus,
                });
                let bound = admin::serve(addr, admin).await.map_err(|e| {
                    Failure::Runtime(format!("cannot listen on {addr} (--admin): {e}"))
                })?;
                Some(bound)
            }
            None => None,
        };

        // The lines scripts and tests wait for, with the real ports.
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("listening on {scheme}://{local}");
        if let Some(admin) = admin {
            println!("admin on http://{admin}");
        }
        tracing::info!(%local, "ready");

        let (stop, stopped) = watch::channel(false);
        tokio::spawn(reloader.run(stopped.clone()));
        let stopping = tokio::spawn(async move {
            shutdown.recv().await;
            let at = Instant::now();
            let _ = stop.send(true);
            at
        });
        let gateway = Arc::new(Gateway {
            routing: routing.clone(),
            forwarding: Forwarding {
                x_forwarded_for: !args.no_x_forwarded_for,
                x_forwarded_proto: !args.no_x_forwarded_proto,
                x_forwarded_host: !args.no_x_forwarded_host,
                via: !args.no_via,
            },
            primary_timeout: args.primary_timeout,
            access_log: args.access_log,
        });
        let limits = ClientLimits {
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: max_connections(args.max_connections),
            max_h2_streams: args.max_h2_streams,
            max_header_bytes: args.max_header_bytes,
        };
        let left_open =
            server::serve(listener, gateway, tls, limits, stopped, args.drain_timeout).await;
        let signalled = stopping.await.unwrap_or_else(|_| Instant::now());

        // Copies get what is left of the drain time.
        let left = args.drain_timeout.saturating_sub(signalled.elapsed());
        let current = routing.load().mirrors.clone();
        let cut = drain(&current, &retired.take(), left).await;
        for (mirror, cut) in current.iter().zip(cut) {
            println!(
                "mirror {}: {} cut_at_shutdown={cut}",
                mirror.name,
                stats::line(&mirror.handle.stats())
            );
            #[cfg(feature = "compare")]
            if mirror.compare {
                print!("compare report:\n{}", mirror.handle.compare_report());
            }
        }
        if left_open > 0 {
            tracing::warn!(left_open, "exiting with client connections still open");
        }
        Ok(())
    }
}

/// Shuts every mirror down under one deadline; returns how many copies each of `current`
/// had cut.
async fn drain(current: &[MirrorEntry], retired: &[MirrorEntry], left: Duration) -> Vec<usize> {
    let all = current
        .iter()
        .chain(retired)
        .map(|m| m.handle.shutdown(left));
    let mut cut = futures_util::future::join_all(all).await;
    cut.truncate(current.len());
    cut
}

/// `--max-connections`, with `auto` from the open-file limit (raised to its hard limit
/// first, as servers usually do).
fn max_connections(flag: MaxConnections) -> usize {
    let n = match flag {
        MaxConnections::Fixed(n) => n,
        MaxConnections::Auto => open_file_limit()
            .map_or(AUTO_MAX_CONNECTIONS, |limit| {
                usize::try_from(limit / 2).unwrap_or(usize::MAX)
            })
            .clamp(1, AUTO_MAX_CONNECTIONS),
    };
    n.min(tokio::sync::Semaphore::MAX_PERMITS)
}

#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::debug!(%error, "cannot read the open-file limit");
            None
        }
    }
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Ctrl-C or SIGTERM (how orchestrators stop a process), listened for from when this is
/// made: a signal that comes before the proxy is ready is not lost.
struct ShutdownSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate())
                .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGTERM"))
                .ok();
            Self { term }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(mut self) {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Some(term) = &mut self.term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
