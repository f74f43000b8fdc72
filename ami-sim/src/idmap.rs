//! A map keyed by resource id that hashes ids as numbers.

use std::collections::HashMap;

use crate::index::id_key;

/// A hash map with a fixed-seed hasher: the same inserts give the same layout and the same
/// iteration order in every run, so the simulator stays deterministic.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A map from resource ids (`ami-…`, `snap-…`, `i-…`) to records. Lookups hash the [`id_key`]
/// number instead of the string: one probe, whatever the size, where an ordered map walks a
/// tree of a dozen nodes at a million records. Iteration is in no particular order (the same
/// in every run); whatever shows an order to a caller sorts by id ([`Self::sorted_values`],
/// or the describe calls' paging).
#[derive(Debug, Clone)]
pub(crate) struct IdMap<K, V> {
    map: FastMap<u128, (K, V)>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        IdMap {
            map: FastMap::default(),
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

    /// The records, in no particular order (for searches whose answer does not depend on it).
    pub fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|(_, v)| v)
    }

    /// Ids and records, in no particular order.
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.values().map(|(k, v)| (k, v))
    }

    /// The records of `ids`, each once (in no particular order); every record when `ids` is
    /// empty, as the describe calls read an empty id list.
    pub fn selected<'a>(&'a self, ids: &[K]) -> Box<dyn Iterator<Item = &'a V> + 'a> {
        if ids.is_empty() {
            return Box::new(self.values_unordered());
        }
        let mut keys: Vec<u128> = ids.iter().map(|id| id_key(id.as_ref())).collect();
        keys.sort_unstable();
        keys.dedup();
        Box::new(keys.into_iter().filter_map(|k| self.get_by_key(k)))
    }

    /// The records, in id order.
    pub fn sorted_values(&self) -> Vec<&V> {
        let mut all: Vec<(u128, &V)> = self.map.iter().map(|(k, (_, v))| (*k, v)).collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all.into_iter().map(|(_, v)| v).collect()
    }

    /// How many records the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;

    /// Lookups find what was inserted, removal forgets it, and `sorted_values` lists in id
    /// order whatever order the inserts came in.
    #[test]
    fn keyed_by_id_and_sorted_on_request() {
        let ids = [
            "ami-0fffffffffffffff0",
            "ami-00000001",
            "ami-0123456789abcdef0",
            "ami-00000000000000001",
            "ami-0abc",
        ];
        let mut m: IdMap<String, usize> = IdMap::new();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(m.insert((*id).to_string(), n), None);
        }
        assert_eq!(m.insert(ids[1].to_string(), 10), Some(1));
        assert_eq!(m.get(&ids[1].to_string()), Some(&10));
        assert_eq!(m.get(&"ami-00000002".to_string()), None);
        *m.get_mut(&ids[0].to_string()).expect("present") += 100;
        assert_eq!(m.remove(&ids[4].to_string()), Some(4));
        assert_eq!(m.get(&ids[4].to_string()), None);
        assert_eq!(m.len(), 4);
        let mut expected: Vec<(&str, usize)> =
            vec![(ids[0], 100), (ids[1], 10), (ids[2], 2), (ids[3], 3)];
        expected.sort_unstable();
        let got: Vec<usize> = m.sorted_values().into_iter().copied().collect();
        assert_eq!(
            got,
            expected.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            "records in id order"
        );
        let mut unordered: Vec<usize> = m.values_unordered().copied().collect();
        unordered.sort_unstable();
        assert_eq!(unordered, vec![2, 3, 10, 100]);
    }
}
