//! The owner: creates the shared object and the control object, asks the
//! supervisor for peers and for the floor, and times each design's grow
//! with the same object and the same peers. Every timed grow is followed,
//! outside the timed part, by the peers reading the value the owner wrote
//! into the last new page, then by a shrink back to the starting size
//! (timed too: the `shrink` design).

use crate::{expect, Outcome};
use bench_contract::*;
use libshm::layout::PAGE_SIZE;
use libshm::protocol::{Mode, Prot};
use libshm::shm::SharedObject;
use profile_markers::Phase;
use runtime::supervisor;
use sel4::debug_println;

/// Who answers a command: the first `peers` peers, except a stuck one.
#[derive(Clone, Copy)]
struct Group {
    peers: u16,
    stuck: Option<u16>,
}

impl Group {
    fn answering(self) -> u16 {
        self.peers - u16::from(self.stuck.is_some())
    }
}

struct Owner {
    object: SharedObject,
    control: SharedObject,
    /// Peers running (all have answered READY).
    peers: u16,
    /// Commands issued.
    seq: u64,
}

/// `make profile` builds the owner with the one size to profile, `M,K`
/// (peers, pages): it then runs only `mmap_peer` grows of that size.
const PROFILE_AT: Option<&str> = option_env!("BENCH_PROFILE_AT");

/// Grows a profile measures (a multiple of [`REPEATS`]).
const PROFILE_GROWS: usize = 20;

/// The (M, K) of [`PROFILE_AT`].
fn profile_at() -> Option<Outcome<(u16, u64)>> {
    let (m, k) = PROFILE_AT?.split_once(',')?;
    Some(match (m.trim().parse(), k.trim().parse()) {
        (Ok(m), Ok(k)) if (1..=MAX_PEERS).contains(&m) && BASE + k * PAGE_SIZE <= OBJECT_MAX && k > 0 => {
            Ok((m, k))
        }
        _ => Err("BENCH_PROFILE_AT is not M,K within the benchmark's sizes"),
    })
}

pub fn run() -> Outcome {
    let object = expect(
        SharedObject::create(OBJECT, Mode::Peer, BASE, OBJECT_MAX, Prot::ReadWrite),
        "create the object",
    )?;
    let control = expect(
        SharedObject::create(CONTROL, Mode::Peer, CONTROL_SIZE, CONTROL_SIZE, Prot::ReadWrite),
        "create the control object",
    )?;
    let mut owner = Owner { object, control, peers: 0, seq: 0 };
    if let Some(at) = profile_at() {
        owner.profile(at?)?;
    } else {
        for m in PEERS {
            owner.measure(m)?;
        }
    }
    owner.post(op::EXIT, [0, 0]);
    owner.notify(owner.peers);
    Ok(())
}

/// Waits for one answer; returns its label and the peer's index.
fn next_answer() -> (u64, u64) {
    let (info, badge) = sel4::recv(slots::ANSWERS);
    (info.label(), badge.wrapping_sub(1))
}

impl Owner {
    /// Every design at `m` peers, in one go: the peers attached for
    /// `mmap_peer`, detached for notify-and-acknowledge, then the floor.
    fn measure(&mut self, m: u16) -> Outcome {
        self.start_peers(m)?;
        let all = Group { peers: m, stuck: None };
        // A stuck peer needs others to report on.
        let stuck = (m > 1).then_some(Group { peers: m, stuck: Some(m - 1) });

        // A stuck size is measured right after the same size without, so
        // the memory manager's tables and heap are in the same state.
        self.round(op::ATTACH, [0, 0], all)?;
        self.mmap_peer_designs(m, all, stuck, [design::MMAP_PEER, design::MMAP_PEER_STUCK])?;
        // The same attachments, now each subscribed (until the detach).
        self.round(op::SUBSCRIBE, [0, 0], all)?;
        let subscribed = [design::MMAP_PEER_SUBSCRIBED, design::MMAP_PEER_SUBSCRIBED_STUCK];
        self.mmap_peer_designs(m, all, stuck, subscribed)?;
        expect(self.object.grow(LARGE_BASE), "grow to the 2 MiB-page start")?;
        let (mut times, _) = self.mmap_peer_times(all, LARGE_BASE, LARGE_PAGES)?;
        report(design::MMAP_PEER_2M, m, LARGE_PAGES, &mut times);
        expect(self.object.shrink(BASE), "shrink back")?;
        self.round(op::DETACH, [0, 0], all)?;

        for k in PAGES {
            let (mut times, _) = self.notify_ack_times(all, k, 0)?;
            let full = report(design::NOTIFY_ACK, m, k, &mut times);
            if let Some(g) = stuck.filter(|_| STUCK_PAGES.contains(&k)) {
                self.get_stuck(g)?;
                let factor = if sel4::SMP { SMP_STUCK_BOUND_FACTOR } else { STUCK_BOUND_FACTOR };
                let (mut others, mut stops) = self.notify_ack_times(g, k, full * factor)?;
                self.release()?;
                debug_println!("BENCH-RAW design={} stops={stops:?}", design::NOTIFY_ACK_STUCK);
                // Never finished: what the others took, and where it was stopped.
                debug_println!(
                    "BENCH design={} peers={m} pages={k} cycles={} finished=no stopped_after={}",
                    design::NOTIFY_ACK_STUCK,
                    median(&mut others),
                    median(&mut stops)
                );
            }
        }
        supervisor::report(Request::Floor(m).encode());
        Ok(())
    }

