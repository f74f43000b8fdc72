//! Resource ids the simulator issues, and a map keyed by them that finds a record by where
//! its id falls in the order of issue.

use std::collections::HashMap;

use crate::index::id_key;

/// A hash map with a fixed-seed hasher: the same inserts give the same layout and the same
/// iteration order in every run, so the simulator stays deterministic.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Resource id numbers have 68 bits: 17 hex digits.
const MASK: u128 = (1 << 68) - 1;
const MUL_1: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
const MUL_2: u128 = 0xbf58_476d_1ce4_e5b9_94d0_49bb_1331_11eb;

/// The inverse of the odd number `a` modulo 2^128 (Newton's iteration doubles the correct
/// low bits each step: 1 → 2 → … → 128).
const fn inverse(a: u128) -> u128 {
    let mut x: u128 = 1;
    let mut i = 0;
    while i < 7 {
        x = x.wrapping_mul(2u128.wrapping_sub(a.wrapping_mul(x)));
        i += 1;
    }
    x
}
const INV_1: u128 = inverse(MUL_1);
const INV_2: u128 = inverse(MUL_2);

/// The id number of the `counter`-th issued id: a bijection on 68 bits (multiplying by an
/// odd number and xor-shifting right are both invertible), so ids look random, depend on the
/// seeded start of the counter, and never repeat.
pub(crate) fn scramble(counter: u128) -> u128 {
    let mut x = counter & MASK;
    x = x.wrapping_mul(MUL_1) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(MUL_2) & MASK;
    x ^= x >> 31;
    x
}

/// The counter an id number was issued at: the inverse of [`scramble`].
pub(crate) fn unscramble(n: u128) -> u128 {
    let mut x = n & MASK;
    // x ^= x >> s is undone by x ^= x >> s ^ x >> 2s ^ … while the shift is under 68 bits.
    x ^= (x >> 31) ^ (x >> 62);
    x = x.wrapping_mul(INV_2) & MASK;
    x ^= (x >> 29) ^ (x >> 58);
    x.wrapping_mul(INV_1) & MASK
}

/// How far past the last slot an insert may reach and still take a slot (ids issued between
/// two inserts of one kind go to the other kinds); beyond, the id goes to the hashed side.
const SLOT_REACH: usize = 1 << 16;

/// One record with its id and the id's [`id_key`].
#[derive(Debug, Clone)]
struct Entry<K, V> {
    key: u128,
    id: K,
    value: V,
}

/// A map from resource ids (`ami-…`, `snap-…`, `i-…`) to records.
///
/// Ids the simulator issued (17 hex digits, see [`scramble`]) are found by position: the id
/// number is unscrambled into its issue counter, whose distance from the simulator's first
/// counter is an index into a table of record positions. No hashing, no table to rehash as
/// the map grows, and records made close in time sit close in memory, so the lookups that
/// follow a create (describe it, copy it, share it) find it in cache. Any other id (never one
/// the simulator issued, but the map does not rely on that) goes to a hashed side table.
///
/// Iteration is in insertion order, disturbed by removals (the same in every run); whatever
/// shows an order to a caller sorts by id ([`Self::sorted_values`], or the describe calls'
/// paging).
#[derive(Debug, Clone)]
pub(crate) struct IdMap<K, V> {
    /// The records (a removal moves the last one into the gap).
    entries: Vec<Entry<K, V>>,
    /// The simulator's first issue counter.
    base: u128,
    /// Issue counter − `base` → 1 + position in `entries`; 0 for none.
    slots: Vec<u32>,
    /// Key → position in `entries`, for ids without a slot.
    others: FastMap<u128, usize>,
    /// The keys in id order, kept from one listing to the next until an insert or a removal
    /// ([`Self::prepare_order`]); `None` when stale.
    order: Option<Vec<u128>>,
}

impl<K: AsRef<str>, V> IdMap<K, V> {
    /// An empty map for the ids issued from counter `first` on.
    pub fn new(first: u128) -> Self {
        IdMap {
            entries: Vec::new(),
            base: first & MASK,
            slots: Vec::new(),
            others: FastMap::default(),
            order: None,
        }
    }

    /// The slot an id key would have: ids of 17 hex digits only.
    fn slot_of(&self, key: u128) -> Option<usize> {
        if key & 0xff != 17 {
            return None;
        }
        let offset = unscramble(key >> 8).wrapping_sub(self.base) & MASK;
        usize::try_from(offset).ok()
    }

    /// The position in `entries` of the record with id key `key`.
    fn position(&self, key: u128) -> Option<usize> {
        let slotted = self
            .slot_of(key)
            .and_then(|s| self.slots.get(s))
            .and_then(|&p| p.checked_sub(1));
        match slotted {
            Some(p) => Some(p as usize),
            None if self.others.is_empty() => None,
            None => self.others.get(&key).copied(),
        }
    }

