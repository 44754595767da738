//! Decompresses a module file as a stream, keeping only the spans its facts can come from (bounded memory).
//!
//! A real nvidia.ko is 60–110 MB decompressed; holding it whole costs that much memory for a few kilobytes of
//! answers. The stream is read in chunks and only these spans are kept (see [`crate::model::module_image`]): the
//! first 64 KiB (ELF header), a window around each `vermagic=` (every module's `.modinfo` carries one), and the tail
//! from shortly before the section header table (whose offset the ELF header gives) to the end (section names and the
//! appended signature). When the spans kept are not enough the caller reads the file whole, so the answer never
//! differs from a whole read. Decompressed size is capped, and the cap is never allocated: a decompression bomb is
//! refused once it passes it, with at most the spans above in memory.

use crate::model::module_image::SparseImage;
use std::io::Read;
use std::ops::Range;

/// How much a stream may hold and expand to.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Largest decompressed module accepted (real nvidia.ko files are 60–110 MB): past it the file is refused.
    pub max_bytes: u64,
    /// Largest decompressed module read whole into memory (the rare file whose spans were not enough).
    pub max_whole: u64,
    /// The start kept whatever else happens (the ELF header; a small module whole).
    pub head: u64,
    /// Bytes kept on each side of a `vermagic=` (a `.modinfo` is a few kilobytes; nvidia.ko's about ten).
    pub window: u64,
    /// At most this many `vermagic=` windows are kept (a module has one; more means code that mentions it).
    pub max_windows: usize,
    /// Bytes kept before the section header table (`.shstrtab` is written right before it).
    pub before_headers: u64,
    /// Largest tail kept (section headers, names, signature); a tail past it is read whole.
    pub max_tail: u64,
    /// Bytes read per step.
    pub chunk: usize,
}

/// Below the cap, a compressed module may grow this many times its compressed size (real ones compress 3–6x)…
const MAX_EXPANSION: u64 = 32;
/// …or to this size whatever its ratio (a test module of zeros compresses a thousandfold). A small bomb is refused
/// after at most this much output instead of after the whole cap (streamed, so with at most the spans in memory).
const EXPANSION_FLOOR: u64 = 96 << 20;
/// The floor for a module read whole, which holds all of it in memory: a small file may not cost more than this.
const WHOLE_FLOOR: u64 = 16 << 20;

impl StreamLimits {
    /// These limits for one file of `compressed_len` bytes: its streamed output is capped at 32x its size (at
    /// least 96 MiB, at most `max_bytes`), so a decompression bomb stops early; read whole, at 32x its size (at
    /// least 16 MiB), so a small file never costs more memory than that.
    pub fn for_input(&self, compressed_len: u64) -> StreamLimits {
        let by_ratio = compressed_len.saturating_mul(MAX_EXPANSION);
        StreamLimits {
            max_bytes: self.max_bytes.min(by_ratio.max(EXPANSION_FLOOR)),
            max_whole: self.max_whole.min(by_ratio.max(WHOLE_FLOOR)),
            ..*self
        }
    }
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_bytes: 1 << 30,
            max_whole: 1 << 30,
            head: 64 << 10,
            window: 128 << 10,
            max_windows: 8,
            before_headers: 256 << 10,
            max_tail: 8 << 20,
            chunk: 256 << 10,
        }
    }
}

/// Where a module file's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Xz,
    Zstd,
    Gzip,
}

impl Compression {
    /// Tells the compression from the first bytes of the file; None when it is neither one of them nor an ELF object.
    pub fn sniff(start: &[u8]) -> Option<Compression> {
        if start.starts_with(b"\xfd7zXZ\0") {
            Some(Compression::Xz)
        } else if start.starts_with(b"\x28\xb5\x2f\xfd") {
            Some(Compression::Zstd)
        } else if start.starts_with(b"\x1f\x8b") {
            Some(Compression::Gzip)
        } else if start.starts_with(b"\x7fELF") {
            Some(Compression::Plain)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Plain => "plain",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// The decompressed stream of `file` (read from its start), as `kind` says it is compressed.
pub fn decoder<'r>(file: impl Read + 'r, kind: Compression) -> Result<Box<dyn Read + 'r>, String> {
    Ok(match kind {
        Compression::Plain => Box::new(file),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new(file)),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(file)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file)
                .map_err(|e| format!("cannot decompress (zstd): {}", one_line(&e)))?,
        ),
    })
}

