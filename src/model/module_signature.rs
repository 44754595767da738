//! A kernel module's appended signature: whether there is one, and who signed it.
//!
//! What `scripts/sign-file` adds and the kernel checks before loading; the signer comes from the PKCS#7 SignerInfo,
//! decoded with RustCrypto's `cms`.
//!
//! Layout at the end of the (decompressed) module: the PKCS#7 blob, then a 12-byte `struct module_signature`
//! (`algo, hash, id_type, signer_len, key_id_len, pad[3]`, `sig_len` big-endian u32), then
//! `~Module signature appended~\n`.

use serde::{Deserialize, Serialize};

/// The magic string the kernel looks for at the very end of a signed module.
pub const SIGNATURE_MAGIC: &[u8] = b"~Module signature appended~\n";
/// `struct module_signature`'s size.
const INFO_LEN: usize = 12;
/// `PKEY_ID_PKCS7`: the only id type current kernels accept.
const ID_PKCS7: u8 = 2;

/// Who signed a module, as the PKCS#7 SignerInfo names the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Signer {
    /// `issuerAndSerialNumber` (sign-file's default): the issuer's common name (when it has one), the whole
    /// issuer name, and the serial number in lower-case hex.
    IssuerSerial {
        #[serde(skip_serializing_if = "Option::is_none")]
        issuer_cn: Option<String>,
        issuer: String,
        serial: String,
    },
    /// `subjectKeyIdentifier` (sign-file `-k`): the key id in lower-case hex.
    KeyId { key_id: String },
}

impl Signer {
    /// One line for messages: `"Acme DKMS key" serial 1c2b3a49` or `key id 7882be36…`.
    pub fn describe(&self) -> String {
        match self {
            Signer::IssuerSerial {
                issuer_cn,
                issuer,
                serial,
            } => format!(
                "\"{}\" serial {serial}",
                issuer_cn.as_deref().unwrap_or(issuer)
            ),
            Signer::KeyId { key_id } => format!("key id {key_id}"),
        }
    }
}

/// What the end of a module file says about its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum SignatureState {
    /// No `~Module signature appended~` trailer: the kernel refuses it wherever signatures are enforced.
    Unsigned,
    /// A signature the kernel can check; `signer` is None when the blob could not be read (the kernel may still
    /// accept it, so nvfix does not refuse on that alone).
    Signed {
        #[serde(skip_serializing_if = "Option::is_none")]
        signer: Option<Signer>,
        #[serde(skip_serializing_if = "Option::is_none")]
        unreadable: Option<String>,
    },
    /// The trailer is there but the structure before it is broken (truncated, a length past the file, a non-PKCS#7
    /// id type): the kernel rejects such a module as badly signed.
    Malformed { reason: String },
}

/// Reads the appended signature of a decompressed module. Never panics, whatever the bytes.
pub fn parse_appended_signature(module: &[u8]) -> SignatureState {
    let Some(body) = module.strip_suffix(SIGNATURE_MAGIC) else {
        return SignatureState::Unsigned;
    };
    if body.len() < INFO_LEN {
        return malformed(
            "the signature trailer is truncated (no room for struct module_signature)",
        );
    }
    let (rest, info) = body.split_at(body.len() - INFO_LEN);
    let id_type = info[2];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    if sig_len == 0 || sig_len > rest.len() {
        return malformed(&format!(
            "the signature claims {sig_len} bytes but only {} precede it",
            rest.len()
        ));
    }
    if id_type != ID_PKCS7 {
        return malformed(&format!(
            "signature id type {id_type} is not PKCS#7 (2), the only kind the kernel accepts"
        ));
    }
    let blob = &rest[rest.len() - sig_len..];
    match pkcs7_signer(blob) {
        Ok(signer) => SignatureState::Signed {
            signer: Some(signer),
            unreadable: None,
        },
        Err(why) => SignatureState::Signed {
            signer: None,
            unreadable: Some(why),
        },
    }
}

fn malformed(reason: &str) -> SignatureState {
    SignatureState::Malformed {
        reason: reason.to_string(),
    }
}

