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
//!
//! Every call's documentation (here and in `libshm.h`) has a C example;
//! `make c-lib` compiles each one against the generated header for both
//! arches (`tools/c-doc-examples`), and checks that every public constant
//! is used by one. A whole program:
//!
//! ```c
//! int fd = shm_create("numbers", 2 * 4096, 64 * 4096, SHM_PEER);
//! if (fd < 0)
//!     return errno;
//! uint64_t *numbers = (uint64_t *)((char *)shm_base(fd) + 4096);
//! numbers[0] = 42;
//! if (shm_set_root(fd, 4096) != 0 || shm_grow(fd, 3 * 4096) != 0)
//!     return errno;
//! /* Every attached process now sees three pages, and the root. */
//! numbers[512] = 43;
//! return shm_detach(fd);
//! ```

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
///
/// ```c
/// pid_t me = shm_getpid();
/// ```
pub type pid_t = i32;
/// An offset in an object, as C names it.
///
/// ```c
/// off_t root = shm_root(shm_open("numbers", O_RDONLY));
/// ```
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

/// No such operation (a memory manager older than this library).
pub const ENOSYS: c_int = 38;
/// A malformed (short) message.
pub const EBADMSG: c_int = 74;
/// A range whose end overflows.
pub const EOVERFLOW: c_int = 75;
/// A message too long.
pub const EMSGSIZE: c_int = 90;
/// A quota exceeded.
pub const EDQUOT: c_int = 122;

/// The C constant for `e`: the match is exhaustive, so every errno the
/// memory manager can answer has a name in `libshm.h`.
const fn c_errno(e: Errno) -> c_int {
    match e {
        Errno::EPERM => EPERM,
        Errno::ENOENT => ENOENT,
        Errno::ESRCH => ESRCH,
        Errno::EIO => EIO,
        Errno::ENXIO => ENXIO,
        Errno::ENOMEM => ENOMEM,
        Errno::EACCES => EACCES,
        Errno::EFAULT => EFAULT,
        Errno::EBUSY => EBUSY,
        Errno::EEXIST => EEXIST,
        Errno::EINVAL => EINVAL,
        Errno::EFBIG => EFBIG,
        Errno::ENOSPC => ENOSPC,
        Errno::ENOSYS => ENOSYS,
        Errno::EBADMSG => EBADMSG,
        Errno::EOVERFLOW => EOVERFLOW,
        Errno::EMSGSIZE => EMSGSIZE,
        Errno::EDQUOT => EDQUOT,
    }
}

