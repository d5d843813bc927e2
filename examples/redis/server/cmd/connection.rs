//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.
//!
//! There are no passwords: the default user needs none, as in a Redis
//! without `requirepass` (AUTH default <anything> succeeds, any other
//! user fails).

use std::sync::atomic::Ordering;

use super::super::client::{is_valid_name, ClientInfo};
use super::super::exec::{Args, Ctx};
use super::super::reply::{Proto, Reply};
use super::super::table;
use super::super::Server;
use super::tx::unwatch_all;

/// The version HELLO and INFO report: the Redis release whose replies
/// this server reproduces.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

pub(crate) fn ping(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() <= 2 && super::pubsub::subscribed_ping(ctx.client, args, out) {
        return;
    }
    match args.len() {
        1 => out.status(b"PONG"),
        2 => out.bulk(args.get(1)),
        _ => super::super::exec::wrong_arity(table::lookup(b"ping").expect("in the table"), out),
    }
}

pub(crate) fn echo(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    out.bulk(args.get(1));
}

const WRONGPASS: &[u8] = b"WRONGPASS invalid username-password pair or user is disabled.";

pub(crate) fn hello(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let mut proto = None;
    let mut at = 1;
    if args.len() >= 2 {
        match super::super::resp::parse_i64(args.get(1)) {
            Some(2) => proto = Some(Proto::Resp2),
            Some(3) => proto = Some(Proto::Resp3),
            Some(_) => return out.error(b"NOPROTO unsupported protocol version"),
            None => return out.error(b"ERR Protocol version is not an integer or out of range"),
        }
        at = 2;
    }
    let mut name = None;
    let mut auth_ok = true;
    while at < args.len() {
        let more = args.len() - 1 - at;
        let opt = args.get(at);
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            auth_ok = args.get(at + 1) == b"default";
            at += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            let n = args.get(at + 1);
            if !is_valid_name(n) {
                return out.error(b"ERR Client names cannot contain spaces, newlines or special characters.");
            }
            name = Some(n);
            at += 2;
        } else {
            let mut m = b"ERR Syntax error in HELLO option '".to_vec();
            m.extend_from_slice(opt);
            m.push(b'\'');
            return out.error(&m);
        }
    }
    if !auth_ok {
        return out.error(WRONGPASS);
    }
    if let Some(n) = name {
        ctx.client
            .info
            .set_names(|names| names.name = (!n.is_empty()).then(|| n.into()));
    }
    if let Some(p) = proto {
        ctx.client.proto = p;
        out.proto = p;
        ctx.client.info.resp.store(p.number() as u8, Ordering::Relaxed);
    }
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(ctx.client.proto.number());
    out.bulk(b"id");
    out.int(ctx.client.info.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

pub(crate) fn auth(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    match args.len() {
        2 => out.error(
            b"ERR AUTH <password> called without any password configured for the default user. \
              Are you sure your configuration is correct?",
        ),
        3 if args.get(1) == b"default" => out.ok(),
        3 => out.error(WRONGPASS),
        _ => out.syntax_error(),
    }
}

/// SELECT index: the database the client's next commands use (inside
/// MULTI, queued, it takes effect for the commands queued after it).
pub(crate) fn select(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if let Some(db) = super::db_arg(args.get(1), out, None) {
        ctx.client.select(db);
        ctx.db.index = db;
        out.ok();
    }
}

pub(crate) fn quit(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    out.ok();
    ctx.client.closing = true;
}

pub(crate) fn reset(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    ctx.client.multi = None;
    ctx.client.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(&mut ctx.db, ctx.client);
    ctx.server.pubsub.unsubscribe_all(&mut ctx.client.pubsub);
    ctx.client.select(0);
    ctx.db.index = 0;
    ctx.client.proto = Proto::Resp2;
    out.proto = Proto::Resp2;
    ctx.client.info.resp.store(2, Ordering::Relaxed);
    ctx.client.info.set_names(|names| names.name = None);
    out.status(b"RESET");
}

pub(crate) fn client_id(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    out.int(ctx.client.info.id as i64);
}

pub(crate) fn client_getname(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    ctx.client
        .info
        .names(|names| match names.and_then(|n| n.name.as_deref()) {
            Some(n) => out.bulk(n),
            None => out.null(),
        });
}

pub(crate) fn client_setname(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let name = args.get(2);
    if !is_valid_name(name) {
        return out.error(b"ERR Client names cannot contain spaces, newlines or special characters.");
    }
    ctx.client
        .info
        .set_names(|names| names.name = (!name.is_empty()).then(|| name.into()));
    out.ok();
}

/// One CLIENT LIST line. The fields are Redis's, less those about buffers
/// and events that this server does not track (qbuf, qbuf-free, argv-mem,
/// multi-mem, rbs, rbp, obl, oll, omem, tot-mem, events).
fn describe(server: &Server, c: &ClientInfo) -> String {
    let now = server.coarse_ms();
    let addr = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let multi = c.multi.load(Ordering::Relaxed);
    let cmd = table::by_address(c.last_command.load(Ordering::Relaxed)).map_or("NULL", |s| s.name);
    let name = c.names(|names| {
        names
            .and_then(|n| n.name.as_ref())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    });
    let [sub, psub] = c.subscribed.each_ref().map(|n| n.load(Ordering::Relaxed));
    let mut flags = String::new();
    if c.is_pubsub() {
        flags.push('P');
    }
    if multi >= 0 {
        flags.push('x');
    }
    if c.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd={} name={name} age={} idle={} flags={flags} db={} sub={sub} psub={psub} ssub=0 multi={} \
         cmd={} user=default redir=-1 resp={}\n",
        c.id,
        addr(c.addr),
        addr(c.laddr),
        c.fd,
        now.saturating_sub(c.opened_ms) / 1000,
        now.saturating_sub(c.active_ms.load(Ordering::Relaxed)) / 1000,
        c.db.load(Ordering::Relaxed),
        multi,
        cmd,
        c.resp.load(Ordering::Relaxed),
    )
}

