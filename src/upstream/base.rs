//! The validated base URL and how a request is rewritten onto it.

use std::sync::Arc;

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Uri, Version};

use super::error::{Kind, UpstreamError};
use crate::hop_by_hop::strip_hop_by_hop;

/// A base URL that passed validation: `http` or `https`, a host, no credentials, no query.
#[derive(Debug)]
pub(super) struct Base {
    scheme: Scheme,
    authority: Authority,
    /// Path prefix without a trailing slash; empty when the base has no path.
    prefix: String,
    host: HeaderValue,
    /// `scheme://authority/prefix`, as errors print it.
    display: Arc<str>,
}

impl Base {
    pub(super) fn parse(uri: &Uri) -> Result<Self, UpstreamError> {
        let input = shown(uri);
        let refuse = |why: String| UpstreamError::invalid_url(&input, why);
        let Some(authority) = uri.authority().cloned() else {
            return Err(refuse(match uri.scheme() {
                Some(_) => "it has no host".into(),
                None => format!("it has no scheme and host; write it as `http://{input}`"),
            }));
        };
        let scheme = match uri.scheme() {
            None => {
                return Err(refuse(format!(
                    "it has no scheme; write it as `http://{input}`"
                )));
            }
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
            Some(s) => {
                return Err(refuse(format!(
                    "the scheme must be `http` or `https`, not `{s}`"
                )));
            }
        };
        if authority.host().is_empty() {
            return Err(refuse("it has no host".into()));
        }
        if authority.as_str().contains('@') {
            return Err(refuse(
                "credentials in the URL are not supported; send an `authorization` header instead"
                    .into(),
            ));
        }
        if uri.query().is_some() {
            return Err(refuse("a base URL cannot have a query".into()));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| refuse(format!("the host is not a valid header value ({e})")))?;
        let display = format!("{scheme}://{authority}{prefix}").into();
        Ok(Self {
            scheme,
            authority,
            prefix,
            host,
            display,
        })
    }

    pub(super) fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    pub(super) fn display(&self) -> &Arc<str> {
        &self.display
    }

    /// Points `req` at the base: scheme and authority replaced, path prefixed, hop-by-hop
    /// headers dropped, and the version set to the one the client speaks.
    pub(super) fn rewrite<B>(
        &self,
        req: &mut Request<B>,
        http2: bool,
        preserve_host: bool,
    ) -> Result<(), UpstreamError> {
        let incoming_host = if preserve_host && !http2 {
            req.headers().get(HOST).cloned().or_else(|| {
                let authority = req.uri().authority()?;
                HeaderValue::from_str(authority.as_str()).ok()
            })
        } else {
            None
        };
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(self.join(req.uri().path_and_query())?)
            .build()
            .map_err(|e| self.invalid_request(e))?;
        *req.uri_mut() = uri;

        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        if http2 {
            // HTTP/2 carries the authority in `:authority` (from the URI); RFC 9113 §8.3.1.
            headers.remove(HOST);
            *req.version_mut() = Version::HTTP_2;
        } else {
            headers.insert(HOST, incoming_host.unwrap_or_else(|| self.host.clone()));
            *req.version_mut() = Version::HTTP_11;
        }
        Ok(())
    }

    fn join(&self, pq: Option<&PathAndQuery>) -> Result<PathAndQuery, UpstreamError> {
        let Some(pq) = pq else {
            return self.root();
        };
        // `OPTIONS *` is about the server as a whole, so it takes no prefix.
        if self.prefix.is_empty() || pq.path() == "*" {
            return Ok(pq.clone());
        }
        let path = pq.path();
        let mut joined = String::with_capacity(self.prefix.len() + pq.as_str().len() + 1);
        joined.push_str(&self.prefix);
        if !path.starts_with('/') {
            joined.push('/');
        }
        joined.push_str(path);
        if let Some(query) = pq.query() {
            joined.push('?');
            joined.push_str(query);
        }
        PathAndQuery::from_maybe_shared(Bytes::from(joined)).map_err(|e| self.invalid_request(e))
    }

    fn root(&self) -> Result<PathAndQuery, UpstreamError> {
        if self.prefix.is_empty() {
            return Ok(PathAndQuery::from_static("/"));
        }
        PathAndQuery::try_from(self.prefix.as_str()).map_err(|e| self.invalid_request(e))
    }

    fn invalid_request(&self, source: impl Into<http::Error>) -> UpstreamError {
        UpstreamError::new(Kind::InvalidRequest, self.display.clone()).with_source(source.into())
    }
}

/// The URL as the user wrote it, for error messages: no `/` added by `Uri`'s `Display`,
/// credentials hidden.
fn shown(uri: &Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme() {
        out.push_str(scheme.as_str());
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let authority = authority.as_str();
        match authority.rsplit_once('@') {
            Some((_, host)) => {
                out.push_str("***@");
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
    }
    if uri.path() != "/" || uri.query().is_some() {
        out.push_str(uri.path());
    }
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `input` for error messages when it does not even parse, credentials hidden.
pub(super) fn shown_str(input: &str) -> String {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(base: &str, uri: &str) -> Uri {
        let base = Base::parse(&base.parse().unwrap()).unwrap();
        let mut req = Request::builder().uri(uri).body(()).unwrap();
        base.rewrite(&mut req, false, false).unwrap();
        req.uri().clone()
    }

    #[test]
    fn joins_prefix_without_double_slashes() {
        let cases = [
            ("http://h:1", "/v1/x?q=1", "http://h:1/v1/x?q=1"),
            ("http://h:1/", "/v1/x", "http://h:1/v1/x"),
            ("http://h:1/api", "/v1/x?q=1", "http://h:1/api/v1/x?q=1"),
            ("http://h:1/api/", "/v1/x?q=1", "http://h:1/api/v1/x?q=1"),
            ("http://h:1/api", "/", "http://h:1/api/"),
            ("http://h:1/api", "http://other:2/y?z", "http://h:1/api/y?z"),
            ("http://h:1/api", "*", "http://h:1*"),
        ];
        for (base, uri, want) in cases {
            // (`Uri` prints an asterisk-form path right after the authority.)
            let got = rewritten(base, uri);
            assert_eq!(got.to_string(), want, "base {base} + {uri}");
        }
    }

    #[test]
    fn error_messages_hide_credentials() {
        let err = Base::parse(&"http://user:secret@h:1/x".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upstream `http://***@h:1/x`: invalid base URL: credentials in the URL are not \
             supported; send an `authorization` header instead"
        );
        assert_eq!(shown_str("http://u:p@h x/y@z"), "http://***@h x/y@z");
        assert_eq!(shown_str("h x"), "h x");
    }
}
