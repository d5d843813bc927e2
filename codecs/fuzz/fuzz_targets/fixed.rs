//! Fuzz target: `fixed` decoder. Input = configuration bytes, split points,
//! then the byte stream; see `netreactor_codecs::fuzzing::check_fixed`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    netreactor_codecs::fuzzing::check_fixed(data);
});