pub(crate) fn client_list(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let mut ids: Option<Vec<u64>> = None;
    // TYPE pubsub / normal: subscribed or not.
    let mut pubsub = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i).to_ascii_uppercase();
        if opt == b"TYPE" && i + 1 < args.len() {
            let t = args.get(i + 1).to_ascii_lowercase();
            match t.as_slice() {
                b"normal" => pubsub = Some(false),
                b"pubsub" => pubsub = Some(true),
                b"master" | b"replica" | b"slave" => ids = Some(Vec::new()),
                _ => {
                    let mut m = b"ERR Unknown client type '".to_vec();
                    m.extend_from_slice(args.get(i + 1));
                    m.push(b'\'');
                    return out.error(&m);
                }
            }
            i += 2;
        } else if opt == b"ID" && i + 1 < args.len() {
            let mut wanted = Vec::new();
            for id in args.from(i + 1) {
                match super::super::resp::parse_i64(id).filter(|&n| n > 0) {
                    Some(n) => wanted.push(n as u64),
                    None => return out.error(b"ERR Invalid client ID"),
                }
            }
            ids = Some(wanted);
            i = args.len();
        } else {
            return out.syntax_error();
        }
    }
    let mut text = String::new();
    for c in ctx.server.clients.all() {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) && pubsub.is_none_or(|p| c.is_pubsub() == p) {
            text.push_str(&describe(ctx.server, &c));
        }
    }
    out.verbatim(text.as_bytes());
}

pub(crate) fn client_info(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    out.verbatim(describe(ctx.server, &ctx.client.info).as_bytes());
}

pub(crate) fn client_help(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    help(
        out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "LIST [TYPE <type>] [ID <id> [<id> ...]]",
            "    Return information about client connections.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
        ],
    );
}

/// A HELP reply in Redis's shape: a status line per line of text.
pub(crate) fn help(out: &mut Reply<'_>, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.status(format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes());
    for l in lines {
        out.status(l.as_bytes());
    }
    out.status(b"HELP");
    out.status(b"    Prints this help.");
}
