//! The IPC protocol between the memory manager and its clients: the one
//! definition both sides use.
//!
//! A seL4 5.0 message carries a 20-bit label and up to
//! [`MSG_MAX_WORDS`] 64-bit message registers; the receiver also learns the
//! 28-bit badge of the endpoint cap the sender used, which the sender cannot
//! forge. Requests put their [`Op`] in the label and typed fields in the
//! words, in a fixed order documented on each [`Request`] variant. Responses
//! use label 0 for success (the words then start with a [`Reply`] tag) and
//! the [`Error::code`] otherwise.
//!
//! Every request is one row of a table (see [`Request`]): its label,
//! sender, cap count, fields and the type its success returns. The
//! encoding, the strict decoding, the server's [`Handler`] trait and the
//! typed [`Client`] calls all follow from the rows. The supervisor's own
//! calls are a second table of the same kind, in [`supervisor`].
//!
//! Decoding is strict: unknown labels, short or long messages, bad enum
//! values, non-zero reserved bits and invalid names are all refused, each
//! with its own error, so that a hostile client learns exactly what it did
//! wrong and nothing half-decoded ever reaches the server's logic.
//!
//! # Example
//! ```
//! use libshm::protocol::{Request, ObjectId, MSG_MAX_WORDS};
//! let req = Request::GetRoot { object: ObjectId(7) };
//! let mut words = [0u64; MSG_MAX_WORDS];
//! let (label, len) = req.encode(&mut words);
//! assert_eq!(Request::decode(label, &words[..len]), Ok(req));
//! ```

use core::fmt;

pub mod supervisor;
mod table;
#[cfg(test)]
mod tests;
mod wire;

use table::protocol;

/// Message registers in one seL4 IPC message (`seL4_MsgMaxLength`).
pub const MSG_MAX_WORDS: usize = 120;
const _: () = assert!(MSG_MAX_WORDS == 120);
/// Bits of the message label in seL4 5.0 (`seL4_MessageInfo.label`).
///
/// ```
/// assert!(libshm::protocol::Error::OutOfMemory.code() < 1 << libshm::protocol::LABEL_BITS);
/// ```
pub const LABEL_BITS: u32 = 20;
/// Bits of an endpoint badge in seL4 5.0 (`seL4_BadgeBits`).
///
/// ```
/// assert!(libshm::protocol::Badge::SUPERVISOR.encode() < 1 << libshm::protocol::BADGE_BITS);
/// ```
pub const BADGE_BITS: u32 = 28;
/// Longest name or alias, in bytes.
pub const NAME_MAX: usize = 32;
const _: () = assert!(NAME_MAX == 32);
/// Message words a [`Name`] takes.
pub const NAME_WORDS: usize = NAME_MAX / WORD_BYTES;
const _: () = assert!(NAME_WORDS * 8 == NAME_MAX);
const WORD_BYTES: usize = 8;

/// A process id: a small number chosen by the supervisor (the root task).
pub type Pid = u16;

/// Bits of a generation (what the badge has room for).
pub const GENERATION_BITS: u32 = 11;
const _: () = assert!(GENERATION_BITS == 11);
const GENERATION_MASK: u16 = (1 << GENERATION_BITS) - 1;

/// One incarnation of a process: its pid and the generation that changes on
/// every restart, so a restarted process is a new identity and anything
/// naming the old one gets a clear "stale" error.
///
/// ```
/// use libshm::protocol::TaskId;
/// let t = TaskId::new(3, 0).unwrap();
/// assert_eq!(t.next_generation(), TaskId::new(3, 1));
/// assert!(TaskId::new(3, 1 << 11).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    pid: Pid,
    generation: u16,
}

impl TaskId {
    /// A task id, `None` if `generation` does not fit [`GENERATION_BITS`].
    ///
    /// ```
    /// assert!(libshm::protocol::TaskId::new(1, 2).is_some());
    /// ```
    pub const fn new(pid: Pid, generation: u16) -> Option<Self> {
        if generation & !GENERATION_MASK != 0 {
            return None;
        }
        Some(TaskId { pid, generation })
    }

    /// The process id.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::TaskId::new(9, 0).unwrap().pid(), 9);
    /// ```
    pub const fn pid(self) -> Pid {
        self.pid
    }

    /// The generation.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::TaskId::new(9, 4).unwrap().generation(), 4);
    /// ```
    pub const fn generation(self) -> u16 {
        self.generation
    }

    /// The same pid's next incarnation; `None` when its generations are
    /// used up (they never wrap: an identity is never handed out twice).
    ///
    /// ```
    /// use libshm::protocol::TaskId;
    /// assert_eq!(TaskId::new(1, 2046).unwrap().next_generation(), TaskId::new(1, 2047));
    /// assert_eq!(TaskId::new(1, 2047).unwrap().next_generation(), None);
    /// ```
    pub const fn next_generation(self) -> Option<Self> {
        TaskId::new(self.pid, self.generation + 1)
    }

    pub(crate) fn to_word(self) -> u64 {
        u64::from(self.pid) | u64::from(self.generation) << 16
    }

    pub(crate) fn from_word(w: u64) -> Result<Self, Error> {
        if w >> 32 != 0 {
            return Err(Error::BadValue);
        }
        TaskId::new(w as u16, (w >> 16) as u16).ok_or(Error::BadValue)
    }
}

/// Who sent a message, from the badge the kernel delivered with it.
///
/// Badge layout (28 bits, seL4 5.0): bits 0..=15 pid, bits 16..=26
/// generation, bit 27 set for every process badge. The supervisor's badge is
/// the value 1 (bit 27 clear); every other value is invalid. No valid badge is
/// 0, which seL4 reserves for "unbadged".
///
/// ```
/// use libshm::protocol::{Badge, TaskId};
/// let b = Badge::Process(TaskId::new(5, 2).unwrap());
/// assert_eq!(Badge::decode(b.encode()), Ok(b));
/// assert_eq!(Badge::decode(Badge::SUPERVISOR.encode()), Ok(Badge::Supervisor));
/// assert!(Badge::decode(0).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Badge {
    /// The root task.
    Supervisor,
    /// A registered process.
    Process(TaskId),
}

const BADGE_PROCESS_BIT: u64 = 1 << (BADGE_BITS - 1);
const BADGE_SUPERVISOR_VALUE: u64 = 1;

impl Badge {
    /// The supervisor's badge, as a constant.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Badge::SUPERVISOR.encode(), 1);
    /// ```
    pub const SUPERVISOR: Badge = Badge::Supervisor;