    /// The slot holding `key`, if the key is slotted (rather than in the side table).
    fn held_slot(&self, key: u128) -> Option<usize> {
        self.slot_of(key)
            .filter(|&s| self.slots.get(s).is_some_and(|&p| p != 0))
    }

    /// Records where a new key's record sits: its slot if within reach (and the position fits
    /// a slot), else the side table.
    fn place_new(&mut self, key: u128, position: usize) {
        let stored = u32::try_from(position + 1).ok();
        match (self.slot_of(key), stored) {
            (Some(s), Some(stored)) if s < self.slots.len() + SLOT_REACH => {
                if s >= self.slots.len() {
                    self.slots.resize(s + 1, 0);
                }
                self.slots[s] = stored;
            }
            _ => {
                self.others.insert(key, position);
            }
        }
    }

    /// Points a present key at a new, lower position (a removal moved its record down).
    fn repoint(&mut self, key: u128, position: usize) {
        match (self.held_slot(key), u32::try_from(position + 1)) {
            (Some(s), Ok(stored)) => self.slots[s] = stored,
            (Some(s), Err(_)) => {
                self.slots[s] = 0;
                self.others.insert(key, position);
            }
            (None, _) => {
                self.others.insert(key, position);
            }
        }
    }

    /// Forgets where a present key's record sits.
    fn forget(&mut self, key: u128) {
        match self.held_slot(key) {
            Some(s) => self.slots[s] = 0,
            None => {
                self.others.remove(&key);
            }
        }
    }

    /// The record of `id`.
    pub fn get(&self, id: &K) -> Option<&V> {
        self.get_by_key(id_key(id.as_ref()))
    }

    /// The record whose id has the [`id_key`] `key`.
    pub fn get_by_key(&self, key: u128) -> Option<&V> {
        self.position(key).map(|p| &self.entries[p].value)
    }

    /// The record of `id`, to change.
    pub fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        self.position(id_key(id.as_ref()))
            .map(|p| &mut self.entries[p].value)
    }

    /// Sets the record of `id`, returning the one it replaces.
    pub fn insert(&mut self, id: K, value: V) -> Option<V> {
        let key = id_key(id.as_ref());
        if let Some(p) = self.position(key) {
            return Some(std::mem::replace(&mut self.entries[p].value, value));
        }
        self.entries.push(Entry { key, id, value });
        self.place_new(key, self.entries.len() - 1);
        self.order = None;
        None
    }

    /// Removes the record of `id`.
    pub fn remove(&mut self, id: &K) -> Option<V> {
        let key = id_key(id.as_ref());
        let p = self.position(key)?;
        self.forget(key);
        self.order = None;
        let removed = self.entries.swap_remove(p);
        if let Some(moved) = self.entries.get(p) {
            let moved = moved.key;
            self.repoint(moved, p);
        }
        Some(removed.value)
    }

    /// The records, in no particular order (for searches whose answer does not depend on it).
    pub fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|e| &e.value)
    }

    /// Ids and records, in no particular order.
    pub fn iter_unordered(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|e| (&e.id, &e.value))
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

    /// Sorts the keys for [`Self::ordered_after`], unless nothing changed since the last
    /// time: a listing read page by page sorts once, not once a page.
    pub fn prepare_order(&mut self) {
        if self.order.is_none() {
            let mut keys: Vec<u128> = self.entries.iter().map(|e| e.key).collect();
            keys.sort_unstable();
            self.order = Some(keys);
        }
    }

    /// The records in id order, from the first whose id sorts after `after` (all without it).
    /// Call [`Self::prepare_order`] first; without it the keys are sorted here, every call.
    pub fn ordered_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a V> + 'a> {
        let start = |keys: &[u128]| {
            after.map_or(0, |a| {
                let a = id_key(a);
                keys.partition_point(|&k| k <= a)
            })
        };
        match &self.order {
            Some(keys) => {
                let from = start(keys);
                Box::new(keys[from..].iter().filter_map(|&k| self.get_by_key(k)))
            }
            None => {
                let mut keys: Vec<u128> = self.entries.iter().map(|e| e.key).collect();
                keys.sort_unstable();
                let from = start(&keys);
                Box::new(
                    keys.into_iter()
                        .skip(from)
                        .filter_map(|k| self.get_by_key(k)),
                )
            }
        }
    }

    /// The records, in id order.
    pub fn sorted_values(&self) -> Vec<&V> {
        let mut all: Vec<&Entry<K, V>> = self.entries.iter().collect();
        all.sort_unstable_by_key(|e| e.key);
        all.into_iter().map(|e| &e.value).collect()
    }

    /// How many records the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many records sit in the hashed side table.
    #[cfg(test)]
    fn unslotted(&self) -> usize {
        self.others.len()
    }
}

