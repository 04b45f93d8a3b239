"""Writes the log-mel reference fixture for SpeechRecognitionTests once, with faster-whisper's FeatureExtractor.
Run: scripts/.venv-asr/bin/python scripts/asr_make_fixtures.py (after scripts/asr_parity.sh created the venv)."""
import numpy as np
from faster_whisper import decode_audio
from faster_whisper.feature_extractor import FeatureExtractor

d = "Tests/SpeechRecognitionTests/Fixtures/"
audio = decode_audio(d + "hello_mel.wav")
mel = FeatureExtractor(feature_size=80)(audio)          # [80, frames], float32
print(audio.shape, mel.shape, mel.dtype, mel.min(), mel.max())
np.asarray(mel, dtype="<f4").tofile(d + "hello_mel_80.f32")   # row-major [80, frames]