    /// The badge value to mint on this sender's endpoint cap.
    ///
    /// ```
    /// use libshm::protocol::{Badge, TaskId};
    /// assert_ne!(Badge::Process(TaskId::new(0, 0).unwrap()).encode(), 0);
    /// ```
    pub fn encode(self) -> u64 {
        match self {
            Badge::Supervisor => BADGE_SUPERVISOR_VALUE,
            Badge::Process(t) => BADGE_PROCESS_BIT | t.to_word(),
        }
    }

    /// The sender of a received badge; [`Error::BadBadge`] for values no one
    /// was given.
    ///
    /// ```
    /// use libshm::protocol::{Badge, Error};
    /// assert_eq!(Badge::decode(1 << 28), Err(Error::BadBadge));
    /// ```
    pub fn decode(badge: u64) -> Result<Badge, Error> {
        if badge == BADGE_SUPERVISOR_VALUE {
            return Ok(Badge::Supervisor);
        }
        if badge >> BADGE_BITS != 0 || badge & BADGE_PROCESS_BIT == 0 {
            return Err(Error::BadBadge);
        }
        TaskId::from_word(badge & !BADGE_PROCESS_BIT).map(Badge::Process).map_err(|_| Error::BadBadge)
    }
}

/// A name of a shared object, or a process alias: 1 to [`NAME_MAX`] bytes
/// of printable ASCII without spaces (`'!'..='~'`).
///
/// ASCII rather than UTF-8 so that two names are equal exactly when their
/// bytes are (no normalisation questions) and every name prints in a log.
/// On the wire it takes [`NAME_WORDS`] words, bytes in order, little endian,
/// padded with zero bytes.
///
/// ```
/// use libshm::protocol::Name;
/// let n = Name::new("spreadsheet").unwrap();
/// assert_eq!(n.as_str(), "spreadsheet");
/// assert_eq!(Name::from_words(&n.to_words()), Ok(n));
/// assert!(Name::new("two words").is_err());
/// assert!(Name::new("").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl Name {
    /// Checks and stores a name; [`Error::BadName`] if it is empty, too long
    /// or has a byte outside `'!'..='~'`.
    ///
    /// ```
    /// assert!(libshm::protocol::Name::new("é").is_err());
    /// ```
    pub fn new(s: &str) -> Result<Name, Error> {
        Name::from_bytes(s.as_bytes())
    }

    /// Like [`Name::new`], from bytes.
    ///
    /// ```
    /// assert!(libshm::protocol::Name::from_bytes(b"table-1").is_ok());
    /// ```
    pub fn from_bytes(b: &[u8]) -> Result<Name, Error> {
        if b.is_empty() || b.len() > NAME_MAX || !b.iter().all(u8::is_ascii_graphic) {
            return Err(Error::BadName);
        }
        let mut bytes = [0; NAME_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Name { len: b.len() as u8, bytes })
    }

    /// The name's text.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Name::new("a").unwrap().as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ASCII was ever accepted, so this cannot fail.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The name's bytes.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Name::new("ab").unwrap().as_bytes(), b"ab");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The name padded with zeros to [`NAME_MAX`] bytes (its wire and header
    /// form).
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Name::new("a").unwrap().padded()[1], 0);
    /// ```
    pub fn padded(&self) -> &[u8; NAME_MAX] {
        &self.bytes
    }

    /// Reads a zero-padded name (the inverse of [`Name::padded`]).
    ///
    /// ```
    /// use libshm::protocol::Name;
    /// assert!(Name::from_padded(&[0; 32]).is_err());
    /// ```
    pub fn from_padded(p: &[u8; NAME_MAX]) -> Result<Name, Error> {
        let len = p.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        if p[len..].iter().any(|&b| b != 0) {
            return Err(Error::BadName);
        }
        Name::from_bytes(&p[..len])
    }

    /// The wire form.
    ///
    /// ```
    /// let w = libshm::protocol::Name::new("ab").unwrap().to_words();
    /// assert_eq!(w, [0x6261, 0, 0, 0]);
    /// ```
    pub fn to_words(&self) -> [u64; NAME_WORDS] {
        core::array::from_fn(|i| {
            let mut w = [0; WORD_BYTES];
            w.copy_from_slice(&self.bytes[i * WORD_BYTES..][..WORD_BYTES]);
            u64::from_le_bytes(w)
        })
    }

    /// Reads the wire form; [`Error::BadName`] for an empty name, a bad byte
    /// or a non-zero byte after the padding started.
    ///
    /// ```
    /// use libshm::protocol::{Error, Name};
    /// assert_eq!(Name::from_words(&[0x61_00_62, 0, 0, 0]), Err(Error::BadName));
    /// ```
    pub fn from_words(words: &[u64; NAME_WORDS]) -> Result<Name, Error> {
        let mut p = [0; NAME_MAX];
        for (chunk, w) in p.chunks_exact_mut(WORD_BYTES).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        Name::from_padded(&p)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// POSIX `PROT_NONE`.
pub const PROT_NONE: u64 = 0;
const _: () = assert!(PROT_NONE == 0);
/// POSIX `PROT_READ`.
pub const PROT_READ: u64 = 1;
const _: () = assert!(PROT_READ == 1);
/// POSIX `PROT_WRITE`.
pub const PROT_WRITE: u64 = 2;
const _: () = assert!(PROT_WRITE == 2);

/// Access rights to a shared object or one mapping of it; `None < Read <
/// ReadWrite`. Write-only is not a right anyone can hold (neither arch maps
/// pages write-only), and execute is not offered.
///
/// ```
/// use libshm::protocol::Prot;
/// assert!(Prot::ReadWrite.allows(Prot::Read));
/// assert!(!Prot::Read.allows(Prot::ReadWrite));
/// assert_eq!(Prot::from_bits(3), Ok(Prot::ReadWrite));
/// assert_eq!(Prot::from_bits(0), Ok(Prot::None));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prot {
    /// `PROT_NONE`: attached, but nothing is mapped and any touch faults
    /// (the supervisor reports an access violation).
    None,
    /// `PROT_READ`.
    Read,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

impl Prot {
    /// The POSIX bits.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Prot::Read.bits(), 1);
    /// ```
    pub const fn bits(self) -> u64 {
        match self {
            Prot::None => PROT_NONE,
            Prot::Read => PROT_READ,
            Prot::ReadWrite => PROT_READ | PROT_WRITE,
        }
    }

    /// From POSIX bits; [`Error::BadValue`] for anything but `PROT_NONE`,
    /// `PROT_READ` or `PROT_READ | PROT_WRITE`.
    ///
    /// ```
    /// assert!(libshm::protocol::Prot::from_bits(2).is_err());
    /// ```
    pub const fn from_bits(bits: u64) -> Result<Prot, Error> {
        match bits {
            PROT_NONE => Ok(Prot::None),
            PROT_READ => Ok(Prot::Read),
            b if b == PROT_READ | PROT_WRITE => Ok(Prot::ReadWrite),
            _ => Err(Error::BadValue),
        }
    }

    /// Whether holding `self` covers `other`.
    ///
    /// ```
    /// assert!(libshm::protocol::Prot::Read.allows(libshm::protocol::Prot::Read));
    /// ```
    pub fn allows(self, other: Prot) -> bool {
        self >= other
    }

    /// Whether writes are allowed.
    ///
    /// ```
    /// assert!(libshm::protocol::Prot::ReadWrite.writable());
    /// ```
    pub const fn writable(self) -> bool {
        matches!(self, Prot::ReadWrite)
    }
}

/// How the processes attached to an object relate (patent ¶10, ¶11).
///
/// ```
/// use libshm::protocol::Mode;
/// assert_eq!(Mode::from_word(1), Ok(Mode::ClientServer));
/// assert!(Mode::from_word(2).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every attached process may read, write, grow, shrink and map into the
    /// others.
    Peer = 0,
    /// Only the owner (the creator's pid, across its restarts) may grow,
    /// shrink, destroy and map into others; clients read and write as their
    /// rights say.
    ClientServer = 1,
}

