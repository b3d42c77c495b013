//! Videos made by the test with ffmpeg (a test pattern, a tone, and a
//! subtitle track or a sidecar), in every container quarry reads: the
//! sentence shown from 4 s to 7 s must come back in a section whose time
//! range covers it. Needs `ffmpeg` (installed by `scripts/deps.sh`).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use quarry_formats::{Document, Error, Input, Locator, Registry, SectionKind};
use std::path::{Path, PathBuf};
use std::process::Command;

const SRT: &str = "1\n00:00:01,000 --> 00:00:03,000\nWelcome to the widget tour.\n\n\
2\n00:00:04,000 --> 00:00:07,000\nPress the blue reset button for ten seconds.\n\n\
3\n00:00:08,000 --> 00:00:10,000\nThe light turns green when it is done.\n";

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-y", "-v", "error"])
        .args(args)
        .output()
        .expect("ffmpeg is needed for the media tests: run scripts/deps.sh");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 12-second clip in `dir/name`: video, a tone unless `silent`, and the
/// subtitles as a stream in `subtitle_codec` unless `None`.
fn clip(dir: &Path, name: &str, video: &str, audio: &str, subtitle_codec: Option<&str>) -> PathBuf {
    let srt = dir.join("subs.srt");
    std::fs::write(&srt, SRT).unwrap();
    let out = dir.join(name);
    let mut args: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        "testsrc=size=96x64:rate=25:duration=12".into(),
    ];
    if !audio.is_empty() {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:duration=12"].map(String::from));
    }
    if subtitle_codec.is_some() {
        args.extend(["-i".to_owned(), srt.display().to_string()]);
    }
    args.extend(["-map", "0:v", "-c:v", video].map(String::from));
    if !audio.is_empty() {
        args.extend(["-map", "1:a", "-c:a", audio].map(String::from));
    }
    if let Some(codec) = subtitle_codec {
        let index = if audio.is_empty() { 1 } else { 2 };
        args.extend([
            "-map".to_owned(),
            format!("{index}:s"),
            "-c:s".to_owned(),
            codec.to_owned(),
            "-metadata:s:s:0".to_owned(),
            "language=eng".to_owned(),
        ]);
    }
    args.push(out.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
    out
}

fn parse(path: &Path, sidecar: Option<&str>) -> Result<Document, Error> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut input = Input::new(&name, &bytes);
    if let Some(s) = sidecar {
        input = input.with_sidecar("clip.srt", s.as_bytes());
    }
    Registry::default().parse(&input)
}

/// The section holding the reset sentence, and the time range of the part
/// of it that says so.
fn reset_time(doc: &Document) -> (u64, u64) {
    let section = doc
        .sections
        .iter()
        .find(|s| s.text.contains("blue reset button"))
        .unwrap_or_else(|| panic!("no reset sentence in {doc:#?}"));
    assert_eq!(section.kind, SectionKind::Transcript);
    let at = section.text.find("Press the blue").unwrap();
    match section.locate(at, at + 40) {
        Locator::Time { start_ms, end_ms } => (start_ms, end_ms),
        other => panic!("not a time locator: {other:?}"),
    }
}

#[test]
fn subtitle_streams_in_every_container_are_cited_to_the_second() {
    let dir = tempfile::tempdir().unwrap();
    for (name, video, audio, subs) in [
        ("clip.mp4", "mpeg4", "aac", "mov_text"),
        ("clip.mov", "mpeg4", "aac", "mov_text"),
        ("clip.mkv", "mpeg4", "aac", "srt"),
        ("clip.webm", "libvpx", "libvorbis", "webvtt"),
    ] {
        let path = clip(dir.path(), name, video, audio, Some(subs));
        let doc = parse(&path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.format, "media", "{name}");
        assert_eq!(doc.language.as_deref(), Some("en"), "{name}");
        // Muxers may shift a stream by a few milliseconds (mkv: 23 ms).
        let (start, end) = reset_time(&doc);
        assert!(
            (3_950..=4_050).contains(&start) && (6_950..=7_050).contains(&end),
            "{name}: {start}-{end}"
        );
    }
}

