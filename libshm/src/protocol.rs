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
/// assert_eq!(t.next_generation(), TaskId::new(3, 1).unwrap());
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

    /// The same pid's next incarnation (generations wrap around).
    ///
    /// ```
    /// use libshm::protocol::TaskId;
    /// assert_eq!(TaskId::new(1, 2047).unwrap().next_generation().generation(), 0);
    /// ```
    pub const fn next_generation(self) -> Self {
        TaskId { pid: self.pid, generation: (self.generation + 1) & GENERATION_MASK }
    }

    fn to_word(self) -> u64 {
        u64::from(self.pid) | u64::from(self.generation) << 16
    }

    fn from_word(w: u64) -> Result<Self, Error> {
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

/// POSIX `PROT_READ`.
pub const PROT_READ: u64 = 1;
const _: () = assert!(PROT_READ == 1);
/// POSIX `PROT_WRITE`.
pub const PROT_WRITE: u64 = 2;
const _: () = assert!(PROT_WRITE == 2);

/// Access rights to a shared object or one mapping of it. Write-only and
/// no-access are not rights anyone can hold (neither arch maps pages
/// write-only), so only these two exist; `Read < ReadWrite`.
///
/// ```
/// use libshm::protocol::Prot;
/// assert!(Prot::ReadWrite.allows(Prot::Read));
/// assert!(!Prot::Read.allows(Prot::ReadWrite));
/// assert_eq!(Prot::from_bits(3), Ok(Prot::ReadWrite));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prot {
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
            Prot::Read => PROT_READ,
            Prot::ReadWrite => PROT_READ | PROT_WRITE,
        }
    }

    /// From POSIX bits; [`Error::BadValue`] for anything but `PROT_READ` or
    /// `PROT_READ | PROT_WRITE`.
    ///
    /// ```
    /// assert!(libshm::protocol::Prot::from_bits(2).is_err());
    /// ```
    pub const fn from_bits(bits: u64) -> Result<Prot, Error> {
        match bits {
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

impl ObjectId {
    fn from_word(w: u64) -> Result<ObjectId, Error> {
        u32::try_from(w).map(ObjectId).map_err(|_| Error::BadValue)
    }
}

/// POSIX `MAP_SHARED`.
pub const MAP_SHARED: u64 = 0x01;
const _: () = assert!(MAP_SHARED == 1);
/// POSIX `MAP_FIXED` (accepted and implied: every mapping of an object is at
/// the object's one address).
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
    /// The current incarnation of a pid.
    Pid(Pid),
    /// Exactly this incarnation: a restarted process is refused as stale.
    Task(TaskId),
    /// The process that registered this alias.
    Alias(Name),
}

const TARGET_WORDS: usize = 1 + NAME_WORDS;

impl Target {
    fn write(&self, w: &mut Writer<'_>) {
        let (tag, value) = match self {
            Target::Pid(p) => (0, [u64::from(*p), 0, 0, 0]),
            Target::Task(t) => (1, [t.to_word(), 0, 0, 0]),
            Target::Alias(n) => (2, n.to_words()),
        };
        w.put(tag);
        value.iter().for_each(|&v| w.put(v));
    }

    fn read(r: &mut Reader<'_>) -> Result<Target, Error> {
        let tag = r.get()?;
        let value = r.name_words()?;
        let numeric = |v: [u64; NAME_WORDS]| {
            if v[1..].iter().any(|&x| x != 0) {
                Err(Error::BadValue)
            } else {
                Ok(v[0])
            }
        };
        match tag {
            0 => Pid::try_from(numeric(value)?).map(Target::Pid).map_err(|_| Error::BadValue),
            1 => TaskId::from_word(numeric(value)?).map(Target::Task),
            2 => Name::from_words(&value).map(Target::Alias),
            _ => Err(Error::BadValue),
        }
    }
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

/// A field's place on the wire: how it is written and how it is read back,
/// strictly (a value outside its type is [`Error::BadValue`] or the type's
/// own error).
trait Wire: Sized {
    fn put(&self, w: &mut Writer<'_>);
    fn get(r: &mut Reader<'_>) -> Result<Self, Error>;
}

impl Wire for u64 {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.get()
    }
}

impl Wire for bool {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(u64::from(*self))
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.get()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::BadValue),
        }
    }
}

