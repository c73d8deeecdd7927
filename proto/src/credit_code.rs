//! Unified social credit code (统一社会信用代码, GB 32100-2015): the platform id.
//!
//! An 18-character code over the 31-symbol alphabet `0123456789ABCDEFGHJKLMNPQRTUWXY` (no I, O,
//! S, V, Z). Characters 3–8 are the 6-digit region code (行政区划代码) of the registering
//! authority; character 18 is a check character computed from the first 17 with the weights
//! `1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28` (that is 3^i mod 31):
//! check = alphabet[(31 − Σ value×weight mod 31) mod 31].
//!
//! Input is never "fixed": no trimming, no upper-casing. A code with a trailing space or in lower
//! case is rejected with a message that says so, because the same firm must always map to the
//! same string (the platform id is a key, and enterprise codes are pseudonymised byte for byte).
//!
//! Beyond the alphabet, [`validate`] enforces the one structural rule every code obeys and the
//! analytics depend on: characters 3–8 are digits. Characters 1–2 (registration authority and
//! entity type) are not checked against their code lists, which change over time.

use thiserror::Error;

/// The 31 symbols of the code, in value order (value = index).
pub const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of characters 1–17.
pub const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Length of a complete code.
pub const LEN: usize = 18;

/// Why a unified social credit code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CreditCodeError {
    /// Not 18 characters (17 when computing a check character).
    #[error(
        "the unified social credit code has {len} characters; it must have exactly 18 \
         (17 before the check character), with no spaces"
    )]
    WrongLength {
        /// Number of characters (not bytes) found.
        len: usize,
    },
    /// A character outside the alphabet, or a non-digit in the region code.
    #[error("{}", bad_character_en(*position, *ch))]
    BadCharacter {
        /// 1-based position of the offending character.
        position: usize,
        /// The offending character.
        ch: char,
    },
    /// The 18th character does not match the one computed from the first 17.
    #[error(
        "the check character (18th) is '{found}' but the first 17 characters give '{expected}'; \
         a character was probably mistyped — copy the code again from the business licence"
    )]
    WrongCheckCharacter {
        /// Check character computed from characters 1–17.
        expected: char,
        /// Check character found in the code.
        found: char,
    },
}

fn bad_character_en(position: usize, ch: char) -> String {
    if (3..=8).contains(&position) {
        format!(
            "character {position} ({ch:?}) must be a digit: characters 3-8 are the 6-digit region \
             code of the registering authority"
        )
    } else if ch.is_ascii_lowercase() {
        format!(
            "character {position} ({ch:?}) is lower case; unified social credit codes use upper \
             case letters only"
        )
    } else {
        format!(
            "character {position} ({ch:?}) is not allowed in a unified social credit code; only \
             0-9 and upper case A-Y without I, O, S, V, Z are used"
        )
    }
}

// === impl CreditCodeError ===

impl CreditCodeError {
    /// The same message in Chinese, for the platform operator.
    pub fn message_zh(&self) -> String {
        match *self {
            Self::WrongLength { len } => format!(
                "统一社会信用代码长度为{len}位，应为18位（计算校验码时为前17位），且不含空格。"
            ),
            Self::BadCharacter { position, ch } if (3..=8).contains(&position) => format!(
                "统一社会信用代码第{position}位（{ch:?}）应为数字：第3至8位是登记管理机关行政区划码。"
            ),
            Self::BadCharacter { position, ch } if ch.is_ascii_lowercase() => format!(
                "统一社会信用代码第{position}位（{ch:?}）为小写字母，代码只使用大写字母。"
            ),
            Self::BadCharacter { position, ch } => format!(
                "统一社会信用代码第{position}位（{ch:?}）不是合法字符；只允许0-9和除I、O、S、V、Z外的大写字母A-Y。"
            ),
            Self::WrongCheckCharacter { expected, found } => format!(
                "统一社会信用代码校验码（第18位）为'{found}'，按前17位计算应为'{expected}'；\
                 可能有字符录入错误，请对照营业执照重新填写。"
            ),
        }
    }
}

