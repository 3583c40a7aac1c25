//! The calls a process makes to its supervisor (the root task): the second
//! table, defined like the memory manager's.
//!
//! Faults arrive on the same endpoint with the kernel's fault types as
//! labels (all below [`FIRST_LABEL`]), so these labels start above them. A
//! badge the supervisor no longer knows (a dead generation) is answered
//! with [`StaleGeneration`](super::Error::StaleGeneration) whatever it asked.
//!
//! ```
//! use libshm::protocol::supervisor::{Op, Reply, Request};
//! use libshm::protocol::{Name, MSG_MAX_WORDS};
//! let req = Request::Start { name: Name::new("viewer").unwrap() };
//! let mut w = [0; MSG_MAX_WORDS];
//! let (label, len) = req.encode(&mut w);
//! assert_eq!(Request::decode(label, &w[..len]), Ok(req));
//! assert!(Op::ALL.iter().all(|op| op.label() >= libshm::protocol::supervisor::FIRST_LABEL));
//! let (label, len) = Reply::encode_response(&Ok(Reply::Wait(-1)), &mut w);
//! assert_eq!(Reply::decode_response(Op::Wait, label, &w[..len]), Ok(Reply::Wait(-1)));
//! ```

use super::Error;
use super::{protocol, Name, Pid, TaskId};

/// Bytes of text one [`Request::Print`] carries.
pub const TEXT_MAX: usize = 96;
/// Words of a [`Text`] on the wire: its length, then its bytes.
pub(crate) const TEXT_WORDS: usize = 1 + TEXT_MAX / 8;
const _: () = assert!(TEXT_MAX.is_multiple_of(8));

/// Up to [`TEXT_MAX`] bytes of console output (any bytes: the supervisor
/// writes them as they are).
///
/// ```
/// use libshm::protocol::supervisor::{Text, TEXT_MAX};
/// let t = Text::new(b"hello\n").unwrap();
/// assert_eq!(t.as_bytes(), b"hello\n");
/// assert!(Text::new(&[b'x'; TEXT_MAX + 1]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    len: u8,
    bytes: [u8; TEXT_MAX],
}

impl Text {
    /// The text `b`; [`Error::BadValue`] past [`TEXT_MAX`] bytes.
    pub fn new(b: &[u8]) -> Result<Text, Error> {
        if b.len() > TEXT_MAX {
            return Err(Error::BadValue);
        }
        let mut bytes = [0; TEXT_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Text { len: b.len() as u8, bytes })
    }

    /// Its bytes.
    ///
    /// ```
    /// assert!(libshm::protocol::supervisor::Text::new(b"").unwrap().as_bytes().is_empty());
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The wire form: the length, then the bytes little-endian in words.
    pub(crate) fn to_words(self) -> [u64; TEXT_WORDS] {
        let mut w = [0; TEXT_WORDS];
        w[0] = u64::from(self.len);
        for (word, chunk) in w[1..].iter_mut().zip(self.bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        }
        w
    }

    /// From the wire form; [`Error::BadValue`] for a length past
    /// [`TEXT_MAX`] or bytes past the length.
    pub(crate) fn from_words(w: &[u64; TEXT_WORDS]) -> Result<Text, Error> {
        let len = usize::try_from(w[0]).ok().filter(|&l| l <= TEXT_MAX).ok_or(Error::BadValue)?;
        let mut bytes = [0; TEXT_MAX];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(&w[1..]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        if bytes[len..].iter().any(|&b| b != 0) {
            return Err(Error::BadValue);
        }
        Ok(Text { len: len as u8, bytes })
    }
}

/// The lowest label of a supervisor call: seL4 5.0's fault labels are all
/// below it.
pub const FIRST_LABEL: u64 = 0x10;

/// The exit code `Wait` gives for a process that faulted and was not
/// restarted.
pub const EXIT_FAULTED: i32 = -1;
/// The exit code `Wait` gives for a process the root task ended.
pub const EXIT_KILLED: i32 = -2;

protocol! {
    callers { Process }

