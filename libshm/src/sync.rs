//! Atomics and a lock in shared memory, for processes that share an object.
//!
//! [`SharedAtomicU64`] and [`SharedAtomicU32`] are atomic words in an
//! object (load, store, swap, compare-exchange, fetch-and-op, with
//! orderings). [`SharedMutex`] is a lock word and the data it protects;
//! its guard reads and writes the data.
//!
//! **A holder that dies does not block the others.** The lock word holds
//! the holder's identity (pid and generation, which are never reused). A
//! waiter that has spun a while reads the object's header, where the
//! memory manager lists every attached process and from which it removes a
//! process the moment it dies or detaches. If the holder is no longer
//! there, the waiter takes the lock over with a compare-exchange (exactly
//! one waiter wins) and its guard says so ([`SharedMutexGuard::recovered`]):
//! the data may be halfway through the dead holder's update, as with a
//! POSIX robust mutex's `EOWNERDEAD`.
//!
//! Waiting spins and gives the processor away (`seL4_Yield`) between tries,
//! so on one core a holder of the same priority runs; a waiter of higher
//! priority than a live holder would spin until the holder's core runs it.

use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::sync::atomic::Ordering;

use crate::mapped;
use crate::pool::PoolError;
use crate::protocol::TaskId;
use crate::shm::{Plain, SharedObject, SharedPtr};

macro_rules! shared_atomic {
    ($(#[$doc:meta])* $name:ident, $t:ty, $with:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            addr: u64,
        }

        impl $name {
            /// The atomic word at `addr` (checked at each operation: it must
            /// be in the shared window and aligned, or the operation panics;
            /// an unmapped page faults).
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// # Ok(()) }
            /// ```
            pub const fn at(addr: u64) -> Self {
                $name { addr }
            }

            /// Its address.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("assert_eq!(libshm::sync::", stringify!($name), "::at(table.base() + 8).addr(), table.base() + 8);")]
            /// # Ok(()) }
            /// ```
            pub const fn addr(self) -> u64 {
                self.addr
            }

            /// Loads the value.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// let v = w.load(core::sync::atomic::Ordering::Acquire);
            /// # Ok(()) }
            /// ```
            pub fn load(self, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.load(order))
            }

            /// Stores `v`.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// w.store(1, core::sync::atomic::Ordering::Release);
            /// # Ok(()) }
            /// ```
            pub fn store(self, v: $t, order: Ordering) {
                mapped::$with(self.addr, |a| a.store(v, order))
            }

            /// Stores `v`, returning the value before.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// let old = w.swap(0, core::sync::atomic::Ordering::AcqRel);
            /// # Ok(()) }
            /// ```
            pub fn swap(self, v: $t, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.swap(v, order))
            }

            /// Stores `new` if the value is `current`; the value before,
            /// `Ok` if it was `current`.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// use core::sync::atomic::Ordering::{Acquire, Relaxed};
            /// let won = w.compare_exchange(0, 1, Acquire, Relaxed).is_ok();
            /// # Ok(()) }
            /// ```
            pub fn compare_exchange(
                self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                mapped::$with(self.addr, |a| a.compare_exchange(current, new, success, failure))
            }

            /// Adds `v` (wrapping), returning the value before.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// let ticket = w.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            /// # Ok(()) }
            /// ```
            pub fn fetch_add(self, v: $t, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.fetch_add(v, order))
            }

            /// Subtracts `v` (wrapping), returning the value before.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// w.fetch_sub(1, core::sync::atomic::Ordering::Release);
            /// # Ok(()) }
            /// ```
            pub fn fetch_sub(self, v: $t, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.fetch_sub(v, order))
            }

            /// Ors in `v`, returning the value before.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// w.fetch_or(0b100, core::sync::atomic::Ordering::Release);
            /// # Ok(()) }
            /// ```
            pub fn fetch_or(self, v: $t, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.fetch_or(v, order))
            }

            /// Ands in `v`, returning the value before.
            ///
            /// ```no_run
            /// # #![no_std]
            /// # #![no_main]
            /// # runtime::entry!(main);
            /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
            /// # fn example() -> Result<(), libshm::protocol::Error> {
            /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite)?;
            #[doc = concat!("# let w = libshm::sync::", stringify!($name), "::at(table.base() + 4096);")]
            /// w.fetch_and(!0b100, core::sync::atomic::Ordering::Release);
            /// # Ok(()) }
            /// ```
            pub fn fetch_and(self, v: $t, order: Ordering) -> $t {
                mapped::$with(self.addr, |a| a.fetch_and(v, order))
            }
        }
    };
}

