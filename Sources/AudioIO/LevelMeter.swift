import Atomics
import Foundation

/// RMS and peak level over short consecutive windows (e.g. 50 ms), in linear units and dBFS
/// (0 dBFS = full scale ±1.0). A plain value type: the audio threads own one each and publish each
/// finished window to a `LevelReading` that other threads read.
public struct LevelMeter: Sendable {
    public let windowSize: Int
    private var sumSquares: Float = 0
    private var peakAcc: Float = 0
    private var filled = 0
    /// The last finished window.
    public private(set) var rms: Float = 0
    public private(set) var peak: Float = 0
    /// Number of windows finished so far.
    public private(set) var windows = 0

    /// Lowest level reported, for silence (log of 0).
    public static let floorDB: Float = -120

    public init(windowSize: Int) { self.windowSize = max(1, windowSize) }
    public init(sampleRate: Int, milliseconds: Int = 50) { self.init(windowSize: sampleRate * milliseconds / 1000) }

    public var rmsDB: Float { LevelMeter.dBFS(rms) }
    public var peakDB: Float { LevelMeter.dBFS(peak) }

    public static func dBFS(_ linear: Float) -> Float {
        linear > 1e-6 ? max(floorDB, 20 * log10f(linear)) : floorDB
    }

    /// Feeds samples; returns true when at least one window finished (then `rms`/`peak` are fresh).
    /// Never allocates (safe on an audio thread).
    @discardableResult
    public mutating func process(_ x: UnsafePointer<Float>, count: Int, stride: Int = 1) -> Bool {
        var finished = false
        var i = 0
        while i < count {
            let n = min(count - i, windowSize - filled)
            var ss = sumSquares, pk = peakAcc
            for k in 0..<n {
                let v = x[(i + k) * stride]
                ss += v * v
                pk = max(pk, abs(v))
            }
            sumSquares = ss; peakAcc = pk
            filled += n; i += n
            if filled == windowSize {
                rms = (sumSquares / Float(windowSize)).squareRoot()
                peak = peakAcc
                windows += 1
                sumSquares = 0; peakAcc = 0; filled = 0
                finished = true
            }
        }
        return finished
    }

    public mutating func process(_ x: [Float]) {
        x.withUnsafeBufferPointer { if let b = $0.baseAddress { _ = process(b, count: $0.count) } }
    }
}

/// The latest level of an audio stream, written by its audio thread and read by the UI (lock-free).
public final class LevelReading: @unchecked Sendable {
    private let rmsBits = ManagedAtomic<UInt32>(0)
    private let peakBits = ManagedAtomic<UInt32>(0)

    public init() {}

    public func publish(rms: Float, peak: Float) {
        rmsBits.store(rms.bitPattern, ordering: .relaxed)
        peakBits.store(peak.bitPattern, ordering: .relaxed)
    }

    /// Linear RMS and peak of the last finished window.
    public var rms: Float { Float(bitPattern: rmsBits.load(ordering: .relaxed)) }
    public var peak: Float { Float(bitPattern: peakBits.load(ordering: .relaxed)) }
    public var rmsDB: Float { LevelMeter.dBFS(rms) }
    public var peakDB: Float { LevelMeter.dBFS(peak) }
}
