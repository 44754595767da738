//! Reads a module file's facts at most once per run, from the cache when the very same file was read before.
//!
//! The module-file search and the pre-flight both need the running kernel's modules (version and flavor; vermagic,
//! signature, firmware, modversions): one [`ModuleReader`] serves both, so no file is decompressed twice in a run.

use super::module_cache::{FileIdentity, ModuleCache};
use super::module_stream::{capture, decoder, one_line, read_whole, Compression, StreamLimits};
use super::HostRoot;
use crate::model::facts::GatherWarning;
use crate::model::module_image::{
    read_sparse_image, read_whole_image, ImageRead, ModuleImageFacts,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek};

/// One run's reader of module files.
pub struct ModuleReader<'r> {
    root: &'r HostRoot,
    limits: StreamLimits,
    cache: RefCell<ModuleCache>,
    read: RefCell<HashMap<String, Result<ModuleImageFacts, String>>>,
}

impl<'r> ModuleReader<'r> {
    /// A reader with the host's cache (see [`ModuleCache::open`]).
    pub fn new(root: &'r HostRoot) -> Self {
        Self::with_cache(root, ModuleCache::open(root))
    }

    pub fn with_cache(root: &'r HostRoot, cache: ModuleCache) -> Self {
        ModuleReader {
            root,
            limits: StreamLimits::default(),
            cache: RefCell::new(cache),
            read: RefCell::new(HashMap::new()),
        }
    }

    /// The warning to report when the cache was not trusted.
    pub fn cache_warning(&self) -> Option<GatherWarning> {
        self.cache.borrow().refusal().cloned()
    }

    /// The facts of the module file at `host_path`, or a one-line reason it could not be read.
    pub fn read(&self, host_path: &str) -> Result<ModuleImageFacts, String> {
        if let Some(done) = self.read.borrow().get(host_path) {
            return done.clone();
        }
        let result = self.read_uncached(host_path);
        self.read
            .borrow_mut()
            .insert(host_path.to_string(), result.clone());
        result
    }

    fn read_uncached(&self, host_path: &str) -> Result<ModuleImageFacts, String> {
        let local = self.root.resolve(host_path);
        let file = File::open(&local).map_err(|source| {
            one_line(&super::HostError::Read {
                path: host_path.into(),
                source,
            })
        })?;
        let id = file.metadata().ok().map(|m| FileIdentity::of(&m));
        if let Some(facts) = id.and_then(|id| self.cache.borrow_mut().get(&id)) {
            return Ok(facts);
        }
        let (result, _) = read_module_file(file, &self.limits);
        if let (Ok(facts), Some(id)) = (&result, id) {
            self.cache.borrow_mut().put(host_path, id, facts.clone());
        }
        result
    }

    /// Writes the cache back (when this run changed it).
    pub fn finish(self) {
        self.cache.into_inner().save(self.root);
    }
}

/// How a file was read (for tests and the benchmark's claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// Streamed, keeping only spans.
    Streamed,
    /// The spans were not enough: read again, whole.
    Whole,
}

/// Reads one module file: streamed with bounded memory, and whole only when the spans kept are not enough.
pub fn read_module_file(
    mut file: File,
    limits: &StreamLimits,
) -> (Result<ModuleImageFacts, String>, ReadPath) {
    let limits = &limits.for_input(file.metadata().map(|m| m.len()).unwrap_or(u64::MAX));
    let streamed = (|| {
        let kind = sniff(&mut file)?;
        let mut stream = decoder(&mut file, kind)?;
        let image = capture(&mut stream, kind, limits)?;
        Ok::<_, String>((kind, read_sparse_image(&image)))
    })();
    let kind = match streamed {
        Err(e) => return (Err(e), ReadPath::Streamed),
        Ok((_, ImageRead::Done(result))) => {
            return ((*result).map_err(|e| e.message), ReadPath::Streamed)
        }
        Ok((kind, ImageRead::NeedWhole)) => kind,
    };
    let whole = (|| {
        file.rewind().map_err(|e| one_line(&e))?;
        let mut stream = decoder(&mut file, kind)?;
        let bytes = read_whole(&mut stream, kind, limits)?;
        read_whole_image(&bytes).map_err(|e| e.message)
    })();
    (whole, ReadPath::Whole)
}

