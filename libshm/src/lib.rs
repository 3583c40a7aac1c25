//! `libshm`: what every participant in peer-mapped shared memory on seL4
//! agrees on.
//!
//! - [`protocol`]: the IPC protocol between the memory manager and its
//!   clients (requests, responses, errors, badges), one definition for both.
//! - [`layout`]: the fixed process layout (the shared window, page sizes,
//!   paging geometry, limits).
//! - [`header`]: the header in each shared object's first page.
//! - [`pool`]: a pool allocator that lives inside a shared object and grows
//!   it by whole pools.
//! - `client` (on seL4, or with the `ipc` feature): both protocols' client
//!   over seL4 IPC.
//! - `shm` (on seL4 only): what apps use: `SharedObject` (create, open,
//!   grow, shrink, word access), typed `SharedPtr`s that are valid in every
//!   peer (with field projection, [`shared_field!`]), slice copies, and
//!   the patent's `mmap_peer` / `munmap_peer`.
//! - `sync` (on seL4 only): atomic words and a mutex in shared memory that
//!   a holder's death does not block.
//!
//! Everything here is plain safe Rust over plain data, host-tested, except
//! one small private module (on seL4 only) that reads and writes the mapped
//! shared window: the crate denies `unsafe` and allows it there alone.
//!
//! ```
//! use libshm::{layout, protocol::Prot};
//! assert!(layout::in_window(layout::WINDOW_BASE, layout::PAGE_SIZE));
//! assert!(Prot::ReadWrite.allows(Prot::Read));
//! ```
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

#[cfg(any(target_os = "none", feature = "ipc"))]
pub mod client;
pub mod header;
pub mod layout;
// The hardware boundary: volatile access to the mapped shared window.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod mapped;
pub mod pool;
pub mod protocol;
#[cfg(target_os = "none")]
pub mod shm;
#[cfg(target_os = "none")]
pub mod sync;
/// The derives of what may live in shared memory ([`shm::Plain`] on seL4).
pub use zerocopy;
