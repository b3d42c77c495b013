//! Speech-to-text with Whisper through whisper.cpp (`whisper-rs`), for
//! videos without subtitles. The model is a ggml file
//! (`scripts/fetch-models.sh` converts OpenAI's Whisper base to one) loaded on
//! first use, so commands that never meet such a video never pay for it.

use crate::media::SpeechToText;
use crate::subtitles::Cue;
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// Whisper on the CPU.
pub struct Whisper {
    model: PathBuf,
    /// Spoken language (`en`), or `None` to detect it.
    language: Option<String>,
    threads: usize,
    context: OnceLock<std::result::Result<WhisperContext, String>>,
    /// One transcription at a time: whisper.cpp already uses every thread.
    busy: Mutex<()>,
}

impl std::fmt::Debug for Whisper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Whisper")
            .field("model", &self.model)
            .field("language", &self.language)
            .finish()
    }
}

fn failed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        format: "media",
        reason: reason.into(),
    }
}

impl Whisper {
    /// `threads` 0 = one per core.
    pub fn new(model: PathBuf, language: Option<String>, threads: usize) -> Self {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            model,
            language: language.filter(|l| !l.is_empty() && l != "auto"),
            threads,
            context: OnceLock::new(),
            busy: Mutex::new(()),
        }
    }

    fn context(&self) -> Result<&WhisperContext> {
        let loaded = self.context.get_or_init(|| {
            if !self.model.is_file() {
                return Err(format!(
                    "speech-to-text model {} is missing: run scripts/fetch-models.sh, or set media.speech_to_text = false",
                    self.model.display()
                ));
            }
            whisper_rs::install_logging_hooks();
            WhisperContext::new_with_params(&self.model, WhisperContextParameters::default())
                .map_err(|e| format!("cannot load {}: {e}", self.model.display()))
        });
        loaded.as_ref().map_err(|e| failed(e.clone()))
    }
}

/// Whisper's segment times are coarse (a first segment often starts at 0
/// whatever silence precedes the speech): narrow `start..end` (ms) to the
/// 20 ms frames of the segment that carry sound, by RMS against the loudest
/// frame of the whole recording.
fn trim_silence(samples: &[f32], start_ms: u64, end_ms: u64) -> (u64, u64) {
    const FRAME: usize = 320; // 20 ms at 16 kHz
    let rms = |f: &[f32]| (f.iter().map(|x| x * x).sum::<f32>() / f.len().max(1) as f32).sqrt();
    let loudest = samples.chunks(FRAME).map(rms).fold(0.0f32, f32::max);
    if loudest <= 0.0 {
        return (start_ms, end_ms);
    }
    let threshold = loudest * 0.05;
    let frame_of = |ms: u64| (ms as usize * 16).min(samples.len()) / FRAME;
    let (first, last) = (frame_of(start_ms), frame_of(end_ms));
    let loud: Vec<usize> = (first..=last)
        .filter(|&i| {
            let a = i * FRAME;
            a < samples.len() && rms(&samples[a..(a + FRAME).min(samples.len())]) >= threshold
        })
        .collect();
    match (loud.first(), loud.last()) {
        (Some(&a), Some(&b)) => (
            (a * 20) as u64,
            (((b + 1) * 20) as u64).min(end_ms.max(start_ms)),
        ),
        _ => (start_ms, end_ms),
    }
}

impl SpeechToText for Whisper {
    fn transcribe(&self, samples: &[f32]) -> Result<(Vec<Cue>, Option<String>)> {
        let context = self.context()?;
        let _one = self
            .busy
            .lock()
            .map_err(|_| failed("speech-to-text poisoned"))?;
        let mut state = context
            .create_state()
            .map_err(|e| failed(format!("speech-to-text: {e}")))?;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_language(Some(self.language.as_deref().unwrap_or("auto")));
        params.set_n_threads(self.threads as i32);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        state
            .full(params, samples)
            .map_err(|e| failed(format!("speech-to-text: {e}")))?;
        let language = whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_owned);
        let mut cues = Vec::new();
        for i in 0..state.full_n_segments() {
            let Some(segment) = state.get_segment(i) else {
                continue;
            };
            let text = segment
                .to_str_lossy()
                .map(|t| t.trim().to_owned())
                .unwrap_or_default();
            if text.is_empty() || segment.no_speech_probability() > 0.8 {
                continue;
            }
            let start_ms = segment.start_timestamp().max(0) as u64 * 10;
            let end_ms = (segment.end_timestamp().max(0) as u64 * 10).max(start_ms);
            let (start_ms, end_ms) = trim_silence(samples, start_ms, end_ms);
            cues.push(Cue {
                start_ms,
                end_ms,
                text,
            });
        }
        Ok((cues, language))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_trimmed_from_segment_edges() {
        // 1 s silence, 1 s tone, 1 s silence.
        let mut samples = vec![0.0f32; 16_000];
        samples.extend((0..16_000).map(|i| (i as f32 * 0.1).sin() * 0.5));
        samples.extend(vec![0.0f32; 16_000]);
        assert_eq!(trim_silence(&samples, 0, 3_000), (1_000, 2_000));
        assert_eq!(trim_silence(&vec![0.0; 100], 0, 5), (0, 5));
    }
}