/// Value of one code character, if it belongs to the alphabet.
fn value(ch: char) -> Option<u32> {
    ALPHABET.find(ch).map(|i| i as u32)
}

/// Checks the characters of `chars` (at most 18) and returns the weighted sum of the first 17.
fn weighted_sum(chars: &[char]) -> Result<u32, CreditCodeError> {
    let mut sum = 0;
    for (i, &ch) in chars.iter().enumerate() {
        let position = i + 1;
        let bad = CreditCodeError::BadCharacter { position, ch };
        let v = value(ch).ok_or(bad.clone())?;
        if (3..=8).contains(&position) && !ch.is_ascii_digit() {
            return Err(bad);
        }
        if let Some(w) = WEIGHTS.get(i) {
            sum += v * w;
        }
    }
    Ok(sum)
}

/// Computes the check character (18th) of the first 17 characters of a code.
pub fn check_character(first17: &str) -> Result<char, CreditCodeError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != LEN - 1 {
        return Err(CreditCodeError::WrongLength { len: chars.len() });
    }
    let sum = weighted_sum(&chars)?;
    let index = (31 - sum % 31) % 31;
    Ok(ALPHABET.as_bytes()[index as usize] as char)
}

/// Validates a complete 18-character code exactly as given.
pub fn validate(code: &str) -> Result<(), CreditCodeError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != LEN {
        return Err(CreditCodeError::WrongLength { len: chars.len() });
    }
    // Checks all 18 characters, so a bad 18th character is BadCharacter, not a wrong check.
    weighted_sum(&chars)?;
    let expected = check_character(&code[..LEN - 1])?;
    let found = chars[LEN - 1];
    if expected != found {
        return Err(CreditCodeError::WrongCheckCharacter { expected, found });
    }
    Ok(())
}

/// Characters 3–8: the region code of the registering authority.
///
/// Meaningful only for a code that passed [`validate`]; for anything shorter or not ASCII there
/// it returns `""` instead of panicking.
pub fn region_code(code: &str) -> &str {
    code.get(2..8).unwrap_or("")
}