impl Mode {
    /// From its wire value.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Mode::from_word(0), Ok(libshm::protocol::Mode::Peer));
    /// ```
    pub const fn from_word(w: u64) -> Result<Mode, Error> {
        match w {
            0 => Ok(Mode::Peer),
            1 => Ok(Mode::ClientServer),
            _ => Err(Error::BadValue),
        }
    }
}

/// A shared object's global id: the patent's `fd`. Chosen by the server; a
/// destroyed object's id is never reused for the next one in its slot (the
/// server puts a generation in the upper bits).
///
/// ```
/// let id = libshm::protocol::ObjectId(0x0001_0002);
/// assert_eq!(format!("{id:?}"), "ObjectId(65538)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u32);

/// POSIX `MAP_SHARED`.
pub const MAP_SHARED: u64 = 0x01;
const _: () = assert!(MAP_SHARED == 1);
/// POSIX `MAP_FIXED`: the address is not a hint. Every mapping of an object
/// is at the object's one address (the patent's rule, so that pointers
/// inside it work in every peer), so with `MAP_FIXED` the address must be
/// that one ([`Error::WrongAddress`] otherwise); without it the address is
/// ignored.
pub const MAP_FIXED: u64 = 0x10;
const _: () = assert!(MAP_FIXED == 0x10);

/// The `flags` of `mmap_peer`: `MAP_SHARED`, optionally with `MAP_FIXED`.
/// Anything else (`MAP_PRIVATE`, unknown bits) is refused.
///
/// ```
/// use libshm::protocol::{MapFlags, MAP_SHARED, MAP_FIXED};
/// assert!(MapFlags::from_bits(MAP_SHARED | MAP_FIXED).is_ok());
/// assert!(MapFlags::from_bits(0x02).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapFlags(u64);

impl MapFlags {
    /// Plain `MAP_SHARED`.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::MapFlags::SHARED.bits(), 1);
    /// ```
    pub const SHARED: MapFlags = MapFlags(MAP_SHARED);

    /// Checks the bits.
    ///
    /// ```
    /// assert!(libshm::protocol::MapFlags::from_bits(0).is_err());
    /// ```
    pub const fn from_bits(bits: u64) -> Result<MapFlags, Error> {
        if bits & MAP_SHARED == 0 || bits & !(MAP_SHARED | MAP_FIXED) != 0 {
            return Err(Error::BadValue);
        }
        Ok(MapFlags(bits))
    }

    /// The bits.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::MapFlags::SHARED.bits(), libshm::protocol::MAP_SHARED);
    /// ```
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `MAP_FIXED` is set.
    ///
    /// ```
    /// use libshm::protocol::{MapFlags, MAP_FIXED, MAP_SHARED};
    /// assert!(MapFlags::from_bits(MAP_SHARED | MAP_FIXED).unwrap().is_fixed());
    /// assert!(!MapFlags::SHARED.is_fixed());
    /// ```
    pub const fn is_fixed(self) -> bool {
        self.0 & MAP_FIXED != 0
    }
}

/// The process a peer operation is for: the patent's `pid_t pid`, which may
/// also be an alias (patent ¶40, ¶44).
///
/// On the wire: a tag word (0 pid, 1 exact task, 2 alias) and [`NAME_WORDS`]
/// value words (the pid or task id in the first, the rest zero; or the name).
///
/// ```
/// use libshm::protocol::{Name, Target};
/// let t = Target::Alias(Name::new("viewer").unwrap());
/// assert_ne!(t, Target::Pid(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The current incarnation of a pid; pid 0 names the caller (as in
    /// QNX), see [`Target::CALLER`].
    Pid(Pid),
    /// Exactly this incarnation: a restarted process is refused as stale.
    Task(TaskId),
    /// The process that registered this alias.
    Alias(Name),
}

impl Target {
    /// The caller itself: pid 0.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Target::CALLER, libshm::protocol::Target::Pid(0));
    /// ```
    pub const CALLER: Target = Target::Pid(0);
}

/// Who may send a request.
///
/// ```
/// use libshm::protocol::{ObjectId, Request, Sender};
/// assert_eq!(Request::Stat { object: ObjectId(1) }.sender(), Sender::Process);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// Any registered process.
    Process,
    /// Only the supervisor (the root task).
    Supervisor,
}

impl Sender {
    /// The error a request gets when sent by the wrong kind of caller: a
    /// process asking for a supervisor's operation, or the reverse.
    ///
    /// ```
    /// use libshm::protocol::{Error, Sender};
    /// assert_eq!(Sender::Supervisor.refusal(), Error::NotSupervisor);
    /// ```
    pub const fn refusal(self) -> Error {
        match self {
            Sender::Supervisor => Error::NotSupervisor,
            Sender::Process => Error::UnknownProcess,
        }
    }
}

