//! Messages, the IPC buffer and the IPC system calls.

use crate::arch;
use crate::{message_info, CPtr, Error, InvocationLabel, Syscall, Word, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH};

/// Message registers passed in machine registers rather than the IPC buffer.
pub const REGISTER_MRS: usize = 4;

/// The message tag of every IPC (`seL4_MessageInfo_t`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo(pub Word);

impl MessageInfo {
    /// A tag with a label, the number of caps sent and of message words.
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> Self {
        let w = message_info::LABEL.set(0, label);
        let w = message_info::CAPS_UNWRAPPED.set(w, caps_unwrapped);
        let w = message_info::EXTRA_CAPS.set(w, extra_caps);
        MessageInfo(message_info::LENGTH.set(w, length))
    }

    /// The label: a request code, an error code or a fault type.
    pub const fn label(self) -> u64 {
        message_info::LABEL.get(self.0)
    }

    /// How many message registers the message carries.
    pub const fn length(self) -> usize {
        message_info::LENGTH.get(self.0) as usize
    }

    /// How many caps came with the message.
    pub const fn extra_caps(self) -> usize {
        message_info::EXTRA_CAPS.get(self.0) as usize
    }

    /// Bit mask of the received caps that were unwrapped to their badge.
    pub const fn caps_unwrapped(self) -> u64 {
        message_info::CAPS_UNWRAPPED.get(self.0)
    }
}

/// The largest label a message can carry.
pub const MAX_LABEL: u64 = message_info::LABEL.max();

/// A thread's IPC buffer (`seL4_IPCBuffer`), as the kernel lays it out.
#[repr(C)]
pub struct IpcBuffer {
    /// The tag of the last message.
    pub tag: Word,
    /// Message registers.
    pub msg: [Word; MSG_MAX_LENGTH],
    /// Free for user code: on x86_64 it holds the buffer's own address.
    pub user_data: Word,
    /// Caps to send, or badges of caps received.
    pub caps_or_badges: [Word; MSG_MAX_EXTRA_CAPS],
    /// CNode in which a received cap is placed.
    pub receive_cnode: CPtr,
    /// Slot in `receive_cnode` for a received cap.
    pub receive_index: CPtr,
    /// Depth of `receive_index`.
    pub receive_depth: Word,
}

/// Make `buffer` the current thread's IPC buffer for this crate.
///
/// # Safety
/// `buffer` must be the address the kernel knows as this thread's IPC
/// buffer (BootInfo's for the root task, the one given to `TCB_Configure`
/// otherwise), mapped read-write, and used by this thread only.
pub unsafe fn set_ipc_buffer(buffer: *mut IpcBuffer) {
    // SAFETY: the caller vouches that `buffer` is this thread's mapped buffer.
    unsafe { arch::init_ipc_buffer(buffer) }
}

/// Run `f` with the current thread's IPC buffer.
///
/// Not re-entrant: `f` must not call back into IPC functions.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    // SAFETY: the kernel keeps a per-thread pointer to the thread's own
    // buffer (set up by `set_ipc_buffer`); nothing else holds a reference
    // while `f` runs, since this function is the only way to get one.
    f(unsafe { &mut *arch::ipc_buffer() })
}

/// Set message register `i`.
pub fn set_mr(i: usize, value: Word) {
    with_ipc_buffer(|b| b.msg[i] = value)
}

/// Read message register `i`.
pub fn get_mr(i: usize) -> Word {
    with_ipc_buffer(|b| b.msg[i])
}

/// Send a system call whose first message registers travel in registers:
/// they are loaded from the IPC buffer before and stored back after, so
/// callers see every message register in the buffer.
fn syscall(sys: Syscall, dest: CPtr, info: MessageInfo) -> (MessageInfo, Word) {
    let mut mrs = [0; REGISTER_MRS];
    with_ipc_buffer(|b| mrs.copy_from_slice(&b.msg[..REGISTER_MRS]));
    // SAFETY: the kernel reads and writes only the registers named in the
    // arch code and this thread's IPC buffer.
    let (info, badge) = unsafe { arch::syscall(sys as i64, dest, info.0, &mut mrs) };
    with_ipc_buffer(|b| b.msg[..REGISTER_MRS].copy_from_slice(&mrs));
    (MessageInfo(info), badge)
}

/// `seL4_Call`: send on `dest` and wait for the reply.
pub fn call(dest: CPtr, info: MessageInfo) -> (MessageInfo, Word) {
    syscall(Syscall::Call, dest, info)
}

/// `seL4_ReplyRecv`: reply to the last caller, then wait on `src`.
/// Returns the new message and the sender's badge.
pub fn reply_recv(src: CPtr, info: MessageInfo) -> (MessageInfo, Word) {
    syscall(Syscall::ReplyRecv, src, info)
}

/// `seL4_Recv`: wait for a message on `src`. Returns it and the badge.
pub fn recv(src: CPtr) -> (MessageInfo, Word) {
    syscall(Syscall::Recv, src, MessageInfo(0))
}

/// `seL4_NBRecv`: poll `src`; the badge is 0 and the length 0 if nothing came.
pub fn nb_recv(src: CPtr) -> (MessageInfo, Word) {
    syscall(Syscall::NBRecv, src, MessageInfo(0))
}

/// `seL4_Send`: send on `dest`, blocking until received.
pub fn send(dest: CPtr, info: MessageInfo) {
    syscall(Syscall::Send, dest, info);
}

/// `seL4_NBSend`: send on `dest` if a receiver waits, else drop the message.
pub fn nb_send(dest: CPtr, info: MessageInfo) {
    syscall(Syscall::NBSend, dest, info);
}

/// `seL4_Reply`: answer the last caller.
pub fn reply(info: MessageInfo) {
    syscall(Syscall::Reply, 0, info);
}

/// `seL4_Signal`: a send of an empty message on a notification.
pub fn signal(dest: CPtr) {
    send(dest, MessageInfo::new(0, 0, 0, 0))
}

/// `seL4_Wait`: receive on a notification; returns the signalled bits.
pub fn wait(src: CPtr) -> Word {
    recv(src).1
}

/// `seL4_Yield`: give the rest of the time slice away.
pub fn yield_now() {
    syscall(Syscall::Yield, 0, MessageInfo(0));
}

/// `seL4_DebugHalt`: stop the machine (debug kernels only).
pub fn debug_halt() {
    syscall(Syscall::DebugHalt, 0, MessageInfo(0));
}

/// Invoke `service` with `label`, the message words `mrs` and the extra
/// `caps`, and return the first `N` words of a successful reply.
pub(crate) fn invoke<const N: usize>(
    service: CPtr,
    label: InvocationLabel,
    mrs: &[Word],
    caps: &[CPtr],
) -> Result<[Word; N], Error> {
    with_ipc_buffer(|b| {
        b.msg[..mrs.len()].copy_from_slice(mrs);
        b.caps_or_badges[..caps.len()].copy_from_slice(caps);
    });
    let info = MessageInfo::new(label as u64, 0, caps.len() as u64, mrs.len() as u64);
    let (reply, _) = call(service, info);
    if reply.label() != 0 {
        // The kernel only replies with labels from seL4_Error.
        return Err(Error::from_label(reply.label()).unwrap_or(Error::IllegalOperation));
    }
    let mut out = [0; N];
    with_ipc_buffer(|b| out.copy_from_slice(&b.msg[..N]));
    Ok(out)
}
