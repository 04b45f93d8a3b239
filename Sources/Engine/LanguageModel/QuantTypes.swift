/// ggml tensor types Confab reads, with their block layouts (ggml-common.h). Quantized weights stay in
/// these blocks in the memory map; `dequantizeRow` is for embedding rows and tests only.
public enum GGMLType: UInt32, Sendable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }
    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18      // d f16, qs[16]
        case .q4_1: return 20      // d, m f16, qs[16]
        case .q5_0: return 22      // d f16, qh u32, qs[16]
        case .q5_1: return 24      // d, m f16, qh u32, qs[16]
        case .q8_0: return 34      // d f16, qs int8[32]
        case .q4_K: return 144     // d, dmin f16, scales[12], qs[128]
        case .q5_K: return 176     // d, dmin f16, scales[12], qh[32], qs[128]
        case .q6_K: return 210     // ql[128], qh[64], scales int8[16], d f16
        }
    }
    public var description: String {
        switch self {
        case .f32: return "F32"; case .f16: return "F16"; case .bf16: return "BF16"
        case .q4_0: return "Q4_0"; case .q4_1: return "Q4_1"; case .q5_0: return "Q5_0"; case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"; case .q4_K: return "Q4_K"; case .q5_K: return "Q5_K"; case .q6_K: return "Q6_K"
        }
    }
}

@inline(__always) private func h(_ p: UnsafeRawPointer, _ off: Int) -> Float {
    halfToFloat(p.loadUnaligned(fromByteOffset: off, as: UInt16.self))
}

/// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K/Q5_K block's 12 packed scale bytes.
@inline(__always) func kScaleMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (Float, Float) {
    if j < 4 { return (Float(s[j] & 63), Float(s[j + 4] & 63)) }
    let sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4)
    let mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
    return (Float(sc), Float(mn))
}

/// Dequantizes `count` elements (a whole number of blocks) starting at `src` into float32.
/// Plain Swift, written straight from ggml-quants.c's dequantize_row_* (the reference the tests check against).
public func dequantizeRow(_ src: UnsafeRawPointer, type: GGMLType, count: Int, into y: UnsafeMutablePointer<Float>) {
    let nb = count / type.blockSize
    switch type {
    case .f32: convertToFloat(src, .f32, count: count, into: y)
    case .f16: convertToFloat(src, .f16, count: count, into: y)
    case .bf16: convertToFloat(src, .bf16, count: count, into: y)
    case .q4_0, .q4_1:
        let hasMin = type == .q4_1
        for b in 0..<nb {
            let p = src + b * type.blockBytes
            let d = h(p, 0), m: Float = hasMin ? h(p, 2) : 0
            let qs = (p + (hasMin ? 4 : 2)).assumingMemoryBound(to: UInt8.self)
            let o = y + b * 32
            for j in 0..<16 {
                if hasMin {
                    o[j] = Float(qs[j] & 0xF) * d + m; o[j + 16] = Float(qs[j] >> 4) * d + m
                } else {
                    o[j] = Float(Int(qs[j] & 0xF) - 8) * d; o[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
                }
            }
        }
    case .q5_0, .q5_1:
        let hasMin = type == .q5_1
        for b in 0..<nb {
            let p = src + b * type.blockBytes
            let d = h(p, 0), m: Float = hasMin ? h(p, 2) : 0
            let qhOff = hasMin ? 4 : 2
            let qh = p.loadUnaligned(fromByteOffset: qhOff, as: UInt32.self)
            let qs = (p + qhOff + 4).assumingMemoryBound(to: UInt8.self)
            let o = y + b * 32
            for j in 0..<16 {
                let xh0 = Int((qh >> UInt32(j)) << 4) & 0x10
                let xh1 = Int(qh >> UInt32(j + 12)) & 0x10
                let x0 = Int(qs[j] & 0xF) | xh0, x1 = Int(qs[j] >> 4) | xh1
                if hasMin { o[j] = Float(x0) * d + m; o[j + 16] = Float(x1) * d + m }
                else { o[j] = Float(x0 - 16) * d; o[j + 16] = Float(x1 - 16) * d }
            }
        }
    case .q8_0:
        for b in 0..<nb {
            let p = src + b * 34
            let d = h(p, 0)
            let qs = (p + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { y[b * 32 + j] = Float(qs[j]) * d }
        }
    case .q4_K, .q5_K:
        let five = type == .q5_K
        for b in 0..<nb {
            let p = src + b * type.blockBytes
            let d = h(p, 0), dmin = h(p, 2)
            let sc = (p + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (p + 16).assumingMemoryBound(to: UInt8.self)
            var q = (p + (five ? 48 : 16)).assumingMemoryBound(to: UInt8.self)
            var o = y + b * 256
            for c in 0..<4 {
                let (s1, m1) = kScaleMin(sc, 2 * c), (s2, m2) = kScaleMin(sc, 2 * c + 1)
                let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
                let u1 = UInt8(1) << UInt8(2 * c), u2 = UInt8(2) << UInt8(2 * c)
                for l in 0..<32 {
                    let hi1: Int = five && (qh[l] & u1) != 0 ? 16 : 0
                    let hi2: Int = five && (qh[l] & u2) != 0 ? 16 : 0
                    o[l] = d1 * Float(Int(q[l] & 0xF) + hi1) - mm1
                    o[l + 32] = d2 * Float(Int(q[l] >> 4) + hi2) - mm2
                }
                q += 32; o += 64
            }
        }
    case .q6_K:
        for b in 0..<nb {
            let p = src + b * 210
            let d = h(p, 208)
            var ql = p.assumingMemoryBound(to: UInt8.self)
            var qh = (p + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (p + 192).assumingMemoryBound(to: Int8.self)
            var o = y + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let i = l / 16
                    let q1 = Int((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32
                    let q2 = Int((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32
                    let q3 = Int((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                    let q4 = Int((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                    o[l] = d * Float(sc[i]) * Float(q1)
                    o[l + 32] = d * Float(sc[i + 2]) * Float(q2)
                    o[l + 64] = d * Float(sc[i + 4]) * Float(q3)
                    o[l + 96] = d * Float(sc[i + 6]) * Float(q4)
                }
                ql += 64; qh += 32; sc += 8; o += 128
            }
        }
    }
}
