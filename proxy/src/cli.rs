//! The command line: every flag, its environment variable (`TOWER_MIRROR_PROXY_<FLAG>`) and
//! its default, as `--help` shows them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Parser, ValueEnum};

/// A shadowing reverse proxy: every request goes to the primary as usual, and a copy goes
/// to each shadow off the critical path, its answer ignored.
///
/// Give either `--primary` (with `--shadow`s), or Istio `--rules` with an `--endpoints`
/// file that says where each destination's labeled instances listen.
#[derive(Debug, Parser)]
#[command(name = "tower-mirror-proxy", version, about, long_about = None)]
#[command(group(ArgGroup::new("upstreams").required(true).args(["primary", "rules"])))]
#[command(
    after_help = "Every flag can also be set by its environment variable; lists \
    (--shadow, --rules) take comma-separated values there. Durations are written 500ms, \
    2s, 1m. Logs go to stderr (RUST_LOG, default info); stdout carries `listening on URL`, \
    the access log and the stats lines printed at exit."
)]
pub(crate) struct Args {
    /// Address to serve clients on (port 0: any free port; the URL is printed as
    /// `listening on URL`).
    #[arg(long, env = "TOWER_MIRROR_PROXY_LISTEN", value_name = "ADDR")]
    pub(crate) listen: SocketAddr,

