//! Tasks posted to the loop by other threads: registrations, writes, wakes,
//! closes and the stop.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::EventLoop;
use crate::conn::Conn;
use crate::error::panic_message;
use crate::error::CloseReason;
use crate::id::ConnId;
use crate::mailbox::{CallFn, Task};
use crate::service::Serve;

impl<S: Serve> EventLoop<S> {
    pub(super) fn run_tasks(&mut self) {
        if !self.mailbox().take_pending() {
            return;
        }
        while let Some(task) = self.inbox.try_urgent() {
            self.run_task(task);
        }
        for _ in 0..self.cfg.tasks_per_iteration {
            match self.inbox.try_normal() {
                Some(task) => self.run_task(task),
                None => return,
            }
        }
        self.mailbox().keep_pending();
    }

    pub(super) fn run_task(&mut self, task: Task) {
        self.counters.tasks.add(1);
        match task {
            Task::Register(incoming) => self.register(incoming),
            // The acceptor places enrolled sockets; should one reach a loop,
            // it counts and serves it as the acceptor would have.
            Task::Enroll(incoming, _) => {
                self.shared().add_connection();
                self.register(incoming)
            }
            Task::Write(id, data) => self.task_write(id, data.len(), |c| c.write_bytes(data)),
            Task::WriteVectored(id, data) => {
                let posted = data.iter().map(|d| d.len()).fold(0, usize::saturating_add);
                self.task_write(id, posted, |c| data.into_iter().for_each(|d| c.write_bytes(d)))
            }
            // The user's encoder runs here, under the task's panic guard.
            Task::WriteFrame(id, frame, reserved) => self.task_write(id, reserved, |c| {
                if let Err(e) = c.write_frame(&frame) {
                    c.close_reason.get_or_insert(CloseReason::Codec(e.to_string()));
                }
            }),
            Task::SendTo(id, to, data) => self.task_send_to(id, to, data),
            Task::Wake(id) => {
                if self.conns.get_mut(id).is_some_and(|c| c.close_reason.is_none()) {
                    let action = self.call(id, |h, c, s| h.on_traffic(c, s));
                    self.after_callback(id, action);
                }
            }
            Task::Close(id) => self.task_write(id, 0, Conn::close),
            Task::Reset(id) => self.task_write(id, 0, Conn::reset),
            Task::Dial(req) => self.dial(*req),
            Task::Relay(id, req) => self.relay_start(id, *req),
            Task::Call(id, f) => self.run_call(id, f),
            Task::Stop(deadline) => self.begin_stop(deadline),
            Task::Drain(_) => self.begin_drain(),
            Task::ShedInbound { from, held } => self.shed_partial_messages(Some((from, held))),
            #[cfg(test)]
            Task::Crash => panic!("injected crash on loop {}", self.index),
        }
    }
}

impl<S: Serve> EventLoop<S> {
    /// `ConnHandle::call`: the closure runs like a callback on the
    /// connection; dropped (under the guard: it is user code) if the
    /// connection has gone.
    fn run_call(&mut self, id: ConnId, f: CallFn) {
        let live = self
            .conns
            .get_mut(id)
            .is_some_and(|c| c.close_reason.is_none() && !c.connecting);
        if !live {
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(f))) {
                log::error!(
                    "netreactor: dropping a ConnHandle::call closure panicked: {}",
                    panic_message(p.as_ref())
                );
            }
            return;
        }
        let action = self.call(id, |_, c, _| (f.0)(c));
        self.after_callback(id, action);
    }
}
