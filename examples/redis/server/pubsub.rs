//! Pub/sub: who listens to which channel or pattern, and delivery.
//!
//! A subscriber is reached through its connection's `ConnHandle`, whatever
//! loop it lives on: PUBLISH builds each message once per protocol (RESP2
//! array, RESP3 push), appends the shared bytes to each receiver's pending
//! queue and, if that queue was empty, wakes the receiver's connection
//! (`ConnHandle::wake`); its loop moves everything pending into the
//! connection's output in one go. A wake-up to a connection on the
//! publisher's own loop is a task in the loop's own mailbox, which needs no
//! system call. The publisher itself, when it listens too, gets the message
//! in its own reply stream, before the PUBLISH reply, as in Redis. Only
//! connections that subscribe get a handle (made when the command that
//! subscribed has run), so the others pay nothing for pub/sub.
//!
//! Why a queue and a wake rather than `ConnHandle::async_write` per
//! message: the loop handles socket events before its mailbox, so a
//! command read in the same turn as a posted message would be answered
//! first, and a subscriber could see the reply to a command it sent after a
//! PUBLISH had returned before that PUBLISH's message. The connection
//! drains its queue before it runs any command, so messages keep Redis's
//! causal order; and a burst of messages costs one wake-up per subscriber,
//! not one task per message.
//!
//! One mutex guards the registry and is held while a PUBLISH queues its
//! messages, so every subscriber sees messages in one order, the order of
//! the PUBLISH commands, as Redis's single thread gives.
//!
//! A subscriber that does not read is disconnected as Redis does past
//! `client-output-buffer-limit pubsub 32mb 8mb 60` ([`OutputLimit`]): the
//! bytes waiting for it (pending here, queued in its connection, posted
//! to it: `ConnHandle::queued_bytes`) are checked at each delivery; past
//! the hard limit, or over the soft limit for the soft duration, its
//! output is dropped and it is closed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use netreactor::{Bytes, Conn, ConnHandle};

use super::client::ClientInfo;
use super::glob;
use super::reply::{Proto, Reply};

/// Redis's `client-output-buffer-limit` for one class of clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutputLimit {
    /// Past this many bytes the client is closed at once (0: no limit).
    pub(crate) hard_bytes: usize,
    /// Over this many bytes for `soft_duration` without a break, the
    /// client is closed (0: no limit).
    pub(crate) soft_bytes: usize,
    pub(crate) soft_duration: Duration,
}

impl OutputLimit {
    /// Redis's `<hard> <soft> <soft seconds>` (`32mb 8mb 60`): sizes in
    /// bytes or with Redis's units (k = 1000, kb = 1024, m, mb, g, gb; any
    /// case).
    pub(crate) fn parse(text: &str) -> Option<OutputLimit> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [hard, soft, secs] = words[..] else { return None };
        Some(OutputLimit {
            hard_bytes: memory(hard)?,
            soft_bytes: memory(soft)?,
            soft_duration: Duration::from_secs(secs.parse().ok()?),
        })
    }
}

/// Redis's `memtoull`: a byte count with an optional unit.
fn memory(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: usize = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

/// Redis's default for pub/sub clients: `pubsub 32mb 8mb 60`.
pub(crate) const PUBSUB_OUTPUT_LIMIT: OutputLimit = OutputLimit {
    hard_bytes: 32 * 1024 * 1024,
    soft_bytes: 8 * 1024 * 1024,
    soft_duration: Duration::from_secs(60),
};

/// A subscribed connection as publishers on any loop see it.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// Set by its loop when the command that subscribed has run (a
    /// connection's handle can only be made outside a command's run, and
    /// is made only for connections that subscribe); until then messages
    /// wait in `pending`. Read under `pending`'s lock.
    handle: OnceLock<ConnHandle>,
    info: Arc<ClientInfo>,
    /// Server time (ms) since which its output has been over the soft
    /// limit; `u64::MAX`: it is not.
    over_soft_since_ms: AtomicU64,
    /// Closed for its output: publishers skip it until it unsubscribes.
    dropped: AtomicBool,
    /// Messages not yet moved into the connection's output.
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    messages: Vec<Bytes>,
    bytes: usize,
}

impl Subscriber {
    fn id(&self) -> u64 {
        self.info.id
    }

    fn proto(&self) -> Proto {
        if self.info.resp.load(Ordering::Relaxed) == 3 {
            Proto::Resp3
        } else {
            Proto::Resp2
        }
    }
}

