//! Fuzz target: `line` decoder. Input = configuration bytes, split points,
//! then the byte stream; see `netreactor_codecs::fuzzing::check_line`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netreactor_codecs::fuzzing::check_line(data);
});
