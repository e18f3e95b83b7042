//! Real Istio files (listed with their sources in `tests/istio/corpus/README.md`, fetched
//! by `fetch.sh` into `TOWER_MIRROR_ISTIO_CORPUS`) against their expected outcome
//! (`tests/istio/corpus/expected.json`): the rules each file yields, or where it is
//! refused, the foreign kinds skipped, and routing probes through `istio::Router` with mock
//! backends. Each check names the behaviour it depends on (`needs` in the manifest: hosts,
//! foreign kinds, validation, applied fields, messages); failures are printed grouped by it.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Service, ServiceExt};
use tower_mirror::istio::{Config, ConfigError, Router};
use tower_mirror::route::{Backends, Labels};

/// Copies carry this header (set on every mirror layer), so a backend can tell them apart.
const COPY_HEADER: &str = "x-corpus-copy";

/// The manifest and the README (in the repository).
fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/istio/corpus")
}

/// The Istio files themselves: not in the repository (see the README's `fetch.sh`).
fn corpus_dir() -> PathBuf {
    match std::env::var_os("TOWER_MIRROR_ISTIO_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "set TOWER_MIRROR_ISTIO_CORPUS to the directory tests/istio/corpus/fetch.sh filled"
        ),
    }
}

fn manifest() -> Vec<Value> {
    let path = manifest_dir().join("expected.json");
    let text = std::fs::read_to_string(&path).expect("tests/istio/corpus/expected.json exists");
    let json: Value = serde_json::from_str(&text).expect("expected.json is valid JSON");
    json["cases"].as_array().expect("`cases` is a list").clone()
}

/// The files of a case as one input: concatenated documents, as several files mounted
/// together would be read today.
fn input(case: &Value) -> String {
    let mut text = String::new();
    for file in strings(&case["files"]) {
        if !text.is_empty() {
            text.push_str("---\n");
        }
        let path = corpus_dir().join(&file);
        let content = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
        text.push_str(&content);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn points(value: &Value) -> BTreeSet<u64> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn labels(value: &Value) -> Labels {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `word` occurs in `text` with no letter, digit, `-` or `_` right before or after it, so
/// `Service` is not found in `ServiceEntry` nor `alpha` in `alpha-l`.
fn contains_word(text: &str, word: &str) -> bool {
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_part) && !after.is_some_and(is_part)
    })
}

/// One expectation checked against today's code.
struct Check {
    case: String,
    what: String,
    needs: BTreeSet<u64>,
    outcome: Result<(), String>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn add(
        &mut self,
        case: &str,
        what: impl Into<String>,
        needs: &BTreeSet<u64>,
        outcome: Result<(), String>,
    ) {
        self.0.push(Check {
            case: case.to_owned(),
            what: what.into(),
            needs: needs.clone(),
            outcome,
        });
    }
}

fn with(needs: &BTreeSet<u64>, more: impl IntoIterator<Item = u64>) -> BTreeSet<u64> {
    let mut all = needs.clone();
    all.extend(more);
    all
}

fn located(err: &ConfigError) -> String {
    format!("refused: {err} (path {:?})", err.path())
}

