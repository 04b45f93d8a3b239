import Foundation

/// Whisper's log-mel front end, as faster-whisper's FeatureExtractor computes it:
/// 16 kHz audio + 160 zero samples → reflect-padded (n_fft/2 each side) 400-point periodic-Hann STFT, hop 160,
/// |X|² with the last frame dropped → Slaney mel filters → log10(max(·, 1e-10)) → max(·, max−8) → (·+4)/4.
///
/// The 400-point real DFT is one sgemm over all frames: frames [F, 400] · basis [400, 2·201] (cos | sin),
/// which is simpler than a mixed-radix FFT and fast (400 is not a power of two).
/// Buffers are sized for `maxSamples` at init and reused.
public final class LogMelSpectrogram: @unchecked Sendable {
    public static let sampleRate = 16000, nFFT = 400, hop = 160, nBins = 201
    /// Frames in one 30-second window.
    public static let windowFrames = 3000
    public let nMels: Int
    public let filters: FloatBuffer        // [nMels, 201]
    let basis: FloatBuffer                 // [400, 402]: window·cos | −window·sin
    private var capacityFrames = 0
    private var framesBuf = FloatBuffer(count: 1), spectrum = FloatBuffer(count: 1), power = FloatBuffer(count: 1), melT = FloatBuffer(count: 1)

    public init(nMels: Int = 80) {
        self.nMels = nMels
        filters = FloatBuffer(LogMelSpectrogram.slaneyFilters(nMels: nMels, nFFT: LogMelSpectrogram.nFFT, sampleRate: LogMelSpectrogram.sampleRate))
        let N = LogMelSpectrogram.nFFT, K = LogMelSpectrogram.nBins
        basis = FloatBuffer(count: N * 2 * K)
        for n in 0..<N {
            let w = 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(N))    // periodic Hann
            for k in 0..<K {
                // exact phase index (n·k mod N) keeps the large-angle cos/sin accurate
                let a = 2 * Double.pi * Double((n * k) % N) / Double(N)
                basis[n * 2 * K + k] = Float(w * cos(a))
                basis[n * 2 * K + K + k] = Float(-w * sin(a))
            }
        }
    }

    /// Number of mel frames for `count` samples: (count + 160) / 160 (padding 160, center=True, last frame dropped).
    public static func frameCount(samples count: Int) -> Int { (count + hop) / hop }

    /// Log-mel features, channels-first [nMels, frames], normalized over the whole input.
    public func compute(_ samples: UnsafeBufferPointer<Float>) -> (mel: [Float], frames: Int) {
        let N = LogMelSpectrogram.nFFT, K = LogMelSpectrogram.nBins, H = LogMelSpectrogram.hop
        let F = LogMelSpectrogram.frameCount(samples: samples.count)
        let padded = samples.count + H              // waveform + 160 zeros
        let half = N / 2
        ensure(frames: F)
        // Sample i of the reflect-padded signal (length padded + 2·half).
        @inline(__always) func sample(_ j: Int) -> Float {
            var i = j - half
            if padded == 1 { return i == 0 ? (samples.count > 0 ? samples[0] : 0) : 0 }
            // reflect (numpy "reflect": no edge repeat); may need repeated folding for very short input
            while i < 0 || i >= padded {
                if i < 0 { i = -i }
                if i >= padded { i = 2 * (padded - 1) - i }
            }
            return i < samples.count ? samples[i] : 0
        }
        let fr = framesBuf.pointer
        for f in 0..<F {
            let row = fr + f * N, start = f * H
            if start - half >= 0 && start - half + N <= samples.count {
                let base = samples.baseAddress! + (start - half)
                for n in 0..<N { row[n] = base[n] }
            } else {
                for n in 0..<N { row[n] = sample(start + n) }
            }
        }
        // spectrum[F, 402] = frames[F, 400] · basis[400, 402]
        matmul(fr, basis.pointer, into: spectrum.pointer, M: F, N: 2 * K, K: N)
        let sp = spectrum.pointer, pw = power.pointer
        for f in 0..<F {
            let s = sp + f * 2 * K, p = pw + f * K
            for k in 0..<K { p[k] = s[k] * s[k] + s[K + k] * s[K + k] }
        }
        // mel[nMels, F] = filters[nMels, 201] · power[F, 201]ᵀ
        var out = [Float](repeating: 0, count: nMels * F)
        out.withUnsafeMutableBufferPointer { o in
            matmul(filters.pointer, pw, into: o.baseAddress!, M: nMels, N: F, K: K, transposeB: true)
            var mx = -Float.infinity
            for i in 0..<o.count { let v = log10f(max(o[i], 1e-10)); o[i] = v; if v > mx { mx = v } }
            let floor = mx - 8
            for i in 0..<o.count { o[i] = (max(o[i], floor) + 4) / 4 }
        }
        return (out, F)
    }

    private func ensure(frames F: Int) {
        guard F > capacityFrames else { return }
        capacityFrames = max(F, LogMelSpectrogram.windowFrames)
        framesBuf = FloatBuffer(count: capacityFrames * LogMelSpectrogram.nFFT, zeroed: false)
        spectrum = FloatBuffer(count: capacityFrames * 2 * LogMelSpectrogram.nBins, zeroed: false)
        power = FloatBuffer(count: capacityFrames * LogMelSpectrogram.nBins, zeroed: false)
        _ = melT
    }

    /// librosa.filters.mel(sr, n_fft, n_mels, htk=False, norm="slaney"), as faster-whisper computes it.
    public static func slaneyFilters(nMels: Int, nFFT: Int, sampleRate: Int) -> [Float] {
        let K = nFFT / 2 + 1
        let fftFreqs = (0..<K).map { Double($0) * Double(sampleRate) / Double(nFFT) }
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27
        func hzToMel(_ f: Double) -> Double { f >= minLogHz ? minLogMel + log(f / minLogHz) / logStep : f / fSp }
        func melToHz(_ m: Double) -> Double { m >= minLogMel ? minLogHz * exp(logStep * (m - minLogMel)) : fSp * m }
        let maxMel = hzToMel(Double(sampleRate) / 2)
        let freqs = (0..<(nMels + 2)).map { melToHz(maxMel * Double($0) / Double(nMels + 1)) }
        var w = [Float](repeating: 0, count: nMels * K)
        for i in 0..<nMels {
            let enorm = 2 / (freqs[i + 2] - freqs[i])
            for k in 0..<K {
                let lower = (fftFreqs[k] - freqs[i]) / (freqs[i + 1] - freqs[i])
                let upper = (freqs[i + 2] - fftFreqs[k]) / (freqs[i + 2] - freqs[i + 1])
                w[i * K + k] = Float(max(0, min(lower, upper)) * enorm)
            }
        }
        return w
    }
}
