//! Safe reading of zip containers (docx, pptx, xlsx, ods): entry count,
//! total uncompressed size and compression ratio are checked from the central
//! directory before anything is inflated, and every read is capped again in
//! case the directory lies.

use crate::{Error, Limits, Result};
use std::io::{Cursor, Read};

const MAX_ENTRIES: usize = 20_000;

/// An opened, checked zip archive.
pub struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    format: &'static str,
    per_entry_limit: u64,
}

impl<'a> Archive<'a> {
    pub fn open(bytes: &'a [u8], limits: &Limits, format: &'static str) -> Result<Self> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::Malformed {
            format,
            reason: format!("not a valid zip container: {e}"),
        })?;
        Limits::check(zip.len(), MAX_ENTRIES, "zip entries")?;
        let mut total: u64 = 0;
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(|e| Error::Malformed {
                format,
                reason: format!("bad zip entry: {e}"),
            })?;
            total = total.saturating_add(entry.size());
        }
        if total > limits.max_uncompressed_bytes {
            return Err(Error::LimitExceeded {
                what: format!("uncompressed size ({total} bytes)"),
                limit: format!("{} bytes", limits.max_uncompressed_bytes),
            });
        }
        let ratio = total / (bytes.len() as u64).max(1);
        if ratio > limits.max_compression_ratio {
            return Err(Error::LimitExceeded {
                what: format!("compression ratio ({ratio}:1, a zip bomb?)"),
                limit: format!("{}:1", limits.max_compression_ratio),
            });
        }
        Ok(Self {
            zip,
            format,
            per_entry_limit: limits.max_uncompressed_bytes,
        })
    }

    /// An entry's bytes, `None` when absent.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let format = self.format;
        let mut entry = match self.zip.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => {
                return Err(Error::Malformed {
                    format,
                    reason: format!("{name}: {e}"),
                });
            }
        };
        let mut out = Vec::with_capacity(entry.size().min(16 * 1024 * 1024) as usize);
        (&mut entry)
            .take(self.per_entry_limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Malformed {
                format,
                reason: format!("{name}: {e}"),
            })?;
        if out.len() as u64 > self.per_entry_limit {
            return Err(Error::LimitExceeded {
                what: format!("uncompressed size of {name}"),
                limit: format!("{} bytes", self.per_entry_limit),
            });
        }
        Ok(Some(out))
    }

    /// Inflates every entry (and checks its CRC) without keeping it: a
    /// damaged archive is an error here, not a panic in a library that
    /// reads it next.
    pub fn verify_entries(&mut self) -> Result<()> {
        for i in 0..self.zip.len() {
            let format = self.format;
            let mut entry = self.zip.by_index(i).map_err(|e| Error::Malformed {
                format,
                reason: format!("zip entry {i}: {e}"),
            })?;
            let name = entry.name_raw().to_vec();
            let name = String::from_utf8_lossy(&name).into_owned();
            std::io::copy(
                &mut (&mut entry).take(self.per_entry_limit + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| Error::Malformed {
                format,
                reason: format!("{name}: {e}"),
            })?;
        }
        Ok(())
    }

    /// An entry as UTF-8 text.
    pub fn read_text(&mut self, name: &str) -> Result<Option<String>> {
        let format = self.format;
        self.read(name)?
            .map(|b| {
                String::from_utf8(b).map_err(|_| Error::Malformed {
                    format,
                    reason: format!("{name} is not UTF-8"),
                })
            })
            .transpose()
    }
}

/// What an Office Open XML / OpenDocument zip holds, from its part names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficeKind {
    Docx,
    Pptx,
    Xlsx,
    Ods,
}

/// Tells docx / pptx / xlsx / ods apart by their part names.
pub fn office_kind(bytes: &[u8]) -> Option<OfficeKind> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return None;
    }
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let has = |n: &str| zip.file_names().any(|f| f.is_ok_and(|f| f == n));
    if has("word/document.xml") {
        Some(OfficeKind::Docx)
    } else if has("ppt/presentation.xml") {
        Some(OfficeKind::Pptx)
    } else if has("xl/workbook.xml") {
        Some(OfficeKind::Xlsx)
    } else if has("content.xml") && has("mimetype") {
        Some(OfficeKind::Ods)
    } else {
        None
    }
}

/// OLE2 compound file: legacy .xls/.doc/.ppt, and encrypted OOXML files.
pub fn is_ole2(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

const RESERVED: u32 = 0xFFFF_FFFA;
const DIFSECT: u32 = 0xFFFF_FFFC;

/// Little-endian integers at a byte offset (compound files and the BIFF
/// records inside them).
pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn words(s: &[u8]) -> Vec<u32> {
    s.chunks_exact(4).map(|c| le_u32(c, 0)).collect()
}

/// A checked compound file: its sectors and allocation table.
pub struct Compound<'a> {
    body: &'a [u8],
    size: usize,
    fat: Vec<u32>,
    /// Directory entries, 128 bytes each, the root first.
    entries: Vec<Vec<u8>>,
    minifat: Vec<u32>,
    ministream: Vec<u8>,
}

/// Streams shorter than this live in the mini stream (calamine's fixed
/// cut-off, the format's usual one).
const MINI_CUTOFF: usize = 4096;

