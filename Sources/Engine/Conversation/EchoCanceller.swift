import CSpeexDSP

/// Acoustic echo cancellation with speexdsp (MDF adaptive filter + residual echo suppression in the
/// preprocessor), so Confab does not hear, transcribe or interrupt itself on speakers.
///
/// Call `process` once per frame with the microphone frame (near end) and the frame of samples handed
/// to playback at the same time (far end), both mono at `sampleRate` and `frameSize` long. The filter
/// covers echo paths up to `tail` seconds (device latency + room). The output is the cleaned near end
/// one frame late (the preprocessor's overlap-add). speexdsp works on 16-bit samples; conversion
/// happens in buffers allocated once.
public final class EchoCanceller {
    public let sampleRate: Int
    public let frameSize: Int
    private let echo: OpaquePointer
    private let preprocess: OpaquePointer
    private let near16: UnsafeMutablePointer<Int16>
    private let far16: UnsafeMutablePointer<Int16>
    private let out16: UnsafeMutablePointer<Int16>

    /// - Parameters:
    ///   - tail: longest echo delay + reverberation to cancel, in seconds.
    ///   - suppressNoise: also denoise the output (speex needs its denoiser on for residual echo suppression).
    public init(sampleRate: Int = 16000, frameSize: Int = 320, tail: Double = 0.3, suppressNoise: Bool = true) throws {
        guard sampleRate > 0, frameSize > 0, tail > 0 else {
            throw ConversationError("echo canceller: bad settings (rate \(sampleRate), frame \(frameSize), tail \(tail))")
        }
        self.sampleRate = sampleRate; self.frameSize = frameSize
        let filterLength = max(frameSize, Int(tail * Double(sampleRate)))
        guard let e = speex_echo_state_init(Int32(frameSize), Int32(filterLength)) else {
            throw ConversationError("echo canceller: speex_echo_state_init failed")
        }
        guard let p = speex_preprocess_state_init(Int32(frameSize), Int32(sampleRate)) else {
            speex_echo_state_destroy(e)
            throw ConversationError("echo canceller: speex_preprocess_state_init failed")
        }
        echo = e; preprocess = p
        var rate = Int32(sampleRate)
        speex_echo_ctl(echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate)
        var on: Int32 = suppressNoise ? 1 : 0
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_DENOISE, &on)
        var off: Int32 = 0
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_AGC, &off)
        // (VAD is off by default; setting it at all makes speexdsp print a warning.)
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_DEREVERB, &off)
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_ECHO_STATE, UnsafeMutableRawPointer(echo))
        near16 = .allocate(capacity: frameSize); far16 = .allocate(capacity: frameSize); out16 = .allocate(capacity: frameSize)
        near16.initialize(repeating: 0, count: frameSize); far16.initialize(repeating: 0, count: frameSize)
        out16.initialize(repeating: 0, count: frameSize)
    }

    deinit {
        speex_preprocess_state_destroy(preprocess)
        speex_echo_state_destroy(echo)
        near16.deallocate(); far16.deallocate(); out16.deallocate()
    }

    /// near, far, out: [frameSize] floats in [-1, 1]. `out` may alias `near`.
    public func process(near: UnsafePointer<Float>, far: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        @inline(__always) func toInt16(_ x: Float) -> Int16 { Int16(max(-32768, min(32767, (x * 32768).rounded()))) }
        for i in 0..<frameSize { near16[i] = toInt16(near[i]); far16[i] = toInt16(far[i]) }
        speex_echo_cancellation(echo, near16, far16, out16)
        speex_preprocess_run(preprocess, out16)
        let inv: Float = 1 / 32768
        for i in 0..<frameSize { out[i] = Float(out16[i]) * inv }
    }

    /// Forgets the learned echo path (e.g. after the playback device changed).
    public func reset() { speex_echo_state_reset(echo) }
}
