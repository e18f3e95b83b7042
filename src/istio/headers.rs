//! Header changes a rule makes to the requests it forwards and the responses it returns:
//! Istio's `headers` (`request`/`response`, each `set`, `add`, `remove`).

use http::{HeaderMap, HeaderName, HeaderValue};

/// What a rule (or one of its destinations) changes in request and response headers.
///
/// ```
/// use tower_mirror::istio::Config;
///
/// let config = Config::from_yaml(r#"
/// apiVersion: networking.istio.io/v1
/// kind: VirtualService
/// metadata: {name: reviews}
/// spec:
///   hosts: [reviews]
///   http:
///   - headers:
///       request: {set: {x-env: test}}
///       response: {remove: [server]}
///     route: [{destination: {host: reviews}}]
/// "#)?;
/// let headers = &config.rules()[0].headers;
/// assert_eq!(headers.request.set[0].0, "x-env");
/// assert_eq!(headers.response.remove[0], "server");
/// # Ok::<(), tower_mirror::istio::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Headers {
    /// Applied to the request before it is forwarded (and mirrored).
    pub request: HeaderOperations,
    /// Applied to the response before the client gets it.
    pub response: HeaderOperations,
}

impl Headers {
    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// Changes to one header map, applied as Envoy applies Istio's: `remove` first, then
/// `set` (replacing every value of the header), then `add` (appending a value).
///
/// ```
/// use http::HeaderMap;
/// use tower_mirror::istio::HeaderOperations;
///
/// let mut ops = HeaderOperations::default();
/// ops.set.push(("x-env".parse().unwrap(), "test".parse().unwrap()));
/// ops.add.push(("x-trace".parse().unwrap(), "b".parse().unwrap()));
/// ops.remove.push("cookie".parse().unwrap());
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-env", "prod".parse().unwrap());
/// headers.insert("x-trace", "a".parse().unwrap());
/// headers.insert("cookie", "id=1".parse().unwrap());
/// ops.apply(&mut headers);
/// assert_eq!(headers["x-env"], "test");
/// assert_eq!(headers.get_all("x-trace").iter().count(), 2);
/// assert!(!headers.contains_key("cookie"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderOperations {
    /// Headers set to this value, replacing any present.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Values appended to these headers.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Headers removed.
    pub remove: Vec<HeaderName>,
}

impl HeaderOperations {
    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the changes to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}
