//! What nvfix reads from one kernel module's (decompressed) bytes, whole or as the few spans a stream kept.
//!
//! A module's `.modinfo` sits anywhere among tens of megabytes of code, but its place is only written in the section
//! header table at the very end of the file, and the appended signature comes after that. A reader that streams the
//! decompressed bytes keeps only some spans (the start, the spans around `vermagic=`, the tail from shortly before the
//! section headers): [`SparseImage`]. The same parser reads a whole file and a sparse one; when it needs a byte the
//! spans do not hold, the answer is [`ImageRead::NeedWhole`] and the caller reads the file whole, so a sparse read
//! never gives another answer than a whole one.

use super::modinfo::{parse_modinfo_section, ModInfo};
use super::module_signature::{parse_appended_signature, SignatureState};
use super::ParseError;
use object::read::elf::{FileHeader, SectionHeader};
use object::read::ReadRef;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::ops::Range;

/// Everything nvfix uses from one module file: its modinfo, whether it was built with modversions (a `__versions`
/// section: the kernel then compares symbol CRCs and, in the vermagic, only what follows the release) and its
/// appended signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleImageFacts {
    pub info: ModInfo,
    pub modversions: bool,
    pub signature: SignatureState,
}

/// The outcome of reading a sparse image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRead {
    /// What the whole file would give too (facts, or why it is not a readable module).
    Done(Box<Result<ModuleImageFacts, ParseError>>),
    /// The spans kept do not hold a byte the answer depends on: read the file whole.
    NeedWhole,
}

/// Some spans of a file of `len` bytes, sorted and not overlapping.
#[derive(Debug, Default)]
pub struct SparseImage {
    len: u64,
    spans: Vec<(u64, Vec<u8>)>,
    /// Set when the parser asked for bytes no span holds.
    missed: Cell<bool>,
}

impl SparseImage {
    /// `spans` must be sorted by offset, not overlap and end at or before `len`.
    pub fn new(len: u64, spans: Vec<(u64, Vec<u8>)>) -> Self {
        SparseImage {
            len,
            spans,
            missed: Cell::new(false),
        }
    }

    /// Bytes kept, over all spans (what the reader held in memory).
    pub fn kept_bytes(&self) -> usize {
        self.spans.iter().map(|(_, b)| b.len()).sum()
    }

    /// The span holding `range`, and `range`'s start within it.
    fn span_holding(&self, range: &Range<u64>) -> Option<(&[u8], usize)> {
        let i = self
            .spans
            .partition_point(|(start, _)| *start <= range.start);
        let (start, bytes) = self.spans.get(i.checked_sub(1)?)?;
        let from = range.start - start;
        (range.end - start <= bytes.len() as u64).then_some((bytes.as_slice(), from as usize))
    }

    /// The last span when it ends at the end of the file (where a signature sits).
    fn tail(&self) -> Option<(u64, &[u8])> {
        let (start, bytes) = self.spans.last()?;
        (start + bytes.len() as u64 == self.len).then_some((*start, bytes.as_slice()))
    }
}

impl<'a> ReadRef<'a> for &'a SparseImage {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        let end = offset.checked_add(size).ok_or(())?;
        if end > self.len {
            return Err(()); // out of the file: the whole file gives the same error
        }
        match self.span_holding(&(offset..end)) {
            Some((bytes, from)) => Ok(&bytes[from..from + size as usize]),
            None => {
                self.missed.set(true);
                Err(())
            }
        }
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        let range = range.start..range.end.min(self.len);
        if range.start >= range.end {
            return Err(());
        }
        // The span holding the start; the delimiter must be found before the span ends, else the answer needs bytes
        // the spans do not hold.
        let i = self
            .spans
            .partition_point(|(start, _)| *start <= range.start);
        let Some((start, bytes)) = i.checked_sub(1).and_then(|i| self.spans.get(i)) else {
            self.missed.set(true);
            return Err(());
        };
        let from = (range.start - start) as usize;
        let span_end = start + bytes.len() as u64;
        if from >= bytes.len() {
            self.missed.set(true);
            return Err(());
        }
        let until = (range.end.min(span_end) - start) as usize;
        match memchr::memchr(delimiter, &bytes[from..until]) {
            Some(n) => Ok(&bytes[from..from + n]),
            None if range.end <= span_end => Err(()),
            None => {
                self.missed.set(true);
                Err(())
            }
        }
    }
}

/// Reads a whole (decompressed) module.
pub fn read_whole_image(bytes: &[u8]) -> Result<ModuleImageFacts, ParseError> {
    let (info, modversions) = sections(bytes)?;
    Ok(ModuleImageFacts {
        info,
        modversions,
        signature: parse_appended_signature(bytes),
    })
}

/// Reads a sparse image: the same answer as [`read_whole_image`] on the whole file, or [`ImageRead::NeedWhole`].
pub fn read_sparse_image(image: &SparseImage) -> ImageRead {
    let parsed = sections(image);
    if image.missed.get() {
        return ImageRead::NeedWhole;
    }
    let (info, modversions) = match parsed {
        Ok(found) => found,
        Err(e) => return ImageRead::Done(Box::new(Err(e))),
    };
    let signature = match image.tail() {
        Some((0, whole)) => parse_appended_signature(whole),
        Some((_, tail)) => match parse_appended_signature(tail) {
            // A broken trailer's message counts the bytes before it: only the whole file says how many.
            SignatureState::Malformed { .. } => return ImageRead::NeedWhole,
            state => state,
        },
        None => return ImageRead::NeedWhole,
    };
    ImageRead::Done(Box::new(Ok(ModuleImageFacts {
        info,
        modversions,
        signature,
    })))
}

