import CALSA
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The ALSA layer shared by ALSAPlayer and ALSACapture: opening a PCM by name with negotiated
// format/rate/channels/period/buffer, sample format conversion, self-pacing for devices that do
// not pace (the `null`/`file` plugins), real-time threads, device listing, and one-line errors.

/// How ALSA devices are opened and driven. Defaults favour low latency on ordinary laptops.
public struct ALSAOptions: Sendable, Equatable {
    /// Frames per period: the audio thread moves one period per wake-up.
    public var periodFrames: Int = 512
    /// Frames in the device buffer (at least two periods): the playback latency floor.
    public var bufferFrames: Int = 2048
    /// Seconds of audio the ring between the audio thread and the program holds.
    public var ringSeconds: Double = 2
    /// Whether the audio thread paces itself when the device does not (see `Pacing`).
    public var pacing: Pacing = .auto
    /// Try SCHED_FIFO for the audio thread (falls back silently to normal scheduling).
    public var realtimePriority = true

    public init(periodFrames: Int = 512, bufferFrames: Int = 2048, ringSeconds: Double = 2,
                pacing: Pacing = .auto, realtimePriority: Bool = true) {
        self.periodFrames = periodFrames; self.bufferFrames = bufferFrames; self.ringSeconds = ringSeconds
        self.pacing = pacing; self.realtimePriority = realtimePriority
    }
}

/// Devices such as ALSA's `null` (and the `file` plugin over it) accept and deliver audio as fast as
/// the program asks. `auto` notices that (more audio moved than real time allows) and from then on sleeps
/// to an absolute per-period deadline (clock_nanosleep), so such a device behaves like a sound card;
/// `always` paces from the start; `never` runs as fast as the device allows and, for playback, waits for
/// data instead of inserting silence (tests that check what arrives in a file, faster than real time).
public enum Pacing: Sendable, Equatable { case auto, always, never }

public enum AudioDirection: Sendable, CustomStringConvertible {
    case playback, capture
    public var description: String { self == .playback ? "playback" : "capture" }
    var stream: snd_pcm_stream_t { self == .playback ? SND_PCM_STREAM_PLAYBACK : SND_PCM_STREAM_CAPTURE }
}

/// Sample formats Confab negotiates with a device (preference order in `ALSAPCM.configure`).
/// Conversion to/from Float is ours.
public enum SampleFormat: Sendable, CustomStringConvertible, CaseIterable {
    case float32, s16, s32, s24in32
    var alsa: snd_pcm_format_t {
        switch self {
        case .float32: return SND_PCM_FORMAT_FLOAT_LE
        case .s16: return SND_PCM_FORMAT_S16_LE
        case .s32: return SND_PCM_FORMAT_S32_LE
        case .s24in32: return SND_PCM_FORMAT_S24_LE
        }
    }
    public var bytes: Int { self == .s16 ? 2 : 4 }
    public var description: String {
        switch self {
        case .float32: return "FLOAT_LE"
        case .s16: return "S16_LE"
        case .s32: return "S32_LE"
        case .s24in32: return "S24_LE"
        }
    }
}

/// A device problem, as one line naming the device and what to do.
public struct AudioDeviceError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable { case unknownDevice, noSoundCard, busy, cannotOpen, unsupported, failed, closed }
    public let kind: Kind
    public let device: String
    public let direction: String
    public let detail: String

    public init(_ kind: Kind, device: String, direction: AudioDirection, detail: String = "") {
        self.kind = kind; self.device = device; self.direction = direction.description; self.detail = detail
    }

    public var description: String {
        switch kind {
        case .unknownDevice:
            return "unknown ALSA \(direction) device '\(device)': run `confab devices` to list devices, or pass --device NAME"
        case .noSoundCard:
            return "no sound card found (ALSA \(direction) device '\(device)' cannot be opened): connect one, or pass --device with a PCM from `confab devices`"
        case .busy:
            return "ALSA \(direction) device '\(device)' is busy (another program is using it): close that program, or pass --device (e.g. `default`, or a plughw:/dmix device from `confab devices`)"
        case .cannotOpen:
            return "cannot open ALSA \(direction) device '\(device)' (\(detail)): run `confab devices`, or pass --device NAME"
        case .unsupported:
            return "ALSA \(direction) device '\(device)' \(detail): pass --device with a `plughw:` or `default` device, which convert"
        case .failed:
            return "ALSA \(direction) device '\(device)' stopped working (\(detail)): was it unplugged? run `confab devices`"
        case .closed:
            return "ALSA \(direction) device '\(device)' was already closed by this program (a bug: open it again before use)"
        }
    }
}

