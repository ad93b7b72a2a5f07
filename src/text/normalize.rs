//! BERT's text normalisation and pre-tokenisation, as Hugging Face's `BertNormalizer`
//! (uncased: `clean_text`, `handle_chinese_chars`, `strip_accents`, `lowercase`) and
//! `BertPreTokenizer` do them.
//!
//! The character classes come from the same tables Hugging Face uses (the
//! `unicode_categories` crate, Unicode 8.0), not from a newer Unicode: a punctuation sign or
//! a format character added since then is an ordinary letter to their tokenizer, and must be
//! one here too for the ids to agree.

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Tab, newline and carriage return, which BERT counts as whitespace, and Unicode's
/// `White_Space` characters.
fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// BERT's "control" characters, dropped by `clean_text`: general categories Cc, Cf and Co,
/// except tab, newline and carriage return (which become spaces).
fn is_control(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.is_other()
}

/// The CJK Unified Ideographs blocks (and their extensions and compatibility forms), which
/// BERT splits into one word per character. Hangul, Hiragana and Katakana are not in them.
fn is_cjk_ideograph(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// BERT's punctuation: every ASCII non-alphanumeric printable character (so `$`, `+`, `^`
/// and `` ` `` count, though Unicode calls them symbols), and Unicode's general category P.
pub(crate) fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    c.is_punctuation()
}

/// A nonspacing mark (general category Mn), which accent stripping drops after NFD.
fn is_nonspacing_mark(c: char) -> bool {
    !c.is_ascii() && c.is_mark_nonspacing()
}

/// Appends the normalised `text` to `out`: drops NUL, U+FFFD and control characters, turns
/// every whitespace character into a space, surrounds CJK ideographs with spaces, strips
/// accents (NFD, then drop the Mn marks) and lowercases, in Hugging Face's order.
pub(crate) fn normalize_into(text: &str, out: &mut String) {
    out.reserve(text.len());
    if text.is_ascii() {
        // NFD and accent stripping leave ASCII unchanged; skip their iterators.
        for c in text.chars() {
            if c == '\0' || is_control(c) {
                continue;
            }
            out.push(if is_whitespace(c) {
                ' '
            } else {
                c.to_ascii_lowercase()
            });
        }
        return;
    }
    let cleaned = text
        .chars()
        .filter(|&c| !(c == '\0' || c == '\u{FFFD}' || is_control(c)))
        .map(|c| if is_whitespace(c) { ' ' } else { c })
        .flat_map(|c| {
            let cjk = is_cjk_ideograph(c);
            let pad = if cjk { Some(' ') } else { None };
            pad.into_iter().chain(Some(c)).chain(pad)
        });
    // NFD runs over the whole stream, since it reorders runs of combining marks. Accents go
    // before lowercasing, as in Hugging Face's order.
    for c in cleaned.nfd().filter(|&c| !is_nonspacing_mark(c)) {
        out.extend(c.to_lowercase());
    }
}

/// Splits normalised text into words: whitespace separates words and is dropped; each
/// punctuation character is a word of its own.
pub(crate) fn pre_tokenize(text: &str, mut word: impl FnMut(&str)) {
    let mut start = None;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if ws || is_punctuation(c) {
            if let Some(s) = start.take() {
                word(&text[s..i]);
            }
            if !ws {
                word(&text[i..i + c.len_utf8()]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        word(&text[s..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(text: &str) -> String {
        let mut out = String::new();
        normalize_into(text, &mut out);
        out
    }

    fn words(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        pre_tokenize(&normalize(text), |w| v.push(w.to_owned()));
        v
    }

    #[test]
    fn strips_accents_and_lowercases() {
        assert_eq!(normalize("Café Naïve RÉSUMÉ"), "cafe naive resume");
        // Hangul syllables decompose into jamo; Thai vowel sign U+0E31 is Mn and goes.
        assert_eq!(normalize("가"), "\u{1100}\u{1161}");
        assert_eq!(normalize("a\u{0E31}b"), "ab");
        // İ: NFD gives I + U+0307, the mark is dropped, then I lowercases.
        assert_eq!(normalize("İstanbul"), "istanbul");
    }

    #[test]
    fn cleans_control_and_whitespace() {
        assert_eq!(normalize("a\0b\u{FFFD}c\u{7}d"), "abcd");
        assert_eq!(normalize("a\tb\nc\r\nd\u{3000}e"), "a b c  d e");
        // Format characters (soft hyphen, zero-width space, BOM) and private use are dropped.
        assert_eq!(normalize("\u{AD}a\u{200B}b\u{FEFF}c\u{E000}"), "abc");
        // An unassigned code point is kept (it later becomes [UNK]).
        assert_eq!(normalize("a\u{0378}b"), "a\u{0378}b");
    }

    #[test]
    fn cjk_ideographs_become_words() {
        assert_eq!(normalize("中文"), " 中  文 ");
        assert_eq!(words("ab中文cd"), ["ab", "中", "文", "cd"]);
    }

    #[test]
    fn splits_on_whitespace_and_punctuation() {
        assert_eq!(
            words("  don't—stop!!  "),
            ["don", "'", "t", "—", "stop", "!", "!"]
        );
        assert_eq!(
            words("a$b+c^d`e"),
            ["a", "$", "b", "+", "c", "^", "d", "`", "e"]
        );
        // Unicode 7 punctuation splits; U+2E43 (Unicode 9) is not in BERT's tables.
        assert_eq!(words("a\u{2E42}b"), ["a", "\u{2E42}", "b"]);
        assert_eq!(words("a\u{2E43}b"), ["a\u{2E43}b"]);
        assert!(words(" \t\n ").is_empty());
    }
}
