//! The values a key can hold: strings (kept as an integer while INCR
//! treats them as one), lists, hashes, sets and sorted sets.

use std::cmp::Ordering;
use std::collections::{BTreeSet, VecDeque};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

/// A stored byte string (short ones inline).
pub(crate) use super::small_bytes::SmallBytes as Bytes;

/// A key's value. Collections are boxed so that every entry stays small
/// (32 bytes for the value: a `VecDeque` or `HashMap` inline would make
/// every key, strings included, pay for the largest).
#[derive(Debug, Clone)]
#[allow(clippy::box_collection)]
pub(crate) enum Value {
    Str(Vec<u8>),
    /// A string that holds a decimal integer (what INCR leaves behind), so
    /// counting needs no parsing, formatting or allocation.
    Int(i64),
    List(Box<VecDeque<Bytes>>),
    Hash(Box<HashMap<Bytes, Bytes>>),
    Set(Box<MemberSet>),
    ZSet(Box<SortedSet>),
}

impl Value {
    /// TYPE's answer.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// OBJECT ENCODING's answer: what is really stored, in Redis's words
    /// where they are true (docs/examples.md has the table). A string is
    /// always its own heap buffer ("raw"; nothing is embedded as Redis's
    /// "embstr"); a counter is a machine integer ("int"); hashes and sets
    /// are hash tables at every size (no listpack or intset); a list is a
    /// ring buffer (Redis's quicklist is a list of listpacks) and a sorted
    /// set a B-tree beside a hash table (Redis's: a skiplist beside one).
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(_) => "raw",
            Value::Int(_) => "int",
            Value::List(_) => "ringbuffer",
            Value::Hash(_) | Value::Set(_) => "hashtable",
            Value::ZSet(_) => "btree",
        }
    }
}

/// A set with O(1) insert, remove and random pick: members in a vector,
/// a hash table of their positions.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemberSet {
    members: Vec<Bytes>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl MemberSet {
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn members(&self) -> &[Bytes] {
        &self.members
    }

    fn find(&self, m: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(m);
        self.index.find(h, |&i| &*self.members[i as usize] == m).copied()
    }

    pub(crate) fn contains(&self, m: &[u8]) -> bool {
        self.find(m).is_some()
    }

    /// Adds `m`; false if it was there.
    pub(crate) fn insert(&mut self, m: &[u8]) -> bool {
        if self.contains(m) {
            return false;
        }
        let i = self.members.len() as u32;
        self.members.push(m.into());
        let (members, hasher) = (&self.members, &self.hasher);
        let h = hasher.hash_one(m);
        self.index
            .insert_unique(h, i, |&j| hasher.hash_one(&*members[j as usize]));
        true
    }

    /// Removes `m`; false if it was not there.
    pub(crate) fn remove(&mut self, m: &[u8]) -> bool {
        match self.find(m) {
            Some(i) => {
                self.remove_at(i as usize);
                true
            }
            None => false,
        }
    }

    /// Removes and returns the member at `i` (the last one moves into its place).
    pub(crate) fn remove_at(&mut self, i: usize) -> Bytes {
        let h = self.hasher.hash_one(&*self.members[i]);
        if let Ok(e) = self.index.find_entry(h, |&j| j as usize == i) {
            e.remove();
        }
        let last = self.members.len() - 1;
        if i != last {
            let hl = self.hasher.hash_one(&*self.members[last]);
            if let Some(slot) = self.index.find_mut(hl, |&j| j as usize == last) {
                *slot = i as u32;
            }
        }
        self.members.swap_remove(i)
    }
}

/// A score as a totally ordered key (scores are never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Score(pub(crate) f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members by name, and (score, member) in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct SortedSet {
    scores: HashMap<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

impl SortedSet {
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn score(&self, m: &[u8]) -> Option<f64> {
        self.scores.get(m).copied()
    }

