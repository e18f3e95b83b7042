//! A copy's head in memory: what it costs in the budget, and memory of its own.
//!
//! A server hands the request's URI and header values over as slices of its read buffer;
//! a copy that kept those slices for the seconds its shadow call lasts would keep the
//! whole buffer alive, uncounted, and make the server allocate another. So the copy's URI
//! and values are moved into one allocation of the copy's own, and what the budget counts
//! is what the copy holds.

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Uri};

/// What one header costs beyond its name and value: its entry in the header map (the
/// name, the value's handle, links and index, with the map's spare room), rounded up.
pub(crate) const HEADER_ENTRY_BYTES: usize = 128;

/// The bytes a head holds in the budget: the URI's length, plus for each header its name,
/// its value and [`HEADER_ENTRY_BYTES`].
pub(crate) fn head_bytes(uri: &Uri, headers: &HeaderMap) -> usize {
    let entries = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + HEADER_ENTRY_BYTES)
        .fold(0usize, usize::saturating_add);
    uri_len(uri).saturating_add(entries)
}

fn uri_len(uri: &Uri) -> usize {
    uri.scheme_str().map_or(0, str::len)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
}

/// Moves the head's URI and header values into one allocation of its own (names are
/// static or already owned). Anything that would not parse back stays as it was.
pub(crate) fn own_head(head: &mut Parts) {
    let values: usize = head.headers.values().map(HeaderValue::len).sum();
    let mut buf = BytesMut::with_capacity(uri_len(&head.uri) + 3 + values);
    if head.uri.authority().is_some() || head.uri.path_and_query().is_some() {
        // `Display` writes the URI as it parses back: `scheme://authority/path?query`.
        let _ = std::fmt::Write::write_fmt(&mut buf, format_args!("{}", head.uri));
        if let Ok(uri) = Uri::from_maybe_shared(buf.split().freeze()) {
            head.uri = uri;
        }
    }
    for value in head.headers.values_mut() {
        buf.extend_from_slice(value.as_bytes());
        let owned: Bytes = buf.split().freeze();
        if let Ok(mut owned) = HeaderValue::from_maybe_shared(owned) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_keeps_its_uri_and_values_in_memory_of_its_own() {
        let shared = Bytes::from_static(b"/path?q=1 value-one value-two");
        let (mut head, ()) = http::Request::new(()).into_parts();
        head.uri = Uri::from_maybe_shared(shared.slice(0..9)).unwrap();
        head.headers.insert(
            "x-one",
            HeaderValue::from_maybe_shared(shared.slice(10..19)).unwrap(),
        );
        let mut secret = HeaderValue::from_maybe_shared(shared.slice(20..29)).unwrap();
        secret.set_sensitive(true);
        head.headers.append("x-two", secret);
        let before = head_bytes(&head.uri, &head.headers);

        own_head(&mut head);
        assert_eq!(head.uri, "/path?q=1");
        assert_eq!(head.headers["x-one"], "value-one");
        assert_eq!(head.headers["x-two"], "value-two");
        assert!(head.headers["x-two"].is_sensitive());
        assert_eq!(head_bytes(&head.uri, &head.headers), before);
        let inside = |p: *const u8| shared.as_ptr_range().contains(&p);
        assert!(!inside(head.headers["x-one"].as_bytes().as_ptr()));
        assert!(!inside(head.uri.path().as_ptr()));
    }

    #[test]
    fn absolute_uris_are_kept_whole() {
        let (mut head, ()) = http::Request::new(()).into_parts();
        head.uri = "https://example.com:8443/a/b?c=d".parse().unwrap();
        own_head(&mut head);
        assert_eq!(head.uri, "https://example.com:8443/a/b?c=d");
        assert_eq!(
            head_bytes(&head.uri, &HeaderMap::new()),
            "https".len() + 16 + 8
        );
    }
}
