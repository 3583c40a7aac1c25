//! Host tests of the server over the fake kernel.

mod exhaust;
mod fuzz;
#[allow(unsafe_code)] // a `GlobalAlloc`, passing every call on to the system's
pub(crate) mod heap;
mod out_of_heap;
mod prop;
mod unit;

use std::collections::BTreeMap;

use libshm::protocol::*;

use crate::check::check;
use crate::fake::{FakeCap, FakeKernel};
use crate::{Limits, Server};

/// A server, the fake kernel under it, and the processes the test plays.
pub(crate) struct World {
    pub s: Server<FakeKernel>,
    pub total: u64,
    pub vspaces: BTreeMap<Pid, FakeCap>,
    pub tasks: BTreeMap<Pid, TaskId>,
    /// Last generation used per pid (survives death).
    pub gens: BTreeMap<Pid, TaskId>,
    /// The budget [`World::spawn`] registers processes with.
    pub budget: Budget,
    /// Which of the server's heap allocations in the next request fails
    /// (see [`heap::failing`]), and how many that request made.
    pub heap_fail: Option<u64>,
    pub heap_used: u64,
}

const EVERY_STEP: u32 = 64;
const STRIDE: u32 = 97;
pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const PAGE: u64 = libshm::layout::PAGE_SIZE;

impl World {
    pub fn new(total: u64) -> Self {
        Self::with_limits(total, Limits::default())
    }

    pub fn with_limits(total: u64, limits: Limits) -> Self {
        Self::with_kernel(FakeKernel::new(total), total, limits)
    }

    pub fn with_kernel(kernel: FakeKernel, total: u64, limits: Limits) -> Self {
        World {
            s: Server::with_limits(kernel, limits),
            total,
            vspaces: BTreeMap::new(),
            tasks: BTreeMap::new(),
            gens: BTreeMap::new(),
            budget: Budget::DEFAULT,
            heap_fail: None,
            heap_used: 0,
        }
    }

    /// A world whose processes all get `budget`.
    pub fn with_budget(total: u64, budget: Budget) -> Self {
        World { budget, ..Self::new(total) }
    }

    pub fn check(&self) {
        if let Err(e) = check(&self.s, self.total) {
            panic!("invariant broken: {e}");
        }
    }

    /// Sends a request over the wire format, as the on-target loop would.
    pub fn raw(&mut self, badge: u64, req: Request, cap: Option<FakeCap>) -> Result<Reply, Error> {
        let mut w = [0; MSG_MAX_WORDS];
        let (label, len) = req.encode(&mut w);
        let resp = self.s.handle_message(badge, label, &w[..len], cap, 0);
        let mut rw = [0; MSG_MAX_WORDS];
        let (rl, rlen) = Reply::encode_response(&resp, &mut rw);
        assert_eq!(Reply::decode_response(req.op(), rl, &rw[..rlen]), resp);
        resp
    }

    /// A request from `pid`'s current incarnation; on failure, asserts that
    /// nothing changed at all; always checks the invariants.
    pub fn req(&mut self, pid: Pid, req: Request) -> Result<Reply, Error> {
        let badge = Badge::Process(self.tasks[&pid]).encode();
        self.req_badge(badge, req)
    }

    pub fn req_badge(&mut self, badge: u64, req: Request) -> Result<Reply, Error> {
        let before = (self.s.state.clone(), self.s.kernel().snapshot());
        let (r, used) = heap::failing(self.heap_fail.take(), || self.raw(badge, req, None));
        self.heap_used = used;
        if r.is_err() {
            let after = (self.s.state.clone(), self.s.kernel().snapshot());
            assert!(before == after, "failed {req:?} ({r:?}) changed state");
        }
        self.check();
        r
    }

    /// Registers `pid` (its next generation if it lived before).
    pub fn spawn(&mut self, pid: Pid, alias: Option<&str>) -> TaskId {
        let task = self.gens.get(&pid).map_or(TaskId::new(pid, 0).unwrap(), |t| t.next_generation().unwrap());
        let vs = self.s.kernel_mut().new_vspace();
        let alias = alias.map(|a| Name::new(a).unwrap());
        let budget = self.budget;
        let r =
            self.raw(Badge::Supervisor.encode(), Request::RegisterProcess { task, alias, budget }, Some(vs));
        assert_eq!(r, Ok(Reply::RegisterProcess(())));
        self.vspaces.insert(pid, vs);
        self.tasks.insert(pid, task);
        self.gens.insert(pid, task);
        self.check();
        task
    }

    /// The process dies; asserts its VSpace is left with nothing of ours.
    pub fn kill(&mut self, pid: Pid) {
        self.s.process_died(pid);
        let vs = self.vspaces.remove(&pid).unwrap();
        self.tasks.remove(&pid);
        assert!(self.s.kernel().window_pages(vs).is_empty());
        assert!(self.s.kernel().server_tables(vs).is_empty());
        self.check();
    }

    pub fn create(&mut self, pid: Pid, name: &str, mode: Mode, size: u64, max: u64) -> ObjectInfo {
        let r = self.req(
            pid,
            Request::Create {
                name: Name::new(name).unwrap(),
                mode,
                size,
                max_size: max,
                client_prot: Prot::ReadWrite,
            },
        );
        match r {
            Ok(Reply::Create(info)) => info,
            other => panic!("create: {other:?}"),
        }
    }

    pub fn attach(&mut self, pid: Pid, object: ObjectId, prot: Prot) -> Result<Reply, Error> {
        self.req(pid, Request::Attach { object, prot })
    }

    pub fn read(&self, pid: Pid, addr: u64) -> Result<u64, crate::fake::Fault> {
        self.s.kernel().read_u64(self.vspaces[&pid], addr)
    }

    pub fn write(&mut self, pid: Pid, addr: u64, v: u64) -> Result<(), crate::fake::Fault> {
        let vs = self.vspaces[&pid];
        self.s.kernel_mut().write_u64(vs, addr, v)
    }

    /// Runs `f` with the `n`-th fallible kernel call failing, until `f`
    /// succeeds: each failure must leave everything as it was (checked by
    /// `req`). Every `n` up to [`EVERY_STEP`], then every [`STRIDE`]-th:
    /// long operations make thousands of calls, mostly the same kind.
    pub fn fail_every_step(&mut self, mut f: impl FnMut(&mut World) -> Result<Reply, Error>) -> Reply {
        let mut n = 0;
        loop {
            self.s.kernel_mut().fail_nth(n, crate::KernelError::OutOfMemory);
            match f(self) {
                Ok(r) => {
                    self.s.kernel_mut().clear_injection();
                    return r;
                }
                Err(e) => assert_eq!(e, Error::OutOfMemory, "at step {n}"),
            }
            n += if n < EVERY_STEP { 1 } else { STRIDE };
        }
    }
}

pub(crate) fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}
