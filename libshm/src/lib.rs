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
//! - `client` (on seL4 only): sending a request to the memory manager.
//!
//! Everything here is plain safe Rust over plain data, host-tested.
//!
//! ```
//! use libshm::{layout, protocol::Prot};
//! assert!(layout::in_window(layout::WINDOW_BASE, layout::PAGE_SIZE));
//! assert!(Prot::ReadWrite.allows(Prot::Read));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

#[cfg(target_os = "none")]
pub mod client;
pub mod header;
pub mod layout;
pub mod pool;
pub mod protocol;