/// Completes a 17-character prefix with its check character: a valid code for tests.
///
/// # Panics
///
/// When `prefix17` is not 17 characters of the alphabet with digits in positions 3–8.
pub fn make_valid(prefix17: &str) -> String {
    match check_character(prefix17) {
        Ok(check) => format!("{prefix17}{check}"),
        Err(e) => panic!("make_valid({prefix17:?}): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check characters computed independently (python3) from the GB 32100 formula.
    const KNOWN_VALID: &[&str] = &[
        "91110000600037341L",
        "91440300708461136T",
        "91350100M000100Y43",
    ];

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
        assert_eq!(ALPHABET.len(), 31);
    }

    #[test]
    fn known_codes_are_valid() {
        for code in KNOWN_VALID {
            assert_eq!(validate(code), Ok(()), "{code}");
            assert_eq!(
                check_character(&code[..17]).unwrap(),
                code.chars().last().unwrap()
            );
        }
    }

    #[test]
    fn make_valid_builds_valid_codes_for_every_check_value() {
        // Vary the last prefix character across the alphabet: every check character appears.
        let mut seen = std::collections::BTreeSet::new();
        for ch in ALPHABET.chars() {
            let prefix = format!("9132050012345678{ch}");
            let code = make_valid(&prefix);
            assert_eq!(validate(&code), Ok(()), "{code}");
            seen.insert(code.chars().last().unwrap());
        }
        assert_eq!(seen.len(), 31);
    }

    #[test]
    fn check_character_zero_when_sum_divisible() {
        // All zeros: sum 0, check = alphabet[(31 - 0) % 31] = '0'.
        assert_eq!(check_character("00000000000000000"), Ok('0'));
        assert_eq!(validate("000000000000000000"), Ok(()));
    }

    #[test]
    fn wrong_length() {
        assert_eq!(validate(""), Err(CreditCodeError::WrongLength { len: 0 }));
        assert_eq!(
            validate("91110000600037341"),
            Err(CreditCodeError::WrongLength { len: 17 })
        );
        // Whitespace is not trimmed.
        assert_eq!(
            validate(" 91110000600037341L"),
            Err(CreditCodeError::WrongLength { len: 19 })
        );
        assert_eq!(
            validate("91110000600037341L\n"),
            Err(CreditCodeError::WrongLength { len: 19 })
        );
        assert_eq!(
            check_character("9111000060003734"),
            Err(CreditCodeError::WrongLength { len: 16 })
        );
        // Length counts characters, not bytes.
        assert_eq!(
            validate("９1110000600037341L"),
            Err(CreditCodeError::BadCharacter {
                position: 1,
                ch: '９'
            })
        );
    }

    #[test]
    fn bad_characters() {
        // Lower case is not upper-cased.
        assert_eq!(
            validate("91350100m000100Y43"),
            Err(CreditCodeError::BadCharacter {
                position: 9,
                ch: 'm'
            })
        );
        for (i, excluded) in ['I', 'O', 'S', 'V', 'Z'].into_iter().enumerate() {
            let code = format!("9111000060003734{excluded}L");
            assert_eq!(
                validate(&code),
                Err(CreditCodeError::BadCharacter {
                    position: 17,
                    ch: excluded
                }),
                "{i}"
            );
        }
        // A bad 18th character is a bad character, not a wrong check character.
        assert_eq!(
            validate("91110000600037341O"),
            Err(CreditCodeError::BadCharacter {
                position: 18,
                ch: 'O'
            })
        );
        // Letters in the region code (characters 3-8).
        assert_eq!(
            validate("911A0000600037341L"),
            Err(CreditCodeError::BadCharacter {
                position: 4,
                ch: 'A'
            })
        );
        assert_eq!(
            check_character("91-10000600037341"),
            Err(CreditCodeError::BadCharacter {
                position: 3,
                ch: '-'
            })
        );
    }

    #[test]
    fn wrong_check_character() {
        assert_eq!(
            validate("91110000600037341K"),
            Err(CreditCodeError::WrongCheckCharacter {
                expected: 'L',
                found: 'K'
            })
        );
        // A transposition of two characters is caught.
        assert!(matches!(
            validate("91110000600073341L"),
            Err(CreditCodeError::WrongCheckCharacter { .. })
        ));
    }

    #[test]
    fn messages_name_the_problem_in_both_languages() {
        let e = validate("91110000600037341K").unwrap_err();
        assert!(e.to_string().contains("'K'") && e.to_string().contains("'L'"));
        assert!(e.message_zh().contains("校验码"));
        let e = validate("91350100m000100Y43").unwrap_err();
        assert!(e.to_string().contains("lower case"), "{e}");
        assert!(e.message_zh().contains("小写"));
        let e = validate("911A0000600037341L").unwrap_err();
        assert!(e.to_string().contains("region code"), "{e}");
        assert!(e.message_zh().contains("行政区划码"));
        let e = validate("9111000060003734IL").unwrap_err();
        assert!(e.to_string().contains("I, O, S, V, Z"), "{e}");
        assert!(e.message_zh().contains("不是合法字符"));
        let e = validate("91").unwrap_err();
        assert!(e.to_string().contains("has 2 characters"), "{e}");
        assert!(e.message_zh().contains("长度为2位"));
    }

    #[test]
    fn region_code_is_characters_3_to_8() {
        assert_eq!(region_code("91440300708461136T"), "440300");
        assert_eq!(region_code("91350100M000100Y43"), "350100");
        assert_eq!(region_code("91"), "");
        assert_eq!(region_code("9１440300708461136T"), "");
    }

    #[test]
    #[should_panic(expected = "make_valid")]
    fn make_valid_panics_on_bad_prefix() {
        make_valid("too short");
    }
}
