import CEspeakNG
import Foundation

/// espeak-ng's own formant voices, speaking text to audio: other voices than Confab's, for test and benchmark
/// questions (`confab bench answers --mode espeak`). Shares the one espeak-ng instance (and its lock) with the
/// phonemizer; the phonemizer selects its voice again on its next call.
extension EspeakPhonemizer {
    /// `text` spoken by `voice` (an espeak-ng name such as "en-us", with an optional variant: "en-gb+f3") at
    /// `wordsPerMinute`; mono samples at `sampleRate`.
    public func speak(_ text: String, voice: String, wordsPerMinute: Int = 165) throws -> (samples: [Float], sampleRate: Int) {
        lock.lock(); defer { lock.unlock() }
        try ensureVoice(voice)
        let box = SpeechBox()
        espeak_SetSynthCallback { wav, count, events in
            guard let events, let user = events.pointee.user_data else { return 0 }
            let box = Unmanaged<SpeechBox>.fromOpaque(user).takeUnretainedValue()
            if let wav, count > 0 {
                for i in 0..<Int(count) { box.samples.append(Float(wav[i]) / 32768) }
            }
            return 0
        }
        espeak_SetParameter(espeakRATE, Int32(wordsPerMinute), 0)
        defer { espeak_SetParameter(espeakRATE, 175, 0) }
        var bytes = Array(text.utf8CString)
        let status = bytes.withUnsafeMutableBytes { raw in
            espeak_Synth(raw.baseAddress, raw.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil,
                         Unmanaged.passUnretained(box).toOpaque())
        }
        guard status == EE_OK else { throw PhonemizerError("espeak-ng: cannot speak with voice '\(voice)' (error \(status.rawValue))") }
        guard espeak_Synchronize() == EE_OK, !box.samples.isEmpty else {
            throw PhonemizerError("espeak-ng: voice '\(voice)' gave no audio for: \(text)")
        }
        return (box.samples, sampleRate)
    }
}

private final class SpeechBox: @unchecked Sendable {
    var samples: [Float] = []
}
