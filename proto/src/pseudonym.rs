//! Enterprise pseudonyms (domain §8): enterprise credit codes never leave the platform in clear.
//!
//! The agent sends `HMAC-SHA256(key, credit_code)`, truncated to its first 16 bytes and written
//! as 32 lowercase hex digits, with a key the hub hands out at enrolment. The hub can then count
//! distinct firms across platforms without learning who they are.
//!
//! The code is hashed byte for byte as given. Validate it first with
//! [`crate::credit_code::validate`]: `"91…l"` and `"91…L"` would otherwise be two firms.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of a pseudonym in hex digits.
pub const LEN: usize = 32;

/// Pseudonym of an enterprise: lowercase hex of the first 16 bytes of HMAC-SHA256(key, code).
pub fn pseudonymise(key: &[u8], credit_code: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(credit_code.as_bytes());
    let digest = mac.finalize().into_bytes();
    hex::encode(&digest[..LEN / 2])
}

/// Whether `s` has the shape of a pseudonym: exactly 32 lowercase hex digits.
pub fn is_pseudonym(s: &str) -> bool {
    s.len() == LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with python3:
    // hmac.new(key, code, hashlib.sha256).hexdigest()[:32]
    #[test]
    fn known_vectors() {
        assert_eq!(
            pseudonymise(b"enrolment-key-2026", "91110000600037341L"),
            "eae44b8afbbded84c4de7da6d4f74547"
        );
        assert_eq!(pseudonymise(b"", ""), "b613679a0814d9ec772f95d778c35fc5");
        let key: Vec<u8> = (0u8..32).collect();
        assert_eq!(
            pseudonymise(&key, "91440300708461136T"),
            "863e2e1be2fca7d7f5768f19152b212d"
        );
    }

    #[test]
    fn key_and_code_both_matter() {
        let a = pseudonymise(b"k1", "91110000600037341L");
        assert_ne!(a, pseudonymise(b"k2", "91110000600037341L"));
        assert_ne!(a, pseudonymise(b"k1", "91440300708461136T"));
        assert_eq!(a, pseudonymise(b"k1", "91110000600037341L"));
        assert!(is_pseudonym(&a));
    }

    #[test]
    fn pseudonym_shape() {
        assert!(is_pseudonym("0123456789abcdef0123456789abcdef"));
        assert!(!is_pseudonym("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!is_pseudonym("0123456789abcdef0123456789abcde"));
        assert!(!is_pseudonym("0123456789abcdef0123456789abcdeg"));
        assert!(!is_pseudonym("91110000600037341L"));
        assert!(!is_pseudonym(""));
    }
}
