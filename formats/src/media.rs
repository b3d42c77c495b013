//! Videos (`.mp4 .mov .avi .mpg .mpeg .webm .mkv .m4v`) become timestamped
//! transcripts, cited to the second.
//!
//! `ffprobe` and `ffmpeg` (external processes, with a time limit and the
//! input's size already bounded by [`Limits`](crate::Limits)) probe the streams
//! and extract the transcript. Sources, in order of preference:
//!
//! 1. an embedded subtitle stream (mov_text, WebVTT, SubRip…), extracted as
//!    WebVTT; its language tag becomes the document's language;
//! 2. a sidecar file uploaded or stored with the video (`name.vtt` /
//!    `name.srt`, see [`Input::sidecar`](crate::Input));
//! 3. speech-to-text ([`SpeechToText`]; Whisper through whisper.cpp with the
//!    `whisper` feature, see [`crate::whisper`]) on the audio track,
//!    extracted as 16 kHz mono PCM; the language it detects becomes the
//!    document's. Without it, a video with neither of the above fails with
//!    "no transcript: … upload subtitles".
//!
//! Cues are grouped as the subtitles format does, with
//! [`Locator::Time`](crate::Locator) ranges, so an answer can link
//! `video.mp4#t=134,140`.

use crate::subtitles::{Cue, parse_cues, transcript};
use crate::{Document, Error, Format, Input, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extensions of the videos this format reads.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "m4v", "mov", "avi", "mpg", "mpeg", "webm", "mkv"];

/// Speech-to-text for videos that carry no subtitles.
pub trait SpeechToText: Send + Sync + std::fmt::Debug {
    /// 16 kHz mono samples in `[-1, 1]` → timed cues and the spoken
    /// language (two-letter code) when detected.
    fn transcribe(&self, samples: &[f32]) -> Result<(Vec<Cue>, Option<String>)>;
}

/// How videos are read (`[media]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaOptions {
    /// The `ffmpeg` and `ffprobe` programs (a name on `PATH` or a path).
    pub ffmpeg: String,
    pub ffprobe: String,
    /// Longest video accepted, in seconds.
    pub max_duration_secs: u64,
    /// Seconds one ffmpeg/ffprobe call may run.
    pub timeout_secs: u64,
    /// Transcribe videos without subtitles with Whisper.
    pub speech_to_text: bool,
    /// The Whisper model (ggml), relative to the working directory.
    pub whisper_model: std::path::PathBuf,
    /// Spoken language (`en`, `de`…); empty or `auto`: detected per video.
    pub language: String,
    /// Threads for speech-to-text; 0 = one per core.
    pub threads: usize,
}

impl Default for MediaOptions {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            max_duration_secs: 4 * 3600,
            timeout_secs: 300,
            speech_to_text: true,
            whisper_model: "models/whisper-base/ggml-base.bin".into(),
            language: String::new(),
            threads: 0,
        }
    }
}

/// The media format.
#[derive(Debug, Clone, Default)]
pub struct Media {
    pub options: MediaOptions,
    /// Transcribes videos without subtitles; `None`: such videos fail.
    pub speech: Option<Arc<dyn SpeechToText>>,
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        format: "media",
        reason: reason.into(),
    }
}

/// Runs a program with a time limit; its stdout, or an error with the end
/// of its stderr.
fn run(program: &str, args: &[&str], timeout: Duration) -> Result<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            malformed(format!(
                "cannot run {program}: {e} (install ffmpeg, or set media.ffmpeg / media.ffprobe)"
            ))
        })?;
    // Read both pipes on their own threads so a full pipe never blocks it.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| malformed(e.to_string()))? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(malformed(format!(
                "{program} took longer than {} s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(malformed(format!("{program}: {}", last.trim())));
    }
    Ok(stdout)
}

/// One stream of `path`, converted by ffmpeg as `args` say, on stdout.
fn extract(options: &MediaOptions, path: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let path = path.to_string_lossy();
    let mut all = vec!["-v", "error", "-nostdin", "-i", &path];
    all.extend_from_slice(args);
    all.push("-");
    run(
        &options.ffmpeg,
        &all,
        Duration::from_secs(options.timeout_secs.max(1)),
    )
}

/// What ffprobe says of a file.
#[derive(Debug, Default)]
struct Probe {
    duration_secs: Option<f64>,
    audio: bool,
    /// Index (among subtitle streams) and language of the first text
    /// subtitle stream.
    subtitle: Option<(usize, Option<String>)>,
}