    /// Where requests go: a base URL (http, or https with the rustls feature).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_PRIMARY",
        value_name = "URL",
        help_heading = "Upstreams"
    )]
    pub(crate) primary: Option<String>,

    /// Where copies go; repeat for several shadows.
    #[arg(long, env = "TOWER_MIRROR_PROXY_SHADOW", value_name = "URL", requires = "primary",
          action = ArgAction::Append, value_delimiter = ',', help_heading = "Upstreams")]
    pub(crate) shadow: Vec<String>,

    /// Speak HTTP/2 to every --shadow (prior knowledge: cleartext h2c for http URLs, only
    /// h2 offered by ALPN for https), all copies multiplexed on one connection per shadow.
    /// The shadows must accept HTTP/2 directly.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_SHADOW_HTTP2",
        requires = "shadow",
        help_heading = "Upstreams"
    )]
    pub(crate) shadow_http2: bool,

    /// Share of requests copied to each shadow, 0 to 100.
    #[arg(long, env = "TOWER_MIRROR_PROXY_PERCENT", value_name = "P", requires = "shadow",
          value_parser = percent, help_heading = "Upstreams")]
    pub(crate) percent: Option<f64>,

    /// Istio routing rules (RouteRule, VirtualService, DestinationRule): a YAML file or a
    /// directory of them (a mounted ConfigMap); repeat for several. Reloaded on SIGHUP and
    /// when a file changes.
    #[arg(long, env = "TOWER_MIRROR_PROXY_RULES", value_name = "FILE", requires = "endpoints",
          action = ArgAction::Append, value_delimiter = ',', help_heading = "Upstreams")]
    pub(crate) rules: Vec<PathBuf>,

    /// With --rules: each destination's labeled instances, as
    /// `httpbin: [{labels: {version: v1}, url: http://10.0.0.1:8000}]`. Reloaded with the
    /// rules.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_ENDPOINTS",
        value_name = "FILE",
        requires = "rules",
        help_heading = "Upstreams"
    )]
    pub(crate) endpoints: Option<PathBuf>,

    /// With --rules naming several hosts: the host whose rules serve requests for hosts
    /// no rule names.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_DEFAULT_HOST",
        value_name = "NAME",
        requires = "rules",
        help_heading = "Upstreams"
    )]
    pub(crate) default_host: Option<String>,

    /// Limit on each copy: the shadow's readiness, answer and body.
    #[arg(long, env = "TOWER_MIRROR_PROXY_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = duration, help_heading = "Mirroring")]
    pub(crate) timeout: Duration,

    /// Copy bodies up to this size whole; larger ones are handled as --oversize says.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_MAX_BODY_BYTES",
        value_name = "N",
        default_value_t = 1 << 20,
        help_heading = "Mirroring"
    )]
    pub(crate) max_body_bytes: usize,

    /// What to do with a body over --max-body-bytes: skip the copy, send it headers-only
    /// (marked `x-mirror-body-truncated: true`), or stream it to the shadow as the client
    /// sends it (bounded by --stream-window; with --primary and --shadow, not --rules).
    #[arg(long, env = "TOWER_MIRROR_PROXY_OVERSIZE", value_name = "WHAT",
          value_enum, default_value_t = OversizeFlag::Skip, help_heading = "Mirroring")]
    pub(crate) oversize: OversizeFlag,

    /// With --oversize stream: bytes a streamed copy may be ahead of its shadow; past them
    /// the copy is aborted (counted failed), never the client slowed.
    #[arg(long, env = "TOWER_MIRROR_PROXY_STREAM_WINDOW", value_name = "N",
          default_value = "65536", value_parser = at_least_one, help_heading = "Mirroring")]
    pub(crate) stream_window: usize,

    /// Copies in flight per mirror; more are dropped and counted, never queued. The
    /// default matches --upstream-max-connections', so no copy waits for a connection.
    #[arg(long, env = "TOWER_MIRROR_PROXY_MAX_IN_FLIGHT", value_name = "N", default_value = "256",
          value_parser = at_least_one, help_heading = "Mirroring")]
    pub(crate) max_in_flight: usize,

    /// Keep sending copies to a shadow that keeps failing (by default 5 failures in a row
    /// stop them, with probes after a back-off of up to 10 s).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_NO_CIRCUIT_BREAKER",
        help_heading = "Mirroring"
    )]
    pub(crate) no_circuit_breaker: bool,

    /// Compare each shadow answer with the primary's (status, headers, JSON fields); the
    /// report is printed at exit and served on --admin's /report.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_COMPARE",
        requires = "shadow",
        help_heading = "Mirroring"
    )]
    pub(crate) compare: bool,

    /// Answer 504 when the primary has not answered (its response head) in this time,
    /// counted from when the request arrives.
    #[arg(long, env = "TOWER_MIRROR_PROXY_PRIMARY_TIMEOUT", value_name = "D", default_value = "30s",
          value_parser = duration, help_heading = "Limits toward upstreams")]
    pub(crate) primary_timeout: Duration,

    /// Give up connecting to an upstream (primary or shadow) after this long.
    #[arg(long, env = "TOWER_MIRROR_PROXY_CONNECT_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = duration, help_heading = "Limits toward upstreams")]
    pub(crate) connect_timeout: Duration,

    /// Requests in flight to each upstream instance (over HTTP/1.1, one connection each);
    /// more wait their turn, within --primary-timeout (--timeout for copies).
    #[arg(long, env = "TOWER_MIRROR_PROXY_UPSTREAM_MAX_CONNECTIONS", value_name = "N",
          default_value = "256", value_parser = at_least_one,
          help_heading = "Limits toward upstreams")]
    pub(crate) upstream_max_connections: usize,

    /// Idle connections kept open to each upstream instance (closed after 30 s unused).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_UPSTREAM_MAX_IDLE",
        value_name = "N",
        default_value_t = 128,
        help_heading = "Limits toward upstreams"
    )]
    pub(crate) upstream_max_idle: usize,

    /// Time a client has to send a request's headers (and a TLS handshake), counted from
    /// when the proxy is ready to read them: an HTTP/1.1 connection waiting for its next
    /// request is closed after this too.
    #[arg(long, env = "TOWER_MIRROR_PROXY_HEADER_TIMEOUT", value_name = "D", default_value = "10s",
          value_parser = duration, help_heading = "Limits toward clients")]
    pub(crate) header_timeout: Duration,

    /// Close a client connection (HTTP/1.1 or HTTP/2) with no request in flight and no
    /// bytes moving for this long.
    #[arg(long, env = "TOWER_MIRROR_PROXY_IDLE_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = duration, help_heading = "Limits toward clients")]
    pub(crate) idle_timeout: Duration,

    /// Client connections open at once; past it new ones wait in the listen backlog.
    /// `auto`: half the open-file limit, at most 10000.
    #[arg(long, env = "TOWER_MIRROR_PROXY_MAX_CONNECTIONS", value_name = "N", default_value = "auto",
          value_parser = max_connections, help_heading = "Limits toward clients")]
    pub(crate) max_connections: MaxConnections,

    /// Concurrent requests (streams) per HTTP/2 client connection.
    #[arg(long, env = "TOWER_MIRROR_PROXY_MAX_H2_STREAMS", value_name = "N", default_value = "100",
          value_parser = at_least_one, help_heading = "Limits toward clients")]
    pub(crate) max_h2_streams: usize,

    /// Size of a request's headers (request line included); larger ones are answered 431.
    #[arg(long, env = "TOWER_MIRROR_PROXY_MAX_HEADER_BYTES", value_name = "N",
          default_value = "65536", value_parser = header_bytes,
          help_heading = "Limits toward clients")]
    pub(crate) max_header_bytes: usize,

    /// Do not append the client's address to X-Forwarded-For.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_NO_X_FORWARDED_FOR",
        help_heading = "Forwarding"
    )]
    pub(crate) no_x_forwarded_for: bool,

    /// Do not set X-Forwarded-Proto (http or https, as the client connected).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_NO_X_FORWARDED_PROTO",
        help_heading = "Forwarding"
    )]
    pub(crate) no_x_forwarded_proto: bool,

    /// Do not set X-Forwarded-Host (the Host the client asked for).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_NO_X_FORWARDED_HOST",
        help_heading = "Forwarding"
    )]
    pub(crate) no_x_forwarded_host: bool,

    /// Do not add `Via: <version> tower-mirror-proxy` to requests and responses.
    #[arg(long, env = "TOWER_MIRROR_PROXY_NO_VIA", help_heading = "Forwarding")]
    pub(crate) no_via: bool,

    /// Extra trust roots (PEM) for https upstreams, besides the public web's.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_CA_FILE",
        value_name = "PEM",
        help_heading = "TLS"
    )]
    pub(crate) ca_file: Option<PathBuf>,

    /// Client certificate chain (PEM) presented to https upstreams that ask for one.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_CLIENT_CERT",
        value_name = "PEM",
        requires = "client_key",
        help_heading = "TLS"
    )]
    pub(crate) client_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_CLIENT_KEY",
        value_name = "PEM",
        requires = "client_cert",
        help_heading = "TLS"
    )]
    pub(crate) client_key: Option<PathBuf>,

    /// Serve TLS on --listen with this certificate chain (PEM); ALPN offers h2 and
    /// http/1.1.
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key",
        help_heading = "TLS"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The serving certificate's private key (PEM).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert",
        help_heading = "TLS"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve /healthz, /stats, /config, /report, /metrics and POST /mirrors/pause,
    /// /mirrors/resume, /mirrors/percent?value=P on this address; a bare port binds to
    /// 127.0.0.1.
    #[arg(long, env = "TOWER_MIRROR_PROXY_ADMIN", value_name = "ADDR", value_parser = admin_addr,
          help_heading = "Operations")]
    pub(crate) admin: Option<SocketAddr>,

    /// Print one JSON line per request on stdout (time, client, method, path, status,
    /// duration, bytes, mirror decisions).
    #[arg(
        long,
        env = "TOWER_MIRROR_PROXY_ACCESS_LOG",
        help_heading = "Operations"
    )]
    pub(crate) access_log: bool,

    /// On SIGTERM or Ctrl-C: how long to wait for open requests and copies in flight,
    /// together, before exiting.
    #[arg(long, env = "TOWER_MIRROR_PROXY_DRAIN_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = duration, help_heading = "Operations")]
    pub(crate) drain_timeout: Duration,

    /// Runtime worker threads (1: a single-threaded runtime). Default: one per core.
    #[arg(long, env = "TOWER_MIRROR_PROXY_WORKER_THREADS", value_name = "N",
          value_parser = at_least_one, help_heading = "Operations")]
    pub(crate) worker_threads: Option<usize>,
}