protocol! {
    callers { Process, Supervisor }

    /// A decoded request. Field order on the wire is the order written here,
    /// one word each, except names ([`NAME_WORDS`] words) and targets
    /// ([`Target`]'s layout).
    ///
    /// ```
    /// use libshm::protocol::*;
    /// let req = Request::Create {
    ///     name: Name::new("table").unwrap(),
    ///     mode: Mode::ClientServer,
    ///     size: 4096,
    ///     max_size: 1 << 20,
    ///     client_prot: Prot::Read,
    /// };
    /// let mut w = [0; MSG_MAX_WORDS];
    /// let (label, len) = req.encode(&mut w);
    /// assert_eq!(label, Op::Create.label());
    /// assert_eq!(Request::decode(label, &w[..len]), Ok(req));
    /// assert_eq!(Request::decode(label, &w[..len - 1]), Err(Error::ShortMessage));
    /// ```
    enum Request;

    /// The memory manager's side: a method per request, given the caller
    /// (a live process's [`TaskId`], or the supervisor) and the fields.
    /// [`Request::serve`] calls the right one.
    ///
    /// ```
    /// use libshm::protocol::*;
    /// /// Knows one object and nothing else.
    /// struct One;
    /// impl Handler for One {
    ///     type Process = TaskId;
    ///     type Supervisor = ();
    ///     fn open(&mut self, _: TaskId, name: Name) -> Result<ObjectInfo, Error> {
    ///         let info = ObjectInfo { id: ObjectId(1), mode: Mode::Peer, base: 1 << 37, size: 4096, max_size: 4096 };
    ///         if name.as_str() == "one" { Ok(info) } else { Err(Error::UnknownName) }
    ///     }
    ///     // ...and every other request refused:
    ///     # fn register_alias(&mut self, _: TaskId, _: Name) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn lookup_alias(&mut self, _: TaskId, _: Name) -> Result<TaskId, Error> { Err(Error::NotPermitted) }
    ///     # fn create(&mut self, _: TaskId, _: Name, _: Mode, _: u64, _: u64, _: Prot) -> Result<ObjectInfo, Error> { Err(Error::NotPermitted) }
    ///     # fn attach(&mut self, _: TaskId, _: ObjectId, _: Prot) -> Result<AttachInfo, Error> { Err(Error::NotPermitted) }
    ///     # fn detach(&mut self, _: TaskId, _: ObjectId) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn mmap_peer(&mut self, _: TaskId, _: Target, _: u64, _: u64, _: Prot, _: MapFlags, _: ObjectId, _: u64) -> Result<u64, Error> { Err(Error::NotPermitted) }
    ///     # fn munmap_peer(&mut self, _: TaskId, _: Target, _: u64, _: u64) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn grow(&mut self, _: TaskId, _: ObjectId, _: u64) -> Result<u64, Error> { Err(Error::NotPermitted) }
    ///     # fn shrink(&mut self, _: TaskId, _: ObjectId, _: u64) -> Result<u64, Error> { Err(Error::NotPermitted) }
    ///     # fn set_root(&mut self, _: TaskId, _: ObjectId, _: u64) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn get_root(&mut self, _: TaskId, _: ObjectId) -> Result<u64, Error> { Err(Error::NotPermitted) }
    ///     # fn stat(&mut self, _: TaskId, _: ObjectId) -> Result<ObjectStat, Error> { Err(Error::NotPermitted) }
    ///     # fn destroy(&mut self, _: TaskId, _: ObjectId) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn attach_lazy(&mut self, _: TaskId, _: ObjectId, _: Prot) -> Result<AttachInfo, Error> { Err(Error::NotPermitted) }
    ///     # fn register_process(&mut self, _: (), _: TaskId, _: Option<Name>, _: Budget) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn server_stats(&mut self, _: TaskId) -> Result<ServerStats, Error> { Err(Error::NotPermitted) }
    ///     # fn subscribe(&mut self, _: TaskId, _: ObjectId) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn unregister_process(&mut self, _: (), _: TaskId) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     # fn resolve_fault(&mut self, _: (), _: TaskId, _: u64, _: bool) -> Result<FaultOutcome, Error> { Err(Error::NotPermitted) }
    /// }
    /// let me = TaskId::new(1, 0).unwrap();
    /// let r = Request::Open { name: Name::new("one").unwrap() }.serve(&mut One, Caller::Process(me));
    /// assert!(matches!(r, Ok(Reply::Open(ObjectInfo { id: ObjectId(1), .. }))));
    /// let r = Request::UnregisterProcess { task: me }.serve(&mut One, Caller::Process(me));
    /// assert_eq!(r, Err(Error::NotSupervisor));
    /// ```
    trait Handler;

    /// The sender's side: a typed method per request over one
    /// [`exchange`](Client::exchange) of words. On seL4, `libshm::client::Ipc`
    /// is the client; here, one that answers every call with an error:
    ///
    /// ```
    /// use libshm::protocol::*;
    /// struct Busy;
    /// impl Client for Busy {
    ///     fn exchange(&mut self, _: u64, _: &mut [u64; MSG_MAX_WORDS], _: usize, _: usize) -> (u64, usize) {
    ///         (Error::ObjectBusy.code(), 0)
    ///     }
    /// }
    /// assert_eq!(Busy.destroy(ObjectId(1)), Err(Error::ObjectBusy));
    /// assert_eq!(Busy.grow(ObjectId(1), 8192), Err(Error::ObjectBusy));
    /// ```
    trait Client;

    /// Give the caller `name` as its alias (replacing any it had).
    RegisterAlias = 1, fn register_alias, from Process, caps 0 {
        /// The alias.
        name: Name,
    } -> ();

    /// The task registered under an alias.
    LookupAlias = 2, fn lookup_alias, from Process, caps 0 {
        /// The alias.
        name: Name,
    } -> TaskId;

    /// Create an object named `name`; the caller becomes its owner (and is
    /// not yet attached).
    Create = 3, fn create, from Process, caps 0 {
        /// Its name, unique among live objects.
        name: Name,
        /// Peer or client-server.
        mode: Mode,
        /// Initial size in bytes, page-aligned, at least one page (the header).
        size: u64,
        /// Largest size it may grow to: its reservation in the window.
        max_size: u64,
        /// Client-server: the widest rights a client may attach itself with.
        /// Peer mode: must be `ReadWrite` (all peers are equal).
        client_prot: Prot,
    } -> ObjectInfo;

