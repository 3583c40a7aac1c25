//! The one way a protocol is defined here: a table with a row per request.
//!
//! A row gives the request's name, its label, the method that sends and
//! serves it, who may send it, how many caps travel with it, its fields in
//! wire order and the type its success carries:
//!
//! ```text
//! /// Grow an object.
//! Grow = 9, fn grow, from Process, caps 0 { object: ObjectId, new_size: u64, } -> u64;
//! ```
//!
//! From the rows the macro makes, in the module that invokes it:
//! - `Op`: the labels;
//! - `Request`: one variant per row, with its sender, cap count, encoding
//!   and strict decoding;
//! - `Reply`: one variant per row holding what its success carries, with
//!   the response's encoding and decoding;
//! - `Handler`: the server's side, a method per row that gets the caller
//!   and the fields and returns the row's reply type; `Request::serve`
//!   calls the right one;
//! - `Client`: the sender's side, a method per row with the fields as
//!   arguments and the row's reply type as its result, over one
//!   `exchange` that moves words (seL4 IPC on target, anything in tests).
//!
//! Every field and reply type implements [`Wire`](super::wire::Wire), so
//! a row with a type the wire cannot carry does not compile, and a request
//! added to the table is a method the server must implement.

/// See the module documentation.
macro_rules! protocol {
    (
        callers { $($caller:ident),+ $(,)? }
        $(#[$request_meta:meta])*
        enum Request;
        $(#[$handler_meta:meta])*
        trait Handler;
        $(#[$client_meta:meta])*
        trait Client;
        $(
            $(#[$m:meta])*
            $name:ident = $label:literal, fn $method:ident, from $sender:ident, caps $caps:literal {
                $( $(#[$fm:meta])* $field:ident : $ty:ty, )*
            } -> $reply:ty;
        )*
    ) => {
        /// The operation of a request, carried as the message label.
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

        $(#[$request_meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Request {
            $(
                $(#[$m])*
                $name { $( $(#[$fm])* $field: $ty, )* },
            )*
        }

        impl Request {
            /// The most words any request takes; a buffer this long always
            /// suffices.
            pub const MAX_WORDS: usize = {
                let mut most = 0;
                $( most = $crate::protocol::wire::max(most, 0 $(+ <$ty as $crate::protocol::wire::Wire>::WORDS)*); )*
                most
            };

            /// The operation.
            pub const fn op(&self) -> Op {
                match self {
                    $(Request::$name { .. } => Op::$name,)*
                }
            }

            /// Who may send it.
            pub const fn sender(&self) -> $crate::protocol::Sender {
                match self {
                    $(Request::$name { .. } => $crate::protocol::Sender::$sender,)*
                }
            }

            /// How many caps must travel with the message (the server
            /// refuses a message with any other number).
            pub const fn caps_expected(&self) -> usize {
                match self {
                    $(Request::$name { .. } => $caps,)*
                }
            }

            /// Encodes into `words`; returns the label and the number of
            /// words used.
            ///
            /// # Panics
            /// If `words` is shorter than [`Request::MAX_WORDS`].
            pub fn encode(&self, words: &mut [u64]) -> (u64, usize) {
                let mut w = $crate::protocol::wire::Writer::new(words);
                match self {
                    $(Request::$name { $($field,)* } => {
                        $( $crate::protocol::wire::Wire::put($field, &mut w); )*
                    })*
                }
                (self.op().label(), w.len())
            }

            /// Decodes a received message: `words` is exactly the message's
            /// words. Unknown labels, short and long messages and values
            /// outside their types are refused, each with its own error.
            pub fn decode(label: u64, words: &[u64]) -> Result<Request, $crate::protocol::Error> {
                let op = Op::from_label(label).ok_or($crate::protocol::Error::UnknownLabel)?;
                let mut r = $crate::protocol::wire::Reader::new(words);
                // Fields are read in the order written: the row's order.
                let req = match op {
                    $(Op::$name => Request::$name {
                        $( $field: $crate::protocol::wire::Wire::get(&mut r)?, )*
                    },)*
                };
                r.end()?;
                Ok(req)
            }

            /// Hands the request to the handler's method for its row, with
            /// the caller; a caller of the wrong kind gets the error
            /// [`Sender::refusal`](crate::protocol::Sender::refusal) gives.
            pub fn serve<H: Handler + ?Sized>(
                self,
                handler: &mut H,
                from: Caller<H>,
            ) -> Result<Reply, $crate::protocol::Error> {
                #[allow(unreachable_patterns)] // with one kind of caller, no caller is wrong
                match (self, from) {
                    $((Request::$name { $($field,)* }, Caller::$sender(c)) => {
                        handler.$method(c $(, $field)*).map(Reply::$name)
                    })*
                    (r, _) => Err(r.sender().refusal()),
                }
            }
        }

        const _: () = assert!(Request::MAX_WORDS <= $crate::protocol::MSG_MAX_WORDS);

        /// What a successful request returns: a variant per request, with
        /// the same name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Reply {
            $(
                #[doc = concat!("What [`Request::", stringify!($name), "`] returns.")]
                $name($reply),
            )*
        }

        impl Reply {
            /// The most words any reply takes.
            pub const MAX_WORDS: usize = {
                let mut most = 0;
                $( most = $crate::protocol::wire::max(most, <$reply as $crate::protocol::wire::Wire>::WORDS); )*
                most
            };

            /// The operation this replies to.
            pub const fn op(&self) -> Op {
                match self {
                    $(Reply::$name(..) => Op::$name,)*
                }
            }

            /// Encodes a response: label 0 and the reply's words on success,
            /// the error's [`code`](crate::protocol::Error::code) as the
            /// label and no words on failure. Returns the label and the
            /// number of words used.
            ///
            /// # Panics
            /// If `words` is shorter than [`Reply::MAX_WORDS`].
            pub fn encode_response(response: &Result<Reply, $crate::protocol::Error>, words: &mut [u64]) -> (u64, usize) {
                let mut w = $crate::protocol::wire::Writer::new(words);
                match response {
                    $(Ok(Reply::$name(v)) => $crate::protocol::wire::Wire::put(v, &mut w),)*
                    Err(e) => return (e.code(), 0),
                }
                (0, w.len())
            }

            /// Decodes the response to a request of `op`, as strictly as
            /// [`Request::decode`]: the server's error, or the reply, or the
            /// error that says how the response itself was malformed.
            pub fn decode_response(op: Op, label: u64, words: &[u64]) -> Result<Reply, $crate::protocol::Error> {
                match op {
                    $(Op::$name => $crate::protocol::wire::response::<$reply>(label, words).map(Reply::$name),)*
                }
            }
        }

        const _: () = assert!(Reply::MAX_WORDS <= $crate::protocol::MSG_MAX_WORDS);

        $(#[$handler_meta])*
        pub trait Handler {
            $(
                #[doc = concat!("What the server knows of a caller of kind `", stringify!($caller), "`.")]
                type $caller;
            )+
            $(
                $(#[$m])*
                #[allow(clippy::too_many_arguments)] // one argument per field of the row
                fn $method(&mut self, from: Self::$sender $(, $field: $ty)*) -> Result<$reply, $crate::protocol::Error>;
            )*
        }

        /// Who sent a request, as the [`Handler`] knows them.
        pub enum Caller<H: Handler + ?Sized> {
            $(
                #[doc = concat!("A caller of kind `", stringify!($caller), "`.")]
                $caller(H::$caller),
            )+
        }

        $(#[$client_meta])*
        pub trait Client {
            /// Sends a message (`label`, `words[..len]` and `caps` caps the
            /// client has ready) and waits for the response, whose words it
            /// leaves in `words`; returns the response's label and length.
            fn exchange(
                &mut self,
                label: u64,
                words: &mut [u64; $crate::protocol::MSG_MAX_WORDS],
                len: usize,
                caps: usize,
            ) -> (u64, usize);

            /// Sends any request and decodes its response (the typed methods
            /// are the usual way; this one is for tools and tests).
            fn request(&mut self, request: &Request) -> Result<Reply, $crate::protocol::Error> {
                let mut words = [0; $crate::protocol::MSG_MAX_WORDS];
                let (label, len) = request.encode(&mut words);
                let (label, len) = self.exchange(label, &mut words, len, request.caps_expected());
                Reply::decode_response(request.op(), label, &words[..len.min(words.len())])
            }

            $(
                $(#[$m])*
                #[allow(clippy::too_many_arguments)] // one argument per field of the row
                fn $method(&mut self $(, $field: $ty)*) -> Result<$reply, $crate::protocol::Error> {
                    let mut words = [0; $crate::protocol::MSG_MAX_WORDS];
                    let (label, len) = Request::$name { $($field,)* }.encode(&mut words);
                    let (label, len) = self.exchange(label, &mut words, len, $caps);
                    $crate::protocol::wire::response::<$reply>(label, &words[..len.min(words.len())])
                }
            )*
        }
    };
}

pub(crate) use protocol;
