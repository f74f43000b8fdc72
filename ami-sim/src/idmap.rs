//! A map keyed by resource id that compares ids as numbers.

use std::collections::BTreeMap;

use crate::index::id_key;

/// An ordered map from resource ids (`ami-…`, `snap-…`, `i-…`) to records. Lookups compare
/// [`id_key`] numbers instead of strings, and iteration is in id order, as a `BTreeMap` keyed
/// by the ids themselves would give.
#[derive(Debug, Clone)]
pub(crate) struct IdMap<K, V> {
    map: BTreeMap<u128, (K, V)>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap {
            map: BTreeMap::new(),
        }
    }
}

impl<K: AsRef<str>, V> IdMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record of `id`.
    pub fn get(&self, id: &K) -> Option<&V> {
        self.map.get(&id_key(id.as_ref())).map(|(_, v)| v)
    }

    /// The record whose id has the [`id_key`] `key`.
    pub fn get_by_key(&self, key: u128) -> Option<&V> {
        self.map.get(&key).map(|(_, v)| v)
    }

    /// The record of `id`, to change.
    pub fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        self.map.get_mut(&id_key(id.as_ref())).map(|(_, v)| v)
    }

    /// Sets the record of `id`, returning the one it replaces.
    pub fn insert(&mut self, id: K, value: V) -> Option<V> {
        self.map
            .insert(id_key(id.as_ref()), (id, value))
            .map(|(_, v)| v)
    }

    /// Removes the record of `id`.
    pub fn remove(&mut self, id: &K) -> Option<V> {
        self.map.remove(&id_key(id.as_ref())).map(|(_, v)| v)
    }

    /// The records, in id order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|(_, v)| v)
    }

    /// Ids and records, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.values().map(|(k, v)| (k, v))
    }
}