    /// A decoded call to the supervisor.
    ///
    /// ```
    /// use libshm::protocol::supervisor::Request;
    /// use libshm::protocol::Error;
    /// assert_eq!(Request::decode(Request::Report { value: 1 }.op().label(), &[]), Err(Error::ShortMessage));
    /// ```
    enum Request;

    /// The supervisor's side: a method per call, given the calling process
    /// as the supervisor knows it.
    ///
    /// ```
    /// use libshm::protocol::supervisor::{Caller, Handler, Reply, Request, Text};
    /// use libshm::protocol::{Error, Name, Pid, TaskId};
    /// /// Answers pings and refuses the rest.
    /// struct Pings;
    /// impl Handler for Pings {
    ///     type Process = TaskId;
    ///     fn ping(&mut self, me: TaskId) -> Result<TaskId, Error> { Ok(me) }
    ///     fn exit(&mut self, _: TaskId, _: i32) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     fn report(&mut self, _: TaskId, _: u64) -> Result<(), Error> { Err(Error::NotPermitted) }
    ///     fn start(&mut self, _: TaskId, _: Name) -> Result<TaskId, Error> { Err(Error::NotPermitted) }
    ///     fn wait(&mut self, _: TaskId, _: Pid) -> Result<i32, Error> { Err(Error::NotPermitted) }
    ///     fn print(&mut self, _: TaskId, _: Text) -> Result<(), Error> { Err(Error::NotPermitted) }
    /// }
    /// let me = TaskId::new(4, 1).unwrap();
    /// assert_eq!(Request::Ping {}.serve(&mut Pings, Caller::Process(me)), Ok(Reply::Ping(me)));
    /// ```
    trait Handler;

    /// The process's side: a typed method per call. On seL4,
    /// `libshm::client::Ipc` is the client (and `runtime::supervisor` wraps
    /// it); here, one that is always told it is stale:
    ///
    /// ```
    /// use libshm::protocol::supervisor::Client;
    /// use libshm::protocol::{Error, MSG_MAX_WORDS};
    /// struct Stale;
    /// impl Client for Stale {
    ///     fn exchange(&mut self, _: u64, _: &mut [u64; MSG_MAX_WORDS], _: usize, _: usize) -> (u64, usize) {
    ///         (Error::StaleGeneration.code(), 0)
    ///     }
    /// }
    /// assert_eq!(Stale.ping(), Err(Error::StaleGeneration));
    /// ```
    trait Client;

    /// Who the caller is: its pid and generation.
    Ping = 0x10, fn ping, from Process, caps 0 {} -> TaskId;

    /// The process is done. Never answered: the supervisor tears it down.
    Exit = 0x11, fn exit, from Process, caps 0 {
        /// Its exit code.
        code: i32,
    } -> ();

    /// A test app reports a result word and goes on.
    Report = 0x12, fn report, from Process, caps 0 {
        /// The word.
        value: u64,
    } -> ();

    /// Start the process the system description calls `name`, if the
    /// description says the caller starts it. Returns its identity.
    Start = 0x13, fn start, from Process, caps 0 {
        /// The process's name in the description.
        name: Name,
    } -> TaskId;

    /// Wait until `pid`, which the caller started, has ended for good
    /// (restarts do not count). Returns its exit code ([`EXIT_FAULTED`],
    /// [`EXIT_KILLED`] or what it exited with).
    Wait = 0x14, fn wait, from Process, caps 0 {
        /// The process.
        pid: Pid,
    } -> i32;

    /// Write `text` on the console (for a kernel that cannot print: the
    /// supervisor owns the serial device). `runtime` sends it without
    /// waiting (`NBSend`), so the answer goes nowhere.
    Print = 0x15, fn print, from Process, caps 0 {
        /// What to write.
        text: Text,
    } -> ();
}

const _: () = assert!(Op::Ping.label() == FIRST_LABEL);