/// `--max-connections`: a number, or `auto` (from the open-file limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaxConnections {
    Auto,
    Fixed(usize),
}

fn duration(value: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(value)
        .map_err(|e| format!("{e}; write durations as 500ms, 2s or 1m"))?;
    if parsed.is_zero() {
        return Err("must be longer than 0".into());
    }
    Ok(parsed)
}

fn percent(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| "expected a number from 0 to 100".into())
}

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// `--oversize`: what happens to a copy whose body is over `--max-body-bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
// Plain comments on the values: doc comments would turn clap's whole --help into its
// long layout.
pub(crate) enum OversizeFlag {
    // Not mirrored (counted skipped_body_too_large).
    Skip,
    // Sent without its body, marked `x-mirror-body-truncated: true`.
    HeadersOnly,
    // Streamed to the shadow as the client sends it.
    Stream,
}

/// hyper reads a request head into a buffer that cannot be smaller than 8 KiB.
fn header_bytes(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n >= 8192 => Ok(n),
        _ => Err("expected a byte count of at least 8192".into()),
    }
}

fn max_connections(value: &str) -> Result<MaxConnections, String> {
    if value == "auto" {
        return Ok(MaxConnections::Auto);
    }
    at_least_one(value)
        .map(MaxConnections::Fixed)
        .map_err(|e| format!("{e}, or auto"))
}

fn admin_addr(value: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    value
        .parse()
        .map_err(|_| "expected an address like 127.0.0.1:9901, or a port".into())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn durations_and_addresses_parse_as_documented() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(duration("0s").is_err());
        assert!(duration("5").unwrap_err().contains("500ms"));
        assert_eq!(
            admin_addr("9901"),
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 9901)))
        );
        assert_eq!(admin_addr("0.0.0.0:1"), Ok("0.0.0.0:1".parse().unwrap()));
        assert_eq!(max_connections("auto"), Ok(MaxConnections::Auto));
        assert_eq!(max_connections("12"), Ok(MaxConnections::Fixed(12)));
        assert!(max_connections("0").is_err());
        assert!(header_bytes("100").is_err());
        assert!(percent("100.5").is_err());
        assert_eq!(percent("12.5"), Ok(12.5));
    }
}
