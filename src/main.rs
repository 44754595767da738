//! The nvfix binary: runs the library and maps errors to exit statuses in one place.

fn main() {
    let code = match nvfix::run(std::env::args_os()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("nvfix: {err:#}");
            nvfix::error::exit_code_for(&err)
        }
    };
    std::process::exit(code);
}