fn check_refusal(
    checks: &mut Checks,
    name: &str,
    needs: &BTreeSet<u64>,
    case: &Value,
    result: &Result<Config, ConfigError>,
) {
    // Refused today and refused by the target too (maybe elsewhere): never loads.
    let always = BTreeSet::new();
    let err = match result {
        Ok(config) => {
            checks.add(
                name,
                "refused",
                &always,
                Err(format!("loaded with {} rules", config.rules().len())),
            );
            return;
        }
        Err(err) => err,
    };
    checks.add(name, "refused", &always, Ok(()));

    let alternatives = case["refusal"].as_array().cloned().unwrap_or_default();
    let place_matches = |alt: &Value| {
        let document_ok = match alt.get("document") {
            None => true,
            Some(Value::Null) => err.document().is_none(),
            Some(doc) => doc.as_u64().map(|d| d as usize) == err.document(),
        };
        let path_ok = match (alt.get("path"), alt.get("path_prefix")) {
            (Some(path), _) => path.as_str() == Some(err.path()),
            (None, Some(prefix)) => err.path().starts_with(prefix.as_str().unwrap_or_default()),
            (None, None) => true,
        };
        document_ok && path_ok
    };
    let Some(alt) = alternatives.iter().find(|alt| place_matches(alt)) else {
        let wanted: Vec<String> = alternatives.iter().map(Value::to_string).collect();
        checks.add(
            name,
            "refusal at the expected document and path",
            needs,
            Err(format!(
                "{}; expected one of {}",
                located(err),
                wanted.join(" or ")
            )),
        );
        return;
    };
    checks.add(
        name,
        "refusal at the expected document and path",
        needs,
        Ok(()),
    );

    if let Some(line) = alt.get("line").and_then(Value::as_u64) {
        let outcome = if err.line() == Some(line as usize) {
            Ok(())
        } else {
            Err(format!("{}; expected line {line}", located(err)))
        };
        checks.add(
            name,
            format!("refusal at line {line}"),
            &with(needs, points(&alt["line_needs"])),
            outcome,
        );
    }
    if let Some(words) = alt.get("message_contains").and_then(Value::as_str) {
        let outcome = if err
            .to_string()
            .to_lowercase()
            .contains(&words.to_lowercase())
        {
            Ok(())
        } else {
            Err(format!(
                "{}; expected the message to mention {words:?}",
                located(err)
            ))
        };
        checks.add(
            name,
            format!("refusal message mentions {words:?}"),
            &with(needs, points(&alt["message_needs"])),
            outcome,
        );
    }
}

fn describe_rule(rule: &tower_mirror::istio::Rule) -> String {
    let splits: Vec<String> = rule
        .splits
        .iter()
        .map(|s| format!("{{{}}}:{}", s.labels, s.weight))
        .collect();
    let mirrors: Vec<String> = rule
        .mirrors
        .iter()
        .map(|m| format!("{} {{{}}} {}%", m.destination, m.labels, m.percent))
        .collect();
    format!(
        "{} hosts={:?} -> {} prec={} matches={} splits=[{}] mirrors=[{}]",
        rule.name,
        rule.hosts,
        rule.destination,
        rule.precedence,
        rule.matches.len(),
        splits.join(", "),
        mirrors.join(", ")
    )
}

