//! Reading one dropped file safely: a regular file, not a symbolic link, not larger than the
//! configured limit; and, for workbooks, not unpacking to more than the configured limit.
//!
//! The file is opened once, with `O_NOFOLLOW` (a symbolic link fails to open, `ELOOP`), and the
//! checks (`fstat`: a regular file, its size) and the read are done on that one open file, so a
//! file swapped for a link between a check and the read cannot be read. The read itself stops
//! one byte past the limit, so a file growing while it is read cannot exhaust memory either.
//!
//! A workbook (`.xlsx`, a zip archive) is decompressed entry by entry into nothing before the
//! reader sees it, counting the bytes, and refused past the limit: a "zip bomb" (a few hundred
//! kilobytes that unpack to gigabytes) costs a bounded time and no memory, and the reader then
//! works on at most the limit.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::Problem;

/// How large a dropped file may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read (`[inbox] max_file_bytes`).
    pub max_file_bytes: u64,
    /// Largest total unpacked size of a workbook's entries (`[inbox] max_unpacked_bytes`).
    pub max_unpacked_bytes: u64,
}

/// Default `[inbox] max_file_bytes`: 32 MiB (about 200 000 service records in CSV).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Default `[inbox] max_unpacked_bytes`: 64 MiB, which the agent's 192 MiB memory limit holds
/// with the workbook reader's cells.
pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// More entries than any workbook has.
const MAX_ZIP_ENTRIES: usize = 10_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_unpacked_bytes: DEFAULT_MAX_UNPACKED_BYTES,
        }
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadRefusal {
    /// Not something to import (a link, too large, not a regular file): the problem to show.
    Refused(Box<Problem>),
    /// An I/O error (left in place, tried again later).
    Io(io::Error),
}

/// Opens `path` without following a symbolic link, checks it is a regular file within the
/// limit, and reads it, all on the one open file.
pub fn read_checked(path: &Path, limits: &Limits) -> Result<Vec<u8>, ReadRefusal> {
    let name = path.display();
    let mut file = match File::options()
        .read(true)
        // A FIFO dropped into the inbox must not block the open.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadRefusal::Refused(Box::new(Problem::file(
                format!(
                    "{name} is a symbolic link; the inbox takes only regular files (copy the \
                     file itself into the inbox, or import it with `sme-agent import` giving the \
                     file it points to)"
                ),
                format!("{name} 是符号链接；收件箱只接受普通文件，请将文件本身复制到收件箱"),
            ))))
        }
        Err(e) => return Err(ReadRefusal::Io(e)),
    };
    let meta = file.metadata().map_err(ReadRefusal::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a named pipe"
        } else if kind.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        return Err(ReadRefusal::Refused(Box::new(Problem::file(
            format!("{name} is {what}; the inbox takes only regular files"),
            format!("{name} 不是普通文件；收件箱只接受普通文件"),
        ))));
    }
    let too_large = |size: u64| {
        ReadRefusal::Refused(Box::new(Problem::file(
            format!(
                "{name} is {} bytes, more than the limit of {} bytes ([inbox] max_file_bytes); \
                 split it into smaller files (e.g. one per month) or raise the limit",
                size, limits.max_file_bytes
            ),
            format!(
                "{name} 大小为 {size} 字节，超过上限 {} 字节（[inbox] max_file_bytes）；请拆分为较小的文件（如按月）或调高上限",
                limits.max_file_bytes
            ),
        )))
    };
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadRefusal::Io)?;
    if bytes.len() as u64 > limits.max_file_bytes {
        // It grew while being read.
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// For a zip archive (an `.xlsx`): refuses it when its entries unpack to more than
/// `max_unpacked_bytes` all told, decompressing them into nothing to count (the sizes an archive
/// declares may lie). Anything that is not a zip archive passes (the reader judges it).
pub fn check_unpacked_size(bytes: &[u8], max_unpacked_bytes: u64) -> Result<(), Box<Problem>> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    let Ok(mut archive) = zip::ZipArchive::new(io::Cursor::new(bytes)) else {
        // The workbook reader names what is wrong with it.
        return Ok(());
    };
    let bomb = |unpacked: String| {
        Box::new(Problem::file(
            format!(
                "the workbook unpacks to {unpacked}, more than the limit of {max_unpacked_bytes} \
                 bytes ([inbox] max_unpacked_bytes); a workbook of service records is far \
                 smaller: save the sheet again from Excel, or as CSV"
            ),
            format!(
                "该工作簿解压后为 {unpacked}，超过上限 {max_unpacked_bytes} 字节（[inbox] max_unpacked_bytes）；请在Excel中重新保存或另存为CSV"
            ),
        ))
    };
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(Box::new(Problem::file(
            format!(
                "the workbook holds {} parts, more than {MAX_ZIP_ENTRIES}; save it again from Excel",
                archive.len()
            ),
            format!("该工作簿包含 {} 个部件，超过 {MAX_ZIP_ENTRIES} 个；请在Excel中重新保存", archive.len()),
        )));
    }
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else {
            return Ok(());
        };
        let left = max_unpacked_bytes.saturating_sub(total);
        match io::copy(&mut (&mut entry).take(left + 1), &mut io::sink()) {
            Ok(n) => total += n,
            // A broken entry: the reader names it.
            Err(_) => return Ok(()),
        }
        if total > max_unpacked_bytes {
            return Err(bomb(format!("more than {max_unpacked_bytes} bytes")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits(file: u64, unpacked: u64) -> Limits {
        Limits {
            max_file_bytes: file,
            max_unpacked_bytes: unpacked,
        }
    }

    #[test]
    fn links_large_files_and_pipes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("a.csv");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_checked(&file, &limits(10, 10)).unwrap().len(), 10);
        match read_checked(&file, &limits(9, 10)) {
            Err(ReadRefusal::Refused(p)) => {
                assert!(p.en.contains("a.csv is 10 bytes"), "{}", p.en);
                assert!(p.en.contains("limit of 9 bytes"), "{}", p.en);
            }
            other => panic!("{other:?}"),
        }
        let link = d.path().join("link.csv");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        match read_checked(&link, &Limits::default()) {
            Err(ReadRefusal::Refused(p)) => assert!(p.en.contains("symbolic link"), "{}", p.en),
            other => panic!("{other:?}"),
        }
        let fifo = d.path().join("pipe.csv");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        match read_checked(&fifo, &Limits::default()) {
            Err(ReadRefusal::Refused(p)) => assert!(p.en.contains("named pipe"), "{}", p.en),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_zip_that_unpacks_too_far_is_refused() {
        let mut buf = io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut buf);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
            let chunk = vec![b'0'; 1 << 20];
            for _ in 0..8 {
                zip.write_all(&chunk).unwrap();
            }
            zip.finish().unwrap();
        }
        let bytes = buf.into_inner();
        assert!(bytes.len() < 100_000, "{}", bytes.len());
        assert!(check_unpacked_size(&bytes, 8 << 20).is_ok());
        let p = check_unpacked_size(&bytes, 1 << 20).unwrap_err();
        assert!(p.en.contains("max_unpacked_bytes"), "{}", p.en);
        assert!(check_unpacked_size(b"not a zip", 1).is_ok());
    }
}