impl Wire for Name {
    fn put(&self, w: &mut Writer<'_>) {
        w.name(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.name()
    }
}

/// No name: all [`NAME_WORDS`] zero.
impl Wire for Option<Name> {
    fn put(&self, w: &mut Writer<'_>) {
        match self {
            Some(n) => w.name(n),
            None => (0..NAME_WORDS).for_each(|_| w.put(0)),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        let words = r.name_words()?;
        if words == [0; NAME_WORDS] {
            Ok(None)
        } else {
            Name::from_words(&words).map(Some)
        }
    }
}

impl Wire for ObjectId {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(self.0.into())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.object()
    }
}

impl Wire for Prot {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(self.bits())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.prot()
    }
}

impl Wire for Mode {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(*self as u64)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Mode::from_word(r.get()?)
    }
}

impl Wire for MapFlags {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(self.bits())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        MapFlags::from_bits(r.get()?)
    }
}

impl Wire for Target {
    fn put(&self, w: &mut Writer<'_>) {
        self.write(w)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Target::read(r)
    }
}

impl Wire for TaskId {
    fn put(&self, w: &mut Writer<'_>) {
        w.put(self.to_word())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        TaskId::from_word(r.get()?)
    }
}

/// The requests, one row each: name, label, who may send it, how many caps
/// travel with it, and its fields in wire order. The [`Op`] labels, the
/// [`Request`] enum, its sender, cap count, encoding and strict decoding all
/// follow from the rows; adding a request is adding a row (and its case in
/// the server, which the compiler asks for).
macro_rules! requests {
    (
        $(#[$em:meta])*
        enum Request;
        $(
            $(#[$m:meta])*
            $name:ident = $label:literal, from $sender:ident, caps $caps:literal {
                $( $(#[$fm:meta])* $field:ident : $ty:ty, )*
            }
        )*
    ) => {
        /// The operation of a request, carried as the message label.
        ///
        /// ```
        /// use libshm::protocol::Op;
        /// assert_eq!(Op::from_label(Op::Grow.label()), Some(Op::Grow));
        /// assert_eq!(Op::from_label(0), None);
        /// assert!(Op::from_label(1 << 19).is_none());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $(
                #[doc = concat!("The label of [`Request::", stringify!($name), "`].")]
                $name = $label,
            )*
        }

        impl Op {
            /// Every operation.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The label value.
            pub const fn label(self) -> u64 {
                self as u64
            }

            /// The operation for a label, if any.
            pub const fn from_label(label: u64) -> Option<Op> {
                match label {
                    $($label => Some(Op::$name),)*
                    _ => None,
                }
            }
        }

        $(#[$em])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Request {
            $(
                $(#[$m])*
                $name { $( $(#[$fm])* $field: $ty, )* },
            )*
        }

        impl Request {
            /// The operation.
            ///
            /// ```
            /// use libshm::protocol::{ObjectId, Op, Request};
            /// assert_eq!(Request::Detach { object: ObjectId(1) }.op(), Op::Detach);
            /// ```
            pub fn op(&self) -> Op {
                match self {
                    $(Request::$name { .. } => Op::$name,)*
                }
            }

            /// Who may send it.
            pub fn sender(&self) -> Sender {
                match self {
                    $(Request::$name { .. } => Sender::$sender,)*
                }
            }

            /// How many caps must travel with the message (the server refuses a
            /// message with any other number).
            ///
            /// ```
            /// use libshm::protocol::{Request, TaskId};
            /// let r = Request::RegisterProcess { task: TaskId::new(1, 0).unwrap(), alias: None };
            /// assert_eq!(r.caps_expected(), 1);
            /// ```
            pub fn caps_expected(&self) -> usize {
                match self {
                    $(Request::$name { .. } => $caps,)*
                }
            }

            /// Encodes into `words`; returns the label and the number of words used.
            ///
            /// # Panics
            /// If `words` is shorter than [`Request::MAX_WORDS`].
            ///
            /// ```
            /// use libshm::protocol::{Name, Request};
            /// let mut w = [0; Request::MAX_WORDS];
            /// let (_, len) = Request::Open { name: Name::new("t").unwrap() }.encode(&mut w);
            /// assert_eq!(len, 4);
            /// ```
            pub fn encode(&self, words: &mut [u64]) -> (u64, usize) {
                let mut w = Writer { words, len: 0 };
                match self {
                    $(Request::$name { $($field,)* } => { $( Wire::put($field, &mut w); )* })*
                }
                (self.op().label(), w.len)
            }

            /// Decodes a received message: `words` is exactly the message's words.
            ///
            /// ```
            /// use libshm::protocol::{Error, Request};
            /// assert_eq!(Request::decode(999, &[]), Err(Error::UnknownLabel));
            /// assert_eq!(Request::decode(12, &[1, 2]), Err(Error::LongMessage));
            /// ```
            pub fn decode(label: u64, words: &[u64]) -> Result<Request, Error> {
                let op = Op::from_label(label).ok_or(Error::UnknownLabel)?;
                let mut r = Reader { words, pos: 0 };
                // Fields are read in the order written: the row's order.
                let req = match op {
                    $(Op::$name => Request::$name { $( $field: Wire::get(&mut r)?, )* },)*
                };
                r.end()?;
                Ok(req)
            }
        }
    };
}

requests! {
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

    /// Give the caller `name` as its alias (replacing any it had).
    RegisterAlias = 1, from Process, caps 0 {
        /// The alias.
        name: Name,
    }

    /// The task registered under an alias.
    LookupAlias = 2, from Process, caps 0 {
        /// The alias.
        name: Name,
    }

    /// Create an object named `name`; the caller becomes its owner (and is
    /// not yet attached).
    Create = 3, from Process, caps 0 {
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
    }

    /// Find a live object by name.
    Open = 4, from Process, caps 0 {
        /// Its name.
        name: Name,
    }

    /// Attach the caller: maps every current page at the object's address.
    Attach = 5, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The rights asked for.
        prot: Prot,
    }

    /// Detach the caller: unmaps all of the object from it.
    Detach = 6, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    }

    /// `mmap_peer(pid, addr, len, prot, flags, fd, off)`.
    MmapPeer = 7, from Process, caps 0 {
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
    }

    /// `munmap_peer(pid, addr, len)`.
    MunmapPeer = 8, from Process, caps 0 {
        /// The process to unmap from.
        target: Target,
        /// Page-aligned address inside one object.
        addr: u64,
        /// Bytes, page-aligned.
        len: u64,
    }

    /// Grow an object to `new_size` bytes, mapping the new pages into every
    /// attached process before replying.
    Grow = 9, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The new size: larger than the current one, page-aligned.
        new_size: u64,
    }

    /// Shrink an object to `new_size` bytes; the cut pages leave every
    /// process at once. A 2 MiB frame goes whole or not at all, so the new
    /// size must not fall inside one; a root offset past the new end is
    /// reset to 0.
    Shrink = 10, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The new size: smaller, page-aligned, at least the header page.
        new_size: u64,
    }

    /// Record the offset of the data structure's root in the header.
    SetRoot = 11, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// An offset inside the object.
        offset: u64,
    }

    /// The root offset.
    GetRoot = 12, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    }

    /// Describe an object.
    Stat = 13, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    }

    /// Destroy an object that no other process is attached to.
    Destroy = 14, from Process, caps 0 {
        /// The object.
        object: ObjectId,
    }

    /// Attach the caller lazily: only the header page is mapped now; every
    /// other page it is entitled to is mapped by the memory manager on the
    /// first touch (the supervisor forwards the fault), with no message to
    /// the app. For a process that touches little of a large object, and
    /// the documented way to reach lazy repair.
    AttachLazy = 15, from Process, caps 0 {
        /// The object.
        object: ObjectId,
        /// The rights asked for.
        prot: Prot,
    }

    /// Supervisor only: register a process. Exactly one cap (its VSpace root)
    /// must travel with the message.
    RegisterProcess = 32, from Supervisor, caps 1 {
        /// The new incarnation.
        task: TaskId,
        /// Its alias, if any.
        alias: Option<Name>,
    }

    /// Supervisor only: a process died; forget it.
    UnregisterProcess = 33, from Supervisor, caps 0 {
        /// The incarnation that died.
        task: TaskId,
    }

    /// Supervisor only: `task` took a VM fault at `addr`. The reply is
    /// [`Reply::Done`] when the page is mapped again (resume the thread) or
    /// [`Reply::Unrepaired`] with the reason.
    ResolveFault = 34, from Supervisor, caps 0 {
        /// The incarnation that faulted.
        task: TaskId,
        /// The faulting address.
        addr: u64,
        /// Whether the access was a write.
        write: bool,
    }
}

