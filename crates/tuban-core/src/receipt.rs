//! The seal receipt (封库回执): a JSON file written beside the project when it is sealed, kept
//! by the province outside the project file. It holds the project's identity, the counts, the
//! digest with its version, and the digest of every item and field, so a later check against it
//! recomputes everything from the data and names what changed, whatever was done to the seal
//! tables inside the file. An optional Ed25519 signature over the receipt's canonical bytes (the
//! compact JSON without the signature) shows who sealed it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::{hex, total_digest, ItemId, ProjectMeta, SealInfo, SealedItem, Snapshot};

/// What every receipt says it is, so a stray JSON file is not taken for one.
pub const RECEIPT_KIND: &str = "tuban 封库回执 / seal receipt";

/// How many hex digits of each field's digest a receipt keeps: enough to name a changed field,
/// short enough for thousands of patches (the item and total digests are kept whole).
pub const FIELD_DIGEST_HEX: usize = 16;

/// Why a receipt or a key could not be read, written or checked.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// A file could not be read.
    #[error("{path}: 无法读取，请检查路径 / cannot read, check the path: {cause}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        cause: std::io::Error,
    },
    /// The file is not a receipt.
    #[error("{path}: 不是封库回执（{detail}），请选择 tuban seal 写出的 *.封库回执.*.json / not a seal receipt ({detail}); pick the *.封库回执.*.json that tuban seal wrote")]
    NotAReceipt {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A key file is not an Ed25519 key in PKCS#8 PEM.
    #[error("{path}: 不是 Ed25519 PEM 密钥（{detail}），请用 tuban keygen 生成 / not an Ed25519 PEM key ({detail}); make one with tuban keygen")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// How many rows the seal covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Patches.
    pub patches: usize,
    /// Field photos.
    pub photos: usize,
    /// Case attachments.
    pub attachments: usize,
    /// Cases.
    pub cases: usize,
}

/// One sealed item in a receipt: its digest and a prefix of each field's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptItem {
    /// `patch`, `photo`, `case` or `attachment`.
    pub kind: String,
    /// Row id (`#12`).
    pub id: String,
    /// Patch key, file name or case number at the seal.
    pub label: String,
    /// The item's digest, hex.
    pub digest: String,
    /// Field → the first [`FIELD_DIGEST_HEX`] hex digits of its digest.
    pub fields: BTreeMap<String, String>,
}

/// An Ed25519 signature over [`Receipt::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptSignature {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The signer's public key, hex (to tell keys apart; the check uses the key the province keeps).
    pub public_key: String,
    /// The signature, hex.
    pub value: String,
}

/// A seal receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// [`RECEIPT_KIND`].
    pub kind: String,
    /// The project's file name.
    pub project_file: String,
    /// 6-digit county code.
    pub county_code: String,
    /// County name.
    pub county_name: String,
    /// Monitoring year.
    pub year: i32,
    /// The programme's Chinese name.
    pub programme: String,
    /// Rows covered.
    pub counts: Counts,
    /// The digest, hex.
    pub digest: String,
    /// The digest rule.
    pub digest_version: u32,
    /// When (UTC).
    pub sealed_at: String,
    /// Who.
    pub user: String,
    /// The tuban that sealed it.
    pub tuban_version: String,
    /// Every item in [`ItemId`] order.
    pub items: Vec<ReceiptItem>,
    /// The optional signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ReceiptSignature>,
}

impl Receipt {
    /// The receipt of `seal`, made from the snapshot the seal's digest was computed from.
    pub fn new(project: &Path, meta: &ProjectMeta, seal: &SealInfo, snap: &Snapshot) -> Receipt {
        let digests = snap.item_digests();
        let items = snap
            .items
            .iter()
            .map(|(id, item)| ReceiptItem {
                kind: id.kind.clone(),
                id: id.id.clone(),
                label: item.label.clone(),
                digest: digests.get(id).cloned().unwrap_or_default(),
                fields: item
                    .field_digests()
                    .into_iter()
                    .map(|(n, d)| (n, d.chars().take(FIELD_DIGEST_HEX).collect()))
                    .collect(),
            })
            .collect();
        Receipt {
            kind: RECEIPT_KIND.into(),
            project_file: project.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            county_code: meta.county_code.clone(),
            county_name: meta.county_name.clone(),
            year: meta.year,
            programme: meta.programme.label().into(),
            counts: Counts {
                patches: snap.count("patch"),
                photos: snap.count("photo"),
                attachments: snap.count("attachment"),
                cases: snap.count("case"),
            },
            digest: seal.digest.clone(),
            digest_version: seal.digest_version,
            sealed_at: seal.sealed_at.clone(),
            user: seal.user.clone(),
            tuban_version: env!("CARGO_PKG_VERSION").into(),
            items,
            signature: None,
        }
    }

    /// Reads a receipt written by [`Receipt::to_json`].
    pub fn read(path: &Path) -> Result<Receipt, ReceiptError> {
        let bytes =
            std::fs::read(path).map_err(|cause| ReceiptError::Read { path: path.display().to_string(), cause })?;
        let r: Receipt = serde_json::from_slice(&bytes)
            .map_err(|e| ReceiptError::NotAReceipt { path: path.display().to_string(), detail: e.to_string() })?;
        if r.kind != RECEIPT_KIND {
            return Err(ReceiptError::NotAReceipt {
                path: path.display().to_string(),
                detail: format!("kind = {}", r.kind),
            });
        }
        Ok(r)
    }

