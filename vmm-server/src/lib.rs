//! The memory manager's decision logic for peer-mapped shared memory on
//! seL4, as plain Rust behind the small [`Kernel`] trait.
//!
//! - [`Server`]: the state machine (processes, objects, attachments,
//!   mappings) with its entry points [`Server::handle`] (requests),
//!   [`Server::handle_fault`] (faults in the shared window) and
//!   [`Server::process_died`].
//! - [`Kernel`]: the seL4 invocations it needs, one method each.
//! - `fake`: a fake kernel that enforces seL4's mapping rules, and
//!   `check`: an invariant checker over it, for host tests (here and in
//!   crates built on this one), behind the `test-kit` feature: not part of
//!   the production library.
//! - [`untyped`]: the on-target kernel's bookkeeping of slots and untyped
//!   memory (so freed objects give their memory back), host-tested here;
//!   the invocations themselves live in the `vmm-server` binary
//!   (`src/sel4_kernel.rs`), built for seL4 only.
//!
//! ```
//! use vmm_server::{fake::FakeKernel, Server};
//! let s = Server::new(FakeKernel::new(1 << 20));
//! assert!(s.object_info(libshm::protocol::ObjectId(1)).is_none());
//! ```
#![no_std]
// No unsafe code in the server; its host tests' allocator (which must
// implement `GlobalAlloc`) is the one exception, in test builds only.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
#[macro_use]
extern crate std;

#[cfg(any(test, feature = "test-kit"))]
pub mod check;
#[cfg(any(test, feature = "test-kit"))]
pub mod fake;
mod kernel;
mod server;
pub mod untyped;

pub use kernel::{Kernel, KernelError, ObjectKind, PageSize};
pub use libshm::protocol::Capacity;
pub use libshm::protocol::{FaultOutcome, FaultReason};
pub use server::{Limits, Server};

#[cfg(test)]
mod tests;