    /// Find a live object by name.
    Open = 4, fn open, from Process, caps 0 {
        /// Its name.
        name: Name,
    } -> ObjectInfo;

    /// Attach the caller: maps every current page at the object's address.
    Attach = 5, fn attach, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The rights asked for.
        prot: Prot,
    } -> AttachInfo;

    /// Detach the caller: unmaps all of the object from it.
    Detach = 6, fn detach, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    } -> ();

    /// `mmap_peer(pid, addr, len, prot, flags, fd, off)`.
    MmapPeer = 7, fn mmap_peer, from Process, caps 0 {
        /// The process to map into (`pid`).
        target: Target,
        /// The object's address plus `offset`, or 0 meaning exactly that.
        addr: u64,
        /// Bytes, page-aligned.
        len: u64,
        /// Rights of the new mappings.
        prot: Prot,
        /// `MAP_SHARED` (optionally `MAP_FIXED`).
        flags: MapFlags,
        /// The object (`fd`).
        object: ObjectId,
        /// Offset in the object, page-aligned.
        offset: u64,
    } -> u64;

    /// `munmap_peer(pid, addr, len)`.
    MunmapPeer = 8, fn munmap_peer, from Process, caps 0 {
        /// The process to unmap from.
        target: Target,
        /// Page-aligned address inside one object.
        addr: u64,
        /// Bytes, page-aligned.
        len: u64,
    } -> ();

    /// Grow an object to `new_size` bytes, mapping the new pages into every
    /// attached process before replying.
    Grow = 9, fn grow, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The new size: larger than the current one, page-aligned.
        new_size: u64,
    } -> u64;

    /// Shrink an object to `new_size` bytes; the cut pages leave every
    /// process at once. A 2 MiB frame goes whole or not at all, so the new
    /// size must not fall inside one; a root offset past the new end is
    /// reset to 0.
    Shrink = 10, fn shrink, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The new size: smaller, page-aligned, at least the header page.
        new_size: u64,
    } -> u64;

    /// Record the offset of the data structure's root in the header.
    SetRoot = 11, fn set_root, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// An offset inside the object.
        offset: u64,
    } -> ();

    /// The root offset.
    GetRoot = 12, fn get_root, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    } -> u64;

    /// Describe an object.
    Stat = 13, fn stat, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    } -> ObjectStat;

    /// Destroy an object that no other process is attached to.
    Destroy = 14, fn destroy, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    } -> ();

    /// Attach the caller lazily: only the header page is mapped now; every
    /// other page it is entitled to is mapped by the memory manager on the
    /// first touch (the supervisor forwards the fault), with no message to
    /// the app. For a process that touches little of a large object, and
    /// the documented way to reach lazy repair.
    AttachLazy = 15, fn attach_lazy, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The rights asked for.
        prot: Prot,
    } -> AttachInfo;

    /// How much of its heap and cap slots the memory manager uses, now and
    /// at most.
    ServerStats = 16, fn server_stats, from Process, caps 0 {} -> ServerStats;

    /// Be woken on a change of an object this process is attached to:
    /// exactly one cap travels with the message, a notification (the
    /// process's own, `layout::slots::NOTIFICATION`). After every grow,
    /// shrink and `set_root` of the object, once the change is mapped and
    /// before the call returns, the memory manager signals it; signalling
    /// never blocks, so a subscriber that never waits costs nobody
    /// anything. A new subscription replaces the old; detaching ends it.
    /// It costs the subscriber a cap slot of its budget.
    Subscribe = 17, fn subscribe, from Process, caps 1 {
        /// The object to be woken on changes of.
        object: ObjectId,
    } -> ();

    /// Supervisor only: register a process. Exactly one cap (its VSpace root)
    /// must travel with the message.
    RegisterProcess = 32, fn register_process, from Supervisor, caps 1 {
        /// The new incarnation.
        task: TaskId,
        /// Its alias, if any.
        alias: Option<Name>,
        /// What it may use; refused with `BudgetUnavailable` if the memory
        /// manager has promised too much of it to others.
        budget: Budget,
    } -> ();

    /// Supervisor only: a process died; forget it.
    UnregisterProcess = 33, fn unregister_process, from Supervisor, caps 0 {
        /// The incarnation that died.
        task: TaskId,
    } -> ();

    /// Supervisor only: `task` took a VM fault at `addr`. The reply says
    /// whether the page is mapped again (resume the thread) or, if not, why.
    ResolveFault = 34, fn resolve_fault, from Supervisor, caps 0 {
        /// The incarnation that faulted.
        task: TaskId,
        /// The faulting address.
        addr: u64,
        /// Whether the access was a write.
        write: bool,
    } -> FaultOutcome;
}

/// An object's identity and geometry.
///
/// ```
/// use libshm::protocol::{Mode, ObjectId, ObjectInfo};
/// let i = ObjectInfo { id: ObjectId(1), mode: Mode::Peer, base: 1 << 37, size: 4096, max_size: 8192 };
/// assert_eq!(i.size, 4096);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its id (`fd`).
    pub id: ObjectId,
    /// Its mode.
    pub mode: Mode,
    /// Its address in the window.
    pub base: u64,
    /// Current size.
    pub size: u64,
    /// Largest size.
    pub max_size: u64,
}

/// [`ObjectInfo`] plus what the caller may want to know before attaching.
///
/// ```
/// use libshm::protocol::*;
/// let info = ObjectInfo { id: ObjectId(1), mode: Mode::Peer, base: 1 << 37, size: 4096, max_size: 8192 };
/// let s = ObjectStat { info, root: 0, attached: 2, rights: Some(Prot::ReadWrite), owner: 3 };
/// assert_eq!(s.attached, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectStat {
    /// Identity and geometry.
    pub info: ObjectInfo,
    /// Root offset.
    pub root: u64,
    /// Number of attached processes.
    pub attached: u16,
    /// The caller's rights, if it is attached.
    pub rights: Option<Prot>,
    /// The owner's pid.
    pub owner: Pid,
}

