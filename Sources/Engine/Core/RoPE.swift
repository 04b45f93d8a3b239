import Foundation

/// Rotary position embedding, applied in place to `heads` heads of `headDim` values per row.
/// Pair i (i < rotDim/2) turns by angle pos · base^(-2i/rotDim); values past rotDim are left alone.
///   .adjacent (ggml NORM, llama files): pairs (x[2i], x[2i+1])     — the GGUF converter permutes Q/K rows for this
///   .halves   (ggml NEOX, qwen2):       pairs (x[i], x[i + rotDim/2]) — HF's rotate_half
public enum RoPELayout: Sendable { case adjacent, halves }

public struct RoPE: Sendable {
    public let layout: RoPELayout
    public let rotDim: Int
    public let invFreq: [Float]     // [rotDim/2]

    public init(layout: RoPELayout, rotDim: Int, base: Float, freqScale: Float = 1) {
        self.layout = layout
        self.rotDim = rotDim
        invFreq = (0..<(rotDim / 2)).map { i in freqScale * Float(pow(Double(base), -2.0 * Double(i) / Double(rotDim))) }
    }

    /// Explicit inverse frequencies (e.g. divided by a file's per-pair frequency factors).
    public init(layout: RoPELayout, rotDim: Int, invFreq: [Float]) {
        self.layout = layout; self.rotDim = rotDim; self.invFreq = invFreq
    }

    /// x[rows, stride]: row t holds `heads` heads of `headDim` values and sits at position `pos0 + t`.
    /// `cs`: scratch of rotDim floats (cos | sin).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows T: Int, stride: Int, heads: Int, headDim: Int,
                      pos0: Int, scratch cs: UnsafeMutablePointer<Float>) {
        let half = rotDim / 2
        for t in 0..<T {
            let pos = Double(pos0 + t)
            for i in 0..<half {
                // Angles in double: positions up to 10^5 times frequencies near 1 lose bits in float.
                let a = pos * Double(invFreq[i])
                cs[i] = Float(cos(a)); cs[half + i] = Float(sin(a))
            }
            let row = x + t * stride
            for h in 0..<heads {
                let v = row + h * headDim
                switch layout {
                case .adjacent:
                    for i in 0..<half {
                        let c = cs[i], s = cs[half + i]
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * c - b * s
                        v[2 * i + 1] = a * s + b * c
                    }
                case .halves:
                    for i in 0..<half {
                        let c = cs[i], s = cs[half + i]
                        let a = v[i], b = v[i + half]
                        v[i] = a * c - b * s
                        v[i + half] = a * s + b * c
                    }
                }
            }
        }
    }
}
