//! Load for the fault and memory tests: a seeded request mix (sizes from empty to 64 KiB,
//! half of them streamed without a `Content-Length`) whose answers are known in advance,
//! concurrent clients that check every response byte, and a sampler thread that records
//! the peaks of `in_flight()` and `buffered_bytes()`.

mod drive;
mod sampler;
mod spec;

pub use drive::{LoadReport, drive};
pub use sampler::{Peaks, Sampler};
pub use spec::{MAX_BODY, ReqBody, Spec, copy_is_intact, echo};