/// Writes words in order, panicking past the buffer (a caller bug: every
/// message fits in [`Request::MAX_WORDS`]).
struct Writer<'a> {
    words: &'a mut [u64],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, w: u64) {
        self.words[self.len] = w;
        self.len += 1;
    }
    fn name(&mut self, n: &Name) {
        n.to_words().iter().for_each(|&w| self.put(w));
    }
}

/// Reads words in order, refusing short and long messages.
struct Reader<'a> {
    words: &'a [u64],
    pos: usize,
}

impl Reader<'_> {
    fn get(&mut self) -> Result<u64, Error> {
        let w = *self.words.get(self.pos).ok_or(Error::ShortMessage)?;
        self.pos += 1;
        Ok(w)
    }
    fn name_words(&mut self) -> Result<[u64; NAME_WORDS], Error> {
        let mut n = [0; NAME_WORDS];
        for w in &mut n {
            *w = self.get()?;
        }
        Ok(n)
    }
    fn name(&mut self) -> Result<Name, Error> {
        Name::from_words(&self.name_words()?)
    }
    fn object(&mut self) -> Result<ObjectId, Error> {
        ObjectId::from_word(self.get()?)
    }
    fn prot(&mut self) -> Result<Prot, Error> {
        Prot::from_bits(self.get()?)
    }
    fn end(self) -> Result<(), Error> {
        if self.pos == self.words.len() {
            Ok(())
        } else {
            Err(Error::LongMessage)
        }
    }
}