/// Why the memory manager did not repair a fault in the shared window (the
/// supervisor then reports it and tears the process down).
///
/// ```
/// use libshm::protocol::FaultReason;
/// assert_eq!(FaultReason::from_word(FaultReason::NotMapped as u64), Ok(FaultReason::NotMapped));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultReason {
    /// The pid is not registered.
    UnknownProcess = 1,
    /// The faulting incarnation is not the registered one.
    StaleGeneration = 2,
    /// The address is outside the shared window.
    OutsideWindow = 3,
    /// No object is placed at the address.
    NoObject = 4,
    /// The process is not attached to the object there.
    NotAttached = 5,
    /// Past the object's current size (e.g. removed by a shrink).
    OutsideObject = 6,
    /// The page was unmapped from this process (`munmap_peer`) or never
    /// given to it.
    NotMapped = 7,
    /// A write to a page mapped read-only (the header, or read-only rights),
    /// or any touch with `PROT_NONE` rights.
    AccessViolation = 8,
    /// The page should be mapped but the kernel refused to map it again.
    RepairFailed = 9,
}

impl FaultReason {
    const ALL: [FaultReason; 9] = [
        FaultReason::UnknownProcess,
        FaultReason::StaleGeneration,
        FaultReason::OutsideWindow,
        FaultReason::NoObject,
        FaultReason::NotAttached,
        FaultReason::OutsideObject,
        FaultReason::NotMapped,
        FaultReason::AccessViolation,
        FaultReason::RepairFailed,
    ];

    /// The reason a wire word names; [`Error::BadValue`] for any other word.
    pub fn from_word(w: u64) -> Result<FaultReason, Error> {
        Self::ALL.into_iter().find(|r| *r as u64 == w).ok_or(Error::BadValue)
    }
}

/// Where an attached object is: what `Attach` and `AttachLazy` return.
///
/// ```
/// let a = libshm::protocol::AttachInfo { base: 1 << 37, size: 8192, root: 4096 };
/// assert!(a.root < a.size);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachInfo {
    /// The object's address (the same in every process).
    pub base: u64,
    /// Its current size.
    pub size: u64,
    /// The root offset (patent ¶19, ¶49).
    pub root: u64,
}

/// What the memory manager promises one process, set by the system
/// description (or, for a process spawned by program, by its spawner) and
/// sent with `RegisterProcess`. The memory manager registers a process only
/// if its budget fits in what it has not yet promised to others, and
/// refuses anything that would take the process past it with an `ENOMEM`
/// error naming the resource; so no process can ever take what another was
/// promised.
///
/// ```
/// use libshm::protocol::Budget;
/// let big = Budget { memory: 64 << 20, ..Budget::DEFAULT };
/// assert!(Budget::DEFAULT.fits_in(&big));
/// assert!(!big.fits_in(&Budget::DEFAULT));
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of frames of the objects it creates or grows.
    pub memory: u64,
    /// Bytes of paging structures made in VSpaces for mappings it causes.
    pub tables: u64,
    /// Cap slots of the memory manager: a frame's cap, a mapping's copy
    /// and a paging structure's cap take one each.
    pub slots: u64,
    /// Records of what its VSpace holds: a mapping each, and a run of
    /// pages pending (a lazy attachment's) each.
    pub mappings: u64,
    /// Objects it owns.
    pub objects: u64,
    /// Bytes of the shared window its objects reserve (their maximum
    /// sizes, in whole 2 MiB).
    pub window: u64,
}

impl Budget {
    /// A process's budget when nothing else is said: room for a few
    /// objects of a few MiB, or many attachments to others' objects.
    pub const DEFAULT: Budget = Budget {
        memory: crate::layout::PROCESS_QUOTA_BYTES,
        tables: crate::layout::PROCESS_TABLE_BUDGET,
        slots: crate::layout::PROCESS_SLOT_BUDGET,
        mappings: crate::layout::MAX_MAPPINGS_PER_PROCESS as u64,
        objects: crate::layout::PROCESS_OBJECT_BUDGET,
        window: crate::layout::PROCESS_WINDOW_BUDGET,
    };

    /// Nothing at all.
    pub const NONE: Budget = Budget { memory: 0, tables: 0, slots: 0, mappings: 0, objects: 0, window: 0 };

    /// Every field at most `other`'s.
    pub const fn fits_in(&self, other: &Budget) -> bool {
        self.memory <= other.memory
            && self.tables <= other.tables
            && self.slots <= other.slots
            && self.mappings <= other.mappings
            && self.objects <= other.objects
            && self.window <= other.window
    }

    /// The field-by-field larger of the two.
    ///
    /// ```
    /// use libshm::protocol::Budget;
    /// let a = Budget { memory: 1, ..Budget::NONE };
    /// let b = Budget { slots: 2, ..Budget::NONE };
    /// assert_eq!(a.max(&b), Budget { memory: 1, slots: 2, ..Budget::NONE });
    /// ```
    pub const fn max(&self, o: &Budget) -> Budget {
        const fn most(a: u64, b: u64) -> u64 {
            if a > b {
                a
            } else {
                b
            }
        }
        Budget {
            memory: most(self.memory, o.memory),
            tables: most(self.tables, o.tables),
            slots: most(self.slots, o.slots),
            mappings: most(self.mappings, o.mappings),
            objects: most(self.objects, o.objects),
            window: most(self.window, o.window),
        }
    }

    /// The field-by-field difference, 0 where `o` is more.
    ///
    /// ```
    /// use libshm::protocol::Budget;
    /// let a = Budget { memory: 5, slots: 1, ..Budget::NONE };
    /// assert_eq!(a.saturating_sub(&Budget { memory: 2, slots: 3, ..Budget::NONE }), Budget { memory: 3, ..Budget::NONE });
    /// ```
    pub const fn saturating_sub(&self, o: &Budget) -> Budget {
        Budget {
            memory: self.memory.saturating_sub(o.memory),
            tables: self.tables.saturating_sub(o.tables),
            slots: self.slots.saturating_sub(o.slots),
            mappings: self.mappings.saturating_sub(o.mappings),
            objects: self.objects.saturating_sub(o.objects),
            window: self.window.saturating_sub(o.window),
        }
    }

    /// The field-by-field sum, `None` on overflow.
    pub const fn checked_add(&self, o: &Budget) -> Option<Budget> {
        macro_rules! add {
            ($($f:ident),*) => {
                Some(Budget { $($f: match self.$f.checked_add(o.$f) { Some(v) => v, None => return None },)* })
            };
        }
        add!(memory, tables, slots, mappings, objects, window)
    }
}