/// What one connection listens to (in its `Client`; boxed there, so that
/// connections that never subscribe pay one pointer).
#[derive(Debug)]
pub(crate) struct Subscriptions {
    me: Arc<Subscriber>,
    /// The pending vector's spare, swapped in at each drain (no allocation
    /// per drain once both have grown).
    spare: Vec<Bytes>,
    channels: HashSet<Box<[u8]>>,
    patterns: HashSet<Box<[u8]>>,
}

impl Subscriptions {
    /// Channels plus patterns: the count every (un)subscribe reply carries.
    pub(crate) fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Publishes the counts for CLIENT LIST (sub, psub).
    fn show(&self) {
        for (i, n) in [self.channels.len(), self.patterns.len()].into_iter().enumerate() {
            self.me.info.subscribed[i].store(n as u32, Ordering::Relaxed);
        }
    }

    fn names(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }

    /// Loop thread, after a batch of commands: gives a new subscriber its
    /// connection's handle, then the messages published to it meanwhile
    /// (after the batch's replies, the subscribe confirmation among them).
    pub(crate) fn attach(&mut self, conn: &mut Conn) {
        if self.me.handle.get().is_none() {
            let _ = self.me.handle.set(conn.handle());
            if self.me.dropped.load(Ordering::Relaxed) {
                return conn.reset();
            }
        }
        self.drain(|message| conn.write_bytes(message));
    }

    /// Loop thread: hands every pending message, in order, to `write`.
    pub(crate) fn drain(&mut self, mut write: impl FnMut(Bytes)) {
        {
            let mut pending = self.me.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.messages.is_empty() {
                return;
            }
            pending.bytes = 0;
            std::mem::swap(&mut pending.messages, &mut self.spare);
        }
        for m in self.spare.drain(..) {
            write(m);
        }
    }
}

/// Channel or pattern: the two kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
}

impl Kind {
    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
        }
    }
}

type Listeners = HashMap<Box<[u8]>, HashMap<u64, Arc<Subscriber>>>;

#[derive(Debug, Default)]
struct Registry {
    channels: Listeners,
    patterns: Listeners,
}

impl Registry {
    fn of(&mut self, kind: Kind) -> &mut Listeners {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }
}

/// The server's pub/sub state.
#[derive(Debug)]
pub(crate) struct PubSub {
    registry: Mutex<Registry>,
    limit: OutputLimit,
}