const _: () = assert!(Request::MAX_WORDS <= MSG_MAX_WORDS);

impl Request {
    /// The most words any request takes; a buffer this long always suffices.
    pub const MAX_WORDS: usize = 2 * TARGET_WORDS + 6;

    /// Whether only the supervisor may send it.
    ///
    /// ```
    /// use libshm::protocol::{ObjectId, Request};
    /// assert!(!Request::Stat { object: ObjectId(1) }.is_supervisor_only());
    /// ```
    pub fn is_supervisor_only(&self) -> bool {
        self.sender() == Sender::Supervisor
    }
}

/// What a successful request returns.
///
/// ```
/// use libshm::protocol::{Reply, Response, MSG_MAX_WORDS};
/// let r = Response::Ok(Reply::Root { offset: 4096 });
/// let mut w = [0; MSG_MAX_WORDS];
/// let (label, len) = r.encode(&mut w);
/// assert_eq!(label, 0);
/// assert_eq!(Response::decode(label, &w[..len]), Ok(r));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to return (`ResolveFault`: the page is mapped, resume).
    Done,
    /// `ResolveFault`: not the memory manager's to repair, and why.
    Unrepaired(FaultReason),
    /// `LookupAlias`: the task.
    Task(TaskId),
    /// `Create`, `Open`: the object.
    Object(ObjectInfo),
    /// `Attach`: where it is and where its data structure starts.
    Attached {
        /// The object's address (the same in every process).
        base: u64,
        /// Its current size.
        size: u64,
        /// The root offset (patent ¶19, ¶49).
        root: u64,
    },
    /// `MmapPeer`: the address mapped.
    Mapped {
        /// `base + offset`.
        addr: u64,
    },
    /// `Grow`, `Shrink`: the new size.
    Size {
        /// Bytes.
        size: u64,
    },
    /// `GetRoot`.
    Root {
        /// The root offset.
        offset: u64,
    },
    /// `Stat`.
    Stat(ObjectStat),
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

/// A response: label 0 and a [`Reply`], or the label [`Error::code`] and no
/// words.
///
/// ```
/// use libshm::protocol::{Error, Response, MSG_MAX_WORDS};
/// let mut w = [0; MSG_MAX_WORDS];
/// let (label, len) = Response::Err(Error::NotOwner).encode(&mut w);
/// assert_eq!((label, len), (Error::NotOwner.code(), 0));
/// assert_eq!(Response::decode(label, &[]), Ok(Response::Err(Error::NotOwner)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Success.
    Ok(Reply),
    /// Failure; nothing changed.
    Err(Error),
}

