//! Concurrent clients sending generated requests and checking every answer.

use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

use super::spec::{ReqBody, Spec};
use crate::rng::Rng;

/// What the clients saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub requests: usize,
    pub errors: usize,
    pub wrong_bodies: usize,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl LoadReport {
    /// The `p`-th percentile (0..=100) of the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank]
    }
}

/// Pause between a client's requests.
const THINK_TIME: Duration = Duration::from_millis(1);

/// `clients` concurrent tasks, each sending `per_client` generated requests in turn and
/// checking every response body against [`Spec::expected`]. The same seed gives the same
/// requests, so a run with the layer and a run without it see the same load.
pub async fn drive<S, RB>(svc: S, clients: usize, per_client: usize, seed: u64) -> LoadReport
where
    S: Service<Request<ReqBody>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug + Send,
    RB: Body + Send + 'static,
    RB::Data: Send,
    RB::Error: std::fmt::Debug,
{
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let svc = svc.clone();
        let mut rng = Rng::new(seed ^ (client as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        tasks.spawn(async move {
            let mut report = LoadReport::default();
            for i in 0..per_client {
                let spec = Spec::random(&mut rng, (client * per_client + i) as u64);
                let sent = Instant::now();
                let result = svc.clone().oneshot(spec.request()).await;
                report.requests += 1;
                match result {
                    Ok(response) => match response.into_body().collect().await {
                        Ok(body) => {
                            report.latencies.push(sent.elapsed());
                            if body.to_bytes() != spec.expected() {
                                report.wrong_bodies += 1;
                            }
                        }
                        Err(_) => report.errors += 1,
                    },
                    Err(_) => report.errors += 1,
                }
                // A short think time: the load lasts several shadow timeouts (so held
                // copies turn over), and in-process calls, which never wait on I/O, cannot
                // run a client's requests in one poll and starve every other task.
                tokio::time::sleep(THINK_TIME).await;
            }
            report
        });
    }
    let mut total = LoadReport::default();
    while let Some(report) = tasks.join_next().await {
        let report = report.expect("a client task panicked");
        total.requests += report.requests;
        total.errors += report.errors;
        total.wrong_bodies += report.wrong_bodies;
        total.latencies.extend(report.latencies);
    }
    total.elapsed = start.elapsed();
    total
}
