//! Reads big text files (dpkg status, dpkg.log) keeping only the stanzas or lines that mention the driver.
//!
//! A busy host's dpkg status is megabytes and its dpkg.log hundreds of kilobytes, with a handful of NVIDIA entries.
//! Reading them whole costs a fresh buffer the size of the file, and on a virtual machine faulting in those pages took
//! longer than reading them. So the file is read in fixed chunks cut at a record boundary, each chunk narrowed with
//! a vectorised search, and only what mentions a needle is kept: the result is exactly what narrowing the whole text
//! would give.

use std::io::Read;

/// How a file is cut into records, and what becomes of the records that mention no needle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// dpkg status stanzas, separated by a blank line: the stanzas mentioning a needle, joined by a blank line.
    Stanzas,
    /// apt history entries, separated by a blank line: every line of an entry that mentions no needle is emptied,
    /// so line numbers (the evidence) stay right.
    Entries,
    /// Lines: the lines mentioning a needle, every other line emptied so line numbers stay right.
    Lines,
}

/// Narrows a whole text the way [`read_narrowed`] narrows a file.
pub fn narrow_text(text: &str, needles: &[&str], records: Records) -> String {
    match records {
        Records::Stanzas => keep_blocks_mentioning(text, needles),
        Records::Entries => blank_blocks_not_mentioning(text, needles),
        Records::Lines => blank_lines_not_mentioning(text, needles),
    }
}

/// The longest record waited for (a dpkg stanza or log line is kilobytes): past it the buffer is narrowed as it is.
const MAX_RECORD: usize = 4 << 20;

/// The bytes read at a time (and the buffer's size, unless one record is larger).
pub const CHUNK: usize = 64 * 1024;

/// Reads `reader` to its end, keeping the records that mention one of `needles` (which must not contain a newline).
/// Invalid UTF-8 is replaced, as for every text nvfix reads.
pub fn read_narrowed(
    reader: impl Read,
    needles: &[&str],
    records: Records,
) -> std::io::Result<String> {
    read_narrowed_in_chunks(reader, needles, records, CHUNK)
}

/// [`read_narrowed`] with the chunk size given: tests and the fuzz target use tiny chunks to cut records anywhere.
pub fn read_narrowed_in_chunks(
    reader: impl Read,
    needles: &[&str],
    records: Records,
    chunk: usize,
) -> std::io::Result<String> {
    read_narrowed_within(reader, needles, records, chunk, usize::MAX).map(|(text, _)| text)
}

/// [`read_narrowed_in_chunks`] that stops once the text kept passes `max_kept` bytes (a real log's driver entries are
/// kilobytes; a file where every line names the driver is not a log to read whole): the text, and whether it stopped
/// early.
pub fn read_narrowed_within(
    mut reader: impl Read,
    needles: &[&str],
    records: Records,
    chunk: usize,
    max_kept: usize,
) -> std::io::Result<(String, bool)> {
    let mut out = String::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        // Fill up to a chunk after what was carried over; double when one record outgrew the buffer.
        let filled = buf.len();
        let want = if filled >= chunk { filled * 2 } else { chunk };
        buf.resize(want, 0);
        let got = read_full(&mut reader, buf.get_mut(filled..).unwrap_or_default())?;
        buf.truncate(filled + got);
        let eof = buf.len() < want;
        // Cut after the last complete record; the rest is carried into the next round.
        let (cut, resume) = match (eof, last_boundary(&buf, records)) {
            (true, _) => (buf.len(), buf.len()),
            (false, Some(boundary)) => boundary,
            (false, None) if buf.len() < MAX_RECORD => continue,
            // One "record" this long is not one: narrow what there is rather than double the buffer again.
            (false, None) => (buf.len(), buf.len()),
        };
        let text = String::from_utf8_lossy(buf.get(..cut).unwrap_or_default());
        let narrowed = narrow_text(&text, needles, records);
        // Put back the separator the cut took: between kept stanzas, and always between entries kept in place.
        let separate = match records {
            Records::Stanzas => !out.is_empty() && !narrowed.is_empty(),
            Records::Entries => !first,
            Records::Lines => false,
        };
        if separate {
            out.push_str("\n\n");
        }
        out.push_str(&narrowed);
        first = false;
        if eof {
            return Ok((out, false));
        }
        if out.len() > max_kept {
            return Ok((out, true));
        }
        buf.drain(..resume);
    }
}