func alsaErrorText(_ err: Int32) -> String { String(cString: snd_strerror(err)) }

/// An ALSA configuration given as text, loaded in-process (no global state touched): PCMs defined in it
/// are opened with `snd_pcm_open_lconf`. Used by tests (file-plugin devices) and by callers who bring
/// their own configuration. Slaves must be written inline (`slave.pcm { type null }`), since the global
/// configuration is not consulted.
public final class ALSAConfig: @unchecked Sendable {
    let top: OpaquePointer

    public init(text: String) throws {
        var t: OpaquePointer?
        guard snd_config_top(&t) == 0, let top = t else { throw AudioFileError(path: "ALSA configuration", problem: "cannot allocate") }
        var input: OpaquePointer?
        var err = text.withCString { snd_input_buffer_open(&input, $0, text.utf8.count) }
        if err == 0, let input {
            err = snd_config_load(top, input)
            snd_input_close(input)
        }
        if err < 0 {
            snd_config_delete(top)
            throw AudioFileError(path: "ALSA configuration", problem: "cannot parse (\(alsaErrorText(err)))")
        }
        self.top = top
    }

    deinit { snd_config_delete(top) }
}

/// An open, configured PCM. Its handle is used by exactly one audio thread after setup.
final class ALSAPCM: @unchecked Sendable {
    let handle: OpaquePointer
    let name: String
    let direction: AudioDirection
    let format: SampleFormat
    let rate: Int
    let channels: Int
    let periodFrames: Int
    let bufferFrames: Int
    var frameBytes: Int { format.bytes * channels }

    init(name: String, direction: AudioDirection, rate: Int, channels: Int, options: ALSAOptions, config: ALSAConfig?) throws {
        confab_alsa_silence_errors()
        self.name = name; self.direction = direction
        var h: OpaquePointer?
        // Open non-blocking so a busy device fails at once (instead of hanging), then switch to blocking I/O.
        let mode = Int32(SND_PCM_NONBLOCK)
        let err: Int32
        if let config {
            err = snd_pcm_open_lconf(&h, name, direction.stream, mode, config.top)
        } else {
            err = snd_pcm_open(&h, name, direction.stream, mode)
        }
        guard err == 0, let h else { throw ALSAPCM.openError(err, name: name, direction: direction, config: config) }
        handle = h
        do {
            snd_pcm_nonblock(h, 0)
            (format, self.rate, self.channels, periodFrames, bufferFrames) =
                try ALSAPCM.configure(h, name: name, direction: direction, rate: rate, channels: channels, options: options)
        } catch {
            snd_pcm_close(h)
            throw error
        }
    }