/// Reads the whole decompressed stream, keeping the spans described above. Errors are one line and name the format.
pub fn capture(
    stream: &mut dyn Read,
    kind: Compression,
    limits: &StreamLimits,
) -> Result<SparseImage, String> {
    let mut capture = Capture::new(limits);
    let mut chunk = vec![0u8; limits.chunk];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "cannot decompress ({}): {}",
                    kind.name(),
                    one_line(&e)
                ))
            }
        };
        if capture.pos + n as u64 > limits.max_bytes {
            return Err(too_big(kind, limits.max_bytes));
        }
        capture.feed(&chunk[..n]);
        if capture.not_elf() {
            // Not a module: what was kept already gives the answer ("not an ELF file"); the rest is not read.
            break;
        }
    }
    Ok(capture.finish())
}

/// Reads the whole decompressed stream into memory (for the rare file whose spans were not enough).
pub fn read_whole(
    stream: &mut dyn Read,
    kind: Compression,
    limits: &StreamLimits,
) -> Result<Vec<u8>, String> {
    let (out, cut) = crate::host::read_budget::read_capped(stream, limits.max_whole)
        .map_err(|e| format!("cannot decompress ({}): {}", kind.name(), one_line(&e)))?;
    if cut {
        return Err(too_big(kind, limits.max_whole));
    }
    Ok(out)
}

fn too_big(kind: Compression, max: u64) -> String {
    format!(
        "decompressed ({}) to more than {} MiB",
        kind.name(),
        max >> 20
    )
}

/// The marker every module's `.modinfo` holds (modpost adds it to each module).
const MODINFO_MARKER: &[u8] = b"vermagic=";

/// The state of one streaming read.
struct Capture<'l> {
    limits: &'l StreamLimits,
    /// Bytes seen so far.
    pos: u64,
    /// The last `window` bytes seen, for windows that start before the chunk that found their marker.
    history: Vec<u8>,
    /// Ranges still to keep (some in the future), sorted by start.
    wanted: Vec<Range<u64>>,
    windows: usize,
    /// Where the tail starts, once the ELF header is read.
    tail_from: Option<u64>,
    /// Kept spans, sorted; everything below `kept_until` that was wanted and still available is in them.
    spans: Vec<(u64, Vec<u8>)>,
    kept_until: u64,
    tail_overflow: bool,
}

impl<'l> Capture<'l> {
    fn new(limits: &'l StreamLimits) -> Self {
        Capture {
            limits,
            pos: 0,
            history: Vec::new(),
            wanted: std::iter::once(0..limits.head.max(0x40)).collect(),
            windows: 0,
            tail_from: None,
            spans: Vec::new(),
            kept_until: 0,
            tail_overflow: false,
        }
    }

    /// True once the stream's first bytes show it is not an ELF object.
    fn not_elf(&self) -> bool {
        let head = self.spans.first().map(|(_, b)| b.as_slice()).unwrap_or(&[]);
        head.len() >= 4 && !head.starts_with(b"\x7fELF")
    }

    fn feed(&mut self, chunk: &[u8]) {
        let start = self.pos;
        let end = start + chunk.len() as u64;
        self.find_markers(chunk, start);
        self.keep(chunk, start, end);
        if self.tail_from.is_none() {
            self.read_header();
            // The tail may start inside this very chunk (a small module comes in one read).
            self.keep(chunk, start, end);
        }
        self.pos = end;
        // Only the last `window` bytes are kept for looking back (copied once, not byte by byte).
        let window = self.limits.window as usize;
        if chunk.len() >= window {
            self.history.clear();
            self.history
                .extend_from_slice(&chunk[chunk.len() - window..]);
        } else {
            self.history.extend_from_slice(chunk);
            let excess = self.history.len().saturating_sub(window);
            self.history.drain(..excess);
        }
    }

    /// Wants a window around each marker in the chunk (one that straddles the previous chunk included).
    fn find_markers(&mut self, chunk: &[u8], start: u64) {
        // A marker that starts in the last bytes seen and ends in this chunk.
        let overlap = (MODINFO_MARKER.len() - 1).min(self.history.len());
        let mut straddle = self.history[self.history.len() - overlap..].to_vec();
        straddle.extend_from_slice(&chunk[..chunk.len().min(MODINFO_MARKER.len() - 1)]);
        let across = memchr::memmem::find_iter(&straddle, MODINFO_MARKER)
            .filter(|i| *i < overlap)
            .map(|i| start - (overlap - i) as u64);
        let within = memchr::memmem::find_iter(chunk, MODINFO_MARKER).map(|i| start + i as u64);
        let hits: Vec<u64> = across.chain(within).collect();
        for hit in hits {
            if self.windows >= self.limits.max_windows {
                return;
            }
            self.windows += 1;
            self.want(hit.saturating_sub(self.limits.window)..hit + self.limits.window);
        }
    }

