//! A fake seL4 for host tests that enforces the rules the server relies on:
//!
//! - a frame cap maps at most once, so every mapping needs its own copy;
//! - a paging structure maps only under the level above it, a frame only
//!   into an existing structure, and never over an occupied slot;
//! - revoking a cap deletes every cap derived from it, with their mappings;
//! - memory is finite: objects are paid for from one untyped pool and paid
//!   back when their last cap goes;
//! - frame contents are simulated, so a value written by one process at an
//!   address can be read by another at the same address.
//!
//! It is stricter than seL4 in one way: freeing a paging structure that still
//! holds mappings, or an original frame cap that still has copies, panics,
//! since the server never means to do either.
//!
//! Errors can be injected ([`FakeKernel::fail_nth`]) to drive every rollback
//! path.
//!
//! ```
//! use vmm_server::{fake::FakeKernel, Kernel, ObjectKind, PageSize};
//! use libshm::layout::{TableLevel, WINDOW_BASE};
//! use libshm::protocol::Prot;
//! let mut k = FakeKernel::new(1 << 20);
//! let vs = k.new_vspace();
//! let f = k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
//! let c = k.copy(f).unwrap();
//! // No page table yet: the map fails.
//! assert!(k.map_frame(c, vs, WINDOW_BASE, Prot::ReadWrite).is_err());
//! for level in [TableLevel::L2, TableLevel::L3] {
//!     let t = k.alloc(ObjectKind::Table(level)).unwrap();
//!     k.map_table(t, level, vs, level.base_of(WINDOW_BASE)).unwrap();
//! }
//! k.map_frame(c, vs, WINDOW_BASE, Prot::ReadWrite).unwrap();
//! k.write_u64(vs, WINDOW_BASE + 8, 5).unwrap();
//! assert_eq!(k.read_u64(vs, WINDOW_BASE + 8), Ok(5));
//! ```

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use libshm::layout::{TableLevel, WINDOW_BASE};
use libshm::protocol::Prot;

use crate::kernel::{Kernel, KernelError, ObjectKind, PageSize};

/// First address above user space on x86_64 (the narrower of the two arches).
const USER_TOP: u64 = 1 << 47;
const WORD: usize = 8;

/// A cap handle of the fake kernel.
///
/// ```
/// let mut k = vmm_server::fake::FakeKernel::new(0);
/// let a = k.new_vspace();
/// assert_ne!(a, k.new_vspace());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FakeCap(u32);

/// Identity of a kernel object (frames are compared by it).
///
/// ```
/// use vmm_server::{fake::FakeKernel, Kernel, ObjectKind, PageSize};
/// let mut k = FakeKernel::new(1 << 20);
/// let f = k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
/// let c = k.copy(f).unwrap();
/// assert_eq!(k.object_of(f), k.object_of(c));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjId(u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Frame(PageSize),
    Table(TableLevel),
    VSpace,
    /// A structure the root task made (not paid from the server's pool).
    Foreign(TableLevel),
    /// A notification (a subscriber's).
    Notification,
    /// Any other object a process holds (an endpoint, a TCB, a CNode),
    /// which a hostile message may carry where a VSpace belongs.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Obj {
    kind: Kind,
    /// Frame contents, allocated on first write (zero until then).
    data: Vec<u8>,
    /// Paging structures: where they are mapped.
    mapped_at: Option<(ObjId, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CapRec {
    obj: ObjId,
    parent: Option<FakeCap>,
    /// Frame caps: where this cap is mapped.
    mapped: Option<(ObjId, u64)>,
}

/// One page mapped in a VSpace.
///
/// ```
/// use vmm_server::fake::MappedPage;
/// fn rights(p: &MappedPage) -> libshm::protocol::Prot { p.rights }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedPage {
    /// Its address.
    pub vaddr: u64,
    /// The frame's size.
    pub size: PageSize,
    /// Mapping rights.
    pub rights: Prot,
    /// The frame.
    pub frame: ObjId,
    pub(crate) cap: FakeCap,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Space {
    tables: BTreeMap<(TableLevel, u64), ObjId>,
    pages: BTreeMap<u64, MappedPage>,
}

/// Why a simulated memory access faulted.
///
/// ```
/// use vmm_server::fake::{FakeKernel, Fault};
/// let mut k = FakeKernel::new(0);
/// let vs = k.new_vspace();
/// assert_eq!(k.read_u64(vs, 0x1000), Err(Fault::NotMapped));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing mapped there.
    NotMapped,
    /// A write to a read-only page.
    ReadOnly,
}