fn probe(options: &MediaOptions, path: &Path) -> Result<Probe> {
    let json = run(
        &options.ffprobe,
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            &path.to_string_lossy(),
        ],
        Duration::from_secs(options.timeout_secs.clamp(1, 60)),
    )?;
    let v: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| malformed(format!("ffprobe output: {e}")))?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    if streams.is_empty() {
        return Err(malformed("no audio, video or subtitle streams"));
    }
    let mut probe = Probe {
        duration_secs: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
        ..Probe::default()
    };
    let mut subtitle_index = 0;
    for s in &streams {
        match s["codec_type"].as_str() {
            Some("audio") => probe.audio = true,
            Some("subtitle") => {
                // Bitmap subtitles (DVD, PGS) carry no text.
                let codec = s["codec_name"].as_str().unwrap_or_default();
                let text = !matches!(
                    codec,
                    "dvd_subtitle" | "hdmv_pgs_subtitle" | "dvb_subtitle" | "xsub"
                );
                if text && probe.subtitle.is_none() {
                    let lang = s["tags"]["language"]
                        .as_str()
                        .filter(|l| *l != "und")
                        .map(str::to_owned);
                    probe.subtitle = Some((subtitle_index, lang));
                }
                subtitle_index += 1;
            }
            _ => {}
        }
    }
    Ok(probe)
}

/// ISO 639-2 codes ffmpeg writes (`eng`) as the two-letter ones quarry uses.
fn short_language(code: &str) -> String {
    let map = [
        ("eng", "en"),
        ("nld", "nl"),
        ("dut", "nl"),
        ("dan", "da"),
        ("fra", "fr"),
        ("fre", "fr"),
        ("ita", "it"),
        ("deu", "de"),
        ("ger", "de"),
        ("spa", "es"),
        ("por", "pt"),
        ("swe", "sv"),
        ("nor", "no"),
        ("fin", "fi"),
    ];
    map.iter()
        .find(|(long, _)| *long == code)
        .map_or_else(|| code.to_owned(), |(_, short)| (*short).to_owned())
}

impl Format for Media {
    fn name(&self) -> &'static str {
        "media"
    }

    fn extensions(&self) -> &'static [&'static str] {
        VIDEO_EXTENSIONS
    }

    fn media_types(&self) -> &'static [&'static str] {
        &[
            "video/mp4",
            "video/quicktime",
            "video/x-msvideo",
            "video/avi",
            "video/mpeg",
            "video/webm",
            "video/x-matroska",
        ]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        let ftyp = bytes.len() >= 12 && &bytes[4..8] == b"ftyp";
        let ebml = bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]);
        let avi = bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"AVI ";
        let mpeg = bytes.starts_with(&[0, 0, 1, 0xBA]) || bytes.starts_with(&[0, 0, 1, 0xB3]);
        ftyp || ebml || avi || mpeg
    }

    fn parse(&self, input: &Input<'_>) -> Result<Document> {
        let options = &self.options;
        let ext = input.extension().unwrap_or_else(|| "bin".into());
        let file = tempfile::Builder::new()
            .prefix("quarry-media-")
            .suffix(&format!(".{ext}"))
            .tempfile()
            .map_err(|e| malformed(format!("cannot stage the file: {e}")))?;
        std::fs::write(file.path(), input.bytes)
            .map_err(|e| malformed(format!("cannot stage the file: {e}")))?;
        let probe = probe(options, file.path())?;
        if let Some(d) = probe.duration_secs
            && d > options.max_duration_secs as f64
        {
            return Err(Error::LimitExceeded {
                what: format!("duration ({d:.0} s)"),
                limit: format!("{} s (media.max_duration_secs)", options.max_duration_secs),
            });
        }
        if let Some((index, language)) = &probe.subtitle {
            let map = format!("0:s:{index}");
            let vtt = extract(
                options,
                file.path(),
                &["-map", &map, "-c:s", "webvtt", "-f", "webvtt"],
            )?;
            // ffmpeg already counts from the start of the container's
            // timeline, as players do.
            let cues = parse_cues(&String::from_utf8_lossy(&vtt))?;
            return Ok(transcript(
                cues,
                "media",
                language.as_deref().map(short_language),
            ));
        }
        if let Some((name, bytes)) = input.sidecar {
            let text = crate::text::decode(bytes, None, "subtitles")?;
            let cues = parse_cues(&text).map_err(|e| malformed(format!("sidecar {name}: {e}")))?;
            return Ok(transcript(cues, "media", None));
        }
        if !probe.audio {
            return Err(malformed(
                "no transcript: the video has no audio, no subtitle stream and no sidecar subtitles",
            ));
        }
        let Some(speech) = &self.speech else {
            return Err(malformed(
                "no transcript: the video has no subtitle stream and no sidecar subtitles; enable speech-to-text (media.speech_to_text) or upload subtitles (name.vtt or name.srt beside the video)",
            ));
        };
        let pcm = extract(
            options,
            file.path(),
            &[
                "-vn", "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "s16le",
            ],
        )?;
        let samples: Vec<f32> = pcm
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
            .collect();
        if samples.len() < 16_000 / 4 {
            return Err(malformed("no transcript: the audio track is empty"));
        }
        let (cues, language) = speech.transcribe(&samples)?;
        if cues.is_empty() {
            return Err(malformed("no transcript: no speech was recognised"));
        }
        Ok(transcript(cues, "media", language))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_languages() {
        let m = Media::default();
        assert!(m.sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"));
        assert!(m.sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]));
        assert!(m.sniff(b"RIFF\x10\0\0\0AVI LIST"));
        assert!(!m.sniff(b"%PDF-1.7"));
        assert_eq!(short_language("ger"), "de");
        assert_eq!(short_language("xx"), "xx");
    }
}