    private var isClosed = false
    /// Closes the device (a file plugin finishes its file here). Only after the audio thread has stopped.
    /// A device that writes into a pipe (the `file` plugin's `file "| command"`) whose reader is gone must not
    /// kill the program with SIGPIPE: the signal is held back for the call and any one it raised is taken away.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        withSIGPIPEBlocked { _ = snd_pcm_close(handle) }
    }
    deinit { close() }

    static func openError(_ err: Int32, name: String, direction: AudioDirection, config: ALSAConfig?) -> AudioDeviceError {
        switch -err {
        case EBUSY, EAGAIN:
            return AudioDeviceError(.busy, device: name, direction: direction)
        case ENOENT, ENODEV, ENXIO:
            // "default" and hw/plughw names exist in the configuration but need a card; other names that
            // fail this way are not defined at all.
            let base = name.split(separator: ":").first.map(String.init) ?? name
            let known = config == nil && (["default", "hw", "plughw", "sysdefault", "front", "dmix", "dsnoop"].contains(base)
                || ALSADevices.pcmNames().contains(name))
            if known && ALSADevices.cards().isEmpty { return AudioDeviceError(.noSoundCard, device: name, direction: direction) }
            if known { return AudioDeviceError(.cannotOpen, device: name, direction: direction, detail: alsaErrorText(err)) }
            return AudioDeviceError(.unknownDevice, device: name, direction: direction)
        default:
            return AudioDeviceError(.cannotOpen, device: name, direction: direction, detail: alsaErrorText(err))
        }
    }

    private static func configure(_ h: OpaquePointer, name: String, direction: AudioDirection, rate: Int, channels: Int,
                                  options: ALSAOptions) throws -> (SampleFormat, Int, Int, Int, Int) {
        func check(_ e: Int32, _ what: String) throws {
            if e < 0 { throw AudioDeviceError(.unsupported, device: name, direction: direction, detail: "rejects \(what) (\(alsaErrorText(e)))") }
        }
        var hwp: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hwp) == 0, let hw = hwp else {
            throw AudioDeviceError(.cannotOpen, device: name, direction: direction, detail: "out of memory")
        }
        defer { snd_pcm_hw_params_free(hw) }
        try check(snd_pcm_hw_params_any(h, hw), "any configuration")
        try check(snd_pcm_hw_params_set_access(h, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "interleaved read/write access")
        // Playback prefers float (our samples are float; `plug` devices convert exactly). Capture prefers
        // S16, what most microphones deliver; it also keeps clear of alsa-lib 1.2.8's `file` plugin, whose
        // `infile` goes out of step after the first buffer when `plug` converts its format.
        let order: [SampleFormat] = direction == .playback ? [.float32, .s16, .s32, .s24in32] : [.s16, .float32, .s32, .s24in32]
        guard let format = order.first(where: { snd_pcm_hw_params_test_format(h, hw, $0.alsa) == 0 }) else {
            throw AudioDeviceError(.unsupported, device: name, direction: direction, detail: "offers none of FLOAT_LE, S16_LE, S32_LE, S24_LE")
        }
        try check(snd_pcm_hw_params_set_format(h, hw, format.alsa), "format \(format)")
        var ch = UInt32(max(1, channels))
        try check(snd_pcm_hw_params_set_channels_near(h, hw, &ch), "\(channels) channel(s)")
        var r = UInt32(max(1, rate)), dir: Int32 = 0
        try check(snd_pcm_hw_params_set_rate_near(h, hw, &r, &dir), "\(rate) Hz")
        var period = snd_pcm_uframes_t(max(16, options.periodFrames))
        dir = 0
        try check(snd_pcm_hw_params_set_period_size_near(h, hw, &period, &dir), "period of \(options.periodFrames) frames")
        var buffer = snd_pcm_uframes_t(max(Int(period) * 2, options.bufferFrames))
        try check(snd_pcm_hw_params_set_buffer_size_near(h, hw, &buffer), "buffer of \(options.bufferFrames) frames")
        try check(snd_pcm_hw_params(h, hw), "the negotiated parameters")
        var p: snd_pcm_uframes_t = 0, b: snd_pcm_uframes_t = 0
        dir = 0
        snd_pcm_hw_params_get_period_size(hw, &p, &dir)
        snd_pcm_hw_params_get_buffer_size(hw, &b)

        var swp: OpaquePointer?
        guard snd_pcm_sw_params_malloc(&swp) == 0, let sw = swp else {
            throw AudioDeviceError(.cannotOpen, device: name, direction: direction, detail: "out of memory")
        }
        defer { snd_pcm_sw_params_free(sw) }
        try check(snd_pcm_sw_params_current(h, sw), "software parameters")
        // Playback starts as soon as one period is written (lowest latency to first sound);
        // capture starts on the first read.
        try check(snd_pcm_sw_params_set_start_threshold(h, sw, direction == .playback ? p : 1), "start threshold")
        try check(snd_pcm_sw_params_set_avail_min(h, sw, p), "avail_min")
        try check(snd_pcm_sw_params(h, sw), "software parameters")
        try check(snd_pcm_prepare(h), "prepare")
        return (format, Int(r), Int(ch), Int(p), Int(b))
    }
}

