//! Running one command: look it up, check its arity, queue it if a
//! transaction is open, lock the shards it needs, run it.

use super::blocking;
use super::client::{Client, Queued};
use super::keyspace::{Db, Want, DATABASES};
use super::reply::Reply;
use super::resp::Span;
use super::shard::Clock;
use super::stats::LoopStats;
use super::table::{self, Lock, Spec};
use super::Server;

/// A command's arguments (the name first), as spans into a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Args<'a> {
    src: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    pub(crate) fn new(src: &'a [u8], spans: &'a [Span]) -> Self {
        Args { src, spans }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &'a [u8] {
        let (at, len) = self.spans[i];
        &self.src[at..at + len]
    }

    /// Arguments `from..`.
    pub(crate) fn from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (from..self.len()).map(|i| self.get(i))
    }

    /// A copy that outlives the input buffer (for MULTI's queue).
    pub(crate) fn queue(self, spec: &'static Spec) -> Queued {
        let mut data = Vec::with_capacity(self.spans.iter().map(|s| s.1).sum());
        let mut spans = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            spans.push((data.len(), self.spans[i].1));
            data.extend_from_slice(self.get(i));
        }
        Queued { spec, data, spans }
    }
}

/// A command's implementation.
pub(crate) type Handler = fn(&mut Ctx<'_>, &Args<'_>, &mut Reply<'_>);

/// What a command runs with.
pub(crate) struct Ctx<'a> {
    pub(crate) server: &'a Server,
    pub(crate) client: &'a mut Client,
    /// The keyspace, with the shards the command needs locked.
    pub(crate) db: Db<'a>,
}

/// Commands that run at once even inside MULTI.
fn runs_inside_multi(spec: &Spec) -> bool {
    matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Runs (or queues) the command in `args`, writing its reply to `out`.
pub(crate) fn execute(
    server: &Server,
    client: &mut Client,
    stats: &LoopStats,
    clock: &Clock,
    args: &Args<'_>,
    out: &mut Reply<'_>,
) {
    if args.len() != 1 && args.get(0).eq_ignore_ascii_case(b"exec") {
        // Redis answers a malformed EXEC by discarding the transaction.
        let mut db = Db::new(&server.keyspace, stats, clock, client.db);
        return super::cmd::tx::exec_rejected(&mut db, client, out);
    }
    let Some(spec) = resolve(args, out) else {
        if let Some(m) = client.multi.as_mut() {
            m.failed = true;
        }
        return;
    };
    if !super::cmd::pubsub::allowed(client, spec, out) {
        return;
    }
    if let Some(m) = client.multi.as_mut() {
        if !runs_inside_multi(spec) {
            m.queued.push(args.queue(spec));
            client
                .info
                .multi
                .store(m.queued.len() as i64, std::sync::atomic::Ordering::Relaxed);
            out.status(b"QUEUED");
            return;
        }
    }
    let db = client.db;
    let mut ctx = Ctx {
        server,
        client,
        db: Db::new(&server.keyspace, stats, clock, db),
    };
    run(&mut ctx, spec, args, out);
    blocking::serve_ready(&mut ctx.db);
}

/// Counts and runs a resolved command, locking what it needs unless the
/// caller (EXEC) already holds it.
pub(crate) fn run(ctx: &mut Ctx<'_>, spec: &'static Spec, args: &Args<'_>, out: &mut Reply<'_>) {
    ctx.db.stats().commands.add(1);
    ctx.client
        .info
        .last_command
        .store(std::ptr::from_ref(spec) as usize, std::sync::atomic::Ordering::Relaxed);
    let want = wants(&ctx.db, ctx.client, spec, args, ctx.db.index);
    let locked_here = ctx.db.acquire(want);
    let handler = spec.run.expect("resolve returns runnable specs");
    handler(ctx, args, out);
    if locked_here {
        ctx.db.release();
    }
}

/// The command (or subcommand) `args` names, or None after writing the
/// error reply Redis gives.
pub(crate) fn resolve(args: &Args<'_>, out: &mut Reply<'_>) -> Option<&'static Spec> {
    let name = args.get(0);
    let Some(spec) = table::lookup(name) else {
        out.error(&unknown_command(args));
        return None;
    };
    if !spec.arity_ok(args.len()) {
        wrong_arity(spec, out);
        return None;
    }
    if spec.subcommands.is_empty() || (args.len() == 1 && spec.run.is_some()) {
        return Some(spec);
    }
    let Some(sub) = spec.subcommand(args.get(1)) else {
        let mut m = b"ERR unknown subcommand '".to_vec();
        m.extend_from_slice(&args.get(1)[..args.get(1).len().min(128)]);
        m.extend_from_slice(b"'. Try ");
        m.extend_from_slice(spec.name.to_ascii_uppercase().as_bytes());
        m.extend_from_slice(b" HELP.");
        out.error(&m);
        return None;
    };
    if !sub.arity_ok(args.len()) {
        wrong_arity(sub, out);
        return None;
    }
    Some(sub)
}

