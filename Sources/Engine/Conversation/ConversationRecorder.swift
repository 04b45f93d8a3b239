import AudioIO

/// Optional recording of both sides of the conversation to one stereo WAV, frame by frame as the
/// capture thread sees them: left = microphone (before echo cancellation), right = the reply audio
/// handed to playback at the same time (the echo canceller's far end). The header is kept valid
/// while writing, so a killed session leaves a playable file.
public final class ConversationRecorder {
    private let writer: AudioFile.Writer
    private let interleaved: UnsafeMutablePointer<Float>
    private let frameSize: Int

    public init(path: String, sampleRate: Int, frameSize: Int) throws {
        writer = try AudioFile.Writer(path: path, sampleRate: sampleRate, channels: 2, format: .wav16)
        self.frameSize = frameSize
        interleaved = .allocate(capacity: 2 * frameSize)
        interleaved.initialize(repeating: 0, count: 2 * frameSize)
    }

    deinit { writer.close(); interleaved.deallocate() }

    /// mic, speaker: [frameSize].
    public func write(mic: UnsafePointer<Float>, speaker: UnsafePointer<Float>) throws {
        for i in 0..<frameSize { interleaved[2 * i] = mic[i]; interleaved[2 * i + 1] = speaker[i] }
        try writer.append(UnsafeBufferPointer(start: interleaved, count: 2 * frameSize))
    }

    public func close() { writer.close() }
}