// MARK: - Sample conversion (audio-thread safe: no allocation)

/// Interleaved Float (`srcChannels` per frame) → the device's format and channel count.
/// More device channels than source: mono is copied to every channel, otherwise extra channels get
/// silence; fewer: source channels are averaged into the device's.
func encodeSamples(_ src: UnsafePointer<Float>, srcChannels: Int, frames: Int,
                   into dst: UnsafeMutableRawPointer, format: SampleFormat, dstChannels: Int) {
    @inline(__always) func sample(_ f: Int, _ c: Int) -> Float {
        if srcChannels == dstChannels { return src[f * srcChannels + c] }
        if srcChannels == 1 { return src[f] }
        if dstChannels == 1 {
            var s: Float = 0
            for k in 0..<srcChannels { s += src[f * srcChannels + k] }
            return s / Float(srcChannels)
        }
        return c < srcChannels ? src[f * srcChannels + c] : 0
    }
    let n = frames * dstChannels
    switch format {
    case .float32:
        let d = dst.assumingMemoryBound(to: Float.self)
        if srcChannels == dstChannels { d.update(from: src, count: n); return }
        for f in 0..<frames { for c in 0..<dstChannels { d[f * dstChannels + c] = sample(f, c) } }
    case .s16:
        let d = dst.assumingMemoryBound(to: Int16.self)
        for f in 0..<frames { for c in 0..<dstChannels { d[f * dstChannels + c] = floatToS16(sample(f, c)) } }
    case .s32:
        let d = dst.assumingMemoryBound(to: Int32.self)
        for f in 0..<frames {
            for c in 0..<dstChannels {
                let v = (sample(f, c) * 2147483648).rounded()
                d[f * dstChannels + c] = v >= 2147483648 ? .max : (v <= -2147483648 ? .min : Int32(v))
            }
        }
    case .s24in32:
        let d = dst.assumingMemoryBound(to: Int32.self)
        for f in 0..<frames {
            for c in 0..<dstChannels {
                let v = (sample(f, c) * 8388608).rounded()
                d[f * dstChannels + c] = Int32(min(8388607, max(-8388608, v)))
            }
        }
    }
}

/// Float → S16 with the same scale libsndfile uses when reading (k/32768 ↔ k, exactly), clipped.
@inline(__always) func floatToS16(_ x: Float) -> Int16 {
    let v = (x * 32768).rounded()
    return Int16(min(32767, max(-32768, v)))
}

/// The device's interleaved samples → mono Float (channels averaged).
func decodeToMono(_ src: UnsafeRawPointer, format: SampleFormat, channels: Int, frames: Int, into dst: UnsafeMutablePointer<Float>) {
    let inv = 1 / Float(channels)
    @inline(__always) func mix(_ get: (Int) -> Float) {
        if channels == 1 { for f in 0..<frames { dst[f] = get(f) }; return }
        for f in 0..<frames {
            var s: Float = 0
            for c in 0..<channels { s += get(f * channels + c) }
            dst[f] = s * inv
        }
    }
    switch format {
    case .float32: let s = src.assumingMemoryBound(to: Float.self); mix { s[$0] }
    case .s16: let s = src.assumingMemoryBound(to: Int16.self); mix { Float(s[$0]) * (1 / 32768) }
    case .s32: let s = src.assumingMemoryBound(to: Int32.self); mix { Float(s[$0]) * (1 / 2147483648) }
    case .s24in32:
        // S24_LE keeps 24 bits in the low bytes of 32: sign-extend from bit 23.
        let s = src.assumingMemoryBound(to: Int32.self); mix { Float((s[$0] << 8) >> 8) * (1 / 8388608) }
    }
}

