//! Istio config (in progress).
