//! Changing a router's rules while it serves: the rules in force sit behind an atomic
//! pointer every clone reads once per request; a reload builds the new ones aside and
//! swaps them in whole, or changes nothing.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, Guard};

use super::config::Config;
use super::mirror_id::{MirrorId, MirrorInfo};
use crate::mirror::MirrorHandle;

/// The mirrors of the rules in force, by identity: a rebuild gives each mirror it keeps
/// the handle (and so the counters, share and pause switch) it had, taking it out of
/// the map.
pub(crate) type Kept = HashMap<MirrorId, MirrorHandle>;

/// Builds the rules of a config, keeping the mirrors in [`Kept`].
pub(crate) type Rebuild<T, E> = Box<dyn Fn(&Config, &mut Kept) -> Result<T, E> + Send + Sync>;

/// What a set of rules tells of its mirrors.
pub(crate) trait Mirrored {
    fn mirrors(&self) -> &[MirrorInfo];
}

/// The rules in force (`T`), shared by every clone of a router, and how to rebuild them.
pub(crate) struct Reloadable<T, E> {
    current: ArcSwap<T>,
    rebuild: Rebuild<T, E>,
    /// One reload at a time: each starts from the rules the last one left.
    reloading: Mutex<()>,
}

impl<T, E> fmt::Debug for Reloadable<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloadable").finish_non_exhaustive()
    }
}

impl<T: Mirrored, E> Reloadable<T, E> {
    pub(crate) fn new(current: T, rebuild: Rebuild<T, E>) -> Self {
        Self {
            current: ArcSwap::from_pointee(current),
            rebuild,
            reloading: Mutex::new(()),
        }
    }

    /// The rules in force; a request holds them (not the router) until it is routed.
    pub(crate) fn load(&self) -> Guard<Arc<T>> {
        self.current.load()
    }

    /// Builds `config`'s rules and puts them in force, or returns the error and leaves
    /// everything as it was, the mirrors' shares included.
    pub(crate) fn reload(&self, config: &Config) -> Result<(), E> {
        // A poisoned lock only means a rebuild panicked: the rules in force are whole.
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current.load_full();
        let mirrors = current.mirrors();
        let mut kept: Kept = mirrors
            .iter()
            .map(|m| (m.id().clone(), m.handle.clone()))
            .collect();
        // A kept mirror takes the new share as it is built: put the old ones back if the
        // build fails.
        let shares: Vec<(MirrorHandle, f64)> = mirrors
            .iter()
            .map(|m| (m.handle.clone(), m.handle.sample_percent()))
            .collect();
        match (self.rebuild)(config, &mut kept) {
            Ok(next) => {
                self.current.store(Arc::new(next));
                Ok(())
            }
            Err(error) => {
                for (handle, percent) in shares {
                    // Read from a handle, so always in range.
                    let _ = handle.try_set_sample_percent(percent);
                }
                Err(error)
            }
        }
    }
}