#[cfg(test)]
mod tests {
    use super::{scramble, unscramble, IdMap, MASK};
    use proptest::prelude::*;

    fn issued(counter: u128) -> String {
        format!("ami-{:017x}", scramble(counter))
    }

    /// Lookups find what was inserted, removal forgets it, and `sorted_values` lists in id
    /// order whatever order the inserts came in; ids the simulator did not issue work too.
    #[test]
    fn keyed_by_id_and_sorted_on_request() {
        let ids = [
            "ami-0fffffffffffffff0",
            "ami-00000001",
            "ami-0123456789abcdef0",
            "ami-00000000000000001",
            "ami-0abc",
        ];
        let mut m: IdMap<String, usize> = IdMap::new(7);
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

    /// Ids issued after the map's first counter take slots, wrapping past 2^68 included; an
    /// id issued before it, or far beyond the slots, goes to the side table; all are found,
    /// and stay found when the slots grow past them.
    #[test]
    fn issued_ids_take_slots() {
        let first = MASK - 2;
        let mut m: IdMap<String, u128> = IdMap::new(first);
        for c in 0..10u128 {
            m.insert(issued(first + c), c);
        }
        assert_eq!(
            m.unslotted(),
            0,
            "consecutive issues all slotted, across the wrap"
        );
        m.insert(issued(first - 1), 100);
        m.insert(issued(first + (1 << 40)), 200);
        assert_eq!(m.unslotted(), 2);
        for c in 0..10u128 {
            assert_eq!(m.get(&issued(first + c)), Some(&c));
        }
        assert_eq!(m.get(&issued(first - 1)), Some(&100));
        assert_eq!(m.get(&issued(first + (1 << 40))), Some(&200));
        assert_eq!(m.get(&issued(first + 10)), None, "a free slot in reach");
        assert_eq!(m.get(&issued(first + 5000)), None, "beyond the slots");
        let far = first + 100_000;
        m.insert(issued(far), 300);
        assert_eq!(m.unslotted(), 3, "beyond the reach of 10 slots");
        m.insert(issued(first + 60_000), 400);
        assert_eq!(
            m.unslotted(),
            3,
            "within reach: slotted, slots grown past `far`"
        );
        assert_eq!(m.get(&issued(far)), Some(&300));
        assert_eq!(m.remove(&issued(first + 3)), Some(3));
        assert_eq!(m.remove(&issued(far)), Some(300));
        assert_eq!(m.get(&issued(far)), None);
        assert_eq!(m.get(&issued(first + 60_000)), Some(&400));
        assert_eq!(m.unslotted(), 2);
    }

    /// Unscrambling inverts scrambling, so distinct counters give distinct ids.
    #[test]
    fn unscramble_inverts_scramble() {
        for c in [0u128, 1, 2, 17, 1 << 40, MASK - 1, MASK] {
            assert_eq!(unscramble(scramble(c)), c);
            assert_eq!(scramble(unscramble(c)), c);
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u16, u32),
        Remove(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u16..300, any::<u32>()).prop_map(|(c, v)| Step::Insert(c, v)),
            (0u16..300).prop_map(Step::Remove),
        ]
    }

    proptest! {
        /// The map answers as a `BTreeMap` of the same ids does after any mix of inserts,
        /// replacements and removals, ids issued by the simulator (near the map's first
        /// counter, before it, far after it) and not (8 hex digits) alike.
        #[test]
        fn behaves_as_an_ordered_map(
            first in any::<u128>(),
            steps in proptest::collection::vec(step(), 0..120),
        ) {
            let id = |c: u16| match c % 4 {
                0 => format!("ami-{:08x}", c),
                1 => issued(first.wrapping_sub(u128::from(c))),
                // Offsets to 75,000: some beyond the slots' reach when inserted, within it
                // once the slots have grown.
                2 => issued(first.wrapping_add(u128::from(c) * 250)),
                _ => issued(first.wrapping_add(u128::from(c))),
            };
            let mut m: IdMap<String, u32> = IdMap::new(first);
            let mut reference = std::collections::BTreeMap::new();
            for s in steps {
                match s {
                    Step::Insert(c, v) => {
                        prop_assert_eq!(m.insert(id(c), v), reference.insert(id(c), v));
                    }
                    Step::Remove(c) => {
                        prop_assert_eq!(m.remove(&id(c)), reference.remove(&id(c)));
                    }
                }
                for c in 0..300u16 {
                    prop_assert_eq!(m.get(&id(c)), reference.get(&id(c)));
                }
            }
            let sorted: Vec<u32> = m.sorted_values().into_iter().copied().collect();
            let expected: Vec<u32> = reference.values().copied().collect();
            prop_assert_eq!(sorted, expected);
        }
    }
}
