//! The reactors: the acceptor (main reactor) and the event loops
//! (sub-reactors), and the mailbox through which other threads reach a loop.

pub(crate) mod acceptor;
pub(crate) mod event_loop;
pub(crate) mod listener;
pub(crate) mod timer;
