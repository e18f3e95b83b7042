//! Mirror middleware (in progress).
