//! Fuzz target: `length_field` decoder. Input = configuration bytes, split points,
//! then the byte stream; see `netreactor_codecs::fuzzing::check_length_field`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netreactor_codecs::fuzzing::check_length_field(data);
});
