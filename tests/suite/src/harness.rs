//! The on-target test harness: named checks that each ask the real kernel
//! (or real processes) for something and fail when the answer is wrong;
//! the [`Cast`] of processes a test spawns, whose reports and endings it
//! collects and which [`isolated`] cleans up after; and the `N passed, N
//! failed` line the simulate script reads.

use libshm::protocol::TaskId;
use root_task::process::SpawnError;
use root_task::supervisor::Event;
use sel4::{debug_println, Error, FaultType};
use test_contract::Report;

/// What every test gets: the root task's objects and the supervisor.
pub type Env = root_task::Root;

/// Why a check failed: what was being done and the kernel's answer.
pub struct Failure {
    /// What was being checked.
    pub what: &'static str,
    /// The kernel's answer, if it was an error.
    pub error: Option<Error>,
}

/// The outcome of one check.
pub type Check = Result<(), Failure>;

/// A named check of the suite.
pub type Test = (&'static str, fn(&mut Env) -> Check);

/// Name what a fallible kernel call was for.
pub trait Context<T> {
    /// Turn a kernel error into a [`Failure`] saying `what`.
    fn ctx(self, what: &'static str) -> Result<T, Failure>;
}

impl<T> Context<T> for sel4::Result<T> {
    fn ctx(self, what: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure { what, error: Some(e) })
    }
}

/// Fail with `what` unless `cond`.
pub fn ensure(cond: bool, what: &'static str) -> Check {
    if cond {
        Ok(())
    } else {
        Err(Failure { what, error: None })
    }
}

/// The kernel must refuse `r` with exactly `expected`.
pub fn expect_err<T>(r: sel4::Result<T>, expected: Error, what: &'static str) -> Check {
    match r {
        Err(e) if e == expected => Ok(()),
        Err(e) => Err(Failure { what, error: Some(e) }),
        Ok(_) => Err(Failure { what, error: None }),
    }
}

/// A failure that is not the kernel's.
pub fn fail(what: &'static str) -> Failure {
    Failure { what, error: None }
}

/// Run `tests` in order; returns (passed, failed).
pub fn run(env: &mut Env, tests: &[Test]) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in tests {
        // Without the memory manager every process would wait for it: the
        // rest cannot run, and fail.
        if !env.sup.memory_manager_alive() {
            failed += 1;
            debug_println!("test {name} ... FAILED: the memory manager has ended");
            continue;
        }
        match check(env) {
            Ok(()) => {
                passed += 1;
                debug_println!("test {name} ... ok");
            }
            Err(f) => {
                failed += 1;
                match f.error {
                    Some(e) => debug_println!("test {name} ... FAILED: {}: {e}", f.what),
                    None => debug_println!("test {name} ... FAILED: {}", f.what),
                }
            }
        }
    }
    (passed, failed)
}

/// The program every on-target test spawns.
pub const TEST_PROGRAM: &str = "testapp";
/// Most events any test waits for before it gives up.
pub const MAX_EVENTS: usize = 512;
/// Most processes of one cast (the largest test starts 32 at once).
const MAX_CAST: usize = 32;

/// A spawn's result as a check's failure.
pub fn spawned(r: Result<TaskId, SpawnError>) -> Result<TaskId, Failure> {
    r.map_err(|e| match e {
        SpawnError::Kernel(err) => Failure { what: "spawn", error: Some(err) },
        SpawnError::BadImage => fail("spawn: bad image"),
        SpawnError::NoArena => fail("spawn: no free arena"),
        SpawnError::NoSuchCore => fail("spawn: the kernel has no such core"),
        SpawnError::UnknownProgram => fail("spawn: the image embeds no such program"),
        SpawnError::NotDescribed => fail("spawn: the description names no such process"),
        SpawnError::NoIdentity => fail("spawn: every pid has been used"),
        SpawnError::Refused(_) => fail("spawn: the memory manager cannot promise its budget"),
    })
}

/// Wait for the next event that is not one the supervisor handled itself.
pub fn next(env: &mut Env) -> Event {
    loop {
        match env.sup.next_event(&mut env.objs) {
            Event::Handled => continue,
            e => return e,
        }
    }
}

