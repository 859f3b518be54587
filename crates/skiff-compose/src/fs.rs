//! The loader's one window on the file system.

use crate::loader::Files;

/// [`Files`] over the real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFiles;

impl Files for OsFiles {
    fn read(&self, path: &str) -> std::io::Result<String> {
        let bytes = std::fs::read(path)?;
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    fn is_dir(&self, path: &str) -> bool {
        std::path::Path::new(path).is_dir()
    }

    fn is_file(&self, path: &str) -> bool {
        std::path::Path::new(path).is_file()
    }
}