shared_atomic!(
    /// An atomic `u64` in shared memory: every peer that maps the object
    /// operates on the same word. A `Copy` handle (an address), valid in
    /// every peer; get one with [`SharedPtr::atomic`] or
    /// [`SharedAtomicU64::at`].
    SharedAtomicU64,
    u64,
    with_atomic_u64
);

shared_atomic!(
    /// An atomic `u32` in shared memory, as [`SharedAtomicU64`] is a `u64`.
    SharedAtomicU32,
    u32,
    with_atomic_u32
);

/// Set in a held lock word, beside the holder's identity (so a held lock
/// is never 0, whatever the pid).
const HELD: u64 = 1 << 63;
/// Tries between two reads of the header to see whether the holder is
/// still attached.
const TRIES_PER_CHECK: u32 = 64;

/// A lock in shared memory and the `T` it protects: the lock word at the
/// mutex's offset in the object, the `T` right after it (at
/// [`SharedMutex::DATA_OFFSET`]). Every peer that makes a `SharedMutex` at
/// the same offset shares the lock. All zero is unlocked, so a new (zero
/// filled) page holds an unlocked mutex over an all-zero `T`.
///
/// ```no_run
/// # #![no_std]
/// # #![no_main]
/// # runtime::entry!(main);
/// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
/// # fn example() -> Result<(), libshm::pool::PoolError> {
/// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
/// use libshm::sync::SharedMutex;
/// let counter = SharedMutex::<u64>::at(&table, 4096)?;
/// let mut guard = counter.lock();
/// guard.set(guard.get() + 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SharedMutex<T> {
    /// The object's base: its header lists who is attached.
    base: u64,
    lock: SharedAtomicU64,
    data: SharedPtr<T>,
}

impl<T: Plain> SharedMutex<T> {
    /// Where the `T` starts, from the mutex's offset: after the lock word,
    /// aligned for `T`.
    pub const DATA_OFFSET: u64 = {
        let a = align_of::<T>() as u64;
        if a > 8 {
            a
        } else {
            8
        }
    };

    /// Bytes the mutex takes in the object.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// fn main(_: &runtime::ProcessInfo) -> i32 {
    ///     assert_eq!(libshm::sync::SharedMutex::<[u64; 2]>::SIZE, 24);
    ///     0
    /// }
    /// ```
    pub const SIZE: u64 = Self::DATA_OFFSET + size_of::<T>() as u64;

    /// The mutex at `offset` in `object`: [`PoolError::Unaligned`] unless
    /// `offset` is aligned for the lock word and the `T`,
    /// [`PoolError::OutOfBounds`] if it does not fit in the object's size,
    /// [`PoolError::ReadOnly`] in the header page or an object this process
    /// may only read (taking the lock writes).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// let m = libshm::sync::SharedMutex::<[u32; 4]>::at(&table, 8192)?;
    /// # Ok(()) }
    /// ```
    pub fn at(object: &SharedObject, offset: u64) -> Result<Self, PoolError> {
        if !offset.is_multiple_of(Self::DATA_OFFSET) {
            return Err(PoolError::Unaligned);
        }
        object.may_write(offset)?;
        match offset.checked_add(Self::SIZE) {
            Some(end) if end <= object.size() => Ok(SharedMutex {
                base: object.base(),
                lock: SharedAtomicU64::at(object.base() + offset),
                data: SharedPtr::from_addr(object.base() + offset + Self::DATA_OFFSET),
            }),
            _ => Err(PoolError::OutOfBounds),
        }
    }