// MARK: - Time, pacing, threads

public enum AudioClock {
    /// CLOCK_MONOTONIC in nanoseconds (what the audio threads stamp events with).
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func sleep(nanoseconds ns: UInt64) {
        var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var rem = timespec()
        while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
    }

    static func sleep(until deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }
}

/// Keeps an audio thread from running ahead of real time on devices that do not block (see `Pacing`).
/// Time zero is the first transfer of a run; the stream may lead real time by `allowance` frames
/// (playback: the device buffer it emulates; capture: nothing, audio cannot arrive before it happened).
struct Pacer {
    let rate: Int
    let allowance: Int
    let slack: Int
    let mode: Pacing
    private(set) var engaged: Bool
    private var t0: UInt64 = 0
    private var frames = 0
    private var running = false

    init(rate: Int, allowance: Int, periodFrames: Int, mode: Pacing) {
        self.rate = rate; self.allowance = allowance; self.slack = 2 * periodFrames; self.mode = mode
        engaged = mode == .always
    }

    /// Call before the first transfer of a run (after open, after a flush or drain).
    mutating func reset() { running = false; frames = 0 }

    mutating func willTransfer() {
        if !running { running = true; t0 = AudioClock.nanoseconds(); frames = 0 }
    }

    /// After moving `n` frames: sleeps to the deadline if this device is being paced.
    mutating func didTransfer(_ n: Int) {
        frames += n
        if mode == .never { return }
        let now = AudioClock.nanoseconds()
        if !engaged {
            // A device that paces itself never gets more than a buffer (plus a little) ahead of the clock.
            let realFrames = Double(now &- t0) * Double(rate) / 1e9
            if Double(frames) > realFrames * 1.05 + Double(allowance + slack) { engaged = true }
        }
        if engaged && frames > allowance {
            let deadline = t0 + UInt64(Double(frames - allowance) * 1e9 / Double(rate))
            if deadline > now { AudioClock.sleep(until: deadline) }
        }
    }

    /// Playback on a paced device: frames written that the emulated buffer still holds.
    func queuedFrames() -> Int {
        guard engaged, running else { return 0 }
        let played = Int(Double(AudioClock.nanoseconds() &- t0) * Double(rate) / 1e9)
        return max(0, frames - played)
    }

    /// Playback on a paced device: waits until everything written would have left the emulated buffer.
    func waitPlayedOut() {
        guard engaged, running else { return }
        let deadline = t0 + UInt64(Double(frames) * 1e9 / Double(rate))
        if deadline > AudioClock.nanoseconds() { AudioClock.sleep(until: deadline) }
    }
}

/// Runs `body` with SIGPIPE blocked on this thread; a SIGPIPE it raised (a write into a pipe nobody reads) is
/// consumed, so the write's EPIPE is the only trace (the device then reports an I/O error like any other).
func withSIGPIPEBlocked(_ body: () -> Void) {
    var block = sigset_t(), old = sigset_t()
    sigemptyset(&block); sigaddset(&block, SIGPIPE)
    pthread_sigmask(SIG_BLOCK, &block, &old)
    body()
    var pending = sigset_t()
    sigpending(&pending)
    if sigismember(&pending, SIGPIPE) == 1 && sigismember(&old, SIGPIPE) == 0 {
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        _ = sigtimedwait(&block, nil, &zero)
    }
    pthread_sigmask(SIG_SETMASK, &old, nil)
}

