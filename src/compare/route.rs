//! A request's route: the key the report groups comparisons by, `METHOD template`, from
//! [`CompareConfig::route_from`](super::CompareConfig::route_from) when set, else guessed
//! from the path.

use http::Request;

use super::config::RouteFrom;

/// The route `template` names for `req`, read before the request goes on to the
/// primary; `None` when it does not say (then the copy's path is guessed at).
pub(crate) fn route_from<B>(template: &RouteFrom, req: Request<B>) -> (Request<B>, Option<String>) {
    let (parts, body) = req.into_parts();
    let route = template(&parts).map(|t| format!("{} {t}", parts.method));
    (Request::from_parts(parts, body), route)
}

/// `GET /users/42/orders/9f8e…` → `GET /users/{n}/orders/{id}`: ids vary per request,
/// routes do not, and the report is per route.
pub(crate) fn route_key(method: &http::Method, path: &str) -> String {
    let mut key = String::with_capacity(method.as_str().len() + 1 + path.len());
    key.push_str(method.as_str());
    key.push(' ');
    if path.is_empty() {
        key.push('/');
    }
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            key.push('/');
        }
        let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
        let hex_id = segment.len() >= 16
            && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && segment.bytes().any(|b| b.is_ascii_digit());
        key.push_str(if digits {
            "{n}"
        } else if hex_id {
            "{id}"
        } else {
            segment
        });
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        let get = http::Method::GET;
        assert_eq!(route_key(&get, "/users/42"), "GET /users/{n}");
        assert_eq!(
            route_key(&get, "/o/123e4567-e89b-12d3-a456-426614174000/x"),
            "GET /o/{id}/x"
        );
        assert_eq!(route_key(&get, "/health"), "GET /health");
        assert_eq!(route_key(&get, "/"), "GET /");
    }
}
