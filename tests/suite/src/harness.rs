//! The on-target test harness: named checks that each ask the real kernel
//! (or real processes) for something and fail when the answer is wrong,
//! and the `N passed, N failed` line the simulate script reads.

use sel4::{debug_println, Error};

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
