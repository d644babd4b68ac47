//! Sealing with a receipt, and checking a project against one: the use cases behind `tuban seal`,
//! `tuban verify --receipt/--digest`, `tuban keygen` and the window's seal job.
//! The check recomputes every digest from the data and never reads the seal tables, so a rewrite
//! of `tuban_seals` and `tuban_seal_items`, or an unseal, edit and reseal, still shows.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{io_error, OpsError, Overwrite};
use crate::atomic::{write_file, AtomicError, PartFile};
use crate::receipt::{self, Receipt, ReceiptError};
use crate::store::{compare_seal, Difference, Project, SealInfo, DIGEST_VERSION};

/// What `seal` does besides sealing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SealOptions {
    /// An Ed25519 private key (PKCS#8 PEM) to sign the receipt with.
    pub sign_key: Option<PathBuf>,
}

/// A seal and its receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    /// The seal recorded in the project.
    pub seal: SealInfo,
    /// The receipt written beside the project.
    pub receipt_path: PathBuf,
    /// The receipt.
    pub receipt: Receipt,
}

/// Reads a key file as text, naming the file on failure.
fn read_key(path: &Path) -> Result<String, OpsError> {
    std::fs::read_to_string(path).map_err(|cause| ReceiptError::Read { path: path.display().to_string(), cause }.into())
}

/// Seals `p`, then writes the receipt (signed with `opts.sign_key`) beside the project through
/// the atomic writer. If the receipt cannot be written the seal is lifted again (with that
/// reason in the audit log), so a seal never stands without its receipt.
pub fn seal(p: &mut Project, opts: &SealOptions) -> Result<Sealed, OpsError> {
    // The key is read and checked before anything is sealed.
    let key = match &opts.sign_key {
        Some(path) => {
            let pem = read_key(path)?;
            receipt::check_signing_key(&pem, path)?;
            Some((pem, path.clone()))
        }
        None => None,
    };
    let (info, snap) = p.seal_with_snapshot()?;
    let mut r = Receipt::new(p.path(), p.meta(), &info, &snap);
    let written = (|| {
        if let Some((pem, path)) = &key {
            r.sign(pem, path)?;
        }
        let when = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        let out = receipt::file_name(p.path(), &when);
        write_file(&out, &r.to_json(), Overwrite::Refuse)?;
        Ok::<_, OpsError>(out)
    })();
    match written {
        Ok(receipt_path) => Ok(Sealed { seal: info, receipt_path, receipt: r }),
        Err(e) => {
            p.unseal("封库回执未能写出，已自动解封 / the receipt could not be written; unsealed again")?;
            Err(e)
        }
    }
}

/// What a project is checked against.
#[derive(Debug, Clone, PartialEq)]
pub enum Against {
    /// A receipt file, and the public key (PEM) whose signature it must carry, if asked.
    Receipt {
        /// The receipt.
        path: PathBuf,
        /// The signer's public key.
        public_key: Option<PathBuf>,
    },
    /// A digest in hex (printed by `tuban seal`): says only whether anything changed.
    Digest(String),
}

/// The signature check of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No public key was given.
    NotAsked,
    /// Signed by that key and unchanged since.
    Valid,
    /// Not signed by that key, or changed after signing.
    Invalid,
    /// The receipt has no signature.
    Missing,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The digest sealed (from the receipt or given).
    pub expected: String,
    /// The digest of the data now, by the rule of `digest_version`.
    pub digest_now: String,
    /// The digest rule compared by.
    pub digest_version: u32,
    /// The items that differ (only with a receipt; a bare digest cannot name them).
    pub differences: Vec<Difference>,
    /// False when the receipt's item digests do not make up its digest (edited by hand).
    pub receipt_consistent: bool,
    /// The signature, when a public key was given.
    pub signature: SignatureCheck,
    /// The receipt checked against.
    pub receipt: Option<Receipt>,
}

