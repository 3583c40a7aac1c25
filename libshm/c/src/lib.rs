//! The patent's calls in C: `mmap_peer` and `munmap_peer` with QNX's
//! signature, and the `shm_*` calls a C app needs to create, open, grow,
//! shrink, root and detach objects, over `libshm`. `build.rs` generates
//! `libshm.h` from this file with cbindgen; the constants carry QNX's (and
//! POSIX's) names and values.
//!
//! A C app defines `int main(void)`; this library is its runtime (entry
//! point, panic handler) and calls it. A failed call returns `MAP_FAILED`
//! or -1 (`NULL` for a pointer, 0 for a size) and sets `errno`, as a POSIX
//! call does. An `fd` is this process's handle of an open object (an index
//! in a table of [`MAX_OPEN`]).
//!
//! The `unsafe` here is the boundary with C: reading the strings C passes,
//! and calling the app's `main`.

#![no_std]
// pid_t and off_t: the C names.
#![allow(non_camel_case_types)]
// The C boundary: the exported calls, C strings, the app's main.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicI32, Ordering};

use libshm::client::Ipc;
use libshm::layout::slots;
use libshm::protocol::{Client, Errno, Error, MapFlags, Mode, Name, Prot, Target};
use libshm::shm::SharedObject;
use spin::Mutex;

/// A process id, as C names it.
pub type pid_t = i32;
/// An offset in an object, as C names it.
pub type off_t = i64;

/// Pages may not be accessed (attached, nothing mapped).
pub const PROT_NONE: c_int = 0;
/// Pages may be read.
pub const PROT_READ: c_int = 1;
/// Pages may be written.
pub const PROT_WRITE: c_int = 2;
/// Changes are shared (the only kind there is).
pub const MAP_SHARED: c_int = 1;
/// `addr` is not a hint: it must be the object's address plus `off`.
pub const MAP_FIXED: c_int = 0x10;
/// [`shm_open`]: attach for reading.
pub const O_RDONLY: c_int = 0;
/// [`shm_open`]: attach for reading and writing.
pub const O_RDWR: c_int = 2;
/// [`shm_create`]: every attached process may resize and map.
pub const SHM_PEER: c_int = 0;
/// [`shm_create`]: only the owner may resize; others read.
pub const SHM_CLIENT_SERVER: c_int = 1;
/// Objects one process may have open at once.
pub const MAX_OPEN: c_int = 32;

const _: () = assert!(PROT_READ as u64 == libshm::protocol::PROT_READ);
const _: () = assert!(PROT_NONE as u64 == libshm::protocol::PROT_NONE);
const _: () = assert!(MAP_SHARED as u64 == libshm::protocol::MAP_SHARED);
const _: () = assert!(MAP_FIXED as u64 == libshm::protocol::MAP_FIXED);

/// Operation not permitted.
pub const EPERM: c_int = 1;
/// No such object (name).
pub const ENOENT: c_int = 2;
/// No such process.
pub const ESRCH: c_int = 3;
/// An unexpected kernel failure.
pub const EIO: c_int = 5;
/// No such address in the object.
pub const ENXIO: c_int = 6;
/// Not an open object of this process.
pub const EBADF: c_int = 9;
/// Out of memory, or past the process's budget.
pub const ENOMEM: c_int = 12;
/// Permission denied.
pub const EACCES: c_int = 13;
/// Bad address.
pub const EFAULT: c_int = 14;
/// Busy (another process is attached).
pub const EBUSY: c_int = 16;
/// Exists (the name is taken).
pub const EEXIST: c_int = 17;
/// Invalid argument.
pub const EINVAL: c_int = 22;
/// Too many objects open in this process.
pub const EMFILE: c_int = 24;
/// Too large.
pub const EFBIG: c_int = 27;
/// A table is full.
pub const ENOSPC: c_int = 28;

const _: () = {
    let same = [
        (EPERM, Errno::EPERM),
        (ENOENT, Errno::ENOENT),
        (ESRCH, Errno::ESRCH),
        (EIO, Errno::EIO),
        (ENXIO, Errno::ENXIO),
        (ENOMEM, Errno::ENOMEM),
        (EACCES, Errno::EACCES),
        (EFAULT, Errno::EFAULT),
        (EBUSY, Errno::EBUSY),
        (EEXIST, Errno::EEXIST),
        (EINVAL, Errno::EINVAL),
        (EFBIG, Errno::EFBIG),
        (ENOSPC, Errno::ENOSPC),
    ];
    let mut i = 0;
    while i < same.len() {
        assert!(same[i].0 == same[i].1 as c_int);
        i += 1;
    }
};

runtime::entry!(c_main);

/// Runs the C app's `main`.
fn c_main(_: &runtime::ProcessInfo) -> i32 {
    extern "C" {
        fn main() -> c_int;
    }
    // SAFETY: the C app defines `int main(void)`; it runs on this process's one thread.
    unsafe { main() }
}

static ERRNO: AtomicI32 = AtomicI32::new(0);

/// Where `errno` is (the header's `errno` macro reads it).
#[no_mangle]
pub extern "C" fn shm_errno_location() -> *mut c_int {
    ERRNO.as_ptr()
}

