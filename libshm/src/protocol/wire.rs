//! How each field and reply type sits in message words: written in order,
//! read back strictly (a value outside its type is [`Error::BadValue`] or
//! the type's own error, a message of the wrong length is
//! [`Error::ShortMessage`] or [`Error::LongMessage`]).

use super::{
    AttachInfo, Budget, Error, FaultOutcome, FaultReason, MapFlags, Mode, Name, ObjectId, ObjectInfo,
    ObjectStat, Pid, Prot, ServerStats, Target, TaskId, NAME_WORDS,
};

/// A type's place on the wire: how many words it takes, how it is written
/// and how it is read back.
pub(crate) trait Wire: Sized {
    /// Words it takes (every type here has a fixed size).
    const WORDS: usize;
    fn put(&self, w: &mut Writer<'_>);
    fn get(r: &mut Reader<'_>) -> Result<Self, Error>;
}

/// Writes words in order, panicking past the buffer (a caller bug: every
/// message fits in its table's `MAX_WORDS`).
pub(crate) struct Writer<'a> {
    words: &'a mut [u64],
    len: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(words: &'a mut [u64]) -> Self {
        Writer { words, len: 0 }
    }
    pub(crate) fn put(&mut self, w: u64) {
        self.words[self.len] = w;
        self.len += 1;
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Reads words in order, refusing short and long messages.
pub(crate) struct Reader<'a> {
    words: &'a [u64],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(words: &'a [u64]) -> Self {
        Reader { words, pos: 0 }
    }
    pub(crate) fn get(&mut self) -> Result<u64, Error> {
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
    pub(crate) fn end(self) -> Result<(), Error> {
        if self.pos == self.words.len() {
            Ok(())
        } else {
            Err(Error::LongMessage)
        }
    }
}

/// Reads exactly one `T` from `words`.
pub(crate) fn read_all<T: Wire>(words: &[u64]) -> Result<T, Error> {
    let mut r = Reader::new(words);
    let v = T::get(&mut r)?;
    r.end()?;
    Ok(v)
}

/// A response to a request whose success carries a `T`: label 0 and the
/// `T`, or an error's code as the label and no words.
pub(crate) fn response<T: Wire>(label: u64, words: &[u64]) -> Result<T, Error> {
    if label == 0 {
        return read_all(words);
    }
    let e = Error::from_code(label).ok_or(Error::UnknownLabel)?;
    if words.is_empty() {
        Err(e)
    } else {
        Err(Error::LongMessage)
    }
}

/// The larger of two word counts (for `MAX_WORDS`, at compile time).
pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Nothing: no words.
impl Wire for () {
    const WORDS: usize = 0;
    fn put(&self, _: &mut Writer<'_>) {}
    fn get(_: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(())
    }
}

impl Wire for u64 {
    const WORDS: usize = 1;
    fn put(&self, w: &mut Writer<'_>) {
        w.put(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.get()
    }
}

/// A [`Pid`]: one word, zero above 16 bits.
impl Wire for u16 {
    const WORDS: usize = 1;
    fn put(&self, w: &mut Writer<'_>) {
        w.put(u64::from(*self))
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Pid::try_from(r.get()?).map_err(|_| Error::BadValue)
    }
}

/// An exit code: one word, sign-extended from 32 bits.
impl Wire for i32 {
    const WORDS: usize = 1;
    fn put(&self, w: &mut Writer<'_>) {
        w.put(i64::from(*self) as u64)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        i32::try_from(r.get()? as i64).map_err(|_| Error::BadValue)
    }
}

impl Wire for bool {
    const WORDS: usize = 1;
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
    const WORDS: usize = NAME_WORDS;
    fn put(&self, w: &mut Writer<'_>) {
        self.to_words().iter().for_each(|&v| w.put(v));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Name::from_words(&r.name_words()?)
    }
}

impl Wire for super::supervisor::Text {
    const WORDS: usize = super::supervisor::TEXT_WORDS;
    fn put(&self, w: &mut Writer<'_>) {
        self.to_words().iter().for_each(|&v| w.put(v));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        let mut words = [0; super::supervisor::TEXT_WORDS];
        for v in &mut words {
            *v = r.get()?;
        }
        Self::from_words(&words)
    }
}

/// No name: all [`NAME_WORDS`] zero.
impl Wire for Option<Name> {
    const WORDS: usize = NAME_WORDS;
    fn put(&self, w: &mut Writer<'_>) {
        match self {
            Some(n) => n.put(w),
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
    const WORDS: usize = 1;
    fn put(&self, w: &mut Writer<'_>) {
        w.put(self.0.into())
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        u32::try_from(r.get()?).map(ObjectId).map_err(|_| Error::BadValue)
    }
}

/// Types that are one word, written by `to` and read strictly by `from`.
macro_rules! one_word {
    ($($ty:ty: $to:expr, $from:expr;)*) => {$(
        impl Wire for $ty {
            const WORDS: usize = 1;
            fn put(&self, w: &mut Writer<'_>) {
                w.put($to(*self))
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
                $from(r.get()?)
            }
        }
    )*};
}

one_word! {
    Prot: Prot::bits, Prot::from_bits;
    Mode: |m: Mode| m as u64, Mode::from_word;
    MapFlags: MapFlags::bits, MapFlags::from_bits;
    TaskId: TaskId::to_word, TaskId::from_word;
}

/// Structs of plain words, a word each, in field order.
macro_rules! words {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {$(
        impl Wire for $ty {
            const WORDS: usize = [$(stringify!($field)),*].len();
            fn put(&self, w: &mut Writer<'_>) {
                $(w.put(self.$field);)*
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
                Ok($ty { $($field: r.get()?),* })
            }
        }
    )*};
}

words! {
    AttachInfo { base, size, root }
    Budget { memory, tables, slots, mappings, objects, window }
    ServerStats { heap_bytes, heap_used, heap_peak, slots, slots_used, slots_peak }
}

const TARGET_PID: u64 = 0;
const TARGET_TASK: u64 = 1;
const TARGET_ALIAS: u64 = 2;

/// A tag word and [`NAME_WORDS`] value words: the pid or task id in the
/// first and zeros after it, or the alias.
impl Wire for Target {
    const WORDS: usize = 1 + NAME_WORDS;
    fn put(&self, w: &mut Writer<'_>) {
        let (tag, value) = match self {
            Target::Pid(p) => (TARGET_PID, [u64::from(*p), 0, 0, 0]),
            Target::Task(t) => (TARGET_TASK, [t.to_word(), 0, 0, 0]),
            Target::Alias(n) => (TARGET_ALIAS, n.to_words()),
        };
        w.put(tag);
        value.iter().for_each(|&v| w.put(v));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
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
            TARGET_PID => Pid::try_from(numeric(value)?).map(Target::Pid).map_err(|_| Error::BadValue),
            TARGET_TASK => TaskId::from_word(numeric(value)?).map(Target::Task),
            TARGET_ALIAS => Name::from_words(&value).map(Target::Alias),
            _ => Err(Error::BadValue),
        }
    }
}

impl Wire for ObjectInfo {
    const WORDS: usize = 5;
    fn put(&self, w: &mut Writer<'_>) {
        self.id.put(w);
        self.mode.put(w);
        w.put(self.base);
        w.put(self.size);
        w.put(self.max_size);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(ObjectInfo {
            id: Wire::get(r)?,
            mode: Wire::get(r)?,
            base: r.get()?,
            size: r.get()?,
            max_size: r.get()?,
        })
    }
}

/// Set in the rights word when the caller is attached (its rights may be
/// `PROT_NONE`, 0); clear, with no other bit, when it is not.
const ATTACHED: u64 = 1 << 63;

impl Wire for ObjectStat {
    const WORDS: usize = ObjectInfo::WORDS + 4;
    fn put(&self, w: &mut Writer<'_>) {
        self.info.put(w);
        w.put(self.root);
        self.attached.put(w);
        w.put(self.rights.map_or(0, |p| ATTACHED | p.bits()));
        self.owner.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(ObjectStat {
            info: Wire::get(r)?,
            root: r.get()?,
            attached: Wire::get(r)?,
            rights: match r.get()? {
                0 => None,
                w if w & ATTACHED != 0 => Some(Prot::from_bits(w & !ATTACHED)?),
                _ => return Err(Error::BadValue),
            },
            owner: Wire::get(r)?,
        })
    }
}

/// Resumed: 0. Reported: the reason's value (never 0).
const RESUME: u64 = 0;

impl Wire for FaultOutcome {
    const WORDS: usize = 1;
    fn put(&self, w: &mut Writer<'_>) {
        w.put(match self {
            FaultOutcome::Resume => RESUME,
            FaultOutcome::Report(reason) => *reason as u64,
        })
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.get()? {
            RESUME => Ok(FaultOutcome::Resume),
            w => FaultReason::from_word(w).map(FaultOutcome::Report),
        }
    }
}