impl Verified {
    /// True when the data is as sealed (and the receipt whole and, if asked, validly signed).
    pub fn unchanged(&self) -> bool {
        self.expected == self.digest_now
            && self.differences.is_empty()
            && self.receipt_consistent
            && matches!(self.signature, SignatureCheck::NotAsked | SignatureCheck::Valid)
    }
}

/// Checks `p` against a receipt or a digest, recomputing everything from the data.
pub fn verify(p: &Project, against: &Against) -> Result<Verified, OpsError> {
    match against {
        Against::Digest(text) => verify_digest(p, text),
        Against::Receipt { path, public_key } => {
            let r = Receipt::read(path)?;
            if r.digest_version != DIGEST_VERSION {
                return Err(OpsError::Invalid(format!(
                    "{}: 回执的摘要版本 {} 本程序不认识，请升级 tuban / digest version {} is unknown to this tuban; update it",
                    path.display(),
                    r.digest_version,
                    r.digest_version
                )));
            }
            let signature = match public_key {
                None => SignatureCheck::NotAsked,
                Some(_) if r.signature.is_none() => SignatureCheck::Missing,
                Some(k) => {
                    if r.signature_valid(&read_key(k)?, k)? {
                        SignatureCheck::Valid
                    } else {
                        SignatureCheck::Invalid
                    }
                }
            };
            let now = p.seal_snapshot()?;
            let differences = compare_seal(&r.sealed_items(), &now);
            Ok(Verified {
                expected: r.digest.clone(),
                digest_now: now.digest(),
                digest_version: r.digest_version,
                differences,
                receipt_consistent: r.is_consistent(),
                signature,
                receipt: Some(r),
            })
        }
    }
}

/// A bare digest: by the current rule, else by version 1 (seals made before receipts).
fn verify_digest(p: &Project, text: &str) -> Result<Verified, OpsError> {
    let expected = text.trim().to_ascii_lowercase();
    if expected.len() != 64 || receipt::unhex(&expected).is_none() {
        return Err(OpsError::Invalid(format!(
            "{}: --digest 应为 64 位十六进制（tuban seal 打印的 SHA-256） / --digest must be 64 hex digits (the SHA-256 tuban seal printed)",
            p.path().display()
        )));
    }
    let mut out = Verified {
        expected,
        digest_now: p.seal_snapshot()?.digest(),
        digest_version: DIGEST_VERSION,
        differences: Vec::new(),
        receipt_consistent: true,
        signature: SignatureCheck::NotAsked,
        receipt: None,
    };
    if out.expected != out.digest_now {
        let v1 = p.digest_v1()?;
        if v1 == out.expected {
            (out.digest_now, out.digest_version) = (v1, 1);
        }
    }
    Ok(out)
}

/// Names of the key pair `keygen` writes.
pub const PRIVATE_KEY_FILE: &str = "封库私钥.pem";
/// The public half, for the province.
pub const PUBLIC_KEY_FILE: &str = "封库公钥.pem";

/// Makes an Ed25519 key pair in `dir` (created if missing): the private key readable by its
/// owner only, the public key to hand to the province. Existing keys are never replaced.
/// Returns (private, public).
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf), OpsError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let (private, public) = receipt::keygen()?;
    let (priv_path, pub_path) = (dir.join(PRIVATE_KEY_FILE), dir.join(PUBLIC_KEY_FILE));
    if pub_path.exists() {
        return Err(AtomicError::Exists { path: pub_path.display().to_string() }.into());
    }
    let part = PartFile::new(&priv_path, Overwrite::Refuse)?;
    let mut f = private_file(part.path()).map_err(|e| AtomicError::io(part.path(), e))?;
    f.write_all(private.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| AtomicError::io(part.path(), e))?;
    part.commit()?;
    write_file(&pub_path, public.as_bytes(), Overwrite::Refuse)?;
    Ok((priv_path, pub_path))
}

/// A new file only its owner can read (on Unix).
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}