/// Everything observable about the fake kernel, for before/after comparisons
/// (it leaves out counters that only name the next cap).
///
/// ```
/// let k = vmm_server::fake::FakeKernel::new(1 << 20);
/// assert_eq!(k.snapshot(), k.snapshot());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    caps: BTreeMap<FakeCap, CapRec>,
    objs: BTreeMap<ObjId, Obj>,
    spaces: BTreeMap<ObjId, Space>,
    free: u64,
}

/// The fake kernel.
///
/// ```
/// use vmm_server::{fake::FakeKernel, Kernel, KernelError, ObjectKind, PageSize};
/// let mut k = FakeKernel::new(4096);
/// k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
/// assert_eq!(k.alloc(ObjectKind::Frame(PageSize::Small)), Err(KernelError::OutOfMemory));
/// ```
#[derive(Clone, Debug)]
pub struct FakeKernel {
    caps: BTreeMap<FakeCap, CapRec>,
    objs: BTreeMap<ObjId, Obj>,
    spaces: BTreeMap<ObjId, Space>,
    /// Every VSpace cap ever handed out, kept after deletion so tests can
    /// still look at a dead process's VSpace.
    vspaces: BTreeMap<FakeCap, ObjId>,
    free: u64,
    /// Derived indexes (kept out of snapshots): caps per object, and the
    /// caps derived from each cap.
    refs: BTreeMap<ObjId, usize>,
    kids: BTreeMap<FakeCap, BTreeSet<FakeCap>>,
    next: u32,
    inject: Option<(u32, KernelError)>,
    calls: u64,
    /// The most caps that may be live at once (the server's CNode slots).
    slots: usize,
    /// Every notification cap handed out (kept after deletion) and the
    /// signals each notification got (kept out of snapshots: a failed
    /// request signals nobody anyway).
    notifications: BTreeMap<FakeCap, ObjId>,
    signalled: BTreeMap<ObjId, u64>,
}

impl FakeKernel {
    /// A kernel with `bytes` of untyped memory for the server.
    ///
    /// ```
    /// assert_eq!(vmm_server::fake::FakeKernel::new(8192).free_bytes(), 8192);
    /// ```
    pub fn new(bytes: u64) -> Self {
        FakeKernel {
            caps: BTreeMap::new(),
            objs: BTreeMap::new(),
            spaces: BTreeMap::new(),
            vspaces: BTreeMap::new(),
            free: bytes,
            refs: BTreeMap::new(),
            kids: BTreeMap::new(),
            next: 1,
            inject: None,
            calls: 0,
            slots: usize::MAX,
            notifications: BTreeMap::new(),
            signalled: BTreeMap::new(),
        }
    }

    /// The same kernel with at most `slots` caps live at once, as the
    /// server's CNode has: allocations and copies past it fail with
    /// `OutOfMemory`.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Kernel, KernelError, ObjectKind, PageSize};
    /// let mut k = FakeKernel::new(1 << 20).with_slots(1);
    /// k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
    /// assert_eq!(k.alloc(ObjectKind::Frame(PageSize::Small)), Err(KernelError::OutOfMemory));
    /// ```
    pub fn with_slots(mut self, slots: usize) -> Self {
        self.slots = slots;
        self
    }

    fn slot_free(&self) -> Result<(), KernelError> {
        if self.caps.len() >= self.slots {
            Err(KernelError::OutOfMemory)
        } else {
            Ok(())
        }
    }

    /// Untyped memory left.
    ///
    /// ```
    /// assert_eq!(vmm_server::fake::FakeKernel::new(0).free_bytes(), 0);
    /// ```
    pub fn free_bytes(&self) -> u64 {
        self.free
    }

    /// Fallible invocations made so far (to size error injection).
    ///
    /// ```
    /// assert_eq!(vmm_server::fake::FakeKernel::new(0).fallible_calls(), 0);
    /// ```
    pub fn fallible_calls(&self) -> u64 {
        self.calls
    }