    /// The receipt as people read it (indented JSON).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The bytes a signature covers: the compact JSON of the receipt without its signature.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let unsigned = Receipt { signature: None, ..self.clone() };
        serde_json::to_vec(&unsigned).unwrap_or_default()
    }

    /// The sealed items as [`crate::store::compare_seal`] takes them.
    pub fn sealed_items(&self) -> BTreeMap<ItemId, SealedItem> {
        self.items
            .iter()
            .map(|i| {
                let id = ItemId { kind: i.kind.clone(), id: i.id.clone() };
                let item = SealedItem {
                    label: i.label.clone(),
                    digest: i.digest.clone(),
                    fields: i.fields.clone(),
                    values: BTreeMap::new(),
                };
                (id, item)
            })
            .collect()
    }

    /// True when the item digests make up the receipt's digest (a receipt edited by hand is not).
    pub fn is_consistent(&self) -> bool {
        let items = self.sealed_items();
        total_digest(items.iter().map(|(id, s)| (id, &s.digest))) == self.digest
    }

    /// The essentials for a QR code: project, county, year, digest.
    pub fn qr_text(&self) -> String {
        qr_text(&self.project_file, &self.county_code, &self.county_name, self.year, &self.digest, self.digest_version)
    }

    /// Signs the receipt with the private key in `key_pem` (PKCS#8 PEM), read from `path`.
    pub fn sign(&mut self, key_pem: &str, path: &Path) -> Result<(), ReceiptError> {
        let key = SigningKey::from_pkcs8_pem(key_pem)
            .map_err(|e| ReceiptError::Key { path: path.display().to_string(), detail: e.to_string() })?;
        self.signature = None;
        let sig = key.sign(&self.canonical_bytes());
        self.signature = Some(ReceiptSignature {
            algorithm: "Ed25519".into(),
            public_key: hex(key.verifying_key().as_bytes()),
            value: hex(&sig.to_bytes()),
        });
        Ok(())
    }

    /// Checks the signature against the public key in `public_pem` (read from `path`): true
    /// only when the receipt is signed by that key and unchanged since.
    pub fn signature_valid(&self, public_pem: &str, path: &Path) -> Result<bool, ReceiptError> {
        let key = VerifyingKey::from_public_key_pem(public_pem)
            .map_err(|e| ReceiptError::Key { path: path.display().to_string(), detail: e.to_string() })?;
        let Some(sig) = &self.signature else { return Ok(false) };
        let Some(bytes) = unhex(&sig.value).and_then(|b| <[u8; 64]>::try_from(b).ok()) else { return Ok(false) };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        Ok(key.verify(&self.canonical_bytes(), &sig).is_ok())
    }
}

/// The QR text of a seal: `tuban封库回执|项目|county code county name|year|v2:digest`.
pub fn qr_text(project: &str, county_code: &str, county_name: &str, year: i32, digest: &str, version: u32) -> String {
    let county = format!("{county_code} {county_name}");
    format!("tuban封库回执|{project}|{}|{year}|v{version}:{digest}", county.trim())
}

/// Bytes of a hex string; `None` if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) || !t.is_ascii() {
        return None;
    }
    (0..t.len()).step_by(2).map(|i| u8::from_str_radix(&t[i..i + 2], 16).ok()).collect()
}

/// Checks that `pem` (read from `path`) is an Ed25519 private key.
pub fn check_signing_key(pem: &str, path: &Path) -> Result<(), ReceiptError> {
    SigningKey::from_pkcs8_pem(pem)
        .map(|_| ())
        .map_err(|e| ReceiptError::Key { path: path.display().to_string(), detail: e.to_string() })
}

/// A new Ed25519 key pair as (private PKCS#8 PEM, public SPKI PEM).
pub fn keygen() -> Result<(String, String), ReceiptError> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let bad = |e: String| ReceiptError::Key { path: "(new key)".into(), detail: e };
    let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?;
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// The receipt's file name beside `project`: `示范旗.封库回执.20261201-103005.json`.
pub fn file_name(project: &Path, local_time: &str) -> PathBuf {
    let stem = project.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    project.with_file_name(format!("{stem}.封库回执.{local_time}.json"))
}

/// The receipt of `seal` beside `project`, if one is there.
pub fn find_beside(project: &Path, seal: &SealInfo) -> Option<PathBuf> {
    let stem = project.file_stem()?.to_string_lossy().into_owned();
    let dir = project.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = format!("{stem}.封库回执.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".json"))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .rev()
        .find(|p| Receipt::read(p).is_ok_and(|r| r.digest == seal.digest && r.sealed_at == seal.sealed_at))
}

/// `n` random bytes from the operating system as lower-case hex (ids of hub clients).
pub fn random_hex(n: usize) -> String {
    use rand_core::RngCore;
    let mut bytes = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut bytes);
    crate::store::hex(&bytes)
}