/// Reads until `buf` is full or the file ends; the count read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut total = 0;
    while let Some(rest) = buf.get_mut(total..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Where to cut `buf` so that the part before is whole records, and where the next part starts: the last blank-line
/// separator as a left-to-right scan finds it (so a run of three newlines is cut where `split("\n\n")` cuts it), or
/// the last newline. None when there is none yet.
fn last_boundary(buf: &[u8], records: Records) -> Option<(usize, usize)> {
    match records {
        Records::Stanzas | Records::Entries => memchr::memmem::find_iter(buf, b"\n\n")
            .last()
            .map(|at| (at, at + 2)),
        Records::Lines => memchr::memrchr(b'\n', buf).map(|at| (at, at + 1)),
    }
}

/// Where any of `needles` occurs in `text`, ascending. memchr's vectorised search over the whole file is several times
/// faster than asking each stanza or line in turn (a busy host's dpkg status is megabytes, with few driver entries).
fn needle_hits(text: &[u8], needles: &[&str]) -> Vec<usize> {
    let mut hits: Vec<usize> = needles
        .iter()
        .flat_map(|n| memchr::memmem::find_iter(text, n.as_bytes()))
        .collect();
    hits.sort_unstable();
    hits
}

/// The blank-line-separated blocks of `text`, each with whether it contains one of `needles`: the blocks
/// `text.split("\n\n")` gives (non-overlapping separators from the left), found with one vectorised pass for the
/// separators and one per needle. Needles must not contain a newline, so a hit never spans two blocks.
fn blocks<'t>(text: &'t str, needles: &[&str]) -> impl Iterator<Item = (&'t str, bool)> {
    let bytes = text.as_bytes();
    let hits = needle_hits(bytes, needles);
    let mut next_hit = 0;
    let mut start = 0;
    let ends = memchr::memmem::find_iter(bytes, b"\n\n").chain(std::iter::once(bytes.len()));
    ends.map(move |end| {
        while hits.get(next_hit).is_some_and(|&h| h < start) {
            next_hit += 1;
        }
        let mentions = hits.get(next_hit).is_some_and(|&h| h < end);
        let block = text.get(start..end).unwrap_or_default();
        start = end + 2;
        (block, mentions)
    })
}

/// The blank-line-separated blocks (dpkg status stanzas) that contain one of `needles`, in order, joined by a blank
/// line: what `text.split("\n\n").filter(mentions).join("\n\n")` gives. Needles must not contain a newline.
pub fn keep_blocks_mentioning(text: &str, needles: &[&str]) -> String {
    let kept: Vec<&str> = blocks(text, needles)
        .filter_map(|(block, mentions)| mentions.then_some(block))
        .collect();
    kept.join("\n\n")
}

/// The text with every line of the blank-line-separated blocks that mention none of `needles` emptied, so it has
/// the same lines, numbered the same: what `text.split("\n\n")` with each unmentioning block replaced by its newlines,
/// joined by `"\n\n"`, gives. Needles must not contain a newline.
pub fn blank_blocks_not_mentioning(text: &str, needles: &[&str]) -> String {
    let mut out = String::with_capacity(text.len() / 8);
    for (i, (block, mentions)) in blocks(text, needles).enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        if mentions {
            out.push_str(block);
        } else {
            out.extend(std::iter::repeat_n(
                '\n',
                memchr::memchr_iter(b'\n', block.as_bytes()).count(),
            ));
        }
    }
    out
}

