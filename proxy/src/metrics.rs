//! `GET /metrics` (feature `metrics`): a Prometheus recorder, installed before any mirror
//! is built so that every mirror's series register with it.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often the recorder folds histogram samples into what it renders.
const UPKEEP: Duration = Duration::from_secs(5);

/// The shadow's latency as a histogram (not a summary), so that it sums across replicas:
/// `histogram_quantile(0.99, sum by (le, mirror) (rate(..._bucket[5m])))`. Prometheus's
/// default buckets, with two below 5 ms for shadows on the same host.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process's recorder; returns what renders it. Needs the runtime (its
/// upkeep runs on a task).
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("tower_mirror_shadow_duration_seconds".into()),
            &DURATION_BUCKETS,
        )
        .map_err(|e| format!("cannot set the metrics' buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