    /// `make profile`: [`PROFILE_GROWS`] `mmap_peer` grows by `k` pages
    /// with `m` attached peers, each marked for the profiler.
    fn profile(&mut self, (m, k): (u16, u64)) -> Outcome {
        self.start_peers(m)?;
        let all = Group { peers: m, stuck: None };
        self.round(op::ATTACH, [0, 0], all)?;
        let mut grows = 0;
        for _ in 0..PROFILE_GROWS / REPEATS {
            let (mut times, _) = self.mmap_peer_times(all, BASE, k)?;
            report(design::MMAP_PEER, m, k, &mut times);
            grows += REPEATS;
        }
        debug_println!("PROFILE grows={grows} peers={m} pages={k}");
        self.round(op::DETACH, [0, 0], all)
    }

    /// The grow at every size with the peers as they are, then with one
    /// stuck where a stuck size is measured: `names` are the two designs.
    fn mmap_peer_designs(&mut self, m: u16, all: Group, stuck: Option<Group>, names: [&str; 2]) -> Outcome {
        for k in PAGES {
            let (mut times, mut shrinks) = self.mmap_peer_times(all, BASE, k)?;
            report(names[0], m, k, &mut times);
            if names[0] == design::MMAP_PEER {
                report(design::SHRINK, m, k, &mut shrinks);
            }
            if let Some(g) = stuck.filter(|_| STUCK_PAGES.contains(&k)) {
                self.get_stuck(g)?;
                let (mut times, _) = self.mmap_peer_times(g, BASE, k)?;
                report(names[1], m, k, &mut times);
                self.release()?;
            }
        }
        Ok(())
    }

    /// Asks the supervisor for peers up to `m` and waits until each new one
    /// is ready.
    fn start_peers(&mut self, m: u16) -> Outcome {
        supervisor::report(Request::Peers(m).encode());
        for _ in self.peers..m {
            if next_answer().0 != answer::READY {
                return Err("a new peer did not start");
            }
        }
        self.peers = m;
        Ok(())
    }

    /// Writes the next command into the control object.
    fn post(&mut self, command: u64, args: [u64; 2]) {
        self.seq += 1;
        for (at, value) in ARGS.into_iter().zip(args) {
            self.control.store(at, value);
        }
        self.control.store_release(CMD, command_word(self.seq, command));
    }

    /// Signals the first `peers` peers (a stuck one too: it ignores it).
    fn notify(&self, peers: u16) {
        (0..peers).for_each(|i| sel4::signal(peer_notify_slot(i)));
    }

    /// Waits for `n` answers, each OK.
    fn collect(&self, n: u16) -> Outcome {
        for _ in 0..n {
            let (label, index) = next_answer();
            if label != answer::OK {
                debug_println!("bench: peer {index} answered {label}");
                return Err("a peer failed a command");
            }
        }
        Ok(())
    }

    /// One command to a group, and every answer.
    fn round(&mut self, command: u64, args: [u64; 2], g: Group) -> Outcome {
        self.post(command, args);
        self.notify(g.peers);
        self.collect(g.answering())
    }

