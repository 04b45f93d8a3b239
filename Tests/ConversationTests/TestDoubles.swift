import Engine
import Foundation
import XCTest

/// An ordered, thread-safe log of what the fake stages did, to assert the interleaving of stages.
final class StageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    func add(_ s: String) { lock.withLock { entries.append(s) } }
    var all: [String] { lock.withLock { entries } }
    func index(of s: String) -> Int? { all.firstIndex(of: s) }
    func contains(_ s: String) -> Bool { all.contains(s) }
}

/// Returns the next fixed text for each new utterance, and keeps what it was given. An utterance that
/// begins with the same audio as an earlier one (the whole of speech recognized early, during a pause)
/// gets the same text again, as a real recognizer would.
final class FakeTranscriber: Transcribing, @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [String]
    private(set) var utterances: [[Float]] = []
    private var answered: [(head: ArraySlice<Float>, text: String)] = []
    private var rule: (@Sendable ([Float]) -> String)?
    let log: StageLog
    init(_ texts: [String], log: StageLog = StageLog()) { self.texts = texts; self.log = log }
    /// Text chosen from the audio itself (e.g. by its length).
    init(rule: @escaping @Sendable ([Float]) -> String) { texts = []; self.rule = rule; log = StageLog() }
    func transcribe(_ samples: [Float]) throws -> Transcript {
        let text = lock.withLock { () -> String in
            utterances.append(samples)
            if let rule { return rule(samples) }
            let head = samples.prefix(3200)
            if let same = answered.first(where: { $0.head == head }) { return same.text }
            let t = texts.isEmpty ? "" : texts.removeFirst()
            answered.append((head, t))
            return t
        }
        log.add("asr:\(text)")
        return Transcript(text: text, segments: [TranscriptSegment(start: 0, end: Double(samples.count) / 16000, text: text)])
    }
    var calls: Int { lock.withLock { utterances.count } }
    /// Distinct utterances heard (an utterance recognized early and again counts once).
    var distinctUtterances: Int { lock.withLock { answered.count } }
}

/// Streams each scripted reply word by word with a delay, optionally waiting at a gate, and records the
/// messages it was given and whether its consumer cancelled it.
final class FakeGenerator: ResponseGenerating, @unchecked Sendable {
    struct Script: Sendable {
        var text: String
        var tokenDelay: Duration = .milliseconds(2)
        /// After this many tokens, wait until `gate` returns true (or 10 s pass).
        var gateAfter: Int? = nil
        /// Tokens after this index are produced with `slowDelay` (a model that writes slowly).
        var slowAfter: Int? = nil
        var slowDelay: Duration = .milliseconds(200)
    }
    private let lock = NSLock()
    private var scripts: [Script]
    private(set) var received: [[ChatMessage]] = []
    /// Words heard so far of a question being spoken, as the conversation handed them over (prepare(_:userSoFar:)).
    var heard: [(messages: [ChatMessage], words: String)] { lock.withLock { _heard } }
    private var _heard: [(messages: [ChatMessage], words: String)] = []
    func prepare(_ messages: [ChatMessage], userSoFar: String) { lock.withLock { _heard.append((messages, userSoFar)) } }
    private(set) var cancelled: [Bool] = []
    private(set) var gateTimedOut = false
    let log: StageLog
    var gate: @Sendable () -> Bool = { true }

    init(_ scripts: [Script], log: StageLog = StageLog()) { self.scripts = scripts; self.log = log }

    /// Splits text into word tokens that keep their leading space, like a BPE model's.
    static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var cur = ""
        for ch in text {
            if ch == " " && !cur.isEmpty { out.append(cur); cur = "" }
            cur.append(ch)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Requests as a model sees them: a request asked again after its first asking was cancelled (a reply
    /// started speculatively during a pause, then dropped) counts once and gets the same script, as a
    /// deterministic model would answer the same messages the same way.
    private var asked: [(messages: [ChatMessage], script: Script)] = []
    var distinctRequests: [[ChatMessage]] { lock.withLock { asked.map(\.messages) } }
    /// The conversations it was asked to get ready for (`prepare`), in order.
    private var preparedFor: [[ChatMessage]] = []
    var prepared: [[ChatMessage]] { lock.withLock { preparedFor } }
    func prepare(_ messages: [ChatMessage]) { lock.withLock { preparedFor.append(messages) } }

    func reply(to messages: [ChatMessage]) -> AsyncThrowingStream<String, Error> {
        let (call, script) = lock.withLock { () -> (Int, Script) in
            received.append(messages); cancelled.append(false)
            if let same = asked.last, same.messages == messages { return (received.count - 1, same.script) }
            let script = scripts.isEmpty ? Script(text: "Okay.") : scripts.removeFirst()
            asked.append((messages, script))
            return (received.count - 1, script)
        }
        let log = self.log, gate = self.gate
        return AsyncThrowingStream { continuation in
            let task = Task {
                for (i, token) in Self.tokens(script.text).enumerated() {
                    if let g = script.gateAfter, i == g {
                        let deadline = ContinuousClock.now + .seconds(10)
                        while !gate() && ContinuousClock.now < deadline && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(1)) }
                        if !gate() { self.lock.withLock { self.gateTimedOut = true } }
                    }
                    let delay = (script.slowAfter.map { i > $0 } ?? false) ? script.slowDelay : script.tokenDelay
                    try? await Task.sleep(for: delay)
                    if Task.isCancelled { break }
                    continuation.yield(token)
                }
                log.add("gen:end:\(call)")
                continuation.finish()
            }
            continuation.onTermination = { reason in
                if case .cancelled = reason { self.lock.withLock { self.cancelled[call] = true } }
                task.cancel()
            }
        }
    }
}

