#![no_main]
// Body in amqp_wire::fuzzing, so `cargo test` can replay the seeds on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| amqp_wire::fuzzing::decode_table(data));