impl PubSub {
    pub(crate) fn new(limit: OutputLimit) -> PubSub {
        PubSub {
            registry: Mutex::new(Registry::default()),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// SUBSCRIBE / PSUBSCRIBE: adds each name and replies for each.
    pub(crate) fn subscribe<'n>(
        &self,
        subs: &mut Option<Box<Subscriptions>>,
        info: &Arc<ClientInfo>,
        kind: Kind,
        names: impl Iterator<Item = &'n [u8]>,
        out: &mut Reply<'_>,
    ) {
        let subs = subs.get_or_insert_with(|| {
            Box::new(Subscriptions {
                me: Arc::new(Subscriber {
                    handle: OnceLock::new(),
                    info: info.clone(),
                    over_soft_since_ms: AtomicU64::new(u64::MAX),
                    dropped: AtomicBool::new(false),
                    pending: Mutex::default(),
                }),
                spare: Vec::new(),
                channels: HashSet::new(),
                patterns: HashSet::new(),
            })
        });
        let mut registry = self.lock();
        for name in names {
            if subs.names(kind).insert(name.into()) {
                registry
                    .of(kind)
                    .entry(name.into())
                    .or_default()
                    .insert(subs.me.id(), subs.me.clone());
            }
            event(out, kind.subscribe_word(), Some(name), subs.count());
        }
        subs.show();
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE: removes each name (every one when none
    /// is given) and replies for each; with nothing to remove, one reply
    /// with a null name.
    pub(crate) fn unsubscribe(
        &self,
        subs: &mut Option<Box<Subscriptions>>,
        kind: Kind,
        names: &[&[u8]],
        out: &mut Reply<'_>,
    ) {
        let Some(s) = subs.as_mut() else {
            if names.is_empty() {
                return event(out, kind.unsubscribe_word(), None, 0);
            }
            for name in names {
                event(out, kind.unsubscribe_word(), Some(name), 0);
            }
            return;
        };
        let named: Vec<Box<[u8]>> = if names.is_empty() {
            s.names(kind).iter().cloned().collect()
        } else {
            names.iter().map(|&n| n.into()).collect()
        };
        if named.is_empty() {
            return event(out, kind.unsubscribe_word(), None, s.count());
        }
        let mut registry = self.lock();
        // What was published before this command reaches the client first.
        s.drain(|m| out.raw(&m));
        for name in named {
            if s.names(kind).remove(&name) {
                forget(registry.of(kind), &name, s.me.id());
            }
            event(out, kind.unsubscribe_word(), Some(&name), s.count());
        }
        drop(registry);
        s.show();
        if s.count() == 0 {
            // Back to a fresh start: the output-limit clock, the flag.
            *subs = None;
        }
    }

    /// Drops every subscription without replies (RESET, a closed connection).
    pub(crate) fn unsubscribe_all(&self, subs: &mut Option<Box<Subscriptions>>) {
        let Some(mut s) = subs.take() else { return };
        let mut registry = self.lock();
        for name in s.channels.drain() {
            forget(&mut registry.channels, &name, s.me.id());
        }
        for name in s.patterns.drain() {
            forget(&mut registry.patterns, &name, s.me.id());
        }
        s.show();
    }

    /// Removes client `id` everywhere: for a connection whose state was
    /// lost (a panic mid-command), so its subscriptions are not known.
    pub(crate) fn forget_client(&self, id: u64) {
        let registry = &mut *self.lock();
        for listeners in [&mut registry.channels, &mut registry.patterns] {
            listeners.retain(|_, subs| {
                subs.remove(&id);
                !subs.is_empty()
            });
        }
    }

    /// PUBLISH: delivers `message` to the subscribers of `channel` and of
    /// every matching pattern; returns how many received it. `me` is the
    /// publisher (it gets its own copy in `out`), `now_ms` the server time
    /// the soft limit is measured in.
    pub(crate) fn publish(&self, channel: &[u8], message: &[u8], me: u64, now_ms: u64, out: &mut Reply<'_>) -> usize {
        let registry = self.lock();
        let mut delivered = 0;
        if let Some(subs) = registry.channels.get(channel) {
            let mut built = Built::default();
            for sub in subs.values() {
                let bytes = built.get(sub.proto(), |p| encode(p, None, channel, message));
                delivered += self.deliver(sub, bytes, me, now_ms, out);
            }
        }
        for (pattern, subs) in &registry.patterns {
            if glob::matches(pattern, channel, false) {
                let mut built = Built::default();
                for sub in subs.values() {
                    let bytes = built.get(sub.proto(), |p| encode(p, Some(pattern), channel, message));
                    delivered += self.deliver(sub, bytes, me, now_ms, out);
                }
            }
        }
        delivered
    }

    /// Sends one message to one subscriber, within its output limit;
    /// returns 1 if it was a receiver (Redis counts one it then closes).
    fn deliver(&self, sub: &Subscriber, bytes: &Bytes, me: u64, now_ms: u64, out: &mut Reply<'_>) -> usize {
        if sub.id() == me {
            out.raw(bytes);
            return 1;
        }
        if sub.dropped.load(Ordering::Relaxed) {
            return 0;
        }
        let mut pending = sub.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock: its loop sets the handle before it drains.
        let handle = sub.handle.get();
        if handle.is_some_and(|h| !h.is_alive()) {
            return 0;
        }
        // As Redis's checkClientOutputBufferLimits, on what waits for the
        // client once this message is added.
        let queued = handle.map_or(0, ConnHandle::queued_bytes);
        let after = (queued + pending.bytes).saturating_add(bytes.len());
        let limit = &self.limit;
        let over_hard = limit.hard_bytes > 0 && after >= limit.hard_bytes;
        let soft_expired = if limit.soft_bytes > 0 && after >= limit.soft_bytes {
            let since = sub.over_soft_since_ms.load(Ordering::Relaxed);
            if since == u64::MAX {
                sub.over_soft_since_ms.store(now_ms, Ordering::Relaxed);
                false
            } else {
                now_ms.saturating_sub(since) > limit.soft_duration.as_millis() as u64
            }
        } else {
            if sub.over_soft_since_ms.load(Ordering::Relaxed) != u64::MAX {
                sub.over_soft_since_ms.store(u64::MAX, Ordering::Relaxed);
            }
            false
        };
        if over_hard || soft_expired {
            pending.messages = Vec::new();
            pending.bytes = 0;
            drop(pending);
            disconnect(sub, handle, after, over_hard);
            return 1;
        }
        let first = pending.messages.is_empty();
        pending.messages.push(bytes.clone());
        pending.bytes += bytes.len();
        drop(pending);
        // One wake-up per batch: the loop takes every pending message.
        // Without a handle yet, its loop takes them when the current
        // callback ends.
        if first && handle.is_some_and(|h| h.wake().is_err()) {
            // Closed: its on_close is about to unsubscribe it.
            return 0;
        }
        1
    }

    /// PUBSUB CHANNELS: the channels with a subscriber, matching `pattern`.
    pub(crate) fn channels(&self, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        self.lock()
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB: the subscribers of `channel` (patterns not counted).
    pub(crate) fn numsub(&self, channel: &[u8]) -> usize {
        self.lock().channels.get(channel).map_or(0, HashMap::len)
    }

    /// PUBSUB NUMPAT: distinct patterns with a subscriber.
    pub(crate) fn numpat(&self) -> usize {
        self.sizes().1
    }

    /// Channels and distinct patterns with a subscriber (INFO's
    /// pubsub_channels and pubsub_patterns).
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let registry = self.lock();
        (registry.channels.len(), registry.patterns.len())
    }
}

/// Removes subscriber `id` from `name`, and `name` when it has none left.
fn forget(listeners: &mut Listeners, name: &[u8], id: u64) {
    if let Some(subs) = listeners.get_mut(name) {
        subs.remove(&id);
        if subs.is_empty() {
            listeners.remove(name);
        }
    }
}

/// Closes a subscriber over its output limit, dropping what is queued
/// for it (Redis frees such a client without flushing it); without a
/// handle yet, its loop closes it when it attaches.
fn disconnect(sub: &Subscriber, handle: Option<&ConnHandle>, queued: usize, hard: bool) {
    if sub.dropped.swap(true, Ordering::Relaxed) {
        return;
    }
    eprintln!(
        "redis: client id={} closed for overcoming of output buffer limits ({} limit, {queued} bytes)",
        sub.id(),
        if hard { "hard" } else { "soft" },
    );
    if let Some(h) = handle {
        let _ = h.reset();
    }
}

/// A message encoded once per protocol, on first need.
#[derive(Default)]
struct Built([Option<Bytes>; 2]);

impl Built {
    fn get(&mut self, proto: Proto, encode: impl FnOnce(Proto) -> Bytes) -> &Bytes {
        self.0[usize::from(proto == Proto::Resp3)].get_or_insert_with(|| encode(proto))
    }
}

/// `message channel payload`, or `pmessage pattern channel payload`: an
/// array in RESP2, a push in RESP3.
fn encode(proto: Proto, pattern: Option<&[u8]>, channel: &[u8], message: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(64 + pattern.map_or(0, <[u8]>::len) + channel.len() + message.len());
    let mut out = Reply::new(&mut buf, proto);
    match pattern {
        Some(p) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(p);
        }
        None => {
            out.push(3);
            out.bulk(b"message");
        }
    }
    out.bulk(channel);
    out.bulk(message);
    Bytes::from(buf)
}

/// A (un)subscribe confirmation: `[word, name, count]`, the name null when
/// there was nothing to unsubscribe from.
fn event(out: &mut Reply<'_>, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limits_parse_as_redis_reads_them() {
        assert_eq!(OutputLimit::parse("32mb 8mb 60"), Some(PUBSUB_OUTPUT_LIMIT));
        assert_eq!(OutputLimit::parse("33554432 8388608 60"), Some(PUBSUB_OUTPUT_LIMIT));
        let l = OutputLimit::parse(" 1K  2kb 0 ").expect("valid");
        assert_eq!(
            (l.hard_bytes, l.soft_bytes, l.soft_duration),
            (1000, 2048, Duration::ZERO)
        );
        assert_eq!(OutputLimit::parse("0 0 0").map(|l| l.hard_bytes), Some(0));
        for bad in [
            "",
            "32mb 8mb",
            "32mb 8mb 60 1",
            "32xb 8mb 60",
            "-1 0 0",
            "mb 0 0",
            "1 1 x",
            "99999999999gb 0 0",
        ] {
            assert_eq!(OutputLimit::parse(bad), None, "{bad:?}");
        }
    }
}
