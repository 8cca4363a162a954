//! A project from a tar archive (plain or gzip), unpacked with every entry
//! checked: see [`super::unpack`]. Refusals name the entry; the caller
//! removes the half-written directory.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::unpack::{clean_path, printable, Budget, Destination, UnpackError, UnpackLimits};

/// Counts the bytes read from the (possibly compressed) input.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Copy)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
}

/// Unpacks `input` (tar or tar.gz, told apart by the gzip magic) into `dest`,
/// a directory that must not exist yet. On error `dest` may hold a part of
/// the archive: remove it.
pub fn unpack(
    input: impl Read,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<Unpacked, UnpackError> {
    let read = Arc::new(AtomicU64::new(0));
    let mut input = BufReader::new(Counted {
        inner: input,
        read: read.clone(),
    });
    let gzip = input
        .fill_buf()
        .map_err(UnpackError::Read)?
        .starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut archive = tar::Archive::new(stream);
    let mut destination = Destination::create(dest)?;
    let mut budget = Budget::new(limits);
    let packed = || read.load(Ordering::Relaxed);
    let mut entries = 0;
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        budget.entry()?;
        entries += 1;
        let Some(path) = clean_path(&raw)? else {
            continue; // `./`: the root itself
        };
        let kind = entry.header().entry_type();
        use tar::EntryType;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let executable = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                destination.file(&path, &raw, executable, &mut entry, &mut budget, &packed)?;
            }
            EntryType::Directory => destination.dir(&path)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                destination.symlink(&path, &raw, &target)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let Some(target) = clean_path(&target)? else {
                    return Err(UnpackError::Entry {
                        entry: printable(&raw),
                        reason: "a hard link to the root".into(),
                    });
                };
                destination.hard_link(&path, &raw, &target)?;
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            other => {
                return Err(UnpackError::Entry {
                    entry: printable(&raw),
                    reason: format!("{} entries are not allowed in a project", kind_name(other)),
                })
            }
        }
    }
    Ok(Unpacked {
        entries,
        bytes: budget.total_bytes(),
    })
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    use tar::EntryType;
    match kind {
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Fifo => "FIFO",
        _ => "special",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header
    }

    /// Writes a raw name the tar crate's safe setters would refuse.
    fn raw_name(header: &mut tar::Header, name: &str) {
        let bytes = &mut header.as_old_mut().name;
        bytes.fill(0);
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
    }

    fn unpack_err(data: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        unpack(data, &dir.path().join("p"), UnpackLimits::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn plain_project_unpacks() {
        let data = archive(|b| {
            let mut h = header(tar::EntryType::Regular, 5);
            b.append_data(&mut h, "src/app.sh", &b"hello"[..]).unwrap();
            let mut l = header(tar::EntryType::Symlink, 0);
            b.append_link(&mut l, "link", "src/app.sh").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let done = unpack(&data[..], &dir.path().join("p"), UnpackLimits::default()).unwrap();
        assert_eq!(done.bytes, 5);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("p/link")).unwrap(),
            "hello"
        );
    }

    #[test]
    fn traversal_absolute_and_devices_are_refused() {
        let data = archive(|b| {
            let mut h = header(tar::EntryType::Regular, 1);
            raw_name(&mut h, "../evil");
            b.append(&h, &b"x"[..]).unwrap();
        });
        assert!(unpack_err(&data).contains("entry `../evil`: `..` leads outside"));
        let data = archive(|b| {
            let mut h = header(tar::EntryType::Regular, 1);
            raw_name(&mut h, "/etc/evil");
            b.append(&h, &b"x"[..]).unwrap();
        });
        assert!(unpack_err(&data).contains("entry `/etc/evil`: an absolute path"));
        let data = archive(|b| {
            let mut h = header(tar::EntryType::Char, 0);
            raw_name(&mut h, "dev/null");
            b.append(&h, &b""[..]).unwrap();
        });
        assert!(unpack_err(&data).contains("entry `dev/null`: character device"));
    }

    #[test]
    fn links_out_are_refused() {
        let data = archive(|b| {
            let mut l = header(tar::EntryType::Symlink, 0);
            b.append_link(&mut l, "a/out", "../../etc/passwd").unwrap();
        });
        assert!(unpack_err(&data).contains("entry `a/out`: a link to `../../etc/passwd`, outside"));
        let data = archive(|b| {
            let mut l = header(tar::EntryType::Symlink, 0);
            b.append_link(&mut l, "abs", "/etc").unwrap();
        });
        assert!(unpack_err(&data).contains("outside"));
    }

    #[test]
    fn bombs_are_refused() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        {
            let mut b = tar::Builder::new(&mut gz);
            let size = 80 << 20;
            let mut h = header(tar::EntryType::Regular, size);
            b.append_data(&mut h, "zeros", std::io::repeat(0).take(size))
                .unwrap();
            b.finish().unwrap();
        }
        let data = gz.finish().unwrap();
        assert!(unpack_err(&data).contains("entry `zeros`: the archive unpacks to over 200 times"));
        let many = archive(|b| {
            for i in 0..20 {
                let mut h = header(tar::EntryType::Regular, 0);
                b.append_data(&mut h, format!("f{i}"), &b""[..]).unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let limits = UnpackLimits {
            max_entries: 10,
            ..UnpackLimits::default()
        };
        let error = unpack(&many[..], &dir.path().join("p"), limits).unwrap_err();
        assert!(
            error.to_string().contains("more than 10 entries"),
            "{error}"
        );
    }
}
