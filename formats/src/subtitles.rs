//! Timed transcripts: WebVTT (`.vtt`) and SubRip (`.srt`) files, and the
//! subtitle streams the media format extracts from videos.
//!
//! Cues become [`SectionKind::Transcript`] sections of a few sentences each
//! (a new one after three sentence ends, 45 seconds, or a pause of more than
//! three seconds), with one [`Locator::Time`] mark per cue, so a chunk, and
//! the citation made from it, carries the time range of exactly the cues it
//! holds.

use crate::text::decode;
use crate::{Document, Error, Format, Input, Locator, Mark, Result, Section, SectionKind};

/// Extensions of the subtitle files this format reads.
pub const SUBTITLE_EXTENSIONS: &[&str] = &["vtt", "srt"];

/// One timed line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// `.vtt` and `.srt`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subtitles;

impl Format for Subtitles {
    fn name(&self) -> &'static str {
        "subtitles"
    }

    fn extensions(&self) -> &'static [&'static str] {
        SUBTITLE_EXTENSIONS
    }

    fn media_types(&self) -> &'static [&'static str] {
        &["text/vtt", "application/x-subrip", "text/srt"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        b.starts_with(b"WEBVTT")
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let text = decode(input.bytes, None, "subtitles")?;
        let cues = parse_cues(&text)?;
        Ok(transcript(cues, "subtitles", None))
    }
}

/// `HH:MM:SS.mmm`, `MM:SS.mmm` or `HH:MM:SS,mmm` (SRT) in milliseconds.
fn timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    let (clock, frac) = s.split_once(['.', ','])?;
    if frac.len() != 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<u64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return None,
    };
    // Hours are bounded so the milliseconds cannot overflow (a damaged
    // timestamp is not a cue time).
    if m >= 60 || sec >= 60 || h >= 1_000_000 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + frac.parse::<u64>().ok()?)
}

/// Text without markup: `<v Speaker>`, `<i>`, `<c.loud>`, timestamps
/// inside cues, SSA overrides (`{\an8}`); entities of WebVTT decoded.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for d in chars.by_ref() {
                    if d == '>' {
                        break;
                    }
                }
            }
            '{' if chars.peek() == Some(&'\\') => {
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    decode_entities(&out)
}

/// Character references: WebVTT's own (`&amp;`, `&lt;`, `&gt;`, `&nbsp;`,
/// `&lrm;`, `&rlm;`), a few common HTML ones, and numeric ones.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // A reference is at most 12 bytes; the window ends on a character
        // boundary (the text around it can be any UTF-8).
        let mut window = rest.len().min(12);
        while !rest.is_char_boundary(window) {
            window -= 1;
        }
        let Some(end) = rest[..window].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some("&".to_owned()),
            "lt" => Some("<".to_owned()),
            "gt" => Some(">".to_owned()),
            "nbsp" => Some(" ".to_owned()),
            "lrm" | "rlm" => Some(String::new()),
            "quot" => Some("\"".to_owned()),
            "apos" => Some("'".to_owned()),
            "mdash" => Some("—".to_owned()),
            "ndash" => Some("–".to_owned()),
            "hellip" => Some("…".to_owned()),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32)
                .map(String::from),
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses WebVTT or SRT text into cues, in time order. Blocks without a
/// timing line (WebVTT headers, `NOTE`, `STYLE`, `REGION`) are skipped; a
/// file with timing lines that do not parse is malformed.
pub fn parse_cues(text: &str) -> Result<Vec<Cue>> {
    let mut cues = Vec::new();
    let mut bad = 0usize;
    for block in text.split("\n\n") {
        let Some(timing_at) = block.lines().position(|l| l.contains("-->")) else {
            continue;
        };
        let timing = block.lines().nth(timing_at).unwrap_or_default();
        let (a, rest) = timing.split_once("-->").unwrap_or_default();
        // WebVTT cue settings follow the end time: `00:01.000 line:0`.
        let b = rest.split_whitespace().next().unwrap_or_default();
        let (Some(start_ms), Some(end_ms)) = (timestamp(a), timestamp(b)) else {
            bad += 1;
            continue;
        };
        let words: Vec<String> = block
            .lines()
            .skip(timing_at + 1)
            .map(plain)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        let text = words.join(" ");
        if !text.is_empty() {
            cues.push(Cue {
                start_ms,
                end_ms: end_ms.max(start_ms),
                text,
            });
        }
    }
    if cues.is_empty() {
        return Err(Error::Malformed {
            format: "subtitles",
            reason: if bad > 0 {
                format!("{bad} cues with unreadable timestamps and none readable")
            } else {
                "no timed cues (expected WebVTT or SRT)".into()
            },
        });
    }
    cues.sort_by_key(|c| (c.start_ms, c.end_ms));
    // Roll-up captions repeat the previous line: keep each line once.
    cues.dedup_by(|b, a| a.text == b.text && b.start_ms <= a.end_ms + 1_000);
    Ok(cues)
}

