//! Every action nvfix takes on the host goes to syslog/journald under the ident `nvfix` (libc openlog/syslog).

use std::ffi::CString;
use std::sync::Once;

static OPEN: Once = Once::new();

/// Logs one line at NOTICE (daemon facility). Interior NUL bytes are dropped rather than failing.
pub fn log(message: &str) {
    OPEN.call_once(|| {
        // SAFETY: the ident is a 'static C string; openlog keeps the pointer.
        unsafe { libc::openlog(c"nvfix".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    });
    let text = CString::new(message.replace('\0', "")).unwrap_or_default();
    // SAFETY: constant "%s" format with one valid C string argument.
    unsafe { libc::syslog(libc::LOG_NOTICE, c"%s".as_ptr(), text.as_ptr()) };
}
