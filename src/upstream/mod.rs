//! [`HttpUpstream`]: a Tower service that forwards HTTP requests to one base URL over a
//! pooled `hyper_util` client.
//!
//! Use it as the primary service behind a [`Mirror`](crate::Mirror), as the shadow a
//! [`MirrorLayer`](crate::MirrorLayer) copies requests to, or as the instances of
//! [`Backends`](crate::route::Backends).
//!
//! ```
//! use tower_mirror::upstream::{HttpUpstream, UpstreamError};
//!
//! let v1: HttpUpstream = "http://127.0.0.1:9001".parse()?;
//! let v2: HttpUpstream = "http://127.0.0.1:9002/api".parse()?;
//! assert_eq!(v2.base(), "http://127.0.0.1:9002/api");
//! # Ok::<(), UpstreamError>(())
//! ```
//!
//! Calls need a Tokio runtime. `https` URLs need the `rustls` feature (see
//! [`Builder`]'s TLS section), or a client of your own given to
//! [`HttpUpstream::from_client`]; without either they are refused when parsed.

mod base;
mod bound_client;
mod builder;
mod error;
mod future;
mod service;
#[cfg(feature = "rustls")]
mod tls;

pub use self::bound_client::ClientBody;
pub use self::builder::Builder;
pub use self::error::UpstreamError;
pub use self::future::ResponseFuture;
pub use self::service::HttpUpstream;
