//! Label-based routing (in progress).
