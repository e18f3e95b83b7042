//! HTTP upstream (in progress).
