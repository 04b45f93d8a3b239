import Atomics
import CALSA
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Capture through ALSA: a real-time thread reads one period at a time with `snd_pcm_readi`, mixes it
/// to mono Float and pushes it into an SPSC ring the program drains with `read(into:)`.
///
/// Like the playback thread it never allocates, locks, logs or calls the engine; if the ring is full the
/// period is dropped (capture cannot wait) and counted as an overrun.
public final class ALSACapture: AudioCapturing, @unchecked Sendable {
    public let device: String
    public let sampleRate: Int
    public let deviceFormat: SampleFormat
    public let deviceChannels: Int
    public let periodFrames: Int
    public let bufferFrames: Int
    public let options: ALSAOptions
    public private(set) var isRealtime = false
    public let level = LevelReading()

    private let pcm: ALSAPCM
    private let ring: SPSCRingBuffer
    private let periodNative: UnsafeMutableRawPointer      // [periodFrames · deviceChannels] device format
    private let periodFloat: UnsafeMutablePointer<Float>   // [periodFrames] mono
    private var thread: pthread_t?
    private let running = ManagedAtomic<Bool>(false)
    private let failure = ManagedAtomic<Int>(0)
    private let cFrames = ManagedAtomic<Int>(0), cXruns = ManagedAtomic<Int>(0)
    private let cOverruns = ManagedAtomic<Int>(0), cDropped = ManagedAtomic<Int>(0)

    /// Opens `device` for capture at (near) `sampleRate`, mono. Call `start()` to begin.
    public convenience init(device: String = "default", sampleRate: Int, options: ALSAOptions = ALSAOptions()) throws {
        try self.init(device: device, sampleRate: sampleRate, options: options, config: nil)
    }

    /// As above, with the PCM looked up in `config` instead of the system's ALSA configuration.
    public init(device: String, sampleRate: Int, options: ALSAOptions = ALSAOptions(), config: ALSAConfig?) throws {
        pcm = try ALSAPCM(name: device, direction: .capture, rate: sampleRate, channels: 1, options: options, config: config)
        self.device = device
        self.sampleRate = pcm.rate
        self.options = options
        deviceFormat = pcm.format; deviceChannels = pcm.channels
        periodFrames = pcm.periodFrames; bufferFrames = pcm.bufferFrames
        ring = SPSCRingBuffer(minimumCapacity: max(Int(options.ringSeconds * Double(pcm.rate)), 4 * pcm.periodFrames))
        periodNative = .allocate(byteCount: periodFrames * pcm.frameBytes, alignment: 16)
        periodFloat = .allocate(capacity: periodFrames)
        periodFloat.initialize(repeating: 0, count: periodFrames)
    }

    deinit {
        close()
        periodNative.deallocate()
        periodFloat.deallocate()
    }

    public func start() throws {
        guard thread == nil else { return }
        try checkFailure()
        running.store(true, ordering: .releasing)
        let (t, rt) = try startAudioThread(realtime: options.realtimePriority) { [unowned(unsafe) self] in self.run() }
        thread = t; isRealtime = rt
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        if let t = thread { pthread_join(t, nil) }
        thread = nil
    }

    public func close() { stop() }

    private func checkFailure() throws {
        let f = failure.load(ordering: .acquiring)
        if f != 0 { throw AudioDeviceError(.failed, device: device, direction: .capture, detail: alsaErrorText(Int32(f))) }
    }

    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws -> Int {
        let n = ring.read(into: buffer)
        if n == 0 { try checkFailure() }
        return n
    }

    /// Samples captured and not yet read.
    public var availableSamples: Int { ring.availableToRead }

    public var counters: CaptureCounters {
        CaptureCounters(framesCaptured: cFrames.load(ordering: .relaxed), xruns: cXruns.load(ordering: .relaxed),
                        overruns: cOverruns.load(ordering: .relaxed), droppedSamples: cDropped.load(ordering: .relaxed))
    }

    // MARK: Audio thread

    private func run() {
        let h = pcm.handle
        let bytes = periodFrames * pcm.frameBytes
        var pacer = Pacer(rate: sampleRate, allowance: 0, periodFrames: periodFrames, mode: options.pacing)
        var meter = LevelMeter(windowSize: max(periodFrames, sampleRate / 50))
        snd_pcm_prepare(h)
        snd_pcm_start(h)   // started explicitly, so snd_pcm_wait below has something to wait for
        while running.load(ordering: .acquiring) {
            // Wait with a timeout rather than blocking in readi, so stop() is seen even if the device stalls.
            let ready = snd_pcm_wait(h, 200)
            if ready == 0 { continue }
            // Zero first: past the end of a `file` plugin's infile, readi reports frames but writes none.
            periodNative.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            pacer.willTransfer()
            let r = ready < 0 ? snd_pcm_sframes_t(ready) : snd_pcm_readi(h, periodNative, snd_pcm_uframes_t(periodFrames))
            if r < 0 {
                let e = Int32(r)
                if e == -EAGAIN { continue }
                if e == -EPIPE || e == -ESTRPIPE { cXruns.wrappingIncrement(ordering: .relaxed) }
                if snd_pcm_recover(h, e, 1) < 0 { failure.store(Int(e), ordering: .releasing); break }
                snd_pcm_start(h)
                continue
            }
            let frames = Int(r)
            if frames == 0 { continue }
            decodeToMono(periodNative, format: pcm.format, channels: pcm.channels, frames: frames, into: periodFloat)
            if meter.process(periodFloat, count: frames) { level.publish(rms: meter.rms, peak: meter.peak) }
            let w = ring.write(periodFloat, count: frames)
            if w < frames {
                cOverruns.wrappingIncrement(ordering: .relaxed)
                cDropped.wrappingIncrement(by: frames - w, ordering: .relaxed)
            }
            cFrames.wrappingIncrement(by: frames, ordering: .relaxed)
            pacer.didTransfer(frames)
        }
        snd_pcm_drop(h)
    }
}
