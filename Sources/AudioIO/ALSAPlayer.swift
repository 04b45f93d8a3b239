import Atomics
import CALSA
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Playback through ALSA: a real-time thread pulls periods from an SPSC ring and writes them to the PCM.
///
/// The audio thread never allocates, locks, logs or calls into the engine: its buffers are allocated
/// here at open, and it talks to the rest of the program only through the ring and atomics
/// (requests for flush/drain/quit one way; counters, level and acknowledgements the other way).
///
/// States of the thread: idle (nothing written to the device; it polls the ring every ~2 ms) until a
/// period's worth is queued (or a drain asks for less), then playing: one period per wake-up, silence
/// when the ring runs dry (an underrun, counted), until a drain finishes or a stop flushes.
public final class ALSAPlayer: AudioPlaying, @unchecked Sendable {
    public let device: String
    public let sampleRate: Int
    public let channels: Int
    /// What was negotiated with the device.
    public let deviceFormat: SampleFormat
    public let deviceChannels: Int
    public let periodFrames: Int
    public let bufferFrames: Int
    public let options: ALSAOptions
    /// Whether the audio thread runs with SCHED_FIFO.
    public private(set) var isRealtime = false
    public let level = LevelReading()

    private let pcm: ALSAPCM
    private let ring: SPSCRingBuffer
    private let periodFloat: UnsafeMutablePointer<Float>     // [periodFrames · channels] from the ring
    private let periodNative: UnsafeMutableRawPointer        // [periodFrames · deviceChannels] device format
    private var thread: pthread_t?

    // Requests (program → audio thread) and acknowledgements (audio thread → program): counters,
    // so a request is "pending" while request != ack.
    private let quit = ManagedAtomic<Bool>(false)
    private let flushRequest = ManagedAtomic<Int>(0), flushAck = ManagedAtomic<Int>(0)
    private let drainRequest = ManagedAtomic<Int>(0), drainAck = ManagedAtomic<Int>(0)
    private let stopGeneration = ManagedAtomic<Int>(0)
    private let failure = ManagedAtomic<Int>(0)              // negative ALSA error that stopped the thread
    private let threadExited = ManagedAtomic<Bool>(false)

    // Counters (audio thread → anyone).
    private let cUnderruns = ManagedAtomic<Int>(0), cUnderrunFrames = ManagedAtomic<Int>(0)
    private let cXruns = ManagedAtomic<Int>(0), cFrames = ManagedAtomic<Int>(0)
    private let cHanded = ManagedAtomic<Int>(0), cDelay = ManagedAtomic<Int>(0)
    private let firstSound = ManagedAtomic<UInt64>(0)        // 0: not armed; 1: armed; else the stamp
    private let closed = ManagedAtomic<Bool>(false)

    /// Opens `device` for playback at (near) `sampleRate` with `channels` interleaved channels and starts the audio thread.
    public convenience init(device: String = "default", sampleRate: Int, channels: Int = 1, options: ALSAOptions = ALSAOptions()) throws {
        try self.init(device: device, sampleRate: sampleRate, channels: channels, options: options, config: nil)
    }

    /// As above, with the PCM looked up in `config` instead of the system's ALSA configuration.
    public init(device: String, sampleRate: Int, channels: Int = 1, options: ALSAOptions = ALSAOptions(), config: ALSAConfig?) throws {
        pcm = try ALSAPCM(name: device, direction: .playback, rate: sampleRate, channels: channels, options: options, config: config)
        self.device = device
        self.sampleRate = pcm.rate
        self.channels = max(1, channels)
        self.options = options
        deviceFormat = pcm.format; deviceChannels = pcm.channels
        periodFrames = pcm.periodFrames; bufferFrames = pcm.bufferFrames
        let ringSamples = max(Int(options.ringSeconds * Double(pcm.rate)), 4 * pcm.periodFrames) * self.channels
        ring = SPSCRingBuffer(minimumCapacity: ringSamples)
        periodFloat = .allocate(capacity: periodFrames * self.channels)
        periodFloat.initialize(repeating: 0, count: periodFrames * self.channels)
        periodNative = .allocate(byteCount: periodFrames * pcm.frameBytes, alignment: 16)
        let (t, rt) = try startAudioThread(realtime: options.realtimePriority) { [unowned(unsafe) self] in self.run() }
        thread = t; isRealtime = rt
    }