/// How a member of a cast must end for [`Cast::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Report [`Report::Pass`], then exit with code 0.
    Pass,
    /// Fault (a VM fault) at exactly this address, having reported nothing.
    FaultAt(u64),
    /// Exit with code 0, reporting nothing (a program other than the
    /// test program, e.g. the C app).
    ExitsOk,
}

#[derive(Clone, Copy)]
struct Member {
    task: TaskId,
    ending: Ending,
    passed: bool,
    done: bool,
}

/// The processes one test started and what has become of them.
pub struct Cast {
    members: [Option<Member>; MAX_CAST],
}

impl Cast {
    fn new() -> Self {
        Cast { members: [None; MAX_CAST] }
    }

    /// Spawn the test program as `name` with `arg`; it must end as `ending`.
    pub fn spawn(
        &mut self,
        env: &mut Env,
        name: &'static str,
        arg: u64,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        self.spawn_restarting(env, name, arg, 0, ending)
    }

    /// Like [`Cast::spawn`], restarted up to `restarts` times after a fault.
    pub fn spawn_restarting(
        &mut self,
        env: &mut Env,
        name: &'static str,
        arg: u64,
        restarts: u32,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        self.spawn_as(env, TEST_PROGRAM, name, arg, restarts, ending)
    }

    /// Spawn `program` (one the suite's image embeds) as `name` with `arg`.
    pub fn spawn_program(
        &mut self,
        env: &mut Env,
        program: &'static str,
        name: &'static str,
        arg: u64,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        self.spawn_as(env, program, name, arg, 0, ending)
    }

    fn spawn_as(
        &mut self,
        env: &mut Env,
        program: &'static str,
        name: &'static str,
        arg: u64,
        restarts: u32,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        self.enlist(ending, || spawned(env.sup.spawn(&mut env.objs, program, name, arg, restarts)))
    }

    /// Spawns with `spawn` into a free place of the cast.
    fn enlist(
        &mut self,
        ending: Ending,
        spawn: impl FnOnce() -> Result<TaskId, Failure>,
    ) -> Result<TaskId, Failure> {
        let slot = self.members.iter().position(Option::is_none).ok_or(fail("too many processes"))?;
        let task = spawn()?;
        self.members[slot] = Some(Member { task, ending, passed: false, done: false });
        Ok(task)
    }

    /// Like [`Cast::spawn`], one priority step above the other test
    /// processes (and below the memory manager), so it runs whenever it can.
    pub fn spawn_above(
        &mut self,
        env: &mut Env,
        name: &'static str,
        arg: u64,
        ending: Ending,
    ) -> Result<TaskId, Failure> {
        let sup = env.sup.system().supervisor;
        let (priority, budget) = (sup.app_priority + 1, sup.app_budget);
        self.enlist(ending, || {
            spawned(env.sup.spawn_with(&mut env.objs, TEST_PROGRAM, name, arg, priority, budget))
        })
    }

    /// Count `task` (a member's restart) as a member too.
    pub fn adopt(&mut self, task: TaskId) {
        if let Some(slot) = self.members.iter_mut().find(|m| m.is_none()) {
            *slot = Some(Member { task, ending: Ending::Pass, passed: false, done: false });
        }
    }

    /// The next event about a member; events of processes an earlier test
    /// left are logged and skipped, so they cannot fail this one.
    pub fn next(&self, env: &mut Env) -> Event {
        for _ in 0..MAX_EVENTS {
            let event = next(env);
            let about = match event {
                Event::Report { task, .. } | Event::Exited { task, .. } | Event::Faulted { task, .. } => task,
                _ => return event,
            };
            if self.members.iter().flatten().any(|m| m.task == about) {
                return event;
            }
            debug_println!("  skipped an event of another test: {event:?}");
        }
        Event::Handled
    }

    /// The next event must be a report by `task` (an owner's ready signal,
    /// say); returns the value.
    pub fn ready(&self, env: &mut Env, task: TaskId) -> Result<u64, Failure> {
        match self.next(env) {
            Event::Report { task: t, value } if t == task => Ok(value),
            e => {
                debug_println!("  waiting for pid {} to report: {e:?}", task.pid());
                Err(fail("the owner did not get ready"))
            }
        }
    }

