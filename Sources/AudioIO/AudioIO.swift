// ALSA capture and playback, real-time audio threads, ring buffers, audio files, resampling, metering.