/// A directory entry's name as calamine reads it: the UTF-16 of its 64
/// name bytes, up to the first NUL.
fn entry_name(entry: &[u8]) -> String {
    let units: Vec<u16> = entry[..64]
        .chunks_exact(2)
        .map(|c| le_u16(c, 0))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn entry_len(entry: &[u8], size: usize) -> usize {
    if size == 512 {
        le_u32(entry, 120) as usize
    } else {
        usize::try_from(u64::from(le_u32(entry, 120)) | (u64::from(le_u32(entry, 124)) << 32))
            .unwrap_or(usize::MAX)
    }
}

impl<'a> Compound<'a> {
    /// Checks the allocation structure before calamine reads the file: every
    /// sector the DIFAT, the FAT and the directory and mini-FAT chains name
    /// lies inside the file, and no chain loops (calamine indexes past its
    /// buffer, a panic, when a truncated file names a sector beyond the
    /// end). The error says why the file is unreadable.
    pub fn open(bytes: &'a [u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 512 {
            return Err(format!(
                "{} bytes, shorter than the 512-byte header",
                bytes.len()
            ));
        }
        let (size, header) = match le_u16(bytes, 30) {
            9 => (512usize, 512usize),
            12 => (4096, 4096),
            shift => return Err(format!("sector shift {shift:#x} (0x9 or 0xC expected)")),
        };
        let body = bytes.get(header..).ok_or("the header is cut short")?;
        let mut file = Compound {
            body,
            size,
            fat: Vec::new(),
            entries: Vec::new(),
            minifat: Vec::new(),
            ministream: Vec::new(),
        };
        let sectors = file.sectors();
        let mut difat = words(&bytes[76..512]);
        let mut next = le_u32(bytes, 68);
        let mut steps = 0usize;
        while next < RESERVED {
            steps += 1;
            if steps > sectors {
                return Err("the DIFAT chain loops".into());
            }
            let mut entries = words(file.sector(next)?);
            next = entries.pop().unwrap_or(u32::MAX);
            difat.extend(entries);
        }
        let mut fat = Vec::new();
        for id in difat.into_iter().filter(|id| *id < DIFSECT) {
            fat.extend(words(file.sector(id)?));
        }
        let limit = sectors.min(fat.len());
        if let Some(bad) = fat.iter().find(|&&e| e < RESERVED && e as usize >= limit) {
            return Err(format!(
                "the allocation table names sector {bad}, past the end ({limit} sectors)"
            ));
        }
        file.fat = fat;
        let dir = file
            .chain(le_u32(bytes, 48))
            .map_err(|e| format!("the directory chain: {e}"))?;
        file.entries = dir.chunks_exact(128).map(<[u8]>::to_vec).collect();
        let root = file.entries.first().ok_or("no root directory entry")?;
        let mini_fat_len = le_u32(bytes, 64) as usize;
        if mini_fat_len > 0 {
            let mut ministream = file
                .chain(le_u32(root, 116))
                .map_err(|e| format!("the mini stream: {e}"))?;
            ministream.truncate(entry_len(root, size));
            let mut minifat = file
                .chain(le_u32(bytes, 60))
                .map_err(|e| format!("the mini-FAT chain: {e}"))?;
            minifat.truncate(mini_fat_len.saturating_mul(size));
            file.ministream = ministream;
            file.minifat = words(&minifat);
        }
        // Every named stream's chain, as calamine would follow it.
        for entry in file.entries.iter().skip(1) {
            let name = entry_name(entry);
            if !name.is_empty() {
                file.read_entry(entry)
                    .map_err(|e| format!("stream {name:?}: {e}"))?;
            }
        }
        Ok(file)
    }

    /// An entry's stream: from the mini stream when it is short, else
    /// from the sectors.
    fn read_entry(&self, entry: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let (start, len) = (le_u32(entry, 116), entry_len(entry, self.size));
        if start >= RESERVED {
            return Ok(Vec::new());
        }
        let mut out = if len < MINI_CUTOFF {
            let (mut id, mut steps, mut out) = (start, 0usize, Vec::new());
            while id < RESERVED {
                let at = id as usize * 64;
                if id as usize >= self.minifat.len() || at + 64 > self.ministream.len() {
                    return Err(format!("mini sector {id} is past the end"));
                }
                steps += 1;
                if steps > self.minifat.len() {
                    return Err("its mini chain loops".into());
                }
                out.extend_from_slice(&self.ministream[at..at + 64]);
                if out.len() >= len {
                    break;
                }
                id = self.minifat[id as usize];
            }
            out
        } else {
            self.chain(start)?
        };
        out.truncate(len);
        Ok(out)
    }

    fn sectors(&self) -> usize {
        self.body.len().div_ceil(self.size)
    }

    fn sector(&self, id: u32) -> std::result::Result<&'a [u8], String> {
        let at = id as usize;
        let sectors = self.sectors();
        if at >= sectors {
            return Err(format!(
                "sector {id} is past the end of the file ({sectors} sectors)"
            ));
        }
        Ok(&self.body[at * self.size..((at + 1) * self.size).min(self.body.len())])
    }

    /// The bytes of the sector chain starting at `start`.
    fn chain(&self, start: u32) -> std::result::Result<Vec<u8>, String> {
        let limit = self.sectors().min(self.fat.len());
        let (mut id, mut steps, mut out) = (start, 0usize, Vec::new());
        while id < RESERVED {
            if id as usize >= limit {
                return Err(format!("sector {id} is past the end"));
            }
            steps += 1;
            if steps > limit {
                return Err("it loops".into());
            }
            out.extend_from_slice(self.sector(id)?);
            id = self.fat[id as usize];
        }
        Ok(out)
    }

    /// The stream calamine would read for `name`: the first entry whose
    /// name matches, ASCII case ignored.
    pub fn stream(&self, name: &str) -> Option<Vec<u8>> {
        let entry = self
            .entries
            .iter()
            .find(|e| entry_name(e).eq_ignore_ascii_case(name))?;
        self.read_entry(entry).ok()
    }
}