fn compare_rule(actual: &tower_mirror::istio::Rule, expected: &Value) -> Result<(), String> {
    let mut wrong = Vec::new();
    if let Some(name) = expected.get("name").and_then(Value::as_str)
        && actual.name != name
    {
        wrong.push(format!("name {name:?}"));
    }
    if let Some(hosts) = expected.get("hosts")
        && actual.hosts != strings(hosts)
    {
        wrong.push(format!("hosts {hosts}"));
    }
    if expected["destination"].as_str() != Some(actual.destination.as_str()) {
        wrong.push(format!("destination {}", expected["destination"]));
    }
    if let Some(precedence) = expected.get("precedence").and_then(Value::as_i64)
        && i64::from(actual.precedence) != precedence
    {
        wrong.push(format!("precedence {precedence}"));
    }
    if let Some(matches) = expected.get("matches").and_then(Value::as_u64)
        && actual.matches.len() as u64 != matches
    {
        wrong.push(format!("{matches} match entries"));
    }
    let splits: Vec<(Labels, u64)> = expected["splits"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|s| {
                    (
                        labels(&s["labels"]),
                        s["weight"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let actual_splits: Vec<(Labels, u64)> = actual
        .splits
        .iter()
        .map(|s| (s.labels.clone(), u64::from(s.weight)))
        .collect();
    if splits != actual_splits {
        wrong.push(format!("splits {}", expected["splits"]));
    }
    let mirrors = expected["mirrors"].as_array().cloned().unwrap_or_default();
    let mirrors_ok = mirrors.len() == actual.mirrors.len()
        && mirrors.iter().zip(&actual.mirrors).all(|(want, got)| {
            want["destination"].as_str() == Some(got.destination.as_str())
                && labels(&want["labels"]) == got.labels
                && want["percent"]
                    .as_f64()
                    .is_some_and(|p| (p - got.percent).abs() < 1e-9)
        });
    if !mirrors_ok {
        wrong.push(format!("mirrors {}", expected["mirrors"]));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "got {}; expected {}",
            describe_rule(actual),
            wrong.join(", ")
        ))
    }
}

fn check_rules(
    checks: &mut Checks,
    name: &str,
    needs: &BTreeSet<u64>,
    case: &Value,
    config: &Config,
) {
    let expected = case["rules"].as_array().cloned().unwrap_or_default();
    let actual = config.rules();
    let outcome = if actual.len() == expected.len() {
        Ok(())
    } else {
        let got: Vec<String> = actual.iter().map(describe_rule).collect();
        Err(format!("{} rules: {got:#?}", actual.len()))
    };
    checks.add(name, format!("{} rules", expected.len()), needs, outcome);
    for (i, want) in expected.iter().enumerate() {
        let outcome = match actual.get(i) {
            Some(rule) => compare_rule(rule, want),
            None => Err("missing".to_owned()),
        };
        checks.add(name, format!("rule {i}"), needs, outcome);
    }
}

fn check_warnings(
    checks: &mut Checks,
    name: &str,
    needs: &BTreeSet<u64>,
    case: &Value,
    config: &Config,
) {
    let warnings = config.warnings();
    let skipped = case["skipped"].as_array().cloned().unwrap_or_default();
    if !skipped.is_empty() {
        // Each skipped resource has a warning naming its kind and name.
        let mut missing = Vec::new();
        let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in &skipped {
            let kind = entry["kind"].as_str().unwrap_or_default();
            let resource = entry["name"].as_str().unwrap_or_default();
            *per_kind.entry(kind).or_default() += 1;
            if !warnings
                .iter()
                .any(|w| contains_word(w, kind) && contains_word(w, resource))
            {
                missing.push(format!("{kind} {resource}"));
            }
        }
        for (kind, count) in &per_kind {
            let found = warnings.iter().filter(|w| contains_word(w, kind)).count();
            if found < *count {
                missing.push(format!("{count} warnings for {kind} (found {found})"));
            }
        }
        let outcome = if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "no warning for {missing:?}; warnings: {warnings:#?}"
            ))
        };
        checks.add(
            name,
            format!("{} foreign resources skipped with a warning", skipped.len()),
            &with(needs, [3]),
            outcome,
        );

        // ... and those warnings come in file order.
        let mut from = 0;
        let mut out_of_order = None;
        for entry in &skipped {
            let kind = entry["kind"].as_str().unwrap_or_default();
            let resource = entry["name"].as_str().unwrap_or_default();
            match warnings
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, w)| contains_word(w, kind) && contains_word(w, resource))
            {
                Some((i, _)) => from = i + 1,
                None => {
                    out_of_order = Some(format!("{kind} {resource}"));
                    break;
                }
            }
        }
        let outcome = match out_of_order {
            None => Ok(()),
            Some(entry) => Err(format!(
                "no warning for {entry} after the previous one; warnings: {warnings:#?}"
            )),
        };
        checks.add(
            name,
            "skip warnings in file order",
            &with(needs, [3, 6]),
            outcome,
        );
    }
    for field in strings(&case["not_warned"]) {
        let warned: Vec<&String> = warnings.iter().filter(|w| w.contains(&field)).collect();
        let outcome = if warned.is_empty() {
            Ok(())
        } else {
            Err(format!("warned instead of applied: {warned:?}"))
        };
        checks.add(
            name,
            format!("`{field}` applied, not warned"),
            &with(needs, [5]),
            outcome,
        );
    }
}

/// What a mock backend received.
#[derive(Clone, Debug)]
struct Hit {
    destination: String,
    labels: Labels,
    path: String,
    headers: HeaderMap,
    copy: bool,
}

type Log = Arc<Mutex<Vec<Hit>>>;

/// A backend usable as a primary (any body) and as a shadow (`Full<Bytes>`), as
/// `HttpUpstream` is: it reads the body (a copy is only sent once the primary has read the
/// whole body), records what it got and answers 200.
#[derive(Clone)]
struct Mock {
    destination: String,
    labels: Labels,
    log: Log,
}

type MockFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for Mock
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = MockFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let hit = Hit {
            destination: self.destination.clone(),
            labels: self.labels.clone(),
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
            copy: req.headers().contains_key(COPY_HEADER),
        };
        self.log.lock().expect("log lock").push(hit);
        let body = format!("{} {{{}}}", self.destination, self.labels);
        Box::pin(async move {
            let _ = req.into_body().collect().await;
            Ok(Response::new(Full::from(body)))
        })
    }
}

