//! Sealing objects: compression, encryption to age recipients, and chunk ids.
//!
//! A stored object is `SKB1`, one flags byte (bit 0: zstd, bit 1: age), then the payload:
//! `age(zstd(plaintext))` when encrypted. Compression comes before encryption because
//! ciphertext does not compress.
//!
//! Chunk ids: without encryption, the SHA-256 of the plaintext. With encryption, an
//! HMAC-SHA256 of the plaintext under a key derived from the sorted recipient list, so the
//! ids in the repository cannot be matched against the SHA-256 of known data by someone who
//! holds only the repository. Whoever also knows the recipients (public keys) can test
//! whether a guessed chunk is present; the ids reveal nothing else. The key is recorded in
//! each snapshot's encrypted detail, so a restore verifies chunks even after the recipients
//! changed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use hmac::Mac;
use sha2::Digest;

use crate::error::{BackupError, Result};

const MAGIC: &[u8; 4] = b"SKB1";
const ZSTD: u8 = 1;
const AGE: u8 = 2;

/// The zstd level used for chunks: fast, and a good ratio on dumps.
pub const ZSTD_LEVEL: i32 = 3;

/// How objects are sealed for one backup: the recipients (if encrypted) and the id key.
#[derive(Clone)]
pub struct Sealer {
    recipients: Vec<age::x25519::Recipient>,
    id_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("recipients", &self.recipients.len())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer that compresses only.
    #[must_use]
    pub fn plain() -> Sealer {
        Sealer {
            recipients: Vec::new(),
            id_key: None,
        }
    }

    /// A sealer that encrypts to these age recipients (`age1...`).
    ///
    /// # Errors
    /// A recipient that does not parse, or none at all.
    pub fn encrypted(recipients: &[String]) -> Result<Sealer> {
        if recipients.is_empty() {
            return Err(BackupError::Recipient {
                recipient: String::new(),
                reason: "encrypt.recipients is empty".to_owned(),
            });
        }
        let mut parsed = Vec::new();
        let mut sorted: Vec<&str> = recipients.iter().map(|r| r.trim()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        for r in &sorted {
            let rec: age::x25519::Recipient =
                r.parse().map_err(|e: &str| BackupError::Recipient {
                    recipient: (*r).to_owned(),
                    reason: e.to_owned(),
                })?;
            parsed.push(rec);
        }
        let mut h = sha2::Sha256::new();
        h.update(b"skiff-backup chunk-id key v1\0");
        for r in &sorted {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        Ok(Sealer {
            recipients: parsed,
            id_key: Some(h.finalize().into()),
        })
    }

    /// Whether objects are encrypted.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The key chunk ids are computed with (`None`: plain SHA-256).
    #[must_use]
    pub fn id_key(&self) -> Option<[u8; 32]> {
        self.id_key
    }

    /// The content-defined chunker's seed: derived from the id key when encrypted, so chunk
    /// boundaries (and so sizes) do not fingerprint known files.
    #[must_use]
    pub fn chunker_seed(&self) -> u64 {
        self.id_key.map_or(0, |k| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&k[..8]);
            u64::from_le_bytes(b)
        })
    }

    /// Compresses (and encrypts) a plaintext into a stored object.
    ///
    /// # Errors
    /// Only on internal failures of the compressor or the cipher.
    pub fn seal(&self, plaintext: &[u8]) -> std::io::Result<Vec<u8>> {
        let compressed = zstd::bulk::compress(plaintext, ZSTD_LEVEL)?;
        let mut out = Vec::with_capacity(compressed.len() + 256);
        out.extend_from_slice(MAGIC);
        if self.recipients.is_empty() {
            out.push(ZSTD);
            out.extend_from_slice(&compressed);
            return Ok(out);
        }
        out.push(ZSTD | AGE);
        let enc = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| r as &dyn age::Recipient),
        )
        .map_err(std::io::Error::other)?;
        let mut w = enc.wrap_output(&mut out)?;
        w.write_all(&compressed)?;
        w.finish()?;
        Ok(out)
    }
}