    deinit {
        close()
        periodFloat.deallocate()
        periodNative.deallocate()
    }

    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopGeneration.wrappingIncrement(ordering: .releasing)
        quit.store(true, ordering: .releasing)
        if let t = thread { pthread_join(t, nil) }
        thread = nil
        pcm.close()          // the thread is gone: nothing uses the handle any more
    }

    // MARK: Program side

    private func checkFailure() throws {
        let f = failure.load(ordering: .acquiring)
        if f != 0 { throw AudioDeviceError(.failed, device: device, direction: .playback, detail: alsaErrorText(Int32(f))) }
        if closed.load(ordering: .acquiring) { throw AudioDeviceError(.closed, device: device, direction: .playback) }
    }

    /// The error that stopped the audio thread (nil while the device works).
    public var deviceFailure: AudioDeviceError? {
        let f = failure.load(ordering: .acquiring)
        return f == 0 ? nil : AudioDeviceError(.failed, device: device, direction: .playback, detail: alsaErrorText(Int32(f)))
    }

    /// A short sleep for program-side waits: a quarter period, at most 5 ms.
    private var pollNanoseconds: UInt64 { UInt64(min(5_000_000, max(500_000, periodFrames * 250_000_000 / max(1, sampleRate)))) }

    public var queueCapacity: Int { ring.capacity }

    @discardableResult
    public func enqueue(_ samples: UnsafeBufferPointer<Float>) throws -> Int {
        try checkFailure()
        guard var p = samples.baseAddress else { return 0 }
        let generation = stopGeneration.load(ordering: .acquiring)
        var left = samples.count - samples.count % channels
        var done = 0
        while left > 0 {
            // Whole frames only, so the audio thread always reads whole frames.
            let space = ring.availableToWrite
            let n = min(left, space - space % channels)
            if n > 0 {
                ring.write(p, count: n)
                p += n; left -= n; done += n
                continue
            }
            if stopGeneration.load(ordering: .acquiring) != generation { break }
            try checkFailure()
            AudioClock.sleep(nanoseconds: pollNanoseconds)
        }
        return done
    }

    public func endOfStream() { drainRequest.wrappingIncrement(ordering: .releasing) }

    public func drain() throws {
        try checkFailure()
        let generation = stopGeneration.load(ordering: .acquiring)
        let target = drainRequest.wrappingIncrementThenLoad(ordering: .acquiringAndReleasing)
        while drainAck.load(ordering: .acquiring) != target {
            if stopGeneration.load(ordering: .acquiring) != generation { return }
            try checkFailure()
            AudioClock.sleep(nanoseconds: pollNanoseconds)
        }
    }

    public func stop() {
        stopGeneration.wrappingIncrement(ordering: .releasing)
        let target = flushRequest.wrappingIncrementThenLoad(ordering: .acquiringAndReleasing)
        // The thread answers within one period (a blocked write or a pacing sleep); give up only if it died.
        // (Bounded, so a stuck device cannot hang the caller; the flush still happens when the thread wakes.)
        let giveUp = AudioClock.nanoseconds() + 1_000_000_000
        while flushAck.load(ordering: .acquiring) != target && !threadExited.load(ordering: .acquiring)
                && AudioClock.nanoseconds() < giveUp {
            AudioClock.sleep(nanoseconds: 200_000)
        }
    }

    public var counters: PlaybackCounters {
        PlaybackCounters(underruns: cUnderruns.load(ordering: .relaxed), underrunFrames: cUnderrunFrames.load(ordering: .relaxed),
                         xruns: cXruns.load(ordering: .relaxed), framesWritten: cFrames.load(ordering: .relaxed),
                         samplesHanded: cHanded.load(ordering: .relaxed), samplesEnqueued: ring.totalWritten,
                         delayFrames: cDelay.load(ordering: .relaxed))
    }

    public func armFirstSoundProbe() { firstSound.store(1, ordering: .releasing) }

    public var firstSoundHandedAt: UInt64? {
        let v = firstSound.load(ordering: .acquiring)
        return v > 1 ? v : nil
    }

    /// Samples waiting in the ring (not yet handed to the device).
    public var queuedSamples: Int { ring.availableToRead }

    // MARK: Audio thread

    /// Writes one period (or `frames`) to the device, recovering xruns. False if the device failed.
    private func writeAll(_ frames: Int) -> Bool {
        let h = pcm.handle
        let fb = pcm.frameBytes
        var off = 0
        while off < frames {
            // Wait for room with a timeout rather than blocking in writei, so a stuck device cannot keep
            // the thread from seeing quit (close() joins it).
            let ready = snd_pcm_wait(h, 200)
            if ready == 0 {
                if quit.load(ordering: .acquiring) { return false }
                continue
            }
            let r = ready < 0 ? snd_pcm_sframes_t(ready) : snd_pcm_writei(h, periodNative + off * fb, snd_pcm_uframes_t(frames - off))
            if r >= 0 { off += r; continue }
            let e = Int32(r)
            if e == -EAGAIN { continue }
            if e == -EPIPE || e == -ESTRPIPE { cXruns.wrappingIncrement(ordering: .relaxed) }
            if snd_pcm_recover(h, e, 1) < 0 { failure.store(Int(e), ordering: .releasing); return false }
        }
        return true
    }

    /// Like snd_pcm_drain, but gives up at once on quit or flush (snd_pcm_drain can block for as long as
    /// the device likes): waits until the device buffer has played out (or ran dry, which ends a drain anyway).
    /// Returns false if interrupted. Bounded by the buffer's duration plus half a second.
    private func waitUntilPlayed() -> Bool {
        let h = pcm.handle
        let seen = flushRequest.load(ordering: .acquiring)
        let limit = AudioClock.nanoseconds() + UInt64(bufferFrames) * 1_000_000_000 / UInt64(sampleRate) + 500_000_000
        while !quit.load(ordering: .acquiring) && flushRequest.load(ordering: .acquiring) == seen {
            let avail = snd_pcm_avail(h)
            if avail < 0 || avail >= bufferFrames || snd_pcm_state(h) != SND_PCM_STATE_RUNNING
                || AudioClock.nanoseconds() > limit { return true }
            AudioClock.sleep(nanoseconds: 2_000_000)
        }
        return false
    }

    private func run() {
        let h = pcm.handle
        let spf = channels
        let periodSamples = periodFrames * spf
        var pacer = Pacer(rate: sampleRate, allowance: bufferFrames, periodFrames: periodFrames, mode: options.pacing)
        var meter = LevelMeter(windowSize: max(periodFrames, sampleRate / 50) * spf)
        var active = false, starved = false
        var seenFlush = 0, seenDrain = 0
        defer { threadExited.store(true, ordering: .releasing) }
        while !quit.load(ordering: .acquiring) {
            let fr = flushRequest.load(ordering: .acquiring)
            if fr != seenFlush {
                ring.discardAll()
                if active { snd_pcm_drop(h); snd_pcm_prepare(h) }
                active = false; starved = false; pacer.reset()
                level.publish(rms: 0, peak: 0)
                seenFlush = fr
                // A flush also ends a pending drain: what it waited for is gone.
                seenDrain = drainRequest.load(ordering: .acquiring); drainAck.store(seenDrain, ordering: .releasing)
                flushAck.store(fr, ordering: .releasing)
                continue
            }
            let dr = drainRequest.load(ordering: .acquiring)
            let draining = dr != seenDrain
            if !active {
                let avail = ring.availableToRead
                if avail >= periodSamples || (draining && avail > 0) {
                    active = true; starved = false; pacer.reset()
                } else if draining {
                    seenDrain = dr; drainAck.store(dr, ordering: .releasing)
                    continue
                } else {
                    AudioClock.sleep(nanoseconds: 2_000_000)
                    continue
                }
            }

            // The ring is short of a period. While the device still holds more than a period of audio, the
            // producer gets that time: silence written now would be heard later, in the middle of audio that
            // is on its way (a reply's next decoder window). Only when the device is down to its last period
            // is the gap padded with silence and counted.
            if !draining && options.pacing != .never && ring.availableToRead < periodSamples {
                var queued = 0
                if pacer.engaged { queued = pacer.queuedFrames() } else {
                    var delay: snd_pcm_sframes_t = 0
                    if snd_pcm_delay(h, &delay) == 0 { queued = Int(delay) }
                }
                if queued > periodFrames { AudioClock.sleep(nanoseconds: 1_000_000); continue }
            }
            // One period from the ring; the rest silence if it ran dry.
            let got = ring.read(into: periodFloat, count: periodSamples)
            var frames = periodFrames
            if got < periodSamples {
                if !draining && options.pacing == .never {
                    // Unpaced (tests): wait for data rather than inserting silence.
                    if got == 0 { AudioClock.sleep(nanoseconds: 200_000); continue }
                    frames = got / spf
                } else {
                    (periodFloat + got).update(repeating: 0, count: periodSamples - got)
                    if !draining {
                        cUnderrunFrames.wrappingIncrement(by: (periodSamples - got) / spf, ordering: .relaxed)
                        if !starved { cUnderruns.wrappingIncrement(ordering: .relaxed); starved = true }
                    }
                }
            } else {
                starved = false
            }
            if got > 0 {
                if meter.process(periodFloat, count: got) { level.publish(rms: meter.rms, peak: meter.peak) }
                if firstSound.load(ordering: .relaxed) == 1 {
                    var loud = false
                    for i in 0..<got where abs(periodFloat[i]) > 1e-4 { loud = true; break }
                    if loud { firstSound.store(AudioClock.nanoseconds(), ordering: .releasing) }
                }
            }
            encodeSamples(periodFloat, srcChannels: spf, frames: frames, into: periodNative, format: pcm.format, dstChannels: pcm.channels)
            pacer.willTransfer()
            guard writeAll(frames) else { break }
            cHanded.wrappingIncrement(by: got, ordering: .relaxed)
            cFrames.wrappingIncrement(by: frames, ordering: .relaxed)
            var delay: snd_pcm_sframes_t = 0
            if snd_pcm_delay(h, &delay) == 0 { cDelay.store(delay, ordering: .relaxed) }
            pacer.didTransfer(frames)

            if draining && ring.availableToRead == 0 {
                pacer.waitPlayedOut()
                // Interrupted by stop() or close(): the loop's top handles it.
                guard waitUntilPlayed() else { continue }
                snd_pcm_drain(h)    // returns at once now; lets the file plugin flush what it holds
                snd_pcm_prepare(h)
                active = false; pacer.reset()
                level.publish(rms: 0, peak: 0)
                seenDrain = dr
                drainAck.store(dr, ordering: .releasing)
            }
        }
        snd_pcm_drop(h)
    }
}
