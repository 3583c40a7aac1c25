//! Sending a [`Request`] to the memory manager over seL4 IPC and reading
//! its [`Response`]: the client half of the protocol.

use crate::protocol::{Error, Reply, Request, Response, MSG_MAX_WORDS};
use sel4::{CPtr, MessageInfo};

/// Call the memory manager through `ep` with `request`, sending `cap`
/// along when the request carries one (only `RegisterProcess` does).
pub fn call(ep: CPtr, request: &Request, cap: Option<CPtr>) -> Result<Reply, Error> {
    let mut words = [0u64; MSG_MAX_WORDS];
    let (label, len) = request.encode(&mut words);
    sel4::with_ipc_buffer(|b| {
        b.msg[..len].copy_from_slice(&words[..len]);
        if let Some(c) = cap {
            b.caps_or_badges[0] = c;
        }
    });
    let (info, _) = sel4::call(ep, MessageInfo::new(label, 0, cap.is_some() as u64, len as u64));
    let n = info.length().min(MSG_MAX_WORDS);
    sel4::with_ipc_buffer(|b| words[..n].copy_from_slice(&b.msg[..n]));
    match Response::decode(info.label(), &words[..n])? {
        Response::Ok(reply) => Ok(reply),
        Response::Err(e) => Err(e),
    }
}