    fn get_stuck(&mut self, g: Group) -> Outcome {
        let index = g.stuck.ok_or("a stuck peer")?;
        self.round(op::STUCK, [u64::from(index), 0], Group { stuck: None, ..g })
    }

    fn release(&mut self) -> Outcome {
        sel4::signal(slots::RELEASE);
        match next_answer().0 {
            answer::RELEASED => Ok(()),
            _ => Err("the stuck peer was not released"),
        }
    }

    /// The peers find `value` at `offset` (outside the timed part).
    fn verify(&mut self, g: Group, offset: u64, value: u64) -> Outcome {
        self.object.store(offset, value);
        self.round(op::VERIFY, [offset, value], g)
    }

    /// mmap_peer: the grow from `from` by `pages` is one call, after which
    /// every attached peer has the pages mapped. The time of each repeat's
    /// grow, and of its shrink back (the peers have read the last page).
    fn mmap_peer_times(
        &mut self,
        g: Group,
        from: u64,
        pages: u64,
    ) -> Outcome<([u64; REPEATS], [u64; REPEATS])> {
        let to = from + pages * PAGE_SIZE;
        let (mut times, mut shrinks) = ([0; REPEATS], [0; REPEATS]);
        for repeat in 0..REPEATS {
            let start = cycles();
            Phase::Call.enter();
            let grown = self.object.grow(to);
            Phase::Idle.enter();
            times[repeat] = cycles() - start;
            expect(grown, "grow")?;
            self.verify(g, to - PAGE_SIZE, stamp(g.peers, pages, repeat))?;
            let start = cycles();
            let shrunk = self.object.shrink(from);
            shrinks[repeat] = cycles() - start;
            expect(shrunk, "shrink back")?;
        }
        Ok((times, shrinks))
    }

    /// Notify-and-acknowledge (the patent's Fig. 1): the grow maps the new
    /// pages into the owner alone (the peers are not attached), the owner
    /// signals each peer, each asks the memory manager to map the new range
    /// into itself and answers; the time ends with the last answer. With a
    /// stuck peer the owner polls instead of blocking, since seL4 5.0 has
    /// no receive timeout: the time is when all the others had answered,
    /// and the wait stops `bound` cycles after the start. Returns, for each
    /// repeat, that time and when it stopped (0 with no stuck peer).
    fn notify_ack_times(
        &mut self,
        g: Group,
        pages: u64,
        bound: u64,
    ) -> Outcome<([u64; REPEATS], [u64; REPEATS])> {
        let to = BASE + pages * PAGE_SIZE;
        let (mut times, mut stops) = ([0; REPEATS], [0; REPEATS]);
        for repeat in 0..REPEATS {
            // What grew, for the peers to read when signalled.
            self.post(op::MAP, [BASE, pages * PAGE_SIZE]);
            let start = cycles();
            expect(self.object.grow(to), "grow")?;
            self.notify(g.peers);
            (times[repeat], stops[repeat]) = match g.stuck {
                None => {
                    self.collect(g.peers)?;
                    (cycles() - start, 0)
                }
                Some(_) => self.poll_answers(g.answering(), start, bound)?,
            };
            self.verify(g, to - PAGE_SIZE, stamp(g.peers, pages, repeat))?;
            self.round(op::DETACH, [0, 0], g)?;
            expect(self.object.shrink(BASE), "shrink back")?;
        }
        Ok((times, stops))
    }

    /// Polls for `n` answers, then on until `bound` cycles after `start`
    /// (no more may come: the stuck peer must not answer). Returns when the
    /// `n`-th came and when the wait stopped, both from `start`.
    fn poll_answers(&self, n: u16, start: u64, bound: u64) -> Outcome<(u64, u64)> {
        let (mut got, mut all_in) = (0, 0);
        loop {
            let now = cycles() - start;
            if now > bound {
                return if got == n { Ok((all_in, now)) } else { Err("the others did not answer in time") };
            }
            let (info, _) = sel4::nb_recv(slots::ANSWERS);
            match info.label() {
                0 => sel4::yield_now(),
                answer::OK if got < n => {
                    got += 1;
                    if got == n {
                        all_in = cycles() - start;
                    }
                }
                _ => return Err("an unexpected answer (the stuck peer answered?)"),
            }
        }
    }
}