/// "Speaks" text as a speech-like voiced tone, 0.3 s per word, in 0.1 s chunks.
final class FakeSynthesizer: SpeechSynthesizing, @unchecked Sendable {
    /// 8 s of synthetic voice at 16 kHz, made once (looped and picked at other rates).
    static let voice: [Float] = TestSignals.voiced(8, rms: 0.1)
    let sampleRate: Int
    let secondsPerWord: Double
    let log: StageLog
    private let lock = NSLock()
    private(set) var spoken: [String] = []
    init(sampleRate: Int = 16000, secondsPerWord: Double = 0.3, log: StageLog = StageLog()) {
        self.sampleRate = sampleRate; self.secondsPerWord = secondsPerWord; self.log = log
    }
    var texts: [String] { lock.withLock { spoken } }

    func samples(for text: String) -> Int {
        Int(Double(text.split(separator: " ").count) * secondsPerWord * Double(sampleRate))
    }

    func speak(_ text: String) -> AsyncThrowingStream<[Float], Error> {
        lock.withLock { spoken.append(text) }
        log.add("tts:\(text)")
        let n = samples(for: text)
        let rate = sampleRate
        return AsyncThrowingStream { continuation in
            let task = Task {
                let shared = FakeSynthesizer.voice
                let voice = (0..<n).map { shared[($0 * 16000 / rate) % shared.count] }
                var i = 0
                let chunk = rate / 10
                while i < n && !Task.isCancelled {
                    let end = min(n, i + chunk)
                    continuation.yield(Array(voice[i..<end]))
                    i = end
                    await Task.yield()
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// A full-duplex sound card in software: capture frames are the scripted user audio plus the echo of
/// what was played (delayed, attenuated) plus a little noise; each captured frame advances playback by
/// the same number of samples, as a real duplex device does. Time is the device's sample count, so
/// latencies measured here do not depend on the speed of the machine.
final class SimulatedDuplexDevice: CaptureFrameSource, PlaybackSink, @unchecked Sendable {
    let sampleRate = 16000
    private let lock = NSLock()
    private var script: [Float]
    private var queue: [Float] = []
    private var queueRead = 0
    private var played = 0
    private var output: [Float] = []
    private var position = 0
    private var closed = false
    private var noise = TestSignals.Random(seed: 77)

    /// Echo paths (delay in samples, gain).
    var echo: [(delay: Int, gain: Float)] = []
    var noiseRMS: Float = 0.0005
    /// Real-time pacing: microseconds slept per read (20 ms frames → 1000 µs is 20× real time).
    var pace: UInt32 = 1000
    /// Longest run before `read` ends the stream by itself (a safety net for failing tests).
    var maxSeconds = 120.0

    /// Audio mixed into the capture once `samplesPlayed` reaches `whenPlayed` (user barge-in).
    private var pending: [(whenPlayed: Int, samples: [Float])] = []
    private var active: [(start: Int, samples: [Float])] = []
    private(set) var injectedAt: [Int] = []
    /// Capture positions at which `stop()` was called, and the playback count then.
    private(set) var stops: [(position: Int, played: Int)] = []
    /// Called from the capture thread when the capture position passes each key (push-to-talk key presses).
    private var positionActions: [(at: Int, action: @Sendable () -> Void)] = []
    private(set) var enqueuedTotal = 0

    init(script: [Float]) { self.script = script }

    func inject(_ samples: [Float], whenPlayed: Int) { lock.withLock { pending.append((whenPlayed, samples)) } }
    func at(_ position: Int, _ action: @escaping @Sendable () -> Void) { lock.withLock { positionActions.append((position, action)) } }
    var capturePosition: Int { lock.withLock { position } }
    var deviceOutput: [Float] { lock.withLock { output } }
    var stopRecords: [(position: Int, played: Int)] { lock.withLock { stops } }
    var injections: [Int] { lock.withLock { injectedAt } }

    // PlaybackSink
    func enqueue(_ samples: UnsafeBufferPointer<Float>) {
        lock.withLock {
            if firstEnqueue == nil { firstEnqueue = position }
            queue.append(contentsOf: samples); enqueuedTotal += samples.count
        }
    }
    /// Capture position when reply audio was first enqueued.
    private var firstEnqueue: Int?
    var firstEnqueuePosition: Int? { lock.withLock { firstEnqueue } }
    func stop() {
        lock.withLock {
            stops.append((position, played))
            queue.removeAll(); queueRead = 0
        }
    }
    var samplesPlayed: Int { lock.withLock { played } }

    // CaptureFrameSource
    func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        if pace > 0 { usleep(pace) }
        var actions: [@Sendable () -> Void] = []
        let n = lock.withLock { () -> Int in
            if closed || Double(position) > maxSeconds * Double(sampleRate) { return 0 }
            for i in 0..<count {
                var out: Float = 0
                if queueRead < queue.count { out = queue[queueRead]; queueRead += 1; played += 1 }
                output.append(out)
                var k = 0
                while k < pending.count {
                    if played >= pending[k].whenPlayed {
                        active.append((position, pending[k].samples)); injectedAt.append(position)
                        pending.remove(at: k)
                    } else { k += 1 }
                }
                var x: Float = position < script.count ? script[position] : 0
                for a in active where position - a.start < a.samples.count { x += a.samples[position - a.start] }
                for e in echo where output.count - 1 - e.delay >= 0 { x += e.gain * output[output.count - 1 - e.delay] }
                x += noiseRMS * noise.gaussian()
                buffer[i] = x
                position += 1
            }
            if queueRead > 65536 { queue.removeFirst(queueRead); queueRead = 0 }
            while let first = positionActions.first, first.at <= position {
                actions.append(first.action); positionActions.removeFirst()
            }
            return count
        }
        for a in actions { a() }
        return n
    }
    func close() { lock.withLock { closed = true } }
}

/// Capture from an array (a file), as fast as it is read; the stream ends with the array.
final class ArrayCaptureSource: CaptureFrameSource, @unchecked Sendable {
    let sampleRate = 16000
    private let lock = NSLock()
    private let samples: [Float]
    private var position = 0
    private var closed = false
    init(_ samples: [Float]) { self.samples = samples }
    func read(into buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        lock.withLock {
            if closed { return 0 }
            let n = min(count, samples.count - position)
            for i in 0..<max(n, 0) { buffer[i] = samples[position + i] }
            position += max(n, 0)
            return max(n, 0)
        }
    }
    func close() { lock.withLock { closed = true } }
}

/// A playback sink that plays everything at once (like a file), for tests without a microphone.
final class InstantSink: PlaybackSink, @unchecked Sendable {
    let sampleRate: Int
    private let lock = NSLock()
    private var total = 0
    private(set) var audio: [Float] = []
    init(sampleRate: Int = 16000) { self.sampleRate = sampleRate }
    func enqueue(_ samples: UnsafeBufferPointer<Float>) { lock.withLock { total += samples.count; audio.append(contentsOf: samples) } }
    func stop() {}
    var samplesPlayed: Int { lock.withLock { total } }
    var played: [Float] { lock.withLock { audio } }
}

/// Collects a conversation's events and waits for conditions on them.
final class EventCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [ConversationEvent] = []
    private var task: Task<Void, Never>?

    init(_ conversation: Conversation) {
        let events = conversation.events
        task = Task { [weak self] in
            for await e in events { self?.lock.withLock { self?.list.append(e) } }
        }
    }

    var events: [ConversationEvent] { lock.withLock { list } }

    /// After `Conversation.stop()`: waits until every event has been collected.
    func drain() async { await task?.value }

    var finishedTurns: [TurnRecord] {
        events.compactMap { if case .turnFinished(let r) = $0 { return r } else { return nil } }
    }

    /// Waits (polling) until `condition` holds; fails the test after `timeout` seconds.
    @discardableResult
    func wait(_ what: String, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line,
              until condition: ([ConversationEvent]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if condition(events) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        XCTFail("timed out waiting for \(what); events: \(events.filter { if case .audioLevel = $0 { return false } else { return true } })", file: file, line: line)
        return false
    }

    func waitForTurns(_ n: Int, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) async -> [TurnRecord] {
        await wait("\(n) finished turns", timeout: timeout, file: file, line: line) { events in
            events.filter { if case .turnFinished = $0 { return true } else { return false } }.count >= n
        }
        return finishedTurns
    }
}
