//! Fuzzes the module decompressors (xz, zstd, gzip, or a plain ELF object) and the `.modinfo` read that follows.
//! A decompression bomb must be refused without allocating the cap: libFuzzer's `-malloc_limit_mb` and
//! `-rss_limit_mb` (256 in fuzz/ci.sh) catch one that is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::host::modfiles::decompress;
use nvfix::model::modinfo::modinfo_from_elf;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = decompress(data) {
        let _ = modinfo_from_elf(&elf);
    }
});