/// The text with every line that contains none of `needles` emptied, so line numbers are unchanged: what pushing
/// each `text.split('\n')` line (or nothing) plus a newline gives. Needles must not contain a newline.
pub fn blank_lines_not_mentioning(text: &str, needles: &[&str]) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() / 8);
    let newlines = |from: usize, to: usize| {
        memchr::memchr_iter(b'\n', bytes.get(from..to).unwrap_or_default()).count()
    };
    let mut cursor = 0;
    for hit in needle_hits(bytes, needles) {
        if hit < cursor {
            continue; // another needle on a line already kept
        }
        let line_start =
            memchr::memrchr(b'\n', bytes.get(..hit).unwrap_or_default()).map_or(0, |i| i + 1);
        let line_end = memchr::memchr(b'\n', bytes.get(hit..).unwrap_or_default())
            .map_or(bytes.len(), |i| hit + i);
        out.extend(std::iter::repeat_n('\n', newlines(cursor, line_start)));
        out.push_str(text.get(line_start..line_end).unwrap_or_default());
        cursor = line_end;
    }
    out.extend(std::iter::repeat_n('\n', newlines(cursor, bytes.len()) + 1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain versions the fast filters must agree with.
    fn blocks_reference(text: &str, needles: &[&str]) -> String {
        text.split("\n\n")
            .filter(|block| needles.iter().any(|n| block.contains(n)))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn entries_reference(text: &str, needles: &[&str]) -> String {
        text.split("\n\n")
            .map(|block| {
                if needles.iter().any(|n| block.contains(n)) {
                    block.to_string()
                } else {
                    "\n".repeat(block.matches('\n').count())
                }
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn lines_reference(text: &str, needles: &[&str]) -> String {
        let mut out = String::new();
        for line in text.split('\n') {
            if needles.iter().any(|n| line.contains(n)) {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }

    /// Texts built from pieces that stress the edges: runs of newlines (odd and even), needles at the start and end,
    /// two needles on one line, overlapping needles (`cudacuda`), a needle split by a newline.
    fn texts() -> Vec<String> {
        const PIECES: [&str; 10] = [
            "\n",
            "\n\n",
            "nvidia",
            "cuda",
            "Package: x",
            "cudacuda",
            "nvi\ndia",
            " ",
            "libnvidia-ml",
            "é",
        ];
        let mut texts = vec![String::new()];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..3000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            let mut s = seed;
            for _ in 0..len {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                text.push_str(PIECES[((s >> 33) % PIECES.len() as u64) as usize]);
            }
            texts.push(text);
        }
        texts
    }

    #[test]
    fn the_fast_filters_agree_with_the_plain_ones() {
        let needles = ["nvidia", "cuda"];
        let mut kept_something = 0;
        for text in texts() {
            assert_eq!(
                keep_blocks_mentioning(&text, &needles),
                blocks_reference(&text, &needles),
                "blocks of {text:?}"
            );
            let entries = blank_blocks_not_mentioning(&text, &needles);
            assert_eq!(
                entries,
                entries_reference(&text, &needles),
                "entries of {text:?}"
            );
            // As many newlines (the reference check above puts them in the same places): kept lines keep their numbers.
            assert_eq!(
                entries.matches('\n').count(),
                text.matches('\n').count(),
                "entries keep the lines of {text:?}"
            );
            let lines = blank_lines_not_mentioning(&text, &needles);
            assert_eq!(lines, lines_reference(&text, &needles), "lines of {text:?}");
            kept_something += usize::from(lines.contains("nvidia"));
        }
        assert!(
            kept_something > 100,
            "the generated texts must exercise keeping"
        );
    }

    /// A reader that hands out a few bytes per call, as a pipe or a slow file system may.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            let (head, tail) = self.0.split_at(n);
            buf.get_mut(..n).unwrap_or_default().copy_from_slice(head);
            self.0 = tail;
            Ok(n)
        }
    }

    #[test]
    fn reading_in_chunks_gives_what_the_whole_text_gives() {
        let needles = ["nvidia", "cuda"];
        for (i, text) in texts().iter().enumerate() {
            let chunk = 1 + i % 9;
            let trickle = 1 + i % 4;
            for records in [Records::Stanzas, Records::Entries, Records::Lines] {
                let streamed = read_narrowed_in_chunks(
                    Trickle(text.as_bytes(), trickle),
                    &needles,
                    records,
                    chunk,
                )
                .unwrap();
                let whole = match records {
                    Records::Stanzas => blocks_reference(text, &needles),
                    Records::Entries => entries_reference(text, &needles),
                    Records::Lines => lines_reference(text, &needles),
                };
                assert_eq!(
                    streamed, whole,
                    "{records:?} of {text:?} in chunks of {chunk}"
                );
            }
        }
        // The real size, on a file far larger than one chunk.
        let big = "Package: bash\nVersion: 5.2\n\n".repeat(5000) + "Package: nvidia-driver\n\n";
        let streamed = read_narrowed(big.as_bytes(), &needles, Records::Stanzas).unwrap();
        assert_eq!(streamed, "Package: nvidia-driver");
        assert_eq!(streamed, blocks_reference(&big, &needles));
    }

    #[test]
    fn invalid_utf8_is_replaced_and_a_read_error_is_returned() {
        let bytes = b"ok\n\xff nvidia\n";
        let text = read_narrowed(&bytes[..], &["nvidia"], Records::Lines).unwrap();
        assert_eq!(text, "\n\u{fffd} nvidia\n\n");
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let err = read_narrowed(Broken, &["nvidia"], Records::Lines).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn dpkg_stanzas_and_log_lines_are_narrowed_to_the_driver() {
        let status = "Package: bash\nVersion: 5.2\n\nPackage: libnvidia-compute-580\nVersion: 580.95.05-0ubuntu1\n\n\
                      Package: zlib1g\n\nPackage: unattended-upgrades\nStatus: install ok installed\n";
        assert_eq!(
            keep_blocks_mentioning(status, &["nvidia", "unattended-upgrades"]),
            "Package: libnvidia-compute-580\nVersion: 580.95.05-0ubuntu1\n\n\
             Package: unattended-upgrades\nStatus: install ok installed\n"
        );
        let log = "2025-10-01 06:25:01 status installed bash:amd64 5.2\n\
                   2025-10-01 06:25:02 upgrade libnvidia-compute-580:amd64 580.65.06 580.95.05\n";
        assert_eq!(
            blank_lines_not_mentioning(log, &["nvidia"]),
            "\n2025-10-01 06:25:02 upgrade libnvidia-compute-580:amd64 580.65.06 580.95.05\n\n"
        );
    }
}
