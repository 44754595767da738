//! Fuzzes the kernel log: text logs (kern.log, dmesg, /var/log/messages), `/dev/kmsg` records, and the position
//! (syslog date, dmesg stamp, kmsg sequence) each line states.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvfix::model::kernel_log::{parse_kernel_log, parse_kmsg};
use nvfix::model::log_position::{kmsg_record, text_line_position};

fuzz_target!(|data: &[u8]| {
    let text = nvfix_fuzz::text(data);
    let facts = parse_kernel_log(&text);
    let _ = facts.mark();
    let kmsg = parse_kmsg(&text);
    let _ = kmsg.mark();
    for line in text.lines() {
        if let Some(mark) = text_line_position(line) {
            // A mark is never after itself.
            assert_eq!(mark.is_after(&mark), Some(false));
        }
        let _ = kmsg_record(line);
    }
});