/// Backends for every destination the config or the expectations name: one instance per
/// distinct non-empty label set (a selector without labels matches them all), or one
/// unlabelled instance when no label set is named.
fn router(config: &Config, case: &Value, log: &Log) -> Result<Router, String> {
    let mut selectors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |destination: &str, labels: &Labels| {
        let entry = selectors.entry(destination.to_owned()).or_default();
        if !labels.is_empty() {
            entry.insert(labels.to_string());
        }
    };
    for rule in config.rules() {
        add(&rule.destination, &Labels::default());
        for split in &rule.splits {
            add(&rule.destination, &split.labels);
        }
        for mirror in &rule.mirrors {
            add(&mirror.destination, &mirror.labels);
        }
    }
    for probe in case["probes"].as_array().into_iter().flatten() {
        for key in ["served_by", "copies", "copies_maybe"] {
            for target in probe[key].as_array().into_iter().flatten() {
                add(
                    target["destination"].as_str().unwrap_or_default(),
                    &labels(&target["labels"]),
                );
            }
        }
    }
    let mut builder = Router::builder(config);
    for (destination, label_sets) in selectors {
        let mut instances: Vec<Labels> = label_sets
            .iter()
            .map(|text| {
                text.parse::<Labels>()
                    .expect("Labels round-trip through Display")
            })
            .collect();
        if instances.is_empty() {
            instances.push(Labels::default());
        }
        let backends =
            instances
                .into_iter()
                .fold(Backends::new(destination.clone()), |b, labels| {
                    b.with(
                        labels.clone(),
                        Mock {
                            destination: destination.clone(),
                            labels,
                            log: log.clone(),
                        },
                    )
                });
        builder = builder.backends(backends);
    }
    builder
        // Copies of these instant mocks pile up until the test yields: no overload drops.
        .configure_mirrors(|layer| layer.header(COPY_HEADER, "1").max_in_flight(1 << 20))
        .seed(13)
        .build()
        .map_err(|e| format!("router not built: {e}"))
}

fn target_matches(hit: &Hit, target: &Value) -> bool {
    target["destination"].as_str() == Some(hit.destination.as_str())
        && hit.labels.matches(&labels(&target["labels"]))
}

