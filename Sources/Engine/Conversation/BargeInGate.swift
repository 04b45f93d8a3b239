import Foundation

/// Tells the user's voice from the reply's own residual echo while a reply plays.
///
/// The echo canceller removes most of the echo once it has converged, but not in the first few hundred
/// milliseconds of the first reply, nor after the echo path changes, and its residual has peaks; what
/// leaks through is speech and the voice detector rightly calls it speech. So while the far end is
/// active (reply audio played in the last `tail`), the gate follows the ratio of the cleaned capture
/// energy to the recent far-end energy — the echo leak — as an upper envelope (rises fast, decays
/// slowly), learned from ratios `delay` frames old so that the user's own first words do not raise it
/// before they are judged; speech is a barge-in only when the cleaned capture over the last few frames
/// is `margin` dB above the leak. The leak starts at 0 dB (echo assumed as loud as the reply) until it
/// has been measured. Fixed-size state; `update` does not allocate.
struct BargeInGate {
    private var farEnergies: [Float]          // per-frame far-end mean square over the tail window
    private var farWrite = 0
    private var ratios: [Float]               // recent cleaned/far ratios, dB (a delay line)
    private var ratioWrite = 0, ratioCount = 0
    private let window: Int                   // frames judged for a barge-in
    private let delay: Int                    // age of the ratio the leak learns from
    private(set) var leakDB: Float = 0
    private(set) var farActive = false
    private var activeFrames = 0              // consecutive frames with the far end active
    let marginDB: Float

    init(tailFrames: Int, windowFrames: Int, marginDB: Float = 6) {
        farEnergies = [Float](repeating: 0, count: max(tailFrames, 1))
        window = max(windowFrames, 1)
        delay = 2 * window
        ratios = [Float](repeating: 0, count: delay + 1)
        self.marginDB = marginDB
    }

    /// One frame: the mean squares of the cleaned capture and of the far end played in it.
    mutating func update(clean: Float, far: Float) {
        farEnergies[farWrite] = far
        farWrite = (farWrite + 1) % farEnergies.count
        var farRecent: Float = 0
        for e in farEnergies { farRecent = max(farRecent, e) }
        farActive = farRecent > 1e-7          // reply audio above -70 dBFS in the tail window
        guard farActive else { ratioCount = 0; activeFrames = 0; return }
        let r = 10 * log10f(max(clean, 1e-12) / farRecent)
        ratios[ratioWrite] = r
        ratioWrite = (ratioWrite + 1) % ratios.count
        ratioCount = min(ratioCount + 1, ratios.count)
        activeFrames += 1
        // Learn only once the echo of the reply's start has had time to arrive (a whole tail window),
        // or the silent echo-path delay would pass for perfect cancellation.
        if activeFrames > farEnergies.count + delay && ratioCount > delay {
            let old = ratios[(ratioWrite + ratios.count - 1 - delay) % ratios.count]
            leakDB += (old > leakDB ? 0.3 : 0.02) * (old - leakDB)
        }
    }

    /// Whether speech now heard may be the user (true when no reply audio is playing).
    var userAboveEcho: Bool {
        guard farActive else { return true }
        let n = min(ratioCount, window)
        guard n > 0 else { return false }
        var sum: Float = 0
        for k in 0..<n { sum += powf(10, ratios[(ratioWrite + ratios.count - 1 - k) % ratios.count] / 10) }
        return 10 * log10f(sum / Float(n)) > leakDB + marginDB
    }
}