impl From<Result<Reply, Error>> for Response {
    fn from(r: Result<Reply, Error>) -> Response {
        match r {
            Ok(v) => Response::Ok(v),
            Err(e) => Response::Err(e),
        }
    }
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
    /// A write to a page mapped read-only (the header, or read-only rights).
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

const REPLY_DONE: u64 = 0;
const REPLY_TASK: u64 = 1;
const REPLY_OBJECT: u64 = 2;
const REPLY_ATTACHED: u64 = 3;
const REPLY_MAPPED: u64 = 4;
const REPLY_SIZE: u64 = 5;
const REPLY_ROOT: u64 = 6;
const REPLY_STAT: u64 = 7;
const REPLY_UNREPAIRED: u64 = 8;
const NO_RIGHTS: u64 = 0;

impl ObjectInfo {
    fn write(&self, w: &mut Writer<'_>) {
        w.put(self.id.0.into());
        w.put(self.mode as u64);
        w.put(self.base);
        w.put(self.size);
        w.put(self.max_size);
    }
    fn read(r: &mut Reader<'_>) -> Result<ObjectInfo, Error> {
        Ok(ObjectInfo {
            id: r.object()?,
            mode: Mode::from_word(r.get()?)?,
            base: r.get()?,
            size: r.get()?,
            max_size: r.get()?,
        })
    }
}

const _: () = assert!(Response::MAX_WORDS <= MSG_MAX_WORDS);

impl Response {
    /// The result as a `Result`.
    ///
    /// ```
    /// use libshm::protocol::{Reply, Response};
    /// assert_eq!(Response::Ok(Reply::Done).into_result(), Ok(Reply::Done));
    /// ```
    pub fn into_result(self) -> Result<Reply, Error> {
        match self {
            Response::Ok(v) => Ok(v),
            Response::Err(e) => Err(e),
        }
    }

    /// Encodes into `words`; returns the label and the number of words used.
    ///
    /// # Panics
    /// If `words` is shorter than [`Response::MAX_WORDS`].
    ///
    /// ```
    /// use libshm::protocol::{Reply, Response};
    /// let mut w = [0; Response::MAX_WORDS];
    /// assert_eq!(Response::Ok(Reply::Done).encode(&mut w), (0, 1));
    /// ```
    pub fn encode(&self, words: &mut [u64]) -> (u64, usize) {
        let reply = match self {
            Response::Err(e) => return (e.code(), 0),
            Response::Ok(r) => r,
        };
        let mut w = Writer { words, len: 0 };
        match reply {
            Reply::Done => w.put(REPLY_DONE),
            Reply::Task(t) => {
                w.put(REPLY_TASK);
                w.put(t.to_word());
            }
            Reply::Object(info) => {
                w.put(REPLY_OBJECT);
                info.write(&mut w);
            }
            Reply::Attached { base, size, root } => {
                w.put(REPLY_ATTACHED);
                w.put(*base);
                w.put(*size);
                w.put(*root);
            }
            Reply::Unrepaired(reason) => {
                w.put(REPLY_UNREPAIRED);
                w.put(*reason as u64);
            }
            Reply::Mapped { addr } => {
                w.put(REPLY_MAPPED);
                w.put(*addr);
            }
            Reply::Size { size } => {
                w.put(REPLY_SIZE);
                w.put(*size);
            }
            Reply::Root { offset } => {
                w.put(REPLY_ROOT);
                w.put(*offset);
            }
            Reply::Stat(s) => {
                w.put(REPLY_STAT);
                s.info.write(&mut w);
                w.put(s.root);
                w.put(s.attached.into());
                w.put(s.rights.map_or(NO_RIGHTS, Prot::bits));
                w.put(s.owner.into());
            }
        }
        (0, w.len)
    }

    /// The most words any response takes.
    pub const MAX_WORDS: usize = 10;