/// The first SignerInfo's signer identifier of a DER PKCS#7 SignedData (the kernel uses exactly one).
fn pkcs7_signer(blob: &[u8]) -> Result<Signer, String> {
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerIdentifier};
    use der::Decode;
    let info = ContentInfo::from_der(blob).map_err(|e| format!("not a PKCS#7 message: {e}"))?;
    let signed = info
        .content
        .decode_as::<SignedData>()
        .map_err(|e| format!("not PKCS#7 SignedData: {e}"))?;
    let first = signed
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or("the PKCS#7 message has no SignerInfo")?;
    Ok(match &first.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => Signer::IssuerSerial {
            issuer_cn: common_name(&ias.issuer),
            issuer: ias.issuer.to_string(),
            serial: hex(ias.serial_number.as_bytes()),
        },
        SignerIdentifier::SubjectKeyIdentifier(skid) => Signer::KeyId {
            key_id: hex(skid.0.as_bytes()),
        },
    })
}

/// The common name (2.5.4.3) of an X.501 name, when it has one in a string type.
fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    use der::asn1::{PrintableStringRef, Utf8StringRef};
    const CN: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.4.3");
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == CN)
        .find_map(|atv| {
            Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/modules")
            .join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The values `make-signed.sh` wrote next to the fixtures.
    fn fixture_value(key: &str) -> String {
        let text = String::from_utf8(fixture("signed/README")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap()
            .to_string()
    }

    #[test]
    fn signed_by_issuer_and_serial() {
        let state = parse_appended_signature(&fixture("signed/nvidia.ko"));
        let SignatureState::Signed {
            signer:
                Some(Signer::IssuerSerial {
                    issuer_cn,
                    serial,
                    issuer,
                }),
            ..
        } = state
        else {
            panic!("{state:?}");
        };
        assert_eq!(issuer_cn.as_deref(), Some(fixture_value("signer").as_str()));
        assert!(issuer.contains("CN="), "{issuer}");
        assert_eq!(serial, fixture_value("serial").to_lowercase());
    }

    #[test]
    fn signed_by_subject_key_identifier() {
        let state = parse_appended_signature(&fixture("signed/nvidia-skid.ko"));
        assert_eq!(
            state,
            SignatureState::Signed {
                signer: Some(Signer::KeyId {
                    key_id: fixture_value("skid")
                }),
                unreadable: None
            }
        );
    }

    #[test]
    fn unsigned_module_and_empty_file() {
        assert_eq!(
            parse_appended_signature(&fixture("580.95.05/nvidia.ko")),
            SignatureState::Unsigned
        );
        assert_eq!(parse_appended_signature(b""), SignatureState::Unsigned);
    }

    #[test]
    fn garbled_trailers_never_panic() {
        // Only the magic.
        assert!(matches!(
            parse_appended_signature(SIGNATURE_MAGIC),
            SignatureState::Malformed { .. }
        ));
        // sig_len larger than the file.
        let mut big = vec![0u8; 4];
        big.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        big.extend_from_slice(SIGNATURE_MAGIC);
        let SignatureState::Malformed { reason } = parse_appended_signature(&big) else {
            panic!()
        };
        assert!(reason.contains("4294967295"), "{reason}");
        // A PKCS#7 length that fits but junk bytes: signed, signer unreadable.
        let mut junk = vec![0x30u8, 0x82, 0xff, 0x00, 0x13, 0x37];
        junk.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 6]);
        junk.extend_from_slice(SIGNATURE_MAGIC);
        assert!(matches!(
            parse_appended_signature(&junk),
            SignatureState::Signed {
                signer: None,
                unreadable: Some(_)
            }
        ));
        // Old X.509 id type.
        let mut x509 = vec![1u8; 8];
        x509.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 8]);
        x509.extend_from_slice(SIGNATURE_MAGIC);
        assert!(matches!(
            parse_appended_signature(&x509),
            SignatureState::Malformed { .. }
        ));
        // Every truncation of a real signed module, cut anywhere in the signature: no panic.
        let signed = fixture("signed/nvidia.ko");
        let unsigned_len = fixture("580.95.05/nvidia.ko").len();
        for cut in unsigned_len..signed.len() {
            let mut bytes = signed[..cut].to_vec();
            let _ = parse_appended_signature(&bytes);
            bytes.extend_from_slice(SIGNATURE_MAGIC);
            let _ = parse_appended_signature(&bytes);
        }
        // Flipped bytes inside the blob.
        for at in (unsigned_len..signed.len()).step_by(7) {
            let mut bytes = signed.clone();
            bytes[at] ^= 0xa5;
            let _ = parse_appended_signature(&bytes);
        }
    }
}