/// The file's compression, from its first bytes; the file is left at its start.
fn sniff(file: &mut File) -> Result<Compression, String> {
    let mut start = [0u8; 6];
    let mut n = 0;
    while n < start.len() {
        match file.read(&mut start[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(one_line(&e)),
        }
    }
    if n == 0 {
        return Err("empty file".into());
    }
    let kind = Compression::sniff(&start[..n])
        .ok_or_else(|| "neither an ELF object nor xz, zstd or gzip data".to_string())?;
    file.rewind().map_err(|e| one_line(&e))?;
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::modfiles::decompress;
    use crate::model::modinfo::{elf_has_section, modinfo_from_elf};
    use crate::model::module_signature::parse_appended_signature;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// The whole-file parse nvfix used before streaming: decompress in memory, then read the ELF.
    fn whole_parse(bytes: &[u8]) -> Result<ModuleImageFacts, String> {
        let elf = decompress(bytes)?;
        let info = modinfo_from_elf(&elf).map_err(|e| e.message)?;
        Ok(ModuleImageFacts {
            info,
            modversions: elf_has_section(&elf, "__versions"),
            signature: parse_appended_signature(&elf),
        })
    }

    fn module_fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let t = entry.file_type().unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if t.is_dir() {
                module_fixtures(&entry.path(), out);
            } else if t.is_file() && name.contains(".ko") {
                out.push(entry.path());
            }
        }
    }

    /// Limits so small that every fixture module is read as spans (head, a window, the tail), not as one piece.
    fn tiny() -> StreamLimits {
        StreamLimits {
            head: 64,
            window: 400,
            before_headers: 96,
            chunk: 100,
            ..StreamLimits::default()
        }
    }

    #[test]
    fn streaming_equals_the_whole_parse_on_every_fixture_module() {
        let mut files = Vec::new();
        module_fixtures(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut files,
        );
        assert!(files.len() > 100, "{} module fixtures", files.len());
        let mut sparse = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            let want = whole_parse(&bytes);
            for limits in [StreamLimits::default(), tiny()] {
                let (got, how) = read_module_file(File::open(path).unwrap(), &limits);
                assert_eq!(got, want, "{}", path.display());
                // Every module with a .modinfo is answered from the spans; only the whole parse's failures may
                // ask for the whole file.
                if want.is_ok() {
                    assert_eq!(how, ReadPath::Streamed, "{}", path.display());
                }
            }
            sparse += usize::from(want.is_ok());
        }
        assert!(sparse > 100, "only {sparse} readable modules");
    }

    /// The same on a real kernel's module tree (signed, modversions, real layouts), streamed with the real limits:
    /// `NVFIX_REAL_MODULES=/lib/modules/$(uname -r) cargo test --lib real_module_tree -- --ignored`.
    #[test]
    #[ignore = "needs NVFIX_REAL_MODULES, a folder of real kernel modules"]
    fn streaming_equals_the_whole_parse_on_a_real_module_tree() {
        let dir = std::env::var("NVFIX_REAL_MODULES").expect("NVFIX_REAL_MODULES");
        let mut files = Vec::new();
        module_fixtures(Path::new(&dir), &mut files);
        assert!(!files.is_empty(), "no modules under {dir}");
        let mut whole = 0;
        for path in &files {
            let want = whole_parse(&std::fs::read(path).unwrap());
            let (got, how) = read_module_file(File::open(path).unwrap(), &StreamLimits::default());
            assert_eq!(got, want, "{}", path.display());
            if how == ReadPath::Whole {
                eprintln!("read whole: {}", path.display());
                whole += 1;
            }
        }
        assert_eq!(
            whole,
            0,
            "{whole} of {} modules were read whole",
            files.len()
        );
    }

    #[test]
    fn a_modinfo_far_from_its_marker_window_is_read_whole_and_still_right() {
        // A window smaller than the distance from `vermagic=` to the ends of .modinfo: the spans miss some of it,
        // the reader notices and reads the file whole.
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/modules/580.95.05/nvidia.ko");
        let limits = StreamLimits {
            window: 8,
            ..tiny()
        };
        let (got, how) = read_module_file(File::open(&path).unwrap(), &limits);
        assert_eq!(how, ReadPath::Whole);
        assert_eq!(got, whole_parse(&std::fs::read(&path).unwrap()));
    }

    /// An ELF64 header whose section headers would start at `shoff`, then `zeros` zero bytes.
    fn elf_then_zeros(shoff: u64, zeros: usize) -> Vec<u8> {
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        elf.resize(64 + zeros, 0);
        elf
    }

    fn temp_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let file = File::open(f.path()).unwrap();
        (f, file)
    }

    #[test]
    fn a_decompression_bomb_is_refused_quickly_in_every_format() {
        // 64 MiB of zeros behind a module-looking header, compressed to a few kilobytes; the cap is 8 MiB.
        let plain = elf_then_zeros(1 << 40, 64 << 20);
        let limits = StreamLimits {
            max_bytes: 8 << 20,
            ..StreamLimits::default()
        };
        let zst = zstd::encode_all(plain.as_slice(), 3).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 0);
        xz.write_all(&plain).unwrap();
        let xz = xz.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        for (what, bomb) in [("zstd", zst), ("xz", xz), ("gzip", gz)] {
            assert!(bomb.len() < 1 << 20, "{what}: {}", bomb.len());
            let (_t, file) = temp_with(&bomb);
            let started = std::time::Instant::now();
            let (got, _) = read_module_file(file, &limits);
            let e = got.unwrap_err();
            assert!(e.contains(what) && e.contains("more than 8 MiB"), "{e}");
            assert!(
                started.elapsed().as_secs() < 5,
                "{what}: {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn a_stream_keeps_only_its_spans_however_big() {
        // 32 MiB with no section headers in reach: what is kept stays at the head, windows and the tail cap.
        let plain = elf_then_zeros(1 << 40, 32 << 20);
        let limits = StreamLimits::default();
        let image = capture(&mut plain.as_slice(), Compression::Plain, &limits).unwrap();
        assert!(
            image.kept_bytes() as u64 <= limits.head,
            "{}",
            image.kept_bytes()
        );
        // A header that says the section headers are near the start: the tail is capped, never the whole stream.
        let plain = elf_then_zeros(4096, 32 << 20);
        let image = capture(&mut plain.as_slice(), Compression::Plain, &limits).unwrap();
        assert!(
            image.kept_bytes() as u64 <= limits.head + limits.max_tail,
            "{}",
            image.kept_bytes()
        );
    }

    #[test]
    fn zeros_without_an_elf_header_stop_the_read_at_once() {
        let zst = zstd::encode_all(vec![0u8; 64 << 20].as_slice(), 1).unwrap();
        let (_t, file) = temp_with(&zst);
        let started = std::time::Instant::now();
        let (got, how) = read_module_file(file, &StreamLimits::default());
        assert_eq!(got.unwrap_err(), "not an ELF file");
        assert_eq!(how, ReadPath::Streamed);
        assert!(
            started.elapsed().as_millis() < 1000,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn empty_and_unknown_files_say_so() {
        let (_t, file) = temp_with(b"");
        assert_eq!(
            read_module_file(file, &StreamLimits::default())
                .0
                .unwrap_err(),
            "empty file"
        );
        let (_t, file) = temp_with(b"garbage");
        assert!(read_module_file(file, &StreamLimits::default())
            .0
            .unwrap_err()
            .contains("neither"));
    }
}