    /// Decodes a received response, as strictly as [`Request::decode`].
    ///
    /// ```
    /// use libshm::protocol::{Error, Response};
    /// assert_eq!(Response::decode(0, &[]), Err(Error::ShortMessage));
    /// ```
    pub fn decode(label: u64, words: &[u64]) -> Result<Response, Error> {
        if label != 0 {
            let e = Error::from_code(label).ok_or(Error::UnknownLabel)?;
            return if words.is_empty() { Ok(Response::Err(e)) } else { Err(Error::LongMessage) };
        }
        let mut r = Reader { words, pos: 0 };
        let reply = match r.get()? {
            REPLY_DONE => Reply::Done,
            REPLY_TASK => Reply::Task(TaskId::from_word(r.get()?)?),
            REPLY_OBJECT => Reply::Object(ObjectInfo::read(&mut r)?),
            REPLY_ATTACHED => Reply::Attached { base: r.get()?, size: r.get()?, root: r.get()? },
            REPLY_MAPPED => Reply::Mapped { addr: r.get()? },
            REPLY_UNREPAIRED => Reply::Unrepaired(FaultReason::from_word(r.get()?)?),
            REPLY_SIZE => Reply::Size { size: r.get()? },
            REPLY_ROOT => Reply::Root { offset: r.get()? },
            REPLY_STAT => Reply::Stat(ObjectStat {
                info: ObjectInfo::read(&mut r)?,
                root: r.get()?,
                attached: u16::try_from(r.get()?).map_err(|_| Error::BadValue)?,
                rights: match r.get()? {
                    NO_RIGHTS => None,
                    bits => Some(Prot::from_bits(bits)?),
                },
                owner: Pid::try_from(r.get()?).map_err(|_| Error::BadValue)?,
            }),
            _ => return Err(Error::BadValue),
        };
        r.end()?;
        Ok(Response::Ok(reply))
    }
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
    /// The pid lives, but in another generation (the named one is gone).
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
    OutsideObject = (EFAULT, 0),
    /// An address outside the shared window.
    OutsideWindow = (EFAULT, 1),
    /// `mmap_peer`'s address is neither 0 nor the object's address plus `off`.
    WrongAddress = (EFAULT, 2),
    /// Larger than the object's maximum or the largest object allowed.
    TooLarge = (EFBIG, 0),
    /// The process table is full.
    TooManyProcesses = (ENOSPC, 0),
    /// The object table is full.
    TooManyObjects = (ENOSPC, 1),
    /// The object's attached-processes table is full.
    TooManyAttachments = (ENOSPC, 2),
    /// The process has as many mappings as it may.
    TooManyMappings = (ENOSPC, 3),
    /// No room left in the shared window for the object's maximum size.
    WindowFull = (ENOSPC, 4),
    /// The process would pass its memory quota.
    QuotaExceeded = (EDQUOT, 0),
    /// The server's memory ran out.
    OutOfMemory = (ENOMEM, 0),
    /// The kernel refused an invocation the server expected to work.
    Kernel = (EIO, 0),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self, self.errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    #[test]
    fn error_codes_are_distinct_and_fit_the_label() {
        let codes: HashSet<u64> = Error::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), Error::ALL.len());
        for e in Error::ALL {
            assert!(e.code() != 0 && e.code() < 1 << LABEL_BITS);
            assert_eq!(e.code() >> ERRNO_SHIFT, e.errno() as u64);
            assert_eq!(Error::from_code(e.code()), Some(*e));
        }
    }

    #[test]
    fn labels_are_distinct_and_small() {
        let labels: HashSet<u64> = Op::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), Op::ALL.len());
        assert!(Op::ALL.iter().all(|o| o.label() != 0 && o.label() < 1 << LABEL_BITS));
    }

    #[test]
    fn badge_layout() {
        let t = TaskId::new(0xffff, (1 << GENERATION_BITS) - 1).unwrap();
        let b = Badge::Process(t).encode();
        assert!(b < 1 << BADGE_BITS);
        assert_eq!(b, BADGE_PROCESS_BIT | 0xffff | 0x7ff << 16);
        assert_eq!(Badge::decode(b), Ok(Badge::Process(t)));
        // Everything else in the 28 bits without the process bit is invalid.
        assert_eq!(Badge::decode(2), Err(Error::BadBadge));
        assert_eq!(Badge::decode(BADGE_PROCESS_BIT >> 1), Err(Error::BadBadge));
    }

    #[test]
    fn target_rejects_garbage_in_padding() {
        let mut w = [0; Request::MAX_WORDS];
        let req = Request::MunmapPeer { target: Target::Pid(4), addr: 0, len: 0 };
        let (label, len) = req.encode(&mut w);
        w[2] = 1;
        assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
        w[2] = 0;
        w[0] = 3;
        assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
        w[0] = 0;
        w[1] = 1 << 16;
        assert_eq!(Request::decode(label, &w[..len]), Err(Error::BadValue));
    }

    #[test]
    fn name_rules() {
        assert!(Name::new(&"x".repeat(NAME_MAX)).is_ok());
        assert!(Name::new(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(Name::from_bytes(b"a\0b").is_err());
        assert!(Name::from_bytes(b"tab\t").is_err());
    }

    fn name() -> impl Strategy<Value = Name> {
        "[!-~]{1,32}".prop_map(|s| Name::new(&s).unwrap())
    }

    fn task() -> impl Strategy<Value = TaskId> {
        (any::<u16>(), 0u16..1 << GENERATION_BITS).prop_map(|(p, g)| TaskId::new(p, g).unwrap())
    }

    fn prot() -> impl Strategy<Value = Prot> {
        prop_oneof![Just(Prot::Read), Just(Prot::ReadWrite)]
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            any::<u16>().prop_map(Target::Pid),
            task().prop_map(Target::Task),
            name().prop_map(Target::Alias)
        ]
    }

    /// Labels: mostly an operation's, sometimes near them, sometimes any.
    fn label() -> impl Strategy<Value = u64> {
        let ops: Vec<u64> = Op::ALL.iter().map(|o| o.label()).collect();
        prop_oneof![3 => proptest::sample::select(ops), 1 => 0u64..64, 1 => any::<u64>()]
    }

    /// Words of the kinds fields hold: small values, printable name bytes
    /// (zero-padded or not), anything.
    fn word() -> impl Strategy<Value = u64> {
        prop_oneof![
            2 => 0u64..4,
            1 => Just(0u64),
            2 => proptest::collection::vec(b'!'..=b'~', 0..=8).prop_map(|b| {
                b.iter().rev().fold(0u64, |w, &c| w << 8 | u64::from(c))
            }),
            2 => any::<u64>(),
        ]
    }

    /// Messages mostly as long as requests are, sometimes up to the most
    /// a message holds.
    fn words() -> impl Strategy<Value = Vec<u64>> {
        prop_oneof![4 => 0..=Request::MAX_WORDS + 1, 1 => 0..=MSG_MAX_WORDS]
            .prop_flat_map(|n| proptest::collection::vec(word(), n))
    }

    /// Decoding never panics; a success round-trips, a failure is the
    /// decoder's (never one only the server's state could give).
    fn decodes_strictly(label: u64, words: &[u64]) -> Result<(), TestCaseError> {
        const DECODER_ERRORS: [Error; 5] =
            [Error::UnknownLabel, Error::ShortMessage, Error::LongMessage, Error::BadValue, Error::BadName];
        match Request::decode(label, words) {
            Ok(req) => {
                let mut w = [0; Request::MAX_WORDS];
                let (l, len) = req.encode(&mut w);
                prop_assert_eq!((l, &w[..len]), (label, words));
            }
            Err(e) => prop_assert!(DECODER_ERRORS.contains(&e), "{:?}", e),
        }
        let _ = Response::decode(label, words);
        Ok(())
    }

    fn request() -> impl Strategy<Value = Request> {
        let obj = any::<u32>().prop_map(ObjectId);
        let mode = prop_oneof![Just(Mode::Peer), Just(Mode::ClientServer)];
        let flags = prop_oneof![Just(MAP_SHARED), Just(MAP_SHARED | MAP_FIXED)]
            .prop_map(|b| MapFlags::from_bits(b).unwrap());
        prop_oneof![
            name().prop_map(|name| Request::RegisterAlias { name }),
            name().prop_map(|name| Request::LookupAlias { name }),
            name().prop_map(|name| Request::Open { name }),
            (name(), mode, any::<u64>(), any::<u64>(), prot()).prop_map(
                |(name, mode, size, max_size, client_prot)| Request::Create {
                    name,
                    mode,
                    size,
                    max_size,
                    client_prot
                }
            ),
            (obj.clone(), prot()).prop_map(|(object, prot)| Request::Attach { object, prot }),
            obj.clone().prop_map(|object| Request::Detach { object }),
            obj.clone().prop_map(|object| Request::Stat { object }),
            obj.clone().prop_map(|object| Request::GetRoot { object }),
            obj.clone().prop_map(|object| Request::Destroy { object }),
            (obj.clone(), any::<u64>()).prop_map(|(object, new_size)| Request::Grow { object, new_size }),
            (obj.clone(), any::<u64>()).prop_map(|(object, new_size)| Request::Shrink { object, new_size }),
            (obj.clone(), any::<u64>()).prop_map(|(object, offset)| Request::SetRoot { object, offset }),
            (target(), any::<u64>(), any::<u64>(), prot(), flags, obj.clone(), any::<u64>()).prop_map(
                |(target, addr, len, prot, flags, object, offset)| Request::MmapPeer {
                    target,
                    addr,
                    len,
                    prot,
                    flags,
                    object,
                    offset
                }
            ),
            (target(), any::<u64>(), any::<u64>()).prop_map(|(target, addr, len)| Request::MunmapPeer {
                target,
                addr,
                len
            }),
            (task(), proptest::option::of(name()))
                .prop_map(|(task, alias)| Request::RegisterProcess { task, alias }),
            task().prop_map(|task| Request::UnregisterProcess { task }),
            (obj, prot()).prop_map(|(object, prot)| Request::AttachLazy { object, prot }),
            (task(), any::<u64>(), any::<bool>()).prop_map(|(task, addr, write)| Request::ResolveFault {
                task,
                addr,
                write
            }),
        ]
    }

    proptest! {
        // Decoding is cheap: many cases cost little time.
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn request_round_trips(req in request()) {
            let mut w = [0; Request::MAX_WORDS];
            let (label, len) = req.encode(&mut w);
            prop_assert_eq!(Request::decode(label, &w[..len]), Ok(req));
            // Every strict prefix is short, one extra word is long.
            for cut in 0..len {
                prop_assert_eq!(Request::decode(label, &w[..cut]), Err(Error::ShortMessage));
            }
            let mut longer = w[..len].to_vec();
            longer.push(0);
            prop_assert_eq!(Request::decode(label, &longer), Err(Error::LongMessage));
        }

        /// The decoder's fuzz target (cargo-fuzz needs nightly; this runs in
        /// `cargo test`): arbitrary labels and words, up to a full message,
        /// never panic; what decodes re-encodes to the same message, and
        /// what does not gets one of the decoder's own errors.
        #[test]
        fn decode_arbitrary(label in label(), words in words()) {
            decodes_strictly(label, &words)?;
        }

        /// The same on well-formed requests with one word changed, cut or
        /// added: the near misses a hostile client would try.
        #[test]
        fn decode_near_misses(req in request(), at in 0..Request::MAX_WORDS, w in word(), how in 0u8..3) {
            let mut buf = [0; Request::MAX_WORDS];
            let (label, len) = req.encode(&mut buf);
            let mut words = buf[..len].to_vec();
            match how {
                0 => if let Some(x) = words.get_mut(at) { *x = w },
                1 => words.truncate(at),
                _ => words.insert(at.min(len), w),
            }
            decodes_strictly(label, &words)?;
        }

        #[test]
        fn response_round_trips(
            which in 0usize..9, a in any::<u64>(), b in any::<u64>(), c in any::<u64>(),
            t in task(), p in proptest::option::of(prot()), e in 0..Error::ALL.len(),
        ) {
            let info = ObjectInfo { id: ObjectId(a as u32), mode: Mode::ClientServer, base: a, size: b, max_size: c };
            let r = match which {
                0 => Response::Ok(Reply::Done),
                1 => Response::Ok(Reply::Task(t)),
                2 => Response::Ok(Reply::Object(info)),
                3 => Response::Ok(Reply::Attached { base: a, size: b, root: c }),
                4 => Response::Ok(Reply::Mapped { addr: a }),
                5 => Response::Ok(Reply::Size { size: a }),
                6 => Response::Ok(Reply::Root { offset: b }),
                7 => Response::Ok(Reply::Stat(ObjectStat { info, root: c, attached: a as u16, rights: p, owner: t.pid() })),
                _ => Response::Err(Error::ALL[e]),
            };
            let mut w = [0; Response::MAX_WORDS];
            let (label, len) = r.encode(&mut w);
            prop_assert_eq!(Response::decode(label, &w[..len]), Ok(r));
        }
    }
}