fn sentence_ends(text: &str) -> usize {
    text.matches(['.', '?', '!', '。', '？', '！']).count()
}

/// A document of transcript sections from cues (see the module docs).
pub fn transcript(cues: Vec<Cue>, format: &str, language: Option<String>) -> Document {
    let mut sections = Vec::new();
    let mut current: Option<Section> = None;
    let mut sentences = 0;
    let mut last_end = 0u64;
    for cue in cues {
        if let Some(section) = &current {
            let Locator::Time { start_ms, .. } = section.locator else {
                unreachable!("transcript sections have time locators")
            };
            let pause = cue.start_ms.saturating_sub(last_end) > 3_000;
            let long = cue.end_ms.saturating_sub(start_ms) > 45_000;
            if sentences >= 3 || pause || long {
                sections.extend(current.take());
                sentences = 0;
            }
        }
        let section = current.get_or_insert_with(|| {
            let mut s = Section::new(
                Vec::new(),
                String::new(),
                Locator::Time {
                    start_ms: cue.start_ms,
                    end_ms: cue.end_ms,
                },
            );
            s.kind = SectionKind::Transcript;
            s
        });
        if !section.text.is_empty() {
            section.text.push(' ');
        }
        section.marks.push(Mark {
            offset: section.text.len(),
            locator: Locator::Time {
                start_ms: cue.start_ms,
                end_ms: cue.end_ms,
            },
        });
        section.text.push_str(&cue.text);
        section.locator = section.locator.merge(&Locator::Time {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
        });
        sentences += sentence_ends(&cue.text);
        last_end = cue.end_ms;
    }
    sections.extend(current);
    Document {
        title: None,
        format: format.to_owned(),
        language,
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("00:02:14.500"), Some(134_500));
        assert_eq!(timestamp("02:14.500"), Some(134_500));
        assert_eq!(timestamp("01:00:00,001"), Some(3_600_001));
        assert_eq!(timestamp("00:61:00.000"), None);
        assert_eq!(timestamp("00:01:00"), None);
    }

    #[test]
    fn vtt_and_srt_give_the_same_cues() {
        let vtt = "WEBVTT\n\nNOTE a comment\n\n1\n00:00:01.000 --> 00:00:03.500 line:0\n<v Ann>Hello <i>there</i>.\n\n00:00:04.000 --> 00:00:06.000\nSecond &amp; last.\n";
        let srt = "1\n00:00:01,000 --> 00:00:03,500\n{\\an8}Hello there.\n\n2\n00:00:04,000 --> 00:00:06,000\nSecond & last.\n";
        let a = parse_cues(vtt).unwrap();
        assert_eq!(a, parse_cues(srt).unwrap());
        assert_eq!(a[0].text, "Hello there.");
        assert_eq!(a[1].start_ms, 4_000);
        assert!(parse_cues("just text").is_err());
        assert_eq!(decode_entities("a &mdash; b &#233; &x; &"), "a — b é &x; &");
    }

    #[test]
    fn sections_group_a_few_sentences_and_cite_their_cues() {
        let cues: Vec<Cue> = (0..10)
            .map(|i| Cue {
                start_ms: i * 2_000,
                end_ms: i * 2_000 + 1_800,
                text: format!("Sentence {i}."),
            })
            .collect();
        let doc = transcript(cues, "subtitles", None);
        assert_eq!(doc.sections.len(), 4);
        let s = &doc.sections[1];
        assert_eq!(s.text, "Sentence 3. Sentence 4. Sentence 5.");
        assert_eq!(
            s.locator,
            Locator::Time {
                start_ms: 6_000,
                end_ms: 11_800
            }
        );
        let at = s.text.find("Sentence 4").unwrap();
        assert_eq!(
            s.locate(at, at + 5),
            Locator::Time {
                start_ms: 8_000,
                end_ms: 9_800
            }
        );
    }
}
