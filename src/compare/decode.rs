//! `Content-Encoding` undone before the diff, so a gzip answer compares equal to the same
//! answer sent plain. The decoders are the ones tower-http's decompression uses underneath
//! (flate2 for gzip and deflate, Dropbox's brotli decoder for br), run synchronously: the
//! body is already whole in memory, and its decoded size is capped like a plain one.

use std::borrow::Cow;
use std::io::Read;

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_ENCODING;

/// Codings stacked on one body, at most (`gzip, br` is two); more is refused.
const MAX_CODINGS: usize = 4;

/// The body without its content codings, at most `max` bytes, and `Content-Encoding`
/// removed from `headers` (the answers are compared as decoded). `Err` says why not.
pub(crate) fn decode_body(
    headers: &mut HeaderMap,
    body: Bytes,
    max: usize,
) -> Result<Bytes, Cow<'static, str>> {
    let mut codings = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| Cow::Borrowed("Content-Encoding is not text"))?;
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let coding = coding.to_ascii_lowercase();
            if coding != "identity" {
                codings.push(coding);
            }
        }
    }
    headers.remove(CONTENT_ENCODING);
    if codings.len() > MAX_CODINGS {
        return Err(format!("body has more than {MAX_CODINGS} content codings").into());
    }
    // A HEAD answer, a 204 or a 304 says how a body would be encoded but carries none.
    if body.is_empty() {
        return Ok(body);
    }
    let mut body = body;
    // The last coding listed was applied last: it comes off first.
    for coding in codings.iter().rev() {
        body = decode_one(coding, &body, max)?;
    }
    Ok(body)
}

fn decode_one(coding: &str, body: &[u8], max: usize) -> Result<Bytes, Cow<'static, str>> {
    let decoded = match coding {
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), max),
        // RFC 9110 `deflate` is a zlib stream; some servers send raw deflate, which
        // browsers also accept: the zlib header tells them apart.
        "deflate" if has_zlib_header(body) => {
            read_capped(flate2::read::ZlibDecoder::new(body), max)
        }
        "deflate" => read_capped(flate2::read::DeflateDecoder::new(body), max),
        "br" => read_capped(brotli_decompressor::Decompressor::new(body, 4096), max),
        other => return Err(format!("body has an unsupported Content-Encoding: {other:?}").into()),
    };
    match decoded {
        Ok(Some(decoded)) => Ok(Bytes::from(decoded)),
        Ok(None) => Err(format!("{coding} body decodes past the compare cap ({max} bytes)").into()),
        Err(error) => Err(format!("{coding} body does not decode: {error}").into()),
    }
}

/// Reads to the end, or `None` past `max` bytes (reading stops there: a small body that
/// inflates hugely costs no more than the cap).
fn read_capped(reader: impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out)?;
    Ok((out.len() <= max).then_some(out))
}

/// RFC 1950: method 8 (deflate) and a header checksum that is a multiple of 31.
fn has_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::HeaderValue;

    use super::*;

    fn encoded(coding: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        headers
    }

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap().into()
    }

    #[test]
    fn gzip_deflate_and_raw_deflate_decode() {
        let mut headers = encoded("gzip");
        let body = decode_body(&mut headers, gzip(b"hello"), 100).unwrap();
        assert_eq!(body, "hello");
        assert!(headers.get(CONTENT_ENCODING).is_none());

        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(b"zlib").unwrap();
        let body = decode_body(&mut encoded("deflate"), zlib.finish().unwrap().into(), 100);
        assert_eq!(body.unwrap(), "zlib");

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"raw").unwrap();
        let body = decode_body(&mut encoded("deflate"), raw.finish().unwrap().into(), 100);
        assert_eq!(body.unwrap(), "raw");
    }

    #[test]
    fn stacked_codings_come_off_last_first() {
        let twice = gzip(&gzip(b"inner"));
        let body = decode_body(&mut encoded("gzip, x-gzip"), twice, 100).unwrap();
        assert_eq!(body, "inner");
    }

    #[test]
    fn the_decoded_size_counts_against_the_cap() {
        let bomb = gzip(&vec![b'a'; 100_000]);
        assert!(bomb.len() < 1_000);
        let error = decode_body(&mut encoded("gzip"), bomb, 10_000).unwrap_err();
        assert!(error.contains("past the compare cap"), "{error}");
    }

    #[test]
    fn errors_say_why() {
        let error = decode_body(&mut encoded("gzip"), Bytes::from_static(b"nope"), 100);
        assert!(error.unwrap_err().starts_with("gzip body does not decode"));
        let error = decode_body(&mut encoded("zstd"), Bytes::from_static(b"x"), 100);
        assert_eq!(
            error.unwrap_err(),
            "body has an unsupported Content-Encoding: \"zstd\""
        );
        let empty = decode_body(&mut encoded("br"), Bytes::new(), 100);
        assert_eq!(empty.unwrap(), "", "no body, nothing to decode");
    }
}
