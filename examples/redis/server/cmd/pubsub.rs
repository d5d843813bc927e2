//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH, PUBSUB CHANNELS / NUMSUB / NUMPAT / HELP, and the rules of
//! RESP2's subscribed mode (see `server/pubsub.rs` for delivery).

use super::super::client::Client;
use super::super::exec::{Args, Ctx};
use super::super::pubsub::Kind;
use super::super::reply::{Proto, Reply};
use super::super::table::Spec;
use super::connection::help;

pub(crate) fn subscribe(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    listen(ctx, args, out, Kind::Channel);
}

pub(crate) fn psubscribe(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    listen(ctx, args, out, Kind::Pattern);
}

pub(crate) fn unsubscribe(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    stop_listening(ctx, args, out, Kind::Channel);
}

pub(crate) fn punsubscribe(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    stop_listening(ctx, args, out, Kind::Pattern);
}

fn listen(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>, kind: Kind) {
    let client = &mut *ctx.client;
    ctx.server
        .pubsub
        .subscribe(&mut client.pubsub, &client.info, kind, args.from(1), out);
}

fn stop_listening(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>, kind: Kind) {
    let names: Vec<&[u8]> = args.from(1).collect();
    ctx.server.pubsub.unsubscribe(&mut ctx.client.pubsub, kind, &names, out);
}

pub(crate) fn publish(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let server = ctx.server;
    let receivers = server
        .pubsub
        .publish(args.get(1), args.get(2), ctx.client.info.id, server.coarse_ms(), out);
    out.int(receivers as i64);
}

/// PUBSUB CHANNELS [pattern]
pub(crate) fn pubsub_channels(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() > 3 {
        let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
        m.extend_from_slice(args.get(1));
        m.extend_from_slice(b"'. Try PUBSUB HELP.");
        return out.error(&m);
    }
    let pattern = (args.len() == 3).then(|| args.get(2));
    let channels = ctx.server.pubsub.channels(pattern);
    out.array(channels.len());
    for c in &channels {
        out.bulk(c);
    }
}

/// PUBSUB NUMSUB [channel ...]: channel, count, channel, count, ...
pub(crate) fn pubsub_numsub(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    out.array(2 * (args.len() - 2));
    for channel in args.from(2) {
        out.bulk(channel);
        out.int(ctx.server.pubsub.numsub(channel) as i64);
    }
}

pub(crate) fn pubsub_numpat(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    out.int(ctx.server.pubsub.numpat() as i64);
}

pub(crate) fn pubsub_help(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    help(
        out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
        ],
    );
}

/// RESP2's subscribed mode: a client with a subscription may only
/// (un)subscribe, PING, QUIT and RESET (RESP3 interleaves pushes with
/// replies, so it may run anything). Returns false after replying Redis's
/// error (which also dooms a transaction being queued).
pub(crate) fn allowed(client: &mut Client, spec: &Spec, out: &mut Reply<'_>) -> bool {
    if client.pubsub.is_none()
        || client.proto != Proto::Resp2
        || matches!(
            spec.name,
            "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
        )
    {
        return true;
    }
    out.error_str(&format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.name
    ));
    if let Some(m) = client.multi.as_mut() {
        m.failed = true;
    }
    false
}

/// PING in RESP2's subscribed mode answers `["pong", arg or ""]`, as a
/// message would look; returns false when not in that mode.
pub(crate) fn subscribed_ping(client: &Client, args: &Args<'_>, out: &mut Reply<'_>) -> bool {
    if client.pubsub.is_none() || out.proto != Proto::Resp2 {
        return false;
    }
    out.array(2);
    out.bulk(b"pong");
    out.bulk(if args.len() > 1 { args.get(1) } else { b"" });
    true
}