// The C names carry the protocol's (POSIX's) values.
const _: () = {
    let all = [
        Errno::EPERM,
        Errno::ENOENT,
        Errno::ESRCH,
        Errno::EIO,
        Errno::ENXIO,
        Errno::ENOMEM,
        Errno::EACCES,
        Errno::EFAULT,
        Errno::EBUSY,
        Errno::EEXIST,
        Errno::EINVAL,
        Errno::EFBIG,
        Errno::ENOSPC,
        Errno::ENOSYS,
        Errno::EBADMSG,
        Errno::EOVERFLOW,
        Errno::EMSGSIZE,
        Errno::EDQUOT,
    ];
    let mut i = 0;
    while i < all.len() {
        assert!(c_errno(all[i]) == all[i] as c_int);
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
///
/// ```c
/// if (shm_open("missing", O_RDONLY) == -1 && errno == ENOENT)
///     shm_debug_puts("no such object");
/// const char *why = "unknown";
/// switch (errno) {
/// case EPERM: why = "not permitted (not the owner, not attached)"; break;
/// case ENOENT: why = "no such object"; break;
/// case ESRCH: why = "no such process"; break;
/// case EIO: why = "an unexpected kernel failure"; break;
/// case ENXIO: why = "outside the object, or not its address"; break;
/// case EBADF: why = "not an open fd"; break;
/// case ENOMEM: why = "out of memory, or past the budget"; break;
/// case EACCES: why = "more rights than held"; break;
/// case EFAULT: why = "a NULL string"; break;
/// case EBUSY: why = "others are attached"; break;
/// case EEXIST: why = "the name is taken"; break;
/// case EINVAL: why = "a bad value or an unaligned size"; break;
/// case EMFILE: why = "MAX_OPEN objects open"; break;
/// case EFBIG: why = "past the maximum size"; break;
/// case ENOSPC: why = "a table of the memory manager is full"; break;
/// case EOVERFLOW: why = "a range that overflows"; break;
/// case EDQUOT: why = "a quota exceeded"; break;
/// case ENOSYS: case EBADMSG: case EMSGSIZE: why = "a library and memory manager that disagree"; break;
/// }
/// shm_debug_puts(why);
/// ```
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
    c_errno(e.errno())
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
///
/// ```c
/// int fd = shm_open("numbers", O_RDWR);
/// pid_t viewer = shm_pid_of("viewer");
/// if (fd < 0 || viewer < 0)
///     return errno;
/// /* The object's second page, read-only, into the viewer: */
/// void *at = mmap_peer(viewer, NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);
/// if (at == MAP_FAILED)
///     return errno;
/// /* At the address it has in every process: */
/// char *fixed = (char *)shm_base(fd) + 4096;
/// if (mmap_peer(viewer, fixed, 4096, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 4096) != fixed)
///     return errno;
/// /* Attached with no access at all: any touch faults. */
/// if (mmap_peer(shm_pid_of("stranger"), NULL, 4096, PROT_NONE, MAP_SHARED, fd, 0) == MAP_FAILED)
///     return errno;
/// /* More than the caller's rights: EACCES; an unaligned off: EINVAL. */
/// int ro = shm_open("log", O_RDONLY);
/// if (mmap_peer(0, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES)
///     shm_debug_puts("log is read-only here");
/// if (mmap_peer(0, NULL, 4096, PROT_READ, MAP_SHARED, ro, 100) == MAP_FAILED && errno == EINVAL)
///     shm_debug_puts("off must be page-aligned");
/// ```
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
///
/// ```c
/// int fd = shm_open("numbers", O_RDWR);
/// pid_t viewer = shm_pid_of("viewer");
/// if (fd < 0 || viewer < 0)
///     return errno;
/// /* The viewer loses the object's second page; its next access faults. */
/// if (munmap_peer(viewer, (char *)shm_base(fd) + 4096, 4096) != 0)
///     return errno;
/// /* ESRCH: no such process; EINVAL: an address not page-aligned. */
/// if (munmap_peer(30000, shm_base(fd), 4096) == -1 && errno == ESRCH)
///     shm_debug_puts("no such process");
/// ```
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
///
/// ```c
/// int fd = shm_create("log", 4096 * 2, 4096 * 256, SHM_CLIENT_SERVER);
/// if (fd == -1 && errno == EEXIST)
///     fd = shm_open("log", O_RDWR);
/// if (fd == -1 && errno == ENOMEM)
///     shm_debug_puts("past this process's budget");
/// ```
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
///
/// ```c
/// int fd = shm_open("log", O_RDONLY);
/// if (fd == -1 && errno == EMFILE)
///     shm_debug_puts("MAX_OPEN objects are open already");
/// if (shm_open(NULL, O_RDWR) == -1 && errno == EFAULT)
///     shm_debug_puts("a NULL name");
/// _Static_assert(MAX_OPEN >= 16, "room for a few objects");
/// ```
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
///
/// ```c
/// int fd = shm_open("log", O_RDONLY);
/// const uint64_t *words = shm_base(fd);
/// if (words == NULL && errno == EBADF)
///     return EBADF;
/// uint64_t first_data_word = words[4096 / sizeof(uint64_t)];
/// ```
#[no_mangle]
pub extern "C" fn shm_base(fd: c_int) -> *mut c_void {
    done(with(fd, |o| Ok(o.base() as *mut c_void)), core::ptr::null_mut())
}

/// The object's size now (another process may have grown it; every page
/// up to it is mapped), or 0 with `errno` set.
///
/// ```c
/// int fd = shm_open("log", O_RDONLY);
/// size_t seen = shm_size(fd);
/// while (shm_size(fd) == seen)
///     shm_yield(); /* until a peer grows it */
/// ```
#[no_mangle]
pub extern "C" fn shm_size(fd: c_int) -> usize {
    done(with(fd, |o| Ok(o.sync_size() as usize)), 0)
}

/// Grows the object to `new_size` bytes; the new pages are mapped into
/// every attached process before it returns. 0, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDWR);
/// if (shm_grow(fd, shm_size(fd) + 4096) == -1 && errno == EFBIG)
///     shm_debug_puts("past the object's maximum size");
/// ```
#[no_mangle]
pub extern "C" fn shm_grow(fd: c_int, new_size: usize) -> c_int {
    done(with(fd, |o| o.grow(size(new_size)).map(|_| 0).map_err(errno_of)), -1)
}

/// Shrinks the object to `new_size` bytes; the pages past it leave every
/// process before it returns. 0, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDWR);
/// if (shm_shrink(fd, 2 * 4096) == -1 && errno == EPERM)
///     shm_debug_puts("only the owner resizes a client-server object");
/// ```
#[no_mangle]
pub extern "C" fn shm_shrink(fd: c_int, new_size: usize) -> c_int {
    done(with(fd, |o| o.shrink(size(new_size)).map(|_| 0).map_err(errno_of)), -1)
}

/// Publishes `offset` as the object's root: where a process that attaches
/// finds the shared data. 0, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDWR);
/// /* The data starts past the header page. */
/// if (shm_set_root(fd, 4096) == -1 && errno == ENXIO)
///     shm_debug_puts("the root must be inside the object");
/// ```
#[no_mangle]
pub extern "C" fn shm_set_root(fd: c_int, offset: off_t) -> c_int {
    let r = u64::try_from(offset).map_err(|_| EINVAL);
    done(r.and_then(|off| with(fd, |o| o.set_root(off).map(|()| 0).map_err(errno_of))), -1)
}

/// The object's root offset, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDONLY);
/// off_t root = shm_root(fd);
/// if (root < 0)
///     return errno;
/// const uint64_t *data = (const uint64_t *)((const char *)shm_base(fd) + root);
/// ```
#[no_mangle]
pub extern "C" fn shm_root(fd: c_int) -> off_t {
    done(with(fd, |o| o.root().map(|r| r as off_t).map_err(errno_of)), -1)
}

/// How many processes are attached now, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDONLY);
/// while (shm_attached(fd) < 3)
///     shm_yield(); /* until two others have attached */
/// ```
#[no_mangle]
pub extern "C" fn shm_attached(fd: c_int) -> c_int {
    done(with(fd, |o| Ok(c_int::from(o.attached_count()))), -1)
}

/// Detaches from the object and closes `fd`. 0, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_open("numbers", O_RDONLY);
/// if (shm_detach(fd) != 0)
///     return errno;
/// /* The fd is closed: */
/// if (shm_size(fd) == 0 && errno == EBADF)
///     shm_debug_puts("closed");
/// ```
#[no_mangle]
pub extern "C" fn shm_detach(fd: c_int) -> c_int {
    done(unfile(fd).and_then(|o| o.detach().map(|()| 0).map_err(errno_of)), -1)
}

/// Destroys the object (no other process may be attached) and closes
/// `fd`. 0, or -1 with `errno` set.
///
/// ```c
/// int fd = shm_create("scratch", 2 * 4096, 2 * 4096, SHM_PEER);
/// if (shm_destroy(fd) == -1 && errno == EBUSY)
///     shm_debug_puts("another process is still attached");
/// ```
#[no_mangle]
pub extern "C" fn shm_destroy(fd: c_int) -> c_int {
    done(unfile(fd).and_then(|o| o.destroy().map(|()| 0).map_err(errno_of)), -1)
}

/// The pid of the process with alias `name` (the patent's name for a
/// peer), or -1 with `errno` set.
///
/// # Safety
/// `name_` is null or a NUL-terminated string (as every C string is).
///
/// ```c
/// pid_t viewer = shm_pid_of("viewer");
/// if (viewer == -1 && errno == ESRCH)
///     shm_debug_puts("no process has that alias");
/// ```
#[no_mangle]
pub unsafe extern "C" fn shm_pid_of(name_: *const c_char) -> pid_t {
    // SAFETY: passed on from this call's contract.
    let r = unsafe { name(name_) }
        .and_then(|n| Ipc::new(slots::MEMORY_MANAGER).lookup_alias(n).map_err(errno_of));
    done(r.map(|t| pid_t::from(t.pid())), -1)
}

/// This process's pid.
///
/// ```c
/// if (shm_pid_of("owner") == shm_getpid())
///     shm_debug_puts("this process is the owner");
/// ```
#[no_mangle]
pub extern "C" fn shm_getpid() -> pid_t {
    pid_t::from(runtime::info().pid)
}

/// The word this process's system description passes it (`arg`).
///
/// ```c
/// /* The description's `arg = 3` for this process: */
/// uint64_t readers = shm_arg();
/// ```
#[no_mangle]
pub extern "C" fn shm_arg() -> u64 {
    runtime::info().arg
}

/// Gives the processor to another process of the same priority (while
/// waiting for a peer).
///
/// ```c
/// int fd = shm_open("numbers", O_RDONLY);
/// while (shm_root(fd) == 0)
///     shm_yield(); /* until the owner publishes the root */
/// ```
#[no_mangle]
pub extern "C" fn shm_yield() {
    sel4::yield_now();
}

/// Prints `line` and a newline on the kernel's debug console (`NULL`
/// prints nothing).
///
/// # Safety
/// `line` is null or a NUL-terminated string (as every C string is).
///
/// ```c
/// shm_debug_puts("hello from C");
/// ```
#[no_mangle]
pub unsafe extern "C" fn shm_debug_puts(line: *const c_char) {
    if line.is_null() {
        return;
    }
    // SAFETY: not null, so NUL-terminated by this call's contract.
    let s = unsafe { CStr::from_ptr(line) };
    sel4::debug_println!("{}", s.to_str().unwrap_or("(not UTF-8)"));
}