    /// The next event must be `task`'s report of `value`.
    pub fn expect_report(&self, env: &mut Env, task: TaskId, value: u64, what: &'static str) -> Check {
        let e = self.next(env);
        if e == (Event::Report { task, value }) {
            return Ok(());
        }
        debug_println!("  expected a report from pid {}, got {e:?}", task.pid());
        Err(fail(what))
    }

    /// Collect the other members' events (each must be as in
    /// [`Cast::all_pass`]) until `task` reports `value`.
    pub fn until_report(&mut self, env: &mut Env, task: TaskId, value: u64, what: &'static str) -> Check {
        for _ in 0..MAX_EVENTS {
            let event = self.next(env);
            if event == (Event::Report { task, value }) {
                return Ok(());
            }
            let others = |t: TaskId| t != task;
            self.take(event, &others)
                .inspect_err(|_| debug_println!("  waiting for pid {}: {event:?}", task.pid()))?;
        }
        Err(fail(what))
    }

    /// Collect events until every member has ended as it must.
    pub fn finish(&mut self, env: &mut Env) -> Check {
        self.finish_these(env, |_| true)
    }

    /// Collect events until each of `tasks` has ended as it must; an event
    /// about another member fails.
    pub fn all_pass(&mut self, env: &mut Env, tasks: &[TaskId]) -> Check {
        self.finish_these(env, |t| tasks.contains(&t))
    }

    fn finish_these(&mut self, env: &mut Env, waited: impl Fn(TaskId) -> bool) -> Check {
        for _ in 0..MAX_EVENTS {
            if self.members.iter().flatten().filter(|m| waited(m.task)).all(|m| m.done) {
                return Ok(());
            }
            let event = self.next(env);
            self.take(event, &waited).inspect_err(|_| debug_println!("  unexpected: {event:?}"))?;
        }
        Err(fail("the processes did not all end"))
    }

    fn take(&mut self, event: Event, waited: &impl Fn(TaskId) -> bool) -> Check {
        let mut members = self.members.iter_mut().flatten();
        let mut waited = |task: TaskId| {
            members
                .find(|m| m.task == task && waited(task))
                .ok_or(fail("an event from a process not waited for"))
        };
        match event {
            Event::Report { task, value } => {
                let m = waited(task)?;
                ensure(
                    m.ending == Ending::Pass && value == Report::Pass.value(),
                    "a process reported a failed check",
                )?;
                m.passed = true;
            }
            Event::Exited { task, code } => {
                let m = waited(task)?;
                if m.ending == Ending::ExitsOk {
                    ensure(code == 0, "a program exited with an error")?;
                } else {
                    ensure(m.ending == Ending::Pass, "a process exited instead of faulting")?;
                    ensure(m.passed && code == 0, "a process exited without passing")?;
                }
                m.done = true;
            }
            Event::Faulted { task, fault, addr, .. } => {
                let m = waited(task)?;
                ensure(m.ending == Ending::FaultAt(addr), "a fault where none was expected")?;
                ensure(fault == FaultType::VMFault as u64, "a VM fault")?;
                m.done = true;
            }
            Event::Refused { .. } => return Err(fail("a message was refused")),
            Event::Started { .. } => return Err(fail("a process started another")),
            Event::MemoryManagerEnded { .. } => return Err(fail("the memory manager ended")),
            Event::Handled => {}
        }
        Ok(())
    }

    /// End every member still alive.
    fn end(self, env: &mut Env) {
        for m in self.members.into_iter().flatten() {
            if env.sup.kill(&mut env.objs, m.task) {
                debug_println!("  killed pid {} left running", m.task.pid());
            }
        }
    }
}

/// Runs `body` with a fresh cast; then, whatever happened, ends the members
/// still alive and lets every other process end by itself (each waits a
/// bounded time), so the next test starts from nothing.
pub fn isolated(env: &mut Env, body: impl FnOnce(&mut Env, &mut Cast) -> Check) -> Check {
    let mut cast = Cast::new();
    let outcome = body(env, &mut cast);
    cast.end(env);
    for _ in 0..MAX_EVENTS {
        if env.sup.live() == 0 {
            return outcome;
        }
        next(env);
    }
    outcome.and(Err(fail("processes were left running")))
}
