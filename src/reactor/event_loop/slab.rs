//! The loop's table of connections: slots with generations.

use crate::conn::Conn;
use crate::id::ConnId;
use crate::sys;

/// Connections by slot, each slot with a generation bumped on reuse.
#[derive(Debug)]
pub(super) struct Slab<St> {
    /// The owning loop's index, part of every id it hands out.
    event_loop: usize,
    entries: Vec<(u32, Option<(Conn, St)>)>,
    free: Vec<u32>,
    len: usize,
}

impl<St> Slab<St> {
    pub(super) fn new(event_loop: usize) -> Self {
        Slab {
            event_loop,
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The id of the connection an epoll token names (it may be stale).
    pub(super) fn id_of(&self, token: u64) -> ConnId {
        ConnId::from_token(self.event_loop, token)
    }

    pub(super) fn next_id(&self) -> ConnId {
        match self.free.last() {
            Some(&slot) => ConnId::new(self.event_loop, slot, self.entries[slot as usize].0),
            None => ConnId::new(self.event_loop, self.entries.len() as u32, 0),
        }
    }

    /// Inserts at the id `next_id` returned.
    pub(super) fn insert(&mut self, conn: Conn, state: St) {
        let slot = conn.id.slot();
        if self.free.last().is_some_and(|&s| s as usize == slot) {
            self.free.pop();
            self.entries[slot].1 = Some((conn, state));
        } else {
            self.entries.push((0, Some((conn, state))));
        }
        self.len += 1;
    }

    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.get_pair(id).map(|(c, _)| c)
    }

    /// The connection and its service's state for it.
    #[inline]
    pub(super) fn get_pair(&mut self, id: ConnId) -> Option<(&mut Conn, &mut St)> {
        match self.entries.get_mut(id.slot()) {
            Some((generation, Some((c, s)))) if *generation == id.generation() => Some((c, s)),
            _ => None,
        }
    }

    pub(super) fn remove(&mut self, id: ConnId) -> Option<(Conn, St)> {
        let (generation, entry) = self.entries.get_mut(id.slot())?;
        if *generation != id.generation() || entry.is_none() {
            return None;
        }
        *generation = generation.wrapping_add(1);
        self.free.push(id.slot() as u32);
        self.len -= 1;
        entry.take()
    }

    /// Starts loading a connection's slot into cache (tokens that are not
    /// connections, like the waker's, fall outside the table and are ignored).
    pub(super) fn prefetch(&self, id: ConnId) {
        if let Some(entry) = self.entries.get(id.slot()) {
            sys::prefetch::prefetch(entry);
        }
    }

    /// The open connection whose partial inbound message holds the most.
    /// The connection holding the most bytes of a partial inbound
    /// message, and how many (a scan: run only over the budget, or when the
    /// biggest holder shrinks).
    pub(super) fn largest_partial_holder(&self) -> Option<(ConnId, usize)> {
        self.entries
            .iter()
            .filter_map(|(_, e)| e.as_ref().map(|(c, _)| c))
            .filter(|c| c.held > 0 && c.close_reason.is_none())
            .max_by_key(|c| c.held)
            .map(|c| (c.id, c.held as usize))
    }

    pub(super) fn ids(&self) -> Vec<ConnId> {
        self.entries
            .iter()
            .filter_map(|(_, e)| e.as_ref().map(|(c, _)| c.id))
            .collect()
    }
}
