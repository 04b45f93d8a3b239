import AudioIO
import Foundation

/// A turn's reply on its way out: synthesis chunk by chunk into the playback queue, and the watcher of the
/// playback position.
extension Conversation {
    /// Synthesizes each chunk as it arrives and queues its audio for playback, at most
    /// `maxQueuedAudio` ahead of the device.
    func synthesize(_ chunks: AsyncStream<String>, _ t: ReplyTurn) async {
        var speakable = ReplySpeechFilter()
        var index = 0
        var synthesized = false              // the reply's first audio is out of synthesis (stamped once)
        // Never more queued than the device's ring holds: enqueue runs under the conversation's lock, and one that
        // waited for the device (a 2-second ring, 20 s allowed ahead) held up the microphone and barge-in with it.
        let maxAhead = min(Int(config.maxQueuedAudio * Double(playback.sampleRate)), playback.queueCapacity)
        let piece = max(1, min(maxAhead / 2, 1 << 20))      // audio goes in pieces that fit
        for await chunk in chunks {
            if Task.isCancelled || lock.withLock({ t.cancelled }) { break }
            let say = SpeakableText.endingAsClause(speakable.speakable(chunk))
            let sentence = lock.withLock { () -> Int in
                t.sentences.append(ReplyTurn.Sentence(text: chunk, start: t.enqueuedEnd, end: t.enqueuedEnd))
                return t.sentences.count - 1
            }
            if say.isEmpty { continue }
            emit(.replySentenceStarted(index: index, text: chunk), for: t)
            index += 1
            do {
                for try await audio in config.synthesizer.speak(say) {
                    let samples = ttsResampler?.process(audio) ?? audio
                    if !synthesized { synthesized = true; lock.withLock { t.firstSynthesizedAt = .now } }
                    // A provisional turn's audio waits for the end of the turn (or is dropped with it).
                    if !(await waitForConfirmation(t)) { break }
                    var offset = 0, queued = true
                    while queued && offset < samples.count {
                        let n = min(piece, samples.count - offset)
                        while !Task.isCancelled, lock.withLock({ !t.cancelled && t.enqueuedEnd + n - playback.samplesPlayed > maxAhead }) {
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                        queued = lock.withLock { () -> Bool in
                            guard !t.cancelled else { return false }
                            samples.withUnsafeBufferPointer { all in
                                let buf = UnsafeBufferPointer(rebasing: all[offset..<(offset + n)])
                                let start = reference.append(buf)
                                playback.enqueue(buf)
                                if t.firstAudioPosition == nil, let k = buf.firstIndex(where: { abs($0) > 1e-3 }) {
                                    t.firstAudioPosition = start + k
                                }
                                t.enqueuedEnd = start + buf.count
                                t.sentences[sentence].end = t.enqueuedEnd
                            }
                            return true
                        }
                        offset += n
                    }
                    if !queued || Task.isCancelled { break }
                }
            } catch {
                if !Task.isCancelled && !(error is CancellationError) { emit(.error("speech synthesis: \(error)"), for: t) }
            }
        }
        lock.withLock {
            t.synthesisDone = true
            if !t.cancelled && t.enqueuedEnd > t.firstPosition { playback.endOfReply() }
        }
    }

    /// Follows the playback position: stamps the first audible sample, reports `.speaking`, and
    /// returns when the whole reply has been played (or the turn was cancelled).
    func watchPlayback(_ t: ReplyTurn, ended: ContinuousClock.Instant) async {
        var speaking = false
        while true {
            let (done, started) = lock.withLock { () -> (Bool, Bool) in
                if t.cancelled { return (true, false) }
                let played = playback.samplesPlayed
                var started = false
                if t.firstAudioSeconds == nil, let first = t.firstAudioPosition, played > first {
                    let d = ContinuousClock.now - ended
                    t.firstAudioSeconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
                    started = true
                }
                return (t.synthesisDone && played >= t.enqueuedEnd, started)
            }
            if started && !speaking {
                speaking = true
                emit(.state(.speaking), for: t)
                if let s = lock.withLock({ t.firstAudioSeconds }) { emit(.timing(.firstAudio, s), for: t) }
            }
            if done { return }
            // Cancellation ends the sleep early; the next pass sees `t.cancelled`.
            try? await Task.sleep(for: .milliseconds(speaking ? 20 : 5))
        }
    }
}

/// One turn's reply as it is queued and played, guarded by the conversation's lock.
final class ReplyTurn: @unchecked Sendable {
    struct Sentence { var text: String; var start: Int; var end: Int }   // playback positions [start, end)
    let number: Int
    let firstPosition: Int
    var cancelled = false
    var interruptedBy: TurnInput?
    var stoppedAt: Int?
    var sentences: [Sentence] = []
    var enqueuedEnd: Int
    var firstAudioPosition: Int?
    /// The whole reply as the model wrote it (set when generation ends).
    var writtenReply: String?
    /// When the first audio of the reply came out of speech synthesis.
    var firstSynthesizedAt: ContinuousClock.Instant?
    var firstAudioSeconds: Double?
    var synthesisDone = false
    /// False while the turn is provisional (started at a pause in speech, before the hangover ended):
    /// nothing of it is played or shown, and its events wait in `heldEvents`.
    var confirmed = true
    /// A provisional turn dropped because the user went on: it reports nothing and enters no history.
    var discarded = false
    var heldEvents: [ConversationEvent] = []

    init(number: Int, position: Int) { self.number = number; firstPosition = position; enqueuedEnd = position }

    /// The reply text heard up to playback position `played`: whole sentences played, and the share of
    /// the words of the sentence playing when it stopped (cut with a dash).
    func spokenText(upTo played: Int) -> String {
        var parts: [String] = []
        for s in sentences {
            if s.end <= played && (s.end > s.start || s.start < played) { parts.append(s.text); continue }
            if s.start < played && played < s.end {
                let words = s.text.split(whereSeparator: \.isWhitespace)
                let share = Double(played - s.start) / Double(s.end - s.start)
                let n = Int((share * Double(words.count)).rounded(.down))
                if n > 0 { parts.append(words[0..<n].joined(separator: " ") + "—") }
            }
            break
        }
        return parts.joined(separator: " ")
    }
}
