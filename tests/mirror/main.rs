//! `MirrorLayer` in process, with mock primaries and shadows: one module per guarantee or
//! knob of the mirror layer.

mod abandoned;
mod body_cap;
mod body_end;
#[cfg(feature = "compare")]
mod compare;
#[cfg(feature = "compare")]
mod compare_bodies;
#[cfg(feature = "compare")]
mod compare_encoding;
#[cfg(feature = "compare")]
mod compare_examples;
#[cfg(feature = "compare")]
mod compare_html;
#[cfg(feature = "compare")]
mod compare_noise;
#[cfg(feature = "compare")]
mod compare_rates;
mod copy;
mod copy_memory;
mod drop_reasons;
mod events;
mod head_budget;
mod isolation;
mod limits;
#[cfg(feature = "metrics")]
mod metrics;
mod policy;
mod primary_bad_input;
mod proptest;
mod redaction;
mod runtime;
mod runtime_control;
mod safe_copies;
mod sampling;
mod shadow_body;
mod shutdown;
mod stats;
mod streaming;
mod timeouts;
mod trailers;
mod transparency;
mod types;