/// `.modinfo` (parsed) and whether a `__versions` section exists, from the ELF header and section headers only.
fn sections<'a, R: ReadRef<'a>>(data: R) -> Result<(ModInfo, bool), ParseError> {
    const WHAT: &str = "kernel module";
    let len = data.len().unwrap_or(0);
    if len == 0 {
        return Err(ParseError::new(WHAT, 0, "empty file"));
    }
    if data.read_bytes_at(0, 4.min(len)).ok() != Some(b"\x7fELF".as_slice()) {
        return Err(ParseError::new(WHAT, 0, "not an ELF file"));
    }
    let unreadable =
        |e: object::read::Error| ParseError::new(WHAT, 0, format!("unreadable ELF: {e}"));
    match object::FileKind::parse(data).map_err(unreadable)? {
        object::FileKind::Elf64 => {
            elf_sections::<object::elf::FileHeader64<object::Endianness>, R>(data)
        }
        object::FileKind::Elf32 => {
            elf_sections::<object::elf::FileHeader32<object::Endianness>, R>(data)
        }
        _ => Err(ParseError::new(
            WHAT,
            0,
            "unreadable ELF: not a 32- or 64-bit ELF file",
        )),
    }
}

fn elf_sections<'a, H: FileHeader<Endian = object::Endianness>, R: ReadRef<'a>>(
    data: R,
) -> Result<(ModInfo, bool), ParseError> {
    const WHAT: &str = "kernel module";
    let unreadable =
        |e: object::read::Error| ParseError::new(WHAT, 0, format!("unreadable ELF: {e}"));
    let header = H::parse(data).map_err(unreadable)?;
    let endian = header.endian().map_err(unreadable)?;
    let table = header.sections(endian, data).map_err(unreadable)?;
    let (_, modinfo) = table
        .section_by_name(endian, b".modinfo")
        .ok_or_else(|| ParseError::new(WHAT, 0, "no .modinfo section"))?;
    let content = modinfo
        .data(endian, data)
        .map_err(|e| ParseError::new(WHAT, 0, format!("unreadable .modinfo section: {e}")))?;
    let modversions = table.section_by_name(endian, b"__versions").is_some();
    Ok((parse_modinfo_section(content), modversions))
}

#[cfg(test)]
// A list of spans is a list of ranges, even when it holds one.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/modules")
                .join(rel),
        )
        .unwrap()
    }

    /// The file cut into the spans `keep` names (clipped to the file).
    fn sparse(bytes: &[u8], keep: &[Range<usize>]) -> SparseImage {
        let spans = keep
            .iter()
            .map(|r| {
                (
                    r.start as u64,
                    bytes[r.start..r.end.min(bytes.len())].to_vec(),
                )
            })
            .collect();
        SparseImage::new(bytes.len() as u64, spans)
    }

    #[test]
    fn a_whole_image_reads_modinfo_and_modversions() {
        let facts = read_whole_image(&fixture("580.95.05/nvidia.ko")).unwrap();
        assert_eq!(facts.info.version.as_deref(), Some("580.95.05"));
        assert!(!facts.modversions);
        assert_eq!(facts.signature, SignatureState::Unsigned);
    }

    #[test]
    fn one_span_holding_everything_gives_the_whole_answer() {
        let bytes = fixture("580.95.05/nvidia.ko");
        let image = sparse(&bytes, &[0..bytes.len()]);
        assert_eq!(
            read_sparse_image(&image),
            ImageRead::Done(Box::new(read_whole_image(&bytes)))
        );
    }

    #[test]
    fn spans_around_modinfo_and_the_tail_are_enough() {
        let bytes = fixture("580.95.05/nvidia.ko");
        // .modinfo is at 0x44..0x15f, the section headers from 0x3b0 (readelf -S), .shstrtab at 0x37b.
        let image = sparse(&bytes, &[0..0x40, 0x44..0x160, 0x370..bytes.len()]);
        assert_eq!(
            read_sparse_image(&image),
            ImageRead::Done(Box::new(read_whole_image(&bytes)))
        );
    }

    #[test]
    fn a_missing_byte_asks_for_the_whole_file() {
        let bytes = fixture("580.95.05/nvidia.ko");
        // .modinfo cut short.
        let image = sparse(&bytes, &[0..0x40, 0x44..0x100, 0x370..bytes.len()]);
        assert_eq!(read_sparse_image(&image), ImageRead::NeedWhole);
        // No tail at all.
        let image = sparse(&bytes, &[0..0x200]);
        assert_eq!(read_sparse_image(&image), ImageRead::NeedWhole);
    }

    #[test]
    fn garbage_is_an_answer_not_a_request_for_more() {
        let image = sparse(b"garbled module text", &[0..19]);
        let ImageRead::Done(read) = read_sparse_image(&image) else {
            panic!("expected an answer")
        };
        let e = read.unwrap_err();
        assert!(e.message.contains("not an ELF"), "{e}");
        assert!(read_whole_image(b"").is_err());
    }
}