/// What the server has to promise: a process is registered only while the
/// budgets of all registered processes (and what dead ones still hold) fit.
///
/// ```
/// use libshm::protocol::Budget;
/// use libshm::protocol::Capacity;
/// let c = Capacity { pool: 64 << 20, slots: 10_000, records: 10_000, objects: 64, window: 1 << 31 };
/// assert!(c.holds(&Budget::DEFAULT));
/// assert!(!c.holds(&Budget { memory: 64 << 20, ..Budget::DEFAULT }));
/// ```
///
/// The memory manager computes its own from what it was given; the build
/// (`tools/sysbuild`) computes the same from the description, to check that
/// the described processes' budgets fit together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes of untyped memory for frames and paging structures together.
    pub pool: u64,
    /// Cap slots of the server's CNode.
    pub slots: u64,
    /// Mapping records (heap).
    pub records: u64,
    /// Objects.
    pub objects: u64,
    /// Bytes of the shared window.
    pub window: u64,
}

impl Capacity {
    /// What a memory manager can promise with `free_slots` slots and `pool`
    /// bytes of untyped memory, of which `heap` went to its heap: the pool
    /// less the heap; the slots less the pool's own bookkeeping (a child
    /// untyped per 4 KiB and per 2 MiB of pool, at most) and a few kept for
    /// receiving caps; a heap record per slot; every object and the whole
    /// window.
    ///
    /// ```
    /// use libshm::protocol::Capacity;
    /// let c = Capacity::of(1 << 17, 64 << 20, 16 << 20);
    /// assert_eq!(c.pool, 48 << 20);
    /// assert_eq!(c.slots, (1 << 17) - 16384 - 32 - 16);
    /// ```
    pub const fn of(free_slots: u64, pool: u64, heap: u64) -> Capacity {
        let bookkeeping = pool / crate::layout::PAGE_SIZE + pool / crate::layout::LARGE_PAGE_SIZE;
        let slots = free_slots.saturating_sub(bookkeeping + Capacity::RESERVED_SLOTS);
        Capacity {
            pool: pool.saturating_sub(heap),
            slots,
            records: slots,
            objects: crate::layout::MAX_OBJECTS as u64,
            window: crate::layout::WINDOW_SIZE,
        }
    }

    /// The largest pool a memory manager with `free_slots` slots takes: its
    /// bookkeeping (a slot per 4 KiB, at most) then leaves half the slots
    /// to promise.
    ///
    /// ```
    /// assert_eq!(libshm::protocol::Capacity::pool_limit(1 << 17), 256 << 20);
    /// ```
    pub const fn pool_limit(free_slots: u64) -> u64 {
        free_slots / 2 * crate::layout::PAGE_SIZE
    }

    /// Slots never promised: the receive slot and scratch.
    pub const RESERVED_SLOTS: u64 = 16;

    /// No bound at all.
    pub const UNBOUNDED: Capacity =
        Capacity { pool: u64::MAX, slots: u64::MAX, records: u64::MAX, objects: u64::MAX, window: u64::MAX };

    /// Whether budgets adding up to `total` can all be kept.
    pub fn holds(&self, total: &Budget) -> bool {
        total.memory.checked_add(total.tables).is_some_and(|m| m <= self.pool)
            && total.slots <= self.slots
            && total.mappings <= self.records
            && total.objects <= self.objects
            && total.window <= self.window
    }
}

/// How much of its own resources the memory manager has used: what
/// `ServerStats` returns, for a system's tests and for tuning its
/// description. Its heap and cap slots are what no client's budget may
/// reach into; `*_peak` are the most ever used at once.
///
/// ```
/// let s = libshm::protocol::ServerStats { heap_bytes: 100, heap_used: 10, heap_peak: 50, slots: 10, slots_used: 1, slots_peak: 5 };
/// assert_eq!(s.heap_peak_percent(), 50);
/// assert_eq!(s.slots_peak_percent(), 50);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Bytes of its heap.
    pub heap_bytes: u64,
    /// Bytes of it in use now.
    pub heap_used: u64,
    /// Most bytes ever in use.
    pub heap_peak: u64,
    /// Cap slots it started serving with.
    pub slots: u64,
    /// Slots in use now.
    pub slots_used: u64,
    /// Most slots ever in use.
    pub slots_peak: u64,
}

impl ServerStats {
    /// The heap's peak, in percent of it (0 with no heap).
    pub fn heap_peak_percent(&self) -> u64 {
        (self.heap_peak * 100).checked_div(self.heap_bytes).unwrap_or(0)
    }

    /// The slots' peak, in percent of them (0 with none).
    pub fn slots_peak_percent(&self) -> u64 {
        (self.slots_peak * 100).checked_div(self.slots).unwrap_or(0)
    }
}

/// What to do with a thread that faulted in the shared window: what
/// `ResolveFault` returns.
///
/// ```
/// use libshm::protocol::{FaultOutcome, FaultReason};
/// assert_ne!(FaultOutcome::Resume, FaultOutcome::Report(FaultReason::NotMapped));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The page is (again) mapped: reply to the fault and the thread resumes.
    Resume,
    /// Not the memory manager's to repair: the supervisor reports why.
    Report(FaultReason),
}

/// POSIX error numbers (Linux values) that the protocol's errors map to.
///
/// ```
/// use libshm::protocol::{Errno, Error};
/// assert_eq!(Error::StaleGeneration.errno(), Errno::ESRCH);
/// assert_eq!(Errno::EINVAL as u16, 22);
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Errno {
    /// Operation not permitted.
    EPERM = 1,
    /// No such object.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// No such device or address (a range the object cannot give).
    ENXIO = 6,
    /// I/O error (an unexpected kernel failure).
    EIO = 5,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address.
    EFAULT = 14,
    /// Busy.
    EBUSY = 16,
    /// Exists.
    EEXIST = 17,
    /// Invalid argument.
    EINVAL = 22,
    /// Too large.
    EFBIG = 27,
    /// A table is full.
    ENOSPC = 28,
    /// No such operation.
    ENOSYS = 38,
    /// Malformed (short) message.
    EBADMSG = 74,
    /// Arithmetic overflow in a range.
    EOVERFLOW = 75,
    /// Message too long.
    EMSGSIZE = 90,
    /// Quota exceeded.
    EDQUOT = 122,
}

/// Bits of an error code below its errno.
const ERRNO_SHIFT: u32 = 8;