    /// Sets `m`'s score; true if `m` is new.
    pub(crate) fn insert(&mut self, m: &[u8], score: f64) -> bool {
        // -0.0 and 0.0 are one score in Redis.
        let score = if score == 0.0 { 0.0 } else { score };
        match self.scores.get_mut(m) {
            Some(old) => {
                if *old != score {
                    let key: Bytes = m.into();
                    self.order.remove(&(Score(*old), key.clone()));
                    self.order.insert((Score(score), key));
                    *old = score;
                }
                false
            }
            None => {
                let key: Bytes = m.into();
                self.scores.insert(key.clone(), score);
                self.order.insert((Score(score), key));
                true
            }
        }
    }

    pub(crate) fn remove(&mut self, m: &[u8]) -> bool {
        match self.scores.remove_entry(m) {
            Some((key, score)) => {
                self.order.remove(&(Score(score), key));
                true
            }
            None => false,
        }
    }

    /// Removes and returns the member with the lowest score (ties by member).
    pub(crate) fn pop_min(&mut self) -> Option<(Bytes, f64)> {
        let (score, member) = self.order.pop_first()?;
        self.scores.remove(&member);
        Some((member, score.0))
    }

    /// Removes and returns the member with the highest score.
    pub(crate) fn pop_max(&mut self) -> Option<(Bytes, f64)> {
        let (score, member) = self.order.pop_last()?;
        self.scores.remove(&member);
        Some((member, score.0))
    }

    /// The 0-based rank of `m` in ascending order (O(rank): the B-tree
    /// keeps no subtree sizes).
    pub(crate) fn rank(&self, m: &[u8]) -> Option<usize> {
        let score = self.score(m)?;
        let key = (Score(score), Bytes::from(m));
        Some(self.order.range(..key).count())
    }

    /// Removes members `start..=stop` in order (indices already clamped);
    /// returns how many.
    pub(crate) fn remove_ranks(&mut self, start: usize, stop: usize) -> usize {
        let doomed: Vec<Bytes> = self
            .iter()
            .skip(start)
            .take(stop + 1 - start)
            .map(|(m, _)| m.clone())
            .collect();
        for m in &doomed {
            self.remove(m);
        }
        doomed.len()
    }

    /// Every (member, score) in order; `.rev()` for the reverse.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// In order, from the first member whose score is at least `min`.
    pub(crate) fn up_from_score(&self, min: f64) -> impl Iterator<Item = (&Bytes, f64)> {
        let from = (Score(min), Bytes::from(&b""[..]));
        self.order.range(from..).map(|(s, m)| (m, s.0))
    }

    /// In reverse order, from the last member whose score is at most `max`.
    pub(crate) fn down_from_score(&self, max: f64) -> impl Iterator<Item = (&Bytes, f64)> {
        use std::ops::Bound;
        let to = if max == f64::INFINITY {
            Bound::Unbounded
        } else {
            Bound::Excluded((Score(max.next_up()), Bytes::from(&b""[..])))
        };
        self.order.range((Bound::Unbounded, to)).rev().map(|(s, m)| (m, s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_set_keeps_its_index_through_removals() {
        let mut s = MemberSet::default();
        for i in 0..100u32 {
            assert!(s.insert(&i.to_be_bytes()));
        }
        assert!(!s.insert(&7u32.to_be_bytes()));
        for i in (0..100u32).step_by(3) {
            assert!(s.remove(&i.to_be_bytes()));
        }
        assert_eq!(s.len(), 66);
        for i in 0..100u32 {
            assert_eq!(s.contains(&i.to_be_bytes()), i % 3 != 0, "{i}");
        }
        while s.len() > 0 {
            s.remove_at(s.len() / 2);
        }
    }

    #[test]
    fn sorted_set_orders_by_score_then_member() {
        let mut z = SortedSet::default();
        z.insert(b"b", 1.0);
        z.insert(b"a", 1.0);
        z.insert(b"c", -2.5);
        z.insert(b"b", 0.5);
        let all: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(
            all,
            vec![(b"c".to_vec(), -2.5), (b"b".to_vec(), 0.5), (b"a".to_vec(), 1.0)]
        );
        assert_eq!(z.pop_min(), Some((Bytes::from(&b"c"[..]), -2.5)));
        assert!(z.remove(b"b"));
        assert_eq!(z.len(), 1);
    }
}