#[test]
fn a_sidecar_transcribes_containers_without_a_subtitle_stream() {
    let dir = tempfile::tempdir().unwrap();
    for (name, video, audio) in [
        ("clip.avi", "mpeg4", "mp3"),
        ("clip.mpg", "mpeg1video", "mp2"),
    ] {
        let path = clip(dir.path(), name, video, audio, None);
        let doc = parse(&path, Some(SRT)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (start, end) = reset_time(&doc);
        assert_eq!((start, end), (4_000, 7_000), "{name}");
        let err = parse(&path, None).unwrap_err().to_string();
        assert!(
            err.contains("no transcript") && err.contains("upload subtitles"),
            "{name}: {err}"
        );
    }
}

#[test]
fn corrupt_and_silent_videos_fail_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let silent = clip(dir.path(), "silent.mp4", "mpeg4", "", None);
    let err = parse(&silent, None).unwrap_err().to_string();
    assert!(err.contains("no audio"), "{err}");
    let mut corrupt = std::fs::read(&silent).unwrap();
    corrupt.truncate(64);
    corrupt.extend(std::iter::repeat_n(0x5A, 4096));
    let path = dir.path().join("corrupt.mp4");
    std::fs::write(&path, corrupt).unwrap();
    let err = parse(&path, None).unwrap_err().to_string();
    assert!(err.starts_with("malformed media"), "{err}");
}

/// Word error rate: word-level edit distance over the reference length,
/// case and punctuation ignored.
#[cfg(feature = "whisper")]
fn wer(reference: &str, hypothesis: &str) -> f64 {
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (r, h) = (words(reference), words(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(rw != hw))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len().max(1) as f64
}

/// Real speech (espeak-ng) starting at 4 s, in a video without subtitles:
/// Whisper transcribes it, the sentence is cited at the time it is said,
/// and the language is detected. Prints WER and speed for the notes.
#[cfg(feature = "whisper")]
#[test]
fn speech_to_text_transcribes_a_video_without_subtitles() {
    use quarry_formats::Format;
    use quarry_formats::media::{Media, MediaOptions};
    use quarry_formats::whisper::Whisper;
    use std::sync::Arc;
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/whisper-base/ggml-base.bin");
    assert!(
        model.is_file(),
        "{} is missing: run scripts/fetch-models.sh",
        model.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let said = "To reset the router, press the blue button on the back for ten seconds. \
                The light turns green when the reset is complete.";
    let wav = dir.path().join("speech.wav");
    let out = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&wav)
        .arg(said)
        .output()
        .expect("espeak-ng is needed for this test: run scripts/deps.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let media = Media {
        options: MediaOptions::default(),
        speech: Some(Arc::new(Whisper::new(model, None, 0))),
    };
    let wav_s = wav.display().to_string();
    for (name, video, audio) in [
        ("howto.mp4", "mpeg4", "aac"),
        ("howto.mov", "mpeg4", "aac"),
        ("howto.avi", "mpeg4", "mp3"),
        ("howto.mpg", "mpeg1video", "mp2"),
        ("howto.webm", "libvpx", "libvorbis"),
    ] {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x64:rate=25:duration=16",
            "-i",
            &wav_s,
            "-filter_complex",
            "[1:a]adelay=4000:all=1,apad=whole_dur=16[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
            "-c:v",
            video,
            "-c:a",
            audio,
            "-t",
            "16",
            &path.display().to_string(),
        ]);
        let bytes = std::fs::read(&path).unwrap();
        let started = std::time::Instant::now();
        let doc = media.parse(&Input::new(name, &bytes)).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let text: String = doc
            .sections
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let rate = wer(said, &text);
        println!(
            "speech-to-text {name}: WER {rate:.3}, 16 s of audio in {seconds:.1} s ({:.2}× real time), language {:?}: {text}",
            16.0 / seconds,
            doc.language
        );
        assert!(rate <= 0.2, "{name}: WER {rate}: {text}");
        assert_eq!(doc.language.as_deref(), Some("en"), "{name}");
        let section = doc
            .sections
            .iter()
            .find(|s| s.text.to_lowercase().contains("reset the router"))
            .unwrap_or_else(|| panic!("{name}: {doc:#?}"));
        let Locator::Time { start_ms, end_ms } = section.locator else {
            panic!("{:?}", section.locator)
        };
        assert!(
            (3_000..=5_000).contains(&start_ms) && end_ms >= 7_000,
            "{name}: spoken from 4 s: {start_ms}-{end_ms}"
        );
    }
}