pub(crate) fn wrong_arity(spec: &Spec, out: &mut Reply<'_>) {
    out.error_str(&format!("ERR wrong number of arguments for '{}' command", spec.name));
}

/// "unknown command 'foo', with args beginning with: 'a' 'b' ", with
/// Redis's 128-byte caps.
fn unknown_command(args: &Args<'_>) -> Vec<u8> {
    let name = args.get(0);
    let mut m = b"ERR unknown command '".to_vec();
    m.extend_from_slice(&name[..name.len().min(128)]);
    m.extend_from_slice(b"', with args beginning with: ");
    let mut listed = Vec::new();
    for arg in args.from(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    m.extend_from_slice(&listed);
    m
}

/// The indices of the keys of `spec` in `args` (none unless it locks by key).
pub(crate) fn key_positions(spec: &Spec, argc: usize) -> impl Iterator<Item = usize> {
    let (first, last, step) = match spec.lock {
        Lock::Keys(f, l, s) => (i64::from(f), i64::from(l), s.max(1) as usize),
        _ => (1, 0, 1),
    };
    let last = if last < 0 {
        argc as i64 + last
    } else {
        last.min(argc as i64 - 1)
    };
    let end = (last + 1).max(first) as usize;
    (first as usize..end).step_by(step)
}

/// The shards `spec` needs locked to run `args` in database `db` for
/// `client` (EXEC asks for each queued command with the database that a
/// queued SELECT will have chosen by then).
pub(crate) fn wants(db: &Db<'_>, client: &Client, spec: &Spec, args: &Args<'_>, index: usize) -> Want {
    match spec.lock {
        Lock::None | Lock::EachInTurn => Want::Nothing,
        Lock::Db => Want::Db(index),
        Lock::Everything => Want::Everything,
        Lock::Keys(first, last, _) if first == last || (last == -1 && args.len() == 2) => {
            Want::One(db.shard_index(index, args.get(first as usize)))
        }
        Lock::Keys(..) => Want::Set(
            key_positions(spec, args.len())
                .map(|i| db.shard_index(index, args.get(i)))
                .collect(),
        ),
        Lock::Watched => watched_shards(db, client),
        Lock::Swap => match (db_index(args.get(1)), db_index(args.get(2))) {
            (Some(a), Some(b)) => Want::TwoDbs(a, b),
            _ => Want::Nothing,
        },
        Lock::Move => {
            let key = args.get(1);
            let here = db.shard_index(index, key);
            match db_index(args.get(2)) {
                Some(there) => Want::Set(vec![here, db.shard_index(there, key)]),
                None => Want::One(here),
            }
        }
        Lock::Copy => {
            let (from, to) = (args.get(1), args.get(2));
            let mut set = vec![db.shard_index(index, from), db.shard_index(index, to)];
            if let Some(there) = copy_target(args) {
                set.push(db.shard_index(there, to));
            }
            Want::Set(set)
        }
    }
}

/// The database a COPY's `DB` option names (the last one, as Redis reads
/// them), if valid; the command itself replies to an invalid one.
pub(crate) fn copy_target(args: &Args<'_>) -> Option<usize> {
    let mut target = None;
    let mut i = 3;
    while i + 1 < args.len() {
        if args.get(i).eq_ignore_ascii_case(b"DB") {
            target = db_index(args.get(i + 1));
            i += 1;
        }
        i += 1;
    }
    target
}

/// The shards of the keys `client` WATCHes.
pub(crate) fn watched_shards(db: &Db<'_>, client: &Client) -> Want {
    Want::Set(client.watched.iter().map(|w| db.shard_index(w.db, &w.key)).collect())
}

/// A database number as SELECT, MOVE and SWAPDB read it (0..DATABASES),
/// or None.
pub(crate) fn db_index(arg: &[u8]) -> Option<usize> {
    super::resp::parse_i64(arg)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n < DATABASES)
}