/// Starts `body` on a new pthread, with SCHED_FIFO when allowed (otherwise, silently, normal scheduling).
/// Returns the thread and whether it got real-time priority.
func startAudioThread(realtime: Bool, _ body: @escaping @Sendable () -> Void) throws -> (pthread_t, Bool) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { ctx in
        let box = Unmanaged<Box>.fromOpaque(ctx!).takeRetainedValue()
        // A device writing into a pipe (the `file` plugin's `file "| command"`) whose reader went away fails
        // with EPIPE on this thread instead of SIGPIPE killing the process: the audio thread then reports a
        // failed device like any other.
        var block = sigset_t()
        sigemptyset(&block); sigaddset(&block, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &block, nil)
        box.body()
        return nil
    }
    var tid = pthread_t()
    if realtime {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setinheritsched(&attr, Int32(PTHREAD_EXPLICIT_SCHED))
        pthread_attr_setschedpolicy(&attr, Int32(SCHED_FIFO))
        var param = sched_param()
        param.sched_priority = min(sched_get_priority_max(Int32(SCHED_FIFO)), sched_get_priority_min(Int32(SCHED_FIFO)) + 20)
        pthread_attr_setschedparam(&attr, &param)
        let ctx = Unmanaged.passRetained(Box(body)).toOpaque()
        if pthread_create(&tid, &attr, entry, ctx) == 0 { return (tid, true) }
        Unmanaged<Box>.fromOpaque(ctx).release()
    }
    let ctx = Unmanaged.passRetained(Box(body)).toOpaque()
    let e = pthread_create(&tid, nil, entry, ctx)
    guard e == 0 else {
        Unmanaged<Box>.fromOpaque(ctx).release()
        throw AudioFileError(path: "audio thread", problem: "cannot start (\(String(cString: strerror(e))))")
    }
    return (tid, false)
}

// MARK: - Device listing

/// What `arecord -L` / `aplay -L` show (PCM names from the ALSA configuration with their descriptions),
/// plus the sound cards.
public enum ALSADevices {
    public struct PCM: Sendable, Equatable {
        public var name: String
        public var description: String
        public var playback: Bool
        public var capture: Bool
    }
    public struct Card: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var longName: String
    }

    public static func pcms() -> [PCM] {
        confab_alsa_silence_errors()
        var hintsPtr: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        guard snd_device_name_hint(-1, "pcm", &hintsPtr) == 0, let hints = hintsPtr else { return [] }
        defer { snd_device_name_free_hint(hints) }
        func get(_ h: UnsafeMutableRawPointer, _ key: String) -> String? {
            guard let c = snd_device_name_get_hint(h, key) else { return nil }
            defer { free(c) }
            return String(cString: c)
        }
        var out: [PCM] = []
        var i = 0
        while let h = hints[i] {
            i += 1
            guard let name = get(h, "NAME") else { continue }
            let io = get(h, "IOID")
            out.append(PCM(name: name, description: get(h, "DESC") ?? "", playback: io == nil || io == "Output",
                           capture: io == nil || io == "Input"))
        }
        return out
    }

    static func pcmNames() -> Set<String> { Set(pcms().map(\.name)) }

    public static func cards() -> [Card] {
        confab_alsa_silence_errors()
        var out: [Card] = []
        var card: Int32 = -1
        while snd_card_next(&card) == 0 && card >= 0 {
            var n: UnsafeMutablePointer<CChar>?, l: UnsafeMutablePointer<CChar>?
            snd_card_get_name(card, &n)
            snd_card_get_longname(card, &l)
            out.append(Card(index: Int(card), name: n.map { String(cString: $0) } ?? "?", longName: l.map { String(cString: $0) } ?? ""))
            free(n); free(l)
        }
        return out
    }
}