    /// Takes the lock, waiting as long as a live process holds it; from a
    /// holder that is gone (died, or detached) it takes the lock over, and
    /// the guard says so.
    ///
    /// # Panics
    /// If this process holds it already (it would wait for itself).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// let mut g = m.lock();
    /// if g.recovered() { /* check the data: its last holder died holding it */ }
    /// g.set(g.get() + 1);
    /// # Ok(()) }
    /// ```
    pub fn lock(&self) -> SharedMutexGuard<'_, T> {
        let me = HELD | mapped::own_task().to_word();
        let mut tries = 0u32;
        loop {
            let holder = match self.lock.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return SharedMutexGuard { mutex: self, recovered: false, _not_send: PhantomData },
                Err(holder) => holder,
            };
            assert!(holder != me, "SharedMutex at {:#x} locked twice by the same process", self.lock.addr());
            tries = tries.wrapping_add(1);
            if tries.is_multiple_of(TRIES_PER_CHECK) && !self.attached(holder) {
                // Exactly one waiter replaces this holder's word with its own.
                let took = self.lock.compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed);
                if took.is_ok() {
                    return SharedMutexGuard { mutex: self, recovered: true, _not_send: PhantomData };
                }
            }
            sel4::yield_now();
        }
    }

    /// Takes the lock if it is free now.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// if let Some(g) = m.try_lock() { let v = g.get(); }
    /// # Ok(()) }
    /// ```
    pub fn try_lock(&self) -> Option<SharedMutexGuard<'_, T>> {
        let me = HELD | mapped::own_task().to_word();
        self.lock
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SharedMutexGuard { mutex: self, recovered: false, _not_send: PhantomData })
    }

    /// The process holding the lock now, if any (a snapshot).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// if let Some(t) = m.holder() { /* t.pid() holds it */ }
    /// # Ok(()) }
    /// ```
    pub fn holder(&self) -> Option<TaskId> {
        let w = self.lock.load(Ordering::Relaxed);
        (w & HELD != 0).then(|| TaskId::from_word(w & !HELD).ok()).flatten()
    }

    /// Whether the process whose lock word is `holder` is attached to the
    /// object, by the header; a header caught mid-rewrite counts as yes
    /// (the next check reads it again).
    fn attached(&self, holder: u64) -> bool {
        let Ok(task) = TaskId::from_word(holder & !HELD) else {
            // Not a word any process writes: nobody holds it.
            return false;
        };
        match crate::shm::header_at(self.base) {
            Ok(h) => h.attached().any(|a| a.task == task),
            Err(_) => true,
        }
    }
}

/// The lock held: typed access to the data, and the lock given back when
/// it is dropped. It stays in the process that took the lock.
#[derive(Debug)]
pub struct SharedMutexGuard<'a, T: Plain> {
    mutex: &'a SharedMutex<T>,
    recovered: bool,
    _not_send: PhantomData<*const ()>,
}

impl<T: Plain> SharedMutexGuard<'_, T> {
    /// Whether the lock was taken over from a holder that was gone: the
    /// data may be halfway through its update.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// let g = m.lock();
    /// let clean = !g.recovered();
    /// # Ok(()) }
    /// ```
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// Reads the data (volatile).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// let v = m.lock().get();
    /// # Ok(()) }
    /// ```
    pub fn get(&self) -> T {
        self.mutex.data.read()
    }

    /// Writes the data (volatile).
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<u64>::at(&table, 4096)?;
    /// m.lock().set(0);
    /// # Ok(()) }
    /// ```
    pub fn set(&mut self, value: T) {
        self.mutex.data.write(value)
    }

    /// A pointer to the data, for its fields (with
    /// [`shared_field!`](crate::shared_field)) while the lock is held.
    ///
    /// ```no_run
    /// # #![no_std]
    /// # #![no_main]
    /// # runtime::entry!(main);
    /// # fn main(_: &runtime::ProcessInfo) -> i32 { example().map_or(1, |()| 0) }
    /// # fn example() -> Result<(), libshm::pool::PoolError> {
    /// # let table = libshm::shm::SharedObject::open("table", libshm::protocol::Prot::ReadWrite).unwrap();
    /// # let m = libshm::sync::SharedMutex::<[u64; 2]>::at(&table, 4096)?;
    /// let g = m.lock();
    /// let first = g.ptr().project(0, |p| &p[0]).read();
    /// # Ok(()) }
    /// ```
    pub fn ptr(&self) -> SharedPtr<T> {
        self.mutex.data
    }
}

impl<T: Plain> Drop for SharedMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.lock.store(0, Ordering::Release);
    }
}
