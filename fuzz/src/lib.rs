//! Helpers the fuzz targets share: cutting one fuzz input into the several texts a parser family takes.

/// The input as text, invalid UTF-8 replaced (as nvfix's host layer does for every text file it reads).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The input cut into exactly `n` texts at NUL bytes (missing ones are empty, the last takes the rest): lets the
/// fuzzer grow each file of a multi-file parser (a config and the names it is matched against) on its own.
pub fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}
