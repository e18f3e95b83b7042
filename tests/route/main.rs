//! `tower_mirror::route`: labels, subsets, weighted routes, and the httpbin mirroring rule
//! composed from them and `MirrorLayer`.

mod httpbin_mirroring_rule;
mod labels;
mod subset;
mod weighted;
