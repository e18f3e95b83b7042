//! What a proxy changes in the headers it passes on: hop-by-hop headers removed both ways,
//! and `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Via` telling the
//! upstream (and the shadows, which get the same request) where the request came from.

use std::net::IpAddr;

use http::header::{CONNECTION, HOST, HeaderName, HeaderValue, VIA};
use http::{HeaderMap, Uri, Version};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The name this proxy gives itself in `Via`.
const PSEUDONYM: &str = "tower-mirror-proxy";

/// Which forwarding headers are added (each on unless turned off by its flag).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forwarding {
    pub(crate) x_forwarded_for: bool,
    pub(crate) x_forwarded_proto: bool,
    pub(crate) x_forwarded_host: bool,
    pub(crate) via: bool,
}

/// Where a request came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client {
    pub(crate) ip: IpAddr,
    /// Whether it connected over TLS.
    pub(crate) tls: bool,
}

impl Forwarding {
    /// Prepares a client's request head for the upstream.
    pub(crate) fn request(
        &self,
        headers: &mut HeaderMap,
        uri: &Uri,
        version: Version,
        client: Client,
    ) {
        // First: a client must not be able to name our headers in `Connection` and so
        // have them removed further on.
        strip_hop_by_hop(headers);
        if self.x_forwarded_for {
            let ip = client.ip.to_string();
            let chain = match joined(headers, &X_FORWARDED_FOR) {
                Some(mut chain) => {
                    chain.extend_from_slice(b", ");
                    chain.extend_from_slice(ip.as_bytes());
                    HeaderValue::from_bytes(&chain)
                }
                None => HeaderValue::from_str(&ip),
            };
            // The previous values were valid header bytes and so is an address.
            if let Ok(chain) = chain {
                headers.insert(X_FORWARDED_FOR.clone(), chain);
            }
        }
        if self.x_forwarded_proto {
            let proto = if client.tls { "https" } else { "http" };
            headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
        }
        if self.x_forwarded_host {
            // HTTP/1.1 names the host in `Host`, HTTP/2 in `:authority` (the URI's).
            let host = headers.get(HOST).cloned().or_else(|| {
                uri.authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
            match host {
                Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host),
                None => headers.remove(&X_FORWARDED_HOST),
            };
        }
        if self.via {
            append_via(headers, version);
        }
    }

    /// Prepares an upstream's response head for the client.
    pub(crate) fn response(&self, headers: &mut HeaderMap, version: Version) {
        strip_hop_by_hop(headers);
        if self.via {
            append_via(headers, version);
        }
    }
}

/// The values of `name` joined as one comma-separated list, if any.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut values = headers.get_all(name).iter();
    let mut list = values.next()?.as_bytes().to_vec();
    for value in values {
        list.extend_from_slice(b", ");
        list.extend_from_slice(value.as_bytes());
    }
    Some(list)
}

fn append_via(headers: &mut HeaderMap, version: Version) {
    // Written out so that the usual case, no Via yet, allocates nothing.
    let hop = match version {
        Version::HTTP_09 => "0.9 tower-mirror-proxy",
        Version::HTTP_10 => "1.0 tower-mirror-proxy",
        Version::HTTP_2 => "2 tower-mirror-proxy",
        Version::HTTP_3 => "3 tower-mirror-proxy",
        _ => "1.1 tower-mirror-proxy",
    };
    debug_assert!(hop.ends_with(PSEUDONYM));
    let via = match joined(headers, &VIA) {
        Some(mut via) => {
            via.extend_from_slice(b", ");
            via.extend_from_slice(hop.as_bytes());
            HeaderValue::from_bytes(&via)
        }
        None => Ok(HeaderValue::from_static(hop)),
    };
    if let Ok(via) = via {
        headers.insert(VIA, via);
    }
}

/// Removes the hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and every header it
/// names, `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`,
/// `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names beats nine hashed removals.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Forwarding = Forwarding {
        x_forwarded_for: true,
        x_forwarded_proto: true,
        x_forwarded_host: true,
        via: true,
    };

    fn client(tls: bool) -> Client {
        Client {
            ip: "192.0.2.7".parse().unwrap(),
            tls,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn appends_to_the_chain_and_sets_the_rest() {
        let mut h = headers(&[
            ("host", "shop.example"),
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "spoofed"),
            ("via", "1.0 edge"),
        ]);
        ALL.request(
            &mut h,
            &Uri::from_static("/"),
            Version::HTTP_11,
            client(false),
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.1, 198.51.100.2, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(h["via"], "1.0 edge, 1.1 tower-mirror-proxy");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
    }

    #[test]
    fn http2_takes_the_host_from_the_authority() {
        let mut h = HeaderMap::new();
        let uri = Uri::from_static("https://shop.example:8443/cart");
        ALL.request(&mut h, &uri, Version::HTTP_2, client(true));
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example:8443");
        assert_eq!(h["via"], "2 tower-mirror-proxy");
    }

    #[test]
    fn each_can_be_turned_off() {
        let off = Forwarding {
            x_forwarded_for: false,
            x_forwarded_proto: false,
            x_forwarded_host: false,
            via: false,
        };
        let mut h = headers(&[("host", "a"), ("x-forwarded-for", "203.0.113.1")]);
        off.request(
            &mut h,
            &Uri::from_static("/"),
            Version::HTTP_11,
            client(false),
        );
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["x-forwarded-for"], "203.0.113.1");
    }

    #[test]
    fn a_client_cannot_have_our_headers_removed_through_connection() {
        let mut h = headers(&[
            ("connection", "x-forwarded-for, via, keep-alive"),
            ("x-forwarded-for", "203.0.113.1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
        ]);
        ALL.request(
            &mut h,
            &Uri::from_static("/"),
            Version::HTTP_11,
            client(false),
        );
        // The client's own chain went with its Connection header; ours was added after.
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        for gone in ["connection", "keep-alive", "te", "upgrade"] {
            assert!(!h.contains_key(gone), "{gone}: {h:?}");
        }
    }

    #[test]
    fn responses_lose_hop_by_hop_headers_and_gain_via() {
        let mut h = headers(&[
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("proxy-authenticate", "Basic"),
            ("content-type", "text/plain"),
        ]);
        ALL.response(&mut h, Version::HTTP_11);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["via"], "1.1 tower-mirror-proxy");
    }
}
