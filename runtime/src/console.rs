//! A process's console when the kernel cannot print (a production kernel
//! has no `seL4_DebugPutChar`): the supervisor says so in the info page
//! ([`ProcessInfo::console`]), and output is gathered into lines sent to
//! it (`Print`), which it writes on the serial device.

use libshm::layout::CONSOLE_SUPERVISOR;
use libshm::protocol::supervisor::{Request, Text, TEXT_MAX};
use libshm::protocol::MSG_MAX_WORDS;
use sel4::MessageInfo;
use spin::Mutex;

use crate::{slots, ProcessInfo};

/// The line being gathered.
struct Line {
    bytes: [u8; TEXT_MAX],
    len: usize,
}

static LINE: Mutex<Line> = Mutex::new(Line { bytes: [0; TEXT_MAX], len: 0 });

/// Sends `bytes` to the supervisor's console, without blocking: the
/// supervisor may itself be calling this process (the memory manager's
/// registrations), and a call either way would deadlock. The supervisor
/// outranks every process, so while one runs it waits for messages unless
/// it is in such a call: only then is a line lost.
fn send(bytes: &[u8]) {
    let Ok(text) = Text::new(bytes) else { return };
    let mut words = [0; MSG_MAX_WORDS];
    let (label, len) = Request::Print { text }.encode(&mut words);
    sel4::with_ipc_buffer(|b| b.msg[..len].copy_from_slice(&words[..len]));
    sel4::nb_send(slots::SUPERVISOR, MessageInfo::new(label, 0, 0, len as u64));
}

/// The console sink: whole lines (or full buffers) go out at once.
fn forward(bytes: &[u8]) {
    // Output from inside output (a panic while printing): unbuffered.
    let Some(mut line) = LINE.try_lock() else {
        bytes.chunks(TEXT_MAX).for_each(send);
        return;
    };
    for &b in bytes {
        let at = line.len;
        line.bytes[at] = b;
        line.len += 1;
        if b == b'\n' || line.len == TEXT_MAX {
            send(&line.bytes[..line.len]);
            line.len = 0;
        }
    }
}

/// Sends what is left of the last line (before the process ends).
pub(crate) fn flush() {
    if let Some(mut line) = LINE.try_lock() {
        if line.len > 0 {
            send(&line.bytes[..line.len]);
            line.len = 0;
        }
    }
}

/// Called by [`crate::start`] before `main`: the console the supervisor chose.
pub(crate) fn init(info: &ProcessInfo) {
    if info.console == CONSOLE_SUPERVISOR {
        sel4::set_console(forward);
    }
}