    /// Once the ELF header is in: the tail starts shortly before the section header table.
    fn read_header(&mut self) {
        let Some((_, head)) = self.spans.first() else {
            return;
        };
        if head.len() < 0x40 {
            return; // not all of the header yet (or a file too short to have one)
        }
        if !head.starts_with(b"\x7fELF") {
            self.tail_from = Some(u64::MAX); // no header to find the tail from: the parser will say what is wrong
            return;
        }
        let little = head[5] != 2;
        let shoff = match head[4] {
            2 => read_u64(&head[0x28..0x30], little),
            _ => u64::from(read_u32(&head[0x20..0x24], little)),
        };
        let from = shoff.saturating_sub(self.limits.before_headers);
        self.tail_from = Some(from);
        self.want(from..u64::MAX);
    }

    fn want(&mut self, range: Range<u64>) {
        let at = self.wanted.partition_point(|r| r.start <= range.start);
        self.wanted.insert(at, range);
    }

    /// Keeps the wanted bytes of `[max(kept_until, history start), end)`, from the history and the chunk.
    fn keep(&mut self, chunk: &[u8], start: u64, end: u64) {
        let history_start = start - self.history.len() as u64;
        let wanted = std::mem::take(&mut self.wanted);
        for r in &wanted {
            let from = r.start.max(self.kept_until).max(history_start);
            let to = r.end.min(end);
            if from >= to {
                continue;
            }
            if r.end == u64::MAX && self.tail_bytes() + (to - from) > self.limits.max_tail {
                self.tail_overflow = true;
                continue;
            }
            let mut bytes = Vec::with_capacity((to - from) as usize);
            if from < start {
                let h0 = (from - history_start) as usize;
                let h1 = (to.min(start) - history_start) as usize;
                bytes.extend_from_slice(&self.history[h0..h1]);
            }
            if to > start {
                let c0 = (from.max(start) - start) as usize;
                bytes.extend_from_slice(&chunk[c0..(to - start) as usize]);
            }
            match self.spans.last_mut() {
                Some((s, b)) if *s + b.len() as u64 == from => b.extend_from_slice(&bytes),
                _ => self.spans.push((from, bytes)),
            }
            self.kept_until = to;
        }
        self.wanted = wanted.into_iter().filter(|r| r.end > end).collect();
    }

    fn tail_bytes(&self) -> u64 {
        let Some(from) = self.tail_from else { return 0 };
        self.spans
            .iter()
            .map(|(s, b)| {
                let e = s + b.len() as u64;
                e.saturating_sub(from.max(*s))
            })
            .sum()
    }

    fn finish(self) -> SparseImage {
        let mut spans = self.spans;
        if self.tail_overflow {
            // The tail was cut: keep what was kept, but not as if it reached the end (the reader then asks for the
            // whole file).
            if let Some((s, b)) = spans.last() {
                if s + b.len() as u64 == self.pos {
                    spans.pop();
                }
            }
        }
        SparseImage::new(self.pos, spans)
    }
}

fn read_u64(b: &[u8], little: bool) -> u64 {
    let a: [u8; 8] = b.try_into().unwrap_or_default();
    if little {
        u64::from_le_bytes(a)
    } else {
        u64::from_be_bytes(a)
    }
}

fn read_u32(b: &[u8], little: bool) -> u32 {
    let a: [u8; 4] = b.try_into().unwrap_or_default();
    if little {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// An error's text on one line (decoder messages may hold newlines).
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_may_stream_to_the_floor_but_be_held_whole_only_to_a_smaller_one() {
        let limits = StreamLimits::default().for_input(134 << 10);
        assert_eq!(limits.max_bytes, 96 << 20);
        assert_eq!(limits.max_whole, 16 << 20);
        // A real nvidia.ko.xz (20 MB, 4x): both follow its ratio, under the 1 GiB cap.
        let real = StreamLimits::default().for_input(20 << 20);
        assert_eq!((real.max_bytes, real.max_whole), (640 << 20, 640 << 20));
        // A length no file has: the cap.
        let huge = StreamLimits::default().for_input(u64::MAX);
        assert_eq!((huge.max_bytes, huge.max_whole), (1 << 30, 1 << 30));
    }

    #[test]
    fn a_whole_read_stops_at_its_budget_without_allocating_the_cap() {
        let limits = StreamLimits::default().for_input(4096);
        let mut endless = std::io::repeat(0);
        let e = read_whole(&mut endless, Compression::Zstd, &limits).unwrap_err();
        assert_eq!(e, "decompressed (zstd) to more than 16 MiB");
    }
}