/// The table of open objects: an `fd` is an index.
static OPEN: Mutex<[Option<SharedObject>; MAX_OPEN as usize]> =
    Mutex::new([const { None }; MAX_OPEN as usize]);

/// Sets `errno` and returns `failed`.
fn fail<T>(errno: c_int, failed: T) -> T {
    ERRNO.store(errno, Ordering::Relaxed);
    failed
}

fn errno_of(e: Error) -> c_int {
    e.errno() as c_int
}

/// The value of `r`, or `failed` with `errno` set.
fn done<T>(r: Result<T, c_int>, failed: T) -> T {
    r.unwrap_or_else(|e| fail(e, failed))
}

/// The name C passed.
///
/// # Safety
/// `s` is null or a NUL-terminated string.
unsafe fn name(s: *const c_char) -> Result<Name, c_int> {
    if s.is_null() {
        return Err(EFAULT);
    }
    // SAFETY: not null, so NUL-terminated by the contract above.
    let s = unsafe { CStr::from_ptr(s) };
    let s = s.to_str().map_err(|_| EINVAL)?;
    Name::new(s).map_err(errno_of)
}

/// Runs `f` on the open object `fd`.
fn with<T>(fd: c_int, f: impl FnOnce(&mut SharedObject) -> Result<T, c_int>) -> Result<T, c_int> {
    let mut open = OPEN.lock();
    let slot = usize::try_from(fd).ok().and_then(|i| open.get_mut(i)).ok_or(EBADF)?;
    f(slot.as_mut().ok_or(EBADF)?)
}

/// Files `obj` in the first free slot: its `fd`.
fn file(obj: SharedObject) -> Result<c_int, c_int> {
    let mut open = OPEN.lock();
    let free = open.iter().position(Option::is_none).ok_or(EMFILE)?;
    open[free] = Some(obj);
    Ok(free as c_int)
}

/// Takes `fd` out of the table.
fn unfile(fd: c_int) -> Result<SharedObject, c_int> {
    let mut open = OPEN.lock();
    let slot = usize::try_from(fd).ok().and_then(|i| open.get_mut(i)).ok_or(EBADF)?;
    slot.take().ok_or(EBADF)
}

/// The process `pid` names: 0 is the caller.
fn target(pid: pid_t) -> Result<Target, c_int> {
    match pid {
        0 => Ok(Target::CALLER),
        p => u16::try_from(p).map(Target::Pid).map_err(|_| ESRCH),
    }
}

fn size(v: usize) -> u64 {
    v as u64
}

/// Maps `len` bytes (rounded up to whole pages) of the open object `fd`
/// from `off` into process `pid` (0: the caller), with `prot`. `flags` is
/// `MAP_SHARED`, optionally with `MAP_FIXED`; `addr` is a hint, or with
/// `MAP_FIXED` must be the object's address plus `off` (every process maps
/// an object at the same address, so pointers in it work everywhere).
/// Returns where it is mapped, or `MAP_FAILED` with `errno` set.
#[no_mangle]
pub extern "C" fn mmap_peer(
    pid: pid_t,
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    let mapped = (|| {
        let target = target(pid)?;
        let prot =
            u64::try_from(prot).map_err(|_| EINVAL).and_then(|p| Prot::from_bits(p).map_err(errno_of))?;
        let flags = u64::try_from(flags)
            .map_err(|_| EINVAL)
            .and_then(|f| MapFlags::from_bits(f).map_err(errno_of))?;
        let off = u64::try_from(off).map_err(|_| EINVAL)?;
        let id = with(fd, |o| Ok(o.id()))?;
        libshm::shm::mmap_peer(target, addr as u64, size(len), prot, flags, id, off).map_err(errno_of)
    })();
    match mapped {
        Ok(at) => at as *mut c_void,
        Err(e) => fail(e, usize::MAX as *mut c_void),
    }
}

/// Removes every mapping process `pid` (0: the caller) has in `[addr,
/// addr + len)`, `len` rounded up to whole pages; a range with none
/// succeeds. Returns 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn munmap_peer(pid: pid_t, addr: *mut c_void, len: usize) -> c_int {
    let r = target(pid).and_then(|t| libshm::shm::munmap_peer(t, addr as u64, size(len)).map_err(errno_of));
    done(r.map(|()| 0), -1)
}

/// Creates the object `name` of `size` bytes that may grow to `max_size`
/// (both whole pages), `SHM_PEER` or `SHM_CLIENT_SERVER`, and attaches
/// this process (its owner) for reading and writing. Returns its `fd`, or
/// -1 with `errno` set.
///
/// # Safety
/// `name_` is null or a NUL-terminated string (as every C string is).
#[no_mangle]
pub unsafe extern "C" fn shm_create(
    name_: *const c_char,
    size_: usize,
    max_size: usize,
    mode: c_int,
) -> c_int {
    let r = (|| {
        // SAFETY: passed on from this call's contract.
        let name = unsafe { name(name_) }?;
        let mode = match mode {
            SHM_PEER => Mode::Peer,
            SHM_CLIENT_SERVER => Mode::ClientServer,
            _ => return Err(EINVAL),
        };
        // Peers all read and write; a client of a client-server object reads.
        let clients = if mode == Mode::Peer { Prot::ReadWrite } else { Prot::Read };
        let obj = SharedObject::create(name.as_str(), mode, size(size_), size(max_size), clients)
            .map_err(errno_of)?;
        file(obj)
    })();
    done(r, -1)
}

