//! Both protocols' client over seL4 IPC: [`Ipc`] moves a request's words
//! through an endpoint cap with `seL4_Call` and brings the response back.
//!
//! ```no_run,ignore-linux
//! # #![no_std]
//! # #![no_main]
//! # runtime::entry!(main);
//! # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
//! # fn example() -> Result<(), libshm::protocol::Error> {
//! use libshm::client::Ipc;
//! use libshm::layout::slots;
//! use libshm::protocol::{Client, Name};
//! let info = Ipc::new(slots::MEMORY_MANAGER).open(Name::new("table")?)?;
//! sel4::debug_println!("table is at {:#x}", info.base);
//! # Ok(()) }
//! ```

use crate::protocol::{self, supervisor, MSG_MAX_WORDS};
use sel4::{CPtr, MessageInfo};

/// A client of the server behind an endpoint cap, with the cap to send
/// along if a request carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipc {
    ep: CPtr,
    cap: Option<CPtr>,
}

impl Ipc {
    /// A client of the server behind `ep`.
    pub const fn new(ep: CPtr) -> Self {
        Ipc { ep, cap: None }
    }

    /// The same, sending `cap` with every request. Only the supervisor's
    /// `RegisterProcess` carries a cap; any other request sent this way is
    /// refused with `WrongCaps`.
    pub const fn with_cap(ep: CPtr, cap: CPtr) -> Self {
        Ipc { ep, cap: Some(cap) }
    }

    /// Sends what the client has, whatever the row asks for: the server
    /// checks the count.
    fn exchange(&mut self, label: u64, words: &mut [u64; MSG_MAX_WORDS], len: usize) -> (u64, usize) {
        let cap = self.cap;
        sel4::with_ipc_buffer(|b| {
            b.msg[..len].copy_from_slice(&words[..len]);
            if let Some(c) = cap {
                b.caps_or_badges[0] = c;
            }
        });
        let sent = MessageInfo::new(label, 0, u64::from(cap.is_some()), len as u64);
        let (info, _) = sel4::call(self.ep, sent);
        let n = info.length().min(MSG_MAX_WORDS);
        sel4::with_ipc_buffer(|b| words[..n].copy_from_slice(&b.msg[..n]));
        (info.label(), n)
    }
}

/// Both tables' clients move words the same way.
macro_rules! ipc_client {
    ($($client:path),*) => {$(
        impl $client for Ipc {
            fn exchange(&mut self, label: u64, words: &mut [u64; MSG_MAX_WORDS], len: usize, _: usize) -> (u64, usize) {
                Ipc::exchange(self, label, words, len)
            }
        }
    )*};
}

ipc_client!(protocol::Client, supervisor::Client);