/// The chunk id of a plaintext under a key (or plain SHA-256 without one).
#[must_use]
pub fn chunk_id(key: Option<&[u8; 32]>, data: &[u8]) -> String {
    match key {
        None => hex::encode(sha2::Sha256::digest(data)),
        Some(k) => {
            // HMAC pads a short key with zeros to the block size, so this is HMAC(k, data).
            let mut block = [0u8; 64];
            block[..32].copy_from_slice(k);
            let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new(&block.into());
            mac.update(data);
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// The identities that open encrypted objects, read from an age identity file.
pub struct Opener {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener without identities: reads unencrypted objects only.
    #[must_use]
    pub fn none() -> Opener {
        Opener {
            identities: Vec::new(),
            file: None,
        }
    }

    /// Reads an age identity file (`AGE-SECRET-KEY-1...` lines; comments allowed).
    ///
    /// # Errors
    /// The file cannot be read, or holds no identity. The message never quotes its content.
    pub fn from_file(path: &Path) -> Result<Opener> {
        let err = |reason: String| BackupError::IdentityFile {
            file: path.to_owned(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let parsed = age::IdentityFile::from_buffer(std::io::BufReader::new(file))
            .map_err(|_| err("not an age identity file".to_owned()))?;
        let identities = parsed
            .into_identities()
            .map_err(|_| err("an identity in it is not supported".to_owned()))?;
        if identities.is_empty() {
            return Err(err("it holds no identity".to_owned()));
        }
        Ok(Opener {
            identities,
            file: Some(path.to_owned()),
        })
    }

    /// Opens a stored object back into its plaintext. `what`/`key`/`location` name it in
    /// errors.
    ///
    /// # Errors
    /// A damaged object ([`BackupError::Corrupt`]), an identity that does not match
    /// ([`BackupError::WrongIdentity`]), or no identity for an encrypted object.
    pub fn open(
        &self,
        object: &[u8],
        what: &'static str,
        key: &str,
        location: &str,
    ) -> Result<Vec<u8>> {
        let corrupt = |reason: String| BackupError::Corrupt {
            what,
            key: key.to_owned(),
            location: location.to_owned(),
            reason,
        };
        if object.len() < 5 || &object[..4] != MAGIC {
            return Err(corrupt("not a skiff backup object (bad header)".to_owned()));
        }
        let flags = object[4];
        let body = &object[5..];
        let compressed = if flags & AGE != 0 {
            let Some(file) = &self.file else {
                return Err(BackupError::IdentityNeeded {
                    snapshot: key.to_owned(),
                    location: location.to_owned(),
                });
            };
            let dec = age::Decryptor::new_buffered(body)
                .map_err(|e| corrupt(format!("the encryption header does not decode ({e})")))?;
            let mut r = match dec.decrypt(
                self.identities
                    .iter()
                    .map(|i| i.as_ref() as &dyn age::Identity),
            ) {
                Ok(r) => r,
                Err(age::DecryptError::NoMatchingKeys) => {
                    return Err(BackupError::WrongIdentity {
                        file: file.clone(),
                        location: location.to_owned(),
                    });
                }
                Err(e) => return Err(corrupt(format!("it does not decrypt ({e})"))),
            };
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map_err(|e| corrupt(format!("it does not decrypt ({e})")))?;
            out
        } else {
            body.to_vec()
        };
        if flags & ZSTD != 0 {
            zstd::stream::decode_all(compressed.as_slice())
                .map_err(|e| corrupt(format!("it does not decompress ({e})")))
        } else {
            Ok(compressed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let id = age::x25519::Identity::generate();
        let sealer = Sealer::encrypted(&[id.to_public().to_string()]).expect("recipient");
        let dir = tempfile::tempdir().expect("tempdir");
        let keyfile = dir.path().join("key");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&keyfile, id.to_string().expose_secret()).expect("write key");
        }
        let opener = Opener::from_file(&keyfile).expect("identity");
        let data = b"hello hello hello hello".repeat(100);
        let sealed = sealer.seal(&data).expect("seal");
        assert!(
            !sealed.windows(5).any(|w| w == b"hello"),
            "plaintext leaked"
        );
        assert_eq!(
            opener.open(&sealed, "chunk", "k", "loc").expect("open"),
            data
        );

        let other = age::x25519::Identity::generate();
        let otherfile = dir.path().join("other");
        {
            use age::secrecy::ExposeSecret;
            std::fs::write(&otherfile, other.to_string().expose_secret()).expect("write key");
        }
        let wrong = Opener::from_file(&otherfile).expect("identity");
        let err = wrong
            .open(&sealed, "chunk", "k", "loc")
            .expect_err("wrong key");
        assert!(
            err.to_string().contains("does not decrypt this backup"),
            "{err}"
        );
        assert!(!err.to_string().contains("AGE-SECRET-KEY"), "{err}");

        let mut damaged = sealed.clone();
        let n = damaged.len();
        damaged[n - 3] ^= 0xff;
        let err = opener
            .open(&damaged, "chunk", "k", "loc")
            .expect_err("corrupt");
        assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn ids_are_keyed_when_encrypted() {
        let id = age::x25519::Identity::generate();
        let sealer = Sealer::encrypted(&[id.to_public().to_string()]).expect("recipient");
        let plain = chunk_id(None, b"abc");
        assert_eq!(plain, hex::encode(sha2::Sha256::digest(b"abc")));
        assert_ne!(chunk_id(sealer.id_key().as_ref(), b"abc"), plain);
    }

    #[test]
    fn bad_recipient_is_named() {
        let err = Sealer::encrypted(&["age1nope".to_owned()]).expect_err("bad");
        assert!(err.to_string().contains("age1nope"), "{err}");
    }
}