/// Attaches to the object `name`: `O_RDONLY` or `O_RDWR`. Returns its
/// `fd`, or -1 with `errno` set.
///
/// # Safety
/// `name_` is null or a NUL-terminated string (as every C string is).
#[no_mangle]
pub unsafe extern "C" fn shm_open(name_: *const c_char, oflag: c_int) -> c_int {
    let r = (|| {
        // SAFETY: passed on from this call's contract.
        let name = unsafe { name(name_) }?;
        let prot = match oflag {
            O_RDONLY => Prot::Read,
            O_RDWR => Prot::ReadWrite,
            _ => return Err(EINVAL),
        };
        file(SharedObject::open(name.as_str(), prot).map_err(errno_of)?)
    })();
    done(r, -1)
}

/// The object's address (the same in every process), or `NULL` with
/// `errno` set.
#[no_mangle]
pub extern "C" fn shm_base(fd: c_int) -> *mut c_void {
    done(with(fd, |o| Ok(o.base() as *mut c_void)), core::ptr::null_mut())
}

/// The object's size now (another process may have grown it; every page
/// up to it is mapped), or 0 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_size(fd: c_int) -> usize {
    done(with(fd, |o| Ok(o.sync_size() as usize)), 0)
}

/// Grows the object to `new_size` bytes; the new pages are mapped into
/// every attached process before it returns. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_grow(fd: c_int, new_size: usize) -> c_int {
    done(with(fd, |o| o.grow(size(new_size)).map(|_| 0).map_err(errno_of)), -1)
}

/// Shrinks the object to `new_size` bytes; the pages past it leave every
/// process before it returns. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_shrink(fd: c_int, new_size: usize) -> c_int {
    done(with(fd, |o| o.shrink(size(new_size)).map(|_| 0).map_err(errno_of)), -1)
}

/// Publishes `offset` as the object's root: where a process that attaches
/// finds the shared data. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_set_root(fd: c_int, offset: off_t) -> c_int {
    let r = u64::try_from(offset).map_err(|_| EINVAL);
    done(r.and_then(|off| with(fd, |o| o.set_root(off).map(|()| 0).map_err(errno_of))), -1)
}

/// The object's root offset, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_root(fd: c_int) -> off_t {
    done(with(fd, |o| o.root().map(|r| r as off_t).map_err(errno_of)), -1)
}

/// How many processes are attached now, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_attached(fd: c_int) -> c_int {
    done(with(fd, |o| Ok(c_int::from(o.attached_count()))), -1)
}

/// Detaches from the object and closes `fd`. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_detach(fd: c_int) -> c_int {
    done(unfile(fd).and_then(|o| o.detach().map(|()| 0).map_err(errno_of)), -1)
}

/// Destroys the object (no other process may be attached) and closes
/// `fd`. 0, or -1 with `errno` set.
#[no_mangle]
pub extern "C" fn shm_destroy(fd: c_int) -> c_int {
    done(unfile(fd).and_then(|o| o.destroy().map(|()| 0).map_err(errno_of)), -1)
}

/// The pid of the process with alias `name` (the patent's name for a
/// peer), or -1 with `errno` set.
///
/// # Safety
/// `name_` is null or a NUL-terminated string (as every C string is).
#[no_mangle]
pub unsafe extern "C" fn shm_pid_of(name_: *const c_char) -> pid_t {
    // SAFETY: passed on from this call's contract.
    let r = unsafe { name(name_) }
        .and_then(|n| Ipc::new(slots::MEMORY_MANAGER).lookup_alias(n).map_err(errno_of));
    done(r.map(|t| pid_t::from(t.pid())), -1)
}

/// This process's pid.
#[no_mangle]
pub extern "C" fn shm_getpid() -> pid_t {
    pid_t::from(runtime::info().pid)
}

/// The word this process's system description passes it (`arg`).
#[no_mangle]
pub extern "C" fn shm_arg() -> u64 {
    runtime::info().arg
}

/// Gives the processor to another process of the same priority (while
/// waiting for a peer).
#[no_mangle]
pub extern "C" fn shm_yield() {
    sel4::yield_now();
}

/// Prints `line` and a newline on the kernel's debug console (`NULL`
/// prints nothing).
///
/// # Safety
/// `line` is null or a NUL-terminated string (as every C string is).
#[no_mangle]
pub unsafe extern "C" fn shm_debug_puts(line: *const c_char) {
    if line.is_null() {
        return;
    }
    // SAFETY: not null, so NUL-terminated by this call's contract.
    let s = unsafe { CStr::from_ptr(line) };
    sel4::debug_println!("{}", s.to_str().unwrap_or("(not UTF-8)"));
}