macro_rules! errors {
    ($($(#[$m:meta])* $name:ident = ($errno:ident, $sub:literal),)*) => {
        /// Why a request failed. Each variant has its own stable
        /// [`code`](Error::code): `errno << 8 | n`, so the code's upper part
        /// is always the POSIX errno ([`Error::errno`]) and the low byte tells
        /// variants with the same errno apart.
        ///
        /// ```
        /// use libshm::protocol::{Errno, Error};
        /// let e = Error::RightsExceeded;
        /// assert_eq!(e.code() >> 8, Errno::EACCES as u64);
        /// assert_eq!(Error::from_code(e.code()), Some(e));
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Error {
            $($(#[$m])* $name,)*
        }

        impl Error {
            /// Every error.
            ///
            /// ```
            /// assert!(libshm::protocol::Error::ALL.contains(&libshm::protocol::Error::OutOfMemory));
            /// ```
            pub const ALL: &'static [Error] = &[$(Error::$name,)*];

            /// The POSIX errno.
            ///
            /// ```
            /// use libshm::protocol::{Errno, Error};
            /// assert_eq!(Error::OutOfMemory.errno(), Errno::ENOMEM);
            /// ```
            pub const fn errno(self) -> Errno {
                match self {
                    $(Error::$name => Errno::$errno,)*
                }
            }

            /// The stable wire code (never 0, fits the label).
            ///
            /// ```
            /// assert_eq!(libshm::protocol::Error::UnknownLabel.code(), 38 << 8);
            /// ```
            pub const fn code(self) -> u64 {
                match self {
                    $(Error::$name => (Errno::$errno as u64) << ERRNO_SHIFT | $sub,)*
                }
            }

            /// The error with this code (a reply's label), if any.
            ///
            /// ```
            /// assert_eq!(libshm::protocol::Error::from_code(0), None);
            /// ```
            pub fn from_code(code: u64) -> Option<Error> {
                Error::ALL.iter().copied().find(|e| e.code() == code)
            }
        }
    };
}

errors! {
    /// The label names no operation.
    UnknownLabel = (ENOSYS, 0),
    /// The message has fewer words than its operation needs.
    ShortMessage = (EBADMSG, 0),
    /// The message has more words than its operation takes.
    LongMessage = (EMSGSIZE, 0),
    /// A field holds a value outside its type (enum, flags, reserved bits).
    BadValue = (EINVAL, 0),
    /// A name is empty, too long or not printable ASCII.
    BadName = (EINVAL, 1),
    /// An address, offset or size is not page-aligned.
    Unaligned = (EINVAL, 2),
    /// A length or size is zero.
    ZeroLength = (EINVAL, 3),
    /// A range would cut a 2 MiB frame, which can only go whole.
    SplitsLargePage = (EINVAL, 4),
    /// `Grow` to a size not larger than the current one.
    NotGrowing = (EINVAL, 5),
    /// `Shrink` to a size not smaller than the current one, or below the header.
    NotShrinking = (EINVAL, 6),
    /// The message did not carry the number of caps its operation needs.
    WrongCaps = (EINVAL, 7),
    /// `Create`: the initial size exceeds the maximum, or peer-mode client
    /// rights other than read-write.
    BadGeometry = (EINVAL, 8),
    /// The badge is not one the supervisor hands out.
    BadBadge = (EPERM, 0),
    /// A supervisor operation from a process.
    NotSupervisor = (EPERM, 1),
    /// An owner's operation from a client (client-server mode).
    NotOwner = (EPERM, 2),
    /// The system description does not let the caller start that process.
    NotPermitted = (EPERM, 3),
    /// No process has this pid.
    UnknownProcess = (ESRCH, 0),
    /// The named incarnation is gone: its pid lives in a later generation,
    /// or has ended (identities are never reused).
    StaleGeneration = (ESRCH, 1),
    /// No process has this alias.
    UnknownAlias = (ESRCH, 2),
    /// The pid is already registered.
    ProcessExists = (EEXIST, 0),
    /// Another process has this alias.
    AliasTaken = (EEXIST, 1),
    /// Another object has this name.
    NameTaken = (EEXIST, 2),
    /// The process is already attached.
    AlreadyAttached = (EEXIST, 3),
    /// No object has this id (or it was destroyed).
    UnknownObject = (ENOENT, 0),
    /// No object has this name.
    UnknownName = (ENOENT, 1),
    /// The process is not attached to the object (or the address is in no
    /// object it is attached to).
    NotAttached = (EACCES, 0),
    /// Rights wider than the process holds or may be granted.
    RightsExceeded = (EACCES, 1),
    /// Other processes are attached.
    ObjectBusy = (EBUSY, 0),
    /// A process of that name is already running.
    AlreadyRunning = (EBUSY, 1),
    /// A range's end overflows.
    Overflow = (EOVERFLOW, 0),
    /// A range or offset reaches past the object's current size.
    OutsideObject = (ENXIO, 0),
    /// `mmap_peer` with `MAP_FIXED` at an address other than the object's
    /// address plus `off` (the one place every process maps it).
    WrongAddress = (ENXIO, 1),
    /// An address range outside the shared window, where nothing is ever
    /// mapped.
    OutsideWindow = (EINVAL, 9),
    /// Larger than the object's maximum or the largest object allowed.
    TooLarge = (EFBIG, 0),
    /// The process table is full.
    TooManyProcesses = (ENOSPC, 0),
    /// The object table is full.
    TooManyObjects = (ENOSPC, 1),
    /// The object's attached-processes table is full.
    TooManyAttachments = (ENOSPC, 2),
    /// The process holds as many mappings as its budget allows.
    TooManyMappings = (ENOMEM, 3),
    /// No room left in the shared window for the object's maximum size.
    WindowFull = (ENOSPC, 4),
    /// The process would pass its memory budget (frames charged to it).
    QuotaExceeded = (ENOMEM, 1),
    /// The process would pass its budget of paging structures.
    TablesExceeded = (ENOMEM, 6),
    /// The process would pass its budget of the memory manager's cap slots.
    SlotsExceeded = (ENOMEM, 2),
    /// The process owns as many objects as its budget allows.
    ObjectsExceeded = (ENOMEM, 4),
    /// The process's objects would reserve more of the shared window than
    /// its budget allows.
    WindowExceeded = (ENOMEM, 5),
    /// The server's memory ran out.
    OutOfMemory = (ENOMEM, 0),
    /// A process cannot be registered with the budget asked for: with what
    /// the memory manager has promised the processes it has, that budget
    /// would pass what it has (memory, slots, objects or window).
    BudgetUnavailable = (ENOMEM, 7),
    /// The kernel refused an invocation the server expected to work.
    Kernel = (EIO, 0),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self, self.errno())
    }
}
