//! The request and response decoders on arbitrary bytes: a label word,
//! then message words. They never panic; a request that decodes
//! re-encodes to the same message; one that does not gets one of the
//! decoder's own errors; so does a response that does not decode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libshm::protocol::{Error, Op, Reply, Request, MSG_MAX_WORDS};

const WORD: usize = 8;
const DECODER_ERRORS: [Error; 5] =
    [Error::UnknownLabel, Error::ShortMessage, Error::LongMessage, Error::BadValue, Error::BadName];

fuzz_target!(|data: &[u8]| {
    let mut words = data.chunks(WORD).map(|c| {
        let mut w = [0; WORD];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    });
    let Some(label) = words.next() else { return };
    let words: Vec<u64> = words.take(MSG_MAX_WORDS).collect();
    match Request::decode(label, &words) {
        Ok(req) => {
            let mut w = [0; Request::MAX_WORDS];
            let (l, len) = req.encode(&mut w);
            assert_eq!((l, &w[..len]), (label, &words[..]));
        }
        Err(e) => assert!(DECODER_ERRORS.contains(&e), "{e:?}"),
    }
    for op in Op::ALL {
        match Reply::decode_response(*op, label, &words) {
            Ok(reply) => {
                let mut w = [0; Reply::MAX_WORDS];
                assert_eq!(Reply::encode_response(&Ok(reply), &mut w), (label, words.len()));
                assert_eq!(&w[..words.len()], &words[..]);
            }
            // A valid error code, or one of the decoder's errors.
            Err(e) => assert!(e.code() == label || DECODER_ERRORS.contains(&e), "{e:?}"),
        }
    }
});
