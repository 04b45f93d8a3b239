import Foundation

/// Power spectrum of one short audio frame (Hann window, zero-padded to a power of two), for the
/// voice activity detector. All buffers are allocated once; `compute` does not allocate.
/// A plain iterative radix-2 FFT: at 512 points it costs a few microseconds per 20 ms frame.
final class FramePowerSpectrum {
    let frameSize: Int          // samples per frame (≤ fftSize)
    let fftSize: Int            // power of two
    var bins: Int { fftSize / 2 + 1 }
    /// |X_k|² for k in 0...fftSize/2 after `compute`, scaled so that the sum over k is the
    /// frame's windowed mean square (a full-scale sine gives about 0.5).
    let power: UnsafeMutablePointer<Float>

    private let window: UnsafeMutablePointer<Float>     // [frameSize]
    private let re: UnsafeMutablePointer<Float>         // [fftSize]
    private let im: UnsafeMutablePointer<Float>         // [fftSize]
    private let cosTable: UnsafeMutablePointer<Float>   // [fftSize/2]
    private let sinTable: UnsafeMutablePointer<Float>   // [fftSize/2]
    private let bitReversed: UnsafeMutablePointer<Int32> // [fftSize]
    private let scale: Float

    init(frameSize: Int) {
        self.frameSize = max(frameSize, 2)
        var n = 2
        while n < self.frameSize { n *= 2 }
        fftSize = n
        power = .allocate(capacity: n / 2 + 1); power.initialize(repeating: 0, count: n / 2 + 1)
        window = .allocate(capacity: self.frameSize)
        re = .allocate(capacity: n); re.initialize(repeating: 0, count: n)
        im = .allocate(capacity: n); im.initialize(repeating: 0, count: n)
        cosTable = .allocate(capacity: n / 2); sinTable = .allocate(capacity: n / 2)
        bitReversed = .allocate(capacity: n)
        var windowEnergy: Float = 0
        for i in 0..<self.frameSize {
            let w = Float(0.5 - 0.5 * cos(2 * Double.pi * (Double(i) + 0.5) / Double(self.frameSize)))
            window[i] = w; windowEnergy += w * w
        }
        for k in 0..<(n / 2) {
            let a = -2 * Double.pi * Double(k) / Double(n)
            cosTable[k] = Float(cos(a)); sinTable[k] = Float(sin(a))
        }
        var bits = 0
        while (1 << bits) < n { bits += 1 }
        for i in 0..<n {
            var r = 0, x = i
            for _ in 0..<bits { r = (r << 1) | (x & 1); x >>= 1 }
            bitReversed[i] = Int32(r)
        }
        // Parseval: Σ_k |X_k|² over the full spectrum = n · Σ (w·x)²; one side holds about half.
        scale = 2 / (Float(n) * windowEnergy)
    }

    deinit {
        power.deallocate(); window.deallocate(); re.deallocate(); im.deallocate()
        cosTable.deallocate(); sinTable.deallocate(); bitReversed.deallocate()
    }

    /// Bin index of frequency `hz` at `sampleRate`.
    func bin(ofHz hz: Double, sampleRate: Int) -> Int {
        min(fftSize / 2, max(0, Int((hz * Double(fftSize) / Double(sampleRate)).rounded())))
    }

    /// x: [frameSize] samples → `power`.
    func compute(_ x: UnsafePointer<Float>) {
        let n = fftSize
        for i in 0..<n { re[i] = 0; im[i] = 0 }
        for i in 0..<frameSize { re[Int(bitReversed[i])] = x[i] * window[i] }   // scatter into bit-reversed order
        var half = 1
        while half < n {
            let step = n / (2 * half)
            var start = 0
            while start < n {
                for j in 0..<half {
                    let wr = cosTable[j * step], wi = sinTable[j * step]
                    let a = start + j, b = a + half
                    let tr = wr * re[b] - wi * im[b]
                    let ti = wr * im[b] + wi * re[b]
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                }
                start += 2 * half
            }
            half *= 2
        }
        for k in 0...(n / 2) { power[k] = (re[k] * re[k] + im[k] * im[k]) * scale }
        power[0] *= 0.5; power[n / 2] *= 0.5   // DC and Nyquist have no mirror image
    }
}