    /// Makes the `n`-th next fallible invocation (0 = the next one) fail
    /// with `err`, once.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Kernel, KernelError, ObjectKind, PageSize};
    /// let mut k = FakeKernel::new(1 << 20);
    /// k.fail_nth(1, KernelError::OutOfMemory);
    /// assert!(k.alloc(ObjectKind::Frame(PageSize::Small)).is_ok());
    /// assert!(k.alloc(ObjectKind::Frame(PageSize::Small)).is_err());
    /// assert!(k.alloc(ObjectKind::Frame(PageSize::Small)).is_ok());
    /// ```
    pub fn fail_nth(&mut self, n: u32, err: KernelError) {
        self.inject = Some((n, err));
    }

    /// Cancels an injected failure that has not happened yet.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// k.fail_nth(0, vmm_server::KernelError::OutOfMemory);
    /// k.clear_injection();
    /// ```
    pub fn clear_injection(&mut self) {
        self.inject = None;
    }

    /// The state, for comparing before and after a failed request.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let before = k.snapshot();
    /// k.new_vspace();
    /// assert_ne!(before, k.snapshot());
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            caps: self.caps.clone(),
            objs: self.objs.clone(),
            spaces: self.spaces.clone(),
            free: self.free,
        }
    }

    fn new_cap(&mut self, rec: CapRec) -> FakeCap {
        let c = FakeCap(self.next);
        self.next += 1;
        self.caps.insert(c, rec);
        *self.refs.entry(rec.obj).or_default() += 1;
        if let Some(p) = rec.parent {
            self.kids.entry(p).or_default().insert(c);
        }
        c
    }

    fn new_obj(&mut self, kind: Kind) -> ObjId {
        let o = ObjId(self.next);
        self.next += 1;
        self.objs.insert(o, Obj { kind, data: Vec::new(), mapped_at: None });
        o
    }

    /// A new VSpace, as the root task makes for a process and hands to the
    /// server at registration. Like a real process image, it already has the
    /// level-1 structure that covers the shared window.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.window_pages(vs).is_empty());
    /// ```
    pub fn new_vspace(&mut self) -> FakeCap {
        let vs = self.new_obj(Kind::VSpace);
        let l1 = self.new_obj(Kind::Foreign(TableLevel::L1));
        let at = TableLevel::L1.base_of(WINDOW_BASE);
        self.objs.get_mut(&l1).expect("just made").mapped_at = Some((vs, at));
        let mut space = Space::default();
        space.tables.insert((TableLevel::L1, at), l1);
        self.spaces.insert(vs, space);
        let cap = self.new_cap(CapRec { obj: vs, parent: None, mapped: None });
        self.vspaces.insert(cap, vs);
        cap
    }

    /// A cap to a new notification, as a process sends one to subscribe.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let n = k.new_notification();
    /// assert_eq!(k.signals(n), 0);
    /// ```
    pub fn new_notification(&mut self) -> FakeCap {
        let obj = self.new_obj(Kind::Notification);
        let cap = self.new_cap(CapRec { obj, parent: None, mapped: None });
        self.notifications.insert(cap, obj);
        cap
    }

    /// How often the notification `cap` was made for was signalled (even
    /// after the cap is gone).
    ///
    /// ```
    /// use vmm_server::Kernel;
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let n = k.new_notification();
    /// k.signal(n);
    /// assert_eq!(k.signals(n), 1);
    /// ```
    pub fn signals(&self, cap: FakeCap) -> u64 {
        self.notifications.get(&cap).and_then(|o| self.signalled.get(o)).copied().unwrap_or(0)
    }

    /// A cap to an object that is neither a frame, a paging structure nor a
    /// VSpace (an endpoint or a TCB, say), as a process could send one in a
    /// message; its holder keeps the object when the cap goes.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let c = k.new_other_cap();
    /// assert!(!k.is_vspace(c));
    /// ```
    pub fn new_other_cap(&mut self) -> FakeCap {
        let obj = self.new_obj(Kind::Other);
        self.new_cap(CapRec { obj, parent: None, mapped: None })
    }

    /// Whether `cap` is a VSpace cap (live or not).
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.is_vspace(vs));
    /// ```
    pub fn is_vspace(&self, cap: FakeCap) -> bool {
        self.vspaces.contains_key(&cap)
    }

    /// The object a cap names.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.object_of(vs).is_some());
    /// ```
    pub fn object_of(&self, cap: FakeCap) -> Option<ObjId> {
        self.caps.get(&cap).map(|c| c.obj)
    }

    fn space(&self, vspace: FakeCap) -> &Space {
        let id = self.vspaces.get(&vspace).expect("not a VSpace cap");
        &self.spaces[id]
    }

    /// Pages mapped in a VSpace's shared window (also after its cap went).
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert_eq!(k.window_pages(vs), vec![]);
    /// ```
    pub fn window_pages(&self, vspace: FakeCap) -> Vec<MappedPage> {
        self.space(vspace).pages.values().copied().collect()
    }

    /// Paging structures in a VSpace made from the server's memory.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert_eq!(k.server_tables(vs), vec![]);
    /// ```
    pub fn server_tables(&self, vspace: FakeCap) -> Vec<(TableLevel, u64)> {
        self.space(vspace)
            .tables
            .iter()
            .filter(|(_, o)| matches!(self.objs[o].kind, Kind::Table(_)))
            .map(|(k, _)| *k)
            .collect()
    }

    fn translate(&self, vspace: FakeCap, vaddr: u64) -> Result<(MappedPage, usize), Fault> {
        let space = self.space(vspace);
        let (_, page) = space.pages.range(..=vaddr).next_back().ok_or(Fault::NotMapped)?;
        let off = vaddr - page.vaddr;
        if off >= page.size.bytes() {
            return Err(Fault::NotMapped);
        }
        Ok((*page, off as usize))
    }

    /// Reads memory as the process owning `vspace` would.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.read_bytes(vs, 0x20_0000_0000, &mut [0; 4]).is_err());
    /// ```
    pub fn read_bytes(&self, vspace: FakeCap, vaddr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        for (i, b) in buf.iter_mut().enumerate() {
            let (page, off) = self.translate(vspace, vaddr + i as u64)?;
            *b = self.objs[&page.frame].data.get(off).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// Reads a word (little endian) as the process owning `vspace` would.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.read_u64(vs, 0).is_err());
    /// ```
    pub fn read_u64(&self, vspace: FakeCap, vaddr: u64) -> Result<u64, Fault> {
        let mut b = [0; WORD];
        self.read_bytes(vspace, vaddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a word (little endian, not crossing a page) as the process
    /// owning `vspace` would.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// assert!(k.write_u64(vs, 0, 1).is_err());
    /// ```
    pub fn write_u64(&mut self, vspace: FakeCap, vaddr: u64, value: u64) -> Result<(), Fault> {
        let (page, off) = self.translate(vspace, vaddr)?;
        if !page.rights.writable() {
            return Err(Fault::ReadOnly);
        }
        self.store(page.frame, off, &value.to_le_bytes());
        Ok(())
    }

    fn store(&mut self, frame: ObjId, off: usize, bytes: &[u8]) {
        let obj = self.objs.get_mut(&frame).expect("frame exists");
        let Kind::Frame(size) = obj.kind else { panic!("store into a non-frame") };
        if obj.data.is_empty() {
            obj.data = vec![0; size.bytes() as usize];
        }
        obj.data[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// Unmaps a page behind the server's back (the case lazy repair exists
    /// for): the mapping goes, the cap stays.
    ///
    /// ```
    /// let mut k = vmm_server::fake::FakeKernel::new(0);
    /// let vs = k.new_vspace();
    /// k.drop_mapping(vs, 0x20_0000_0000); // nothing there: no effect
    /// ```
    pub fn drop_mapping(&mut self, vspace: FakeCap, vaddr: u64) {
        let id = self.vspaces[&vspace];
        if let Some(p) = self.spaces.get_mut(&id).and_then(|s| s.pages.remove(&vaddr)) {
            if let Some(c) = self.caps.get_mut(&p.cap) {
                c.mapped = None;
            }
        }
    }

    /// Reads a frame's contents through a cap to it.
    ///
    /// ```
    /// use vmm_server::{fake::FakeKernel, Kernel, ObjectKind, PageSize};
    /// let mut k = FakeKernel::new(1 << 20);
    /// let f = k.alloc(ObjectKind::Frame(PageSize::Small)).unwrap();
    /// k.write_frame(f, 8, &[1, 2]);
    /// let mut b = [9; 3];
    /// k.read_frame(f, 7, &mut b);
    /// assert_eq!(b, [0, 1, 2]);
    /// ```
    pub fn read_frame(&self, frame: FakeCap, offset: u64, buf: &mut [u8]) {
        let data = &self.objs[&self.caps[&frame].obj].data;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = data.get(offset as usize + i).copied().unwrap_or(0);
        }
    }

    /// Every live cap.
    pub(crate) fn live_caps(&self) -> impl Iterator<Item = FakeCap> + '_ {
        self.caps.keys().copied()
    }

    fn fallible(&mut self) -> Result<(), KernelError> {
        self.calls += 1;
        match self.inject {
            Some((0, e)) => {
                self.inject = None;
                Err(e)
            }
            Some((n, e)) => {
                self.inject = Some((n - 1, e));
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn cap(&self, cap: FakeCap) -> Result<(CapRec, Kind), KernelError> {
        let rec = *self.caps.get(&cap).ok_or(KernelError::InvalidCapability)?;
        Ok((rec, self.objs[&rec.obj].kind))
    }

    fn vspace_obj(&self, cap: FakeCap) -> Result<ObjId, KernelError> {
        match self.cap(cap)? {
            (rec, Kind::VSpace) => Ok(rec.obj),
            _ => Err(KernelError::InvalidCapability),
        }
    }

    fn unmap(&mut self, cap: FakeCap) {
        if let Some((vs, va)) = self.caps.get_mut(&cap).and_then(|c| c.mapped.take()) {
            if let Some(s) = self.spaces.get_mut(&vs) {
                if s.pages.get(&va).is_some_and(|p| p.cap == cap) {
                    s.pages.remove(&va);
                }
            }
        }
    }

    /// Removes a cap; the object goes (and its memory back) with its last cap.
    fn remove_cap(&mut self, cap: FakeCap) {
        self.unmap(cap);
        let rec = self.caps.remove(&cap).expect("deleting a cap that exists");
        if let Some(p) = rec.parent {
            self.kids.entry(p).or_default().remove(&cap);
        }
        self.kids.remove(&cap);
        let refs = self.refs.entry(rec.obj).or_default();
        *refs -= 1;
        if *refs > 0 {
            return;
        }
        self.refs.remove(&rec.obj);
        let obj = &self.objs[&rec.obj];
        match obj.kind {
            // The process's own thread still holds its VSpace.
            Kind::VSpace | Kind::Foreign(_) | Kind::Other | Kind::Notification => return,
            Kind::Table(level) => {
                if let Some((vs, va)) = obj.mapped_at {
                    let space = self.spaces.get_mut(&vs).expect("space");
                    let end = va + level.span();
                    let has_tables = space
                        .tables
                        .range((TableLevel::L1, va)..)
                        .any(|((l, a), _)| *l > level && (va..end).contains(a));
                    let has_pages = space.pages.range(va..end).next().is_some();
                    assert!(!has_tables && !has_pages, "freeing a non-empty {level:?} at {va:#x}");
                    space.tables.remove(&(level, va));
                }
            }
            Kind::Frame(_) => {}
        }
        let kind = self.objs.remove(&rec.obj).expect("object").kind;
        self.free += match kind {
            Kind::Frame(s) => ObjectKind::Frame(s).bytes(),
            Kind::Table(l) => ObjectKind::Table(l).bytes(),
            Kind::VSpace | Kind::Foreign(_) | Kind::Other | Kind::Notification => 0,
        };
    }
}

/// Marks the fake kernel's own work, whose heap is the kernel's and not
/// the server's: the host tests that fail the server's allocations one by
/// one never fail these.
macro_rules! kernel_work {
    () => {
        #[cfg(test)]
        let _kernel = crate::tests::heap::KernelWork::enter();
    };
}

impl Kernel for FakeKernel {
    type Cap = FakeCap;

    fn alloc(&mut self, kind: ObjectKind) -> Result<FakeCap, KernelError> {
        kernel_work!();
        self.fallible()?;
        self.slot_free()?;
        if kind.bytes() > self.free {
            return Err(KernelError::OutOfMemory);
        }
        self.free -= kind.bytes();
        let obj = self.new_obj(match kind {
            ObjectKind::Frame(s) => Kind::Frame(s),
            ObjectKind::Table(l) => Kind::Table(l),
        });
        Ok(self.new_cap(CapRec { obj, parent: None, mapped: None }))
    }

    fn free(&mut self, cap: FakeCap) {
        kernel_work!();
        let rec = self.caps[&cap];
        assert!(rec.parent.is_none(), "free of a copy");
        assert!(self.kids.get(&cap).is_none_or(BTreeSet::is_empty), "free of a frame that still has copies");
        self.remove_cap(cap);
    }

    fn map_table(
        &mut self,
        table: FakeCap,
        level: TableLevel,
        vspace: FakeCap,
        vaddr: u64,
    ) -> Result<(), KernelError> {
        kernel_work!();
        self.fallible()?;
        let (rec, kind) = self.cap(table)?;
        if kind != Kind::Table(level) || self.objs[&rec.obj].mapped_at.is_some() {
            return Err(KernelError::InvalidCapability);
        }
        let vs = self.vspace_obj(vspace)?;
        if !vaddr.is_multiple_of(level.span()) || vaddr >= USER_TOP {
            return Err(KernelError::InvalidArgument);
        }
        let space = &self.spaces[&vs];
        if let Some(parent) = level.parent() {
            if !space.tables.contains_key(&(parent, parent.base_of(vaddr))) {
                return Err(KernelError::FailedLookup);
            }
        }
        let large_page_there =
            level == TableLevel::L3 && space.pages.get(&vaddr).is_some_and(|p| p.size == PageSize::Large);
        if space.tables.contains_key(&(level, vaddr)) || large_page_there {
            return Err(KernelError::DeleteFirst);
        }
        self.spaces.get_mut(&vs).expect("space").tables.insert((level, vaddr), rec.obj);
        self.objs.get_mut(&rec.obj).expect("obj").mapped_at = Some((vs, vaddr));
        Ok(())
    }

    fn copy(&mut self, frame: FakeCap) -> Result<FakeCap, KernelError> {
        kernel_work!();
        self.fallible()?;
        self.slot_free()?;
        let (rec, kind) = self.cap(frame)?;
        if !matches!(kind, Kind::Frame(_)) {
            return Err(KernelError::InvalidCapability);
        }
        Ok(self.new_cap(CapRec { obj: rec.obj, parent: Some(frame), mapped: None }))
    }

    fn map_frame(
        &mut self,
        frame: FakeCap,
        vspace: FakeCap,
        vaddr: u64,
        rights: Prot,
    ) -> Result<(), KernelError> {
        kernel_work!();
        self.fallible()?;
        let (rec, kind) = self.cap(frame)?;
        let Kind::Frame(size) = kind else {
            return Err(KernelError::InvalidCapability);
        };
        // A frame cap maps once: each mapping needs its own copy.
        if rec.mapped.is_some() {
            return Err(KernelError::InvalidCapability);
        }
        let vs = self.vspace_obj(vspace)?;
        if !vaddr.is_multiple_of(size.bytes()) || vaddr >= USER_TOP {
            return Err(KernelError::InvalidArgument);
        }
        let space = &self.spaces[&vs];
        let table = size.table();
        if !space.tables.contains_key(&(table, table.base_of(vaddr))) {
            return Err(KernelError::FailedLookup);
        }
        let pt_there = size == PageSize::Large && space.tables.contains_key(&(TableLevel::L3, vaddr));
        if space.pages.contains_key(&vaddr) || pt_there {
            return Err(KernelError::DeleteFirst);
        }
        let page = MappedPage { vaddr, size, rights, frame: rec.obj, cap: frame };
        self.spaces.get_mut(&vs).expect("space").pages.insert(vaddr, page);
        self.caps.get_mut(&frame).expect("cap").mapped = Some((vs, vaddr));
        Ok(())
    }

    fn delete(&mut self, cap: FakeCap) {
        kernel_work!();
        self.remove_cap(cap);
    }

    fn signal(&mut self, cap: FakeCap) {
        kernel_work!();
        if let Ok((rec, Kind::Notification)) = self.cap(cap) {
            *self.signalled.entry(rec.obj).or_insert(0) += 1;
        }
    }

    fn revoke(&mut self, frame: FakeCap) {
        kernel_work!();
        let children = self.kids.remove(&frame).unwrap_or_default();
        for c in children {
            self.revoke(c);
            self.remove_cap(c);
        }
    }

    fn write_frame(&mut self, frame: FakeCap, offset: u64, bytes: &[u8]) {
        kernel_work!();
        let obj = self.caps[&frame].obj;
        self.store(obj, offset as usize, bytes);
    }
}
