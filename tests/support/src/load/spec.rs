//! One generated request, the primary that answers it, and the check of a copy's body.

use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;

use crate::rng::Rng;

/// The request body of every generated request: `Full` or a multi-frame stream. (Its error
/// type is a plain type, not `BoxError`, whose lifetime trips `Send` inference in `drive`.)
pub type ReqBody = BoxBody<Bytes, Infallible>;

/// Header naming where in [`pool`] the body comes from (`offset+len`), so a shadow can
/// check its copy byte for byte.
const BODY_SOURCE: &str = "x-body-source";

/// Largest generated body.
pub const MAX_BODY: usize = 64 * 1024;

/// 128 KiB of seeded bytes that every body is a slice of (cheap to make, even unoptimized).
fn pool() -> &'static Bytes {
    static POOL: OnceLock<Bytes> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Rng::new(0xB0D1E5);
        let bytes: Vec<u8> = (0..2 * MAX_BODY / 8)
            .flat_map(|_| rng.next_u64().to_le_bytes())
            .collect();
        Bytes::from(bytes)
    })
}

/// One generated request: its id, body and how the body is framed.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: u64,
    pub body: Bytes,
    /// Where the body starts in `pool`.
    pub offset: usize,
    /// 0: one `Full` frame with `Content-Length`; n: n frames, no length (chunked on a wire).
    pub chunks: usize,
}

impl Spec {
    /// Sizes: 20% empty, 30% up to 100 B, 30% 1–8 KiB, 20% 16–64 KiB.
    pub fn random(rng: &mut Rng, id: u64) -> Self {
        let size = match rng.below(10) {
            0 | 1 => 0,
            2..=4 => 1 + rng.below(100) as usize,
            5..=7 => 1024 + rng.below(7 * 1024) as usize,
            _ => 16 * 1024 + rng.below(48 * 1024) as usize,
        };
        let offset = rng.below(MAX_BODY as u64) as usize;
        let chunks = if size > 1 && rng.below(2) == 0 {
            2 + rng.below(6) as usize
        } else {
            0
        };
        Self {
            id,
            body: pool().slice(offset..offset + size),
            offset,
            chunks,
        }
    }

    pub fn path(&self) -> String {
        format!("/echo/{}", self.id)
    }

    pub fn request(&self) -> Request<ReqBody> {
        let builder = Request::post(format!("http://primary.test{}", self.path()))
            .header(BODY_SOURCE, format!("{}+{}", self.offset, self.body.len()));
        if self.chunks == 0 {
            return builder
                .header(http::header::CONTENT_LENGTH, self.body.len())
                .body(Full::new(self.body.clone()).boxed())
                .unwrap();
        }
        let step = self.body.len().div_ceil(self.chunks);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..self.body.len())
            .step_by(step)
            .map(|at| {
                let end = (at + step).min(self.body.len());
                Ok(Frame::data(self.body.slice(at..end)))
            })
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        builder
            .header(http::header::TRANSFER_ENCODING, "chunked")
            .body(body.boxed())
            .unwrap()
    }

    /// What [`echo`] answers to this request.
    pub fn expected(&self) -> Bytes {
        let mut out = format!("POST {} {}\n", self.path(), self.body.len()).into_bytes();
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}

/// The primary: reads the whole body and answers `METHOD PATH LEN\n` + the body.
pub async fn echo<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .expect("the test bodies never fail")
        .to_bytes();
    let mut out = format!("{} {} {}\n", parts.method, parts.uri.path(), body.len()).into_bytes();
    out.extend_from_slice(&body);
    Ok(Response::new(Full::new(Bytes::from(out))))
}

/// Whether a copy's body is exactly the one its head names.
pub fn copy_is_intact(headers: &http::HeaderMap, body: &[u8]) -> bool {
    let source = headers.get(BODY_SOURCE).and_then(|v| v.to_str().ok());
    let Some((offset, len)) = source.and_then(|v| v.split_once('+')) else {
        return false;
    };
    match (offset.parse::<usize>(), len.parse::<usize>()) {
        (Ok(offset), Ok(len)) => pool().get(offset..offset + len) == Some(body),
        _ => false,
    }
}