async fn run_probe(router: &Router, log: &Log, probe: &Value) -> Result<(), String> {
    log.lock().expect("log lock").clear();
    let method = Method::from_bytes(probe["method"].as_str().unwrap_or("GET").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut request = Request::builder()
        .method(method)
        .uri(probe["path"].as_str().unwrap_or("/"))
        .header(
            http::header::HOST,
            probe["host"].as_str().unwrap_or_default(),
        );
    for (name, value) in probe["headers"].as_object().into_iter().flatten() {
        request = request.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    let request = request
        .body(Full::<Bytes>::default())
        .map_err(|e| e.to_string())?;

    let call = async {
        let response = router.clone().oneshot(request).await?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        router.wait_idle().await;
        Ok::<_, tower::BoxError>(status)
    };
    let status = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|e| format!("router error: {e}"))?;

    let hits = log.lock().expect("log lock").clone();
    let primaries: Vec<&Hit> = hits.iter().filter(|h| !h.copy).collect();
    let copies: Vec<&Hit> = hits.iter().filter(|h| h.copy).collect();
    let seen = || {
        let show = |h: &&Hit| format!("{} {{{}}} {}", h.destination, h.labels, h.path);
        format!(
            "status {status}, served by {:?}, copies to {:?}",
            primaries.iter().map(show).collect::<Vec<_>>(),
            copies.iter().map(show).collect::<Vec<_>>()
        )
    };

    let want_status = probe["status"].as_u64().unwrap_or(200);
    if u64::from(status.as_u16()) != want_status {
        return Err(format!("{}; expected status {want_status}", seen()));
    }
    let served_by = probe["served_by"].as_array().cloned().unwrap_or_default();
    if served_by.is_empty() {
        if !primaries.is_empty() {
            return Err(format!("{}; expected no backend to be called", seen()));
        }
    } else if primaries.len() != 1 || !served_by.iter().any(|t| target_matches(primaries[0], t)) {
        return Err(format!(
            "{}; expected one of {}",
            seen(),
            probe["served_by"]
        ));
    }
    if let Some(path) = probe.get("backend_path").and_then(Value::as_str)
        && primaries.first().map(|h| h.path.as_str()) != Some(path)
    {
        return Err(format!(
            "{}; expected the backend to see path {path}",
            seen()
        ));
    }
    for (name, value) in probe["backend_headers"].as_object().into_iter().flatten() {
        let got = primaries
            .first()
            .and_then(|h| h.headers.get(name.as_str()))
            .and_then(|v| v.to_str().ok());
        if got != value.as_str() {
            return Err(format!(
                "{}; expected the backend to see {name}: {value}, got {got:?}",
                seen()
            ));
        }
    }
    if let Some(expected) = probe.get("copies").and_then(Value::as_array) {
        let maybe = probe["copies_maybe"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for target in expected {
            if !copies.iter().any(|h| target_matches(h, target)) {
                return Err(format!("{}; expected a copy to {target}", seen()));
            }
        }
        if let Some(extra) = copies
            .iter()
            .find(|h| !expected.iter().chain(&maybe).any(|t| target_matches(h, t)))
        {
            return Err(format!(
                "{}; unexpected copy to {} {{{}}}",
                seen(),
                extra.destination,
                extra.labels
            ));
        }
    }
    Ok(())
}

async fn check_probes(
    checks: &mut Checks,
    name: &str,
    needs: &BTreeSet<u64>,
    case: &Value,
    config: Option<&Config>,
) {
    let probes = case["probes"].as_array().cloned().unwrap_or_default();
    if probes.is_empty() {
        return;
    }
    let log = Log::default();
    let built = match config {
        Some(config) => router(config, case, &log),
        None => Err("config refused".to_owned()),
    };
    for probe in &probes {
        let what = format!(
            "{} {} Host: {}{}",
            probe["method"].as_str().unwrap_or("GET"),
            probe["path"].as_str().unwrap_or("/"),
            probe["host"].as_str().unwrap_or_default(),
            probe["headers"]
                .as_object()
                .map(|h| format!(" {}", Value::Object(h.clone())))
                .unwrap_or_default()
        );
        let outcome = match &built {
            Ok(router) => run_probe(router, &log, probe).await,
            Err(e) => Err(e.clone()),
        };
        checks.add(
            name,
            format!("probe {what}"),
            &with(needs, points(&probe["needs"])),
            outcome,
        );
    }
}

async fn check_case(checks: &mut Checks, case: &Value) {
    let name = case["name"].as_str().unwrap_or("unnamed").to_owned();
    let needs = points(&case["needs"]);
    let text = input(case);

    let loaded = catch_unwind(AssertUnwindSafe(|| Config::from_yaml(&text)));
    let result = match loaded {
        Ok(result) => {
            checks.add(&name, "no panic", &BTreeSet::new(), Ok(()));
            result
        }
        Err(_) => {
            checks.add(
                &name,
                "no panic",
                &BTreeSet::new(),
                Err("Config::from_yaml panicked".to_owned()),
            );
            return;
        }
    };

    match case["expect"].as_str() {
        Some("refused") => check_refusal(checks, &name, &needs, case, &result),
        Some("ok") => {
            let outcome = result.as_ref().map(|_| ()).map_err(located);
            checks.add(&name, "loads", &needs, outcome);
            match &result {
                Ok(config) => {
                    check_rules(checks, &name, &needs, case, config);
                    check_warnings(checks, &name, &needs, case, config);
                }
                Err(_) => {
                    // The dependent checks fail too, each with its own points.
                    let empty = Config::default();
                    let mut dependent = Checks::default();
                    check_rules(&mut dependent, &name, &needs, case, &empty);
                    check_warnings(&mut dependent, &name, &needs, case, &empty);
                    for check in dependent.0 {
                        checks.add(
                            &name,
                            check.what,
                            &check.needs,
                            Err("not loaded".to_owned()),
                        );
                    }
                }
            }
            check_probes(checks, &name, &needs, case, result.as_ref().ok()).await;
        }
        other => panic!("case {name:?}: `expect` must be \"ok\" or \"refused\", not {other:?}"),
    }
}

/// The manifest is well formed: every case names files the README gives a source for,
/// refusals are single-file (their document and line are the file's own).
#[test]
fn manifest_is_consistent() {
    let cases = manifest();
    let readme =
        std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md exists");
    for case in &cases {
        let name = case["name"].as_str().expect("every case has a name");
        let files = strings(&case["files"]);
        assert!(!files.is_empty(), "case {name:?} names no file");
        for point in points(&case["needs"]) {
            assert!(
                (1..=7).contains(&point),
                "case {name:?}: issue 13 has points 1 to 7"
            );
        }
        if case["expect"] == "refused" {
            assert_eq!(files.len(), 1, "refused case {name:?} must load one file");
            assert!(
                case["refusal"].as_array().is_some_and(|a| !a.is_empty()),
                "case {name:?}"
            );
        }
        for file in files {
            assert!(
                readme.contains(&format!("`{file}`")),
                "case {name:?}: {file} has no source in README.md"
            );
        }
    }
}

/// Every downloaded file is used by a case and every case's files are there.
#[test]
#[ignore = "needs the Istio files: see tests/istio/corpus/README.md"]
fn corpus_is_complete() {
    let readme =
        std::fs::read_to_string(manifest_dir().join("README.md")).expect("README.md exists");
    let mut used = BTreeSet::new();
    for case in manifest() {
        let name = case["name"]
            .as_str()
            .expect("every case has a name")
            .to_owned();
        for file in strings(&case["files"]) {
            assert!(
                corpus_dir().join(&file).is_file(),
                "case {name:?}: no file {file}"
            );
            used.insert(file);
        }
    }
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let file = entry
            .expect("directory entry")
            .file_name()
            .into_string()
            .expect("UTF-8 name");
        assert!(
            used.contains(&file),
            "{file} is in no case of expected.json"
        );
        assert!(readme.contains(&file), "{file} has no source in README.md");
    }
}

#[tokio::test]
#[ignore = "needs the Istio files: see tests/istio/corpus/README.md"]
async fn corpus_files_meet_their_expectations() {
    let mut checks = Checks::default();
    for case in manifest() {
        check_case(&mut checks, &case).await;
    }

    let mut report = String::new();
    let strict_failures: Vec<&Check> = checks
        .0
        .iter()
        .filter(|c| c.needs.is_empty() && c.outcome.is_err())
        .collect();
    let pending: Vec<&Check> = checks.0.iter().filter(|c| !c.needs.is_empty()).collect();
    let pending_failures = pending.iter().filter(|c| c.outcome.is_err()).count();
    let _ = writeln!(
        report,
        "{} checks on {} cases: {} need nothing from issue 13 ({} fail); \
         {} need issue 13 ({} already pass, {} fail)",
        checks.0.len(),
        manifest().len(),
        checks.0.len() - pending.len(),
        strict_failures.len(),
        pending.len(),
        pending.len() - pending_failures,
        pending_failures
    );
    // Grouped by the exact set of points a check needs, so no check is counted twice.
    let mut groups: BTreeMap<Vec<u64>, Vec<&Check>> = BTreeMap::new();
    for check in &pending {
        groups
            .entry(check.needs.iter().copied().collect())
            .or_default()
            .push(check);
    }
    for (needs, group) in &groups {
        let failing: Vec<&&Check> = group.iter().filter(|c| c.outcome.is_err()).collect();
        let points: Vec<String> = needs.iter().map(u64::to_string).collect();
        let _ = writeln!(
            report,
            "\nneeds issue 13 point {}: {} fail, {} already pass",
            points.join(" + "),
            failing.len(),
            group.len() - failing.len()
        );
        for check in group {
            let status = match &check.outcome {
                Ok(()) => "passes already".to_owned(),
                Err(e) => e.clone(),
            };
            let _ = writeln!(report, "  {} / {}: {status}", check.case, check.what);
        }
    }
    for check in &strict_failures {
        let _ = writeln!(
            report,
            "\nFAILED (needs nothing from issue 13) {} / {}: {}",
            check.case,
            check.what,
            check.outcome.as_ref().err().map_or("", String::as_str)
        );
    }
    println!("{report}");

    assert!(strict_failures.is_empty(), "{report}");
    assert_eq!(pending_failures, 0, "{report}");
}
