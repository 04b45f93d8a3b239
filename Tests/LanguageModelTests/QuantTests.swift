import CKernels
import XCTest
@testable import Engine

/// Hand-built blocks: each block is packed here from chosen integers and scales following the ggml-common.h
/// layouts, with the value each element must dequantize to computed from those integers (not by the engine).
final class QuantTests: XCTestCase {
    /// Returns (bytes, expected values) for `blocks` random blocks of `type`.
    static func handBuilt(_ type: GGMLType, blocks: Int, seed: UInt64 = 1) -> ([UInt8], [Float]) {
        var rng = TestRNG(seed)
        var bytes: [UInt8] = [], want: [Float] = []
        func half(_ lo: Float, _ hi: Float) -> Float { Float(Float16(rng.float(lo, hi))) }
        for _ in 0..<blocks {
            switch type {
            case .q4_0, .q4_1:
                let d = half(0.01, 0.2), m = half(-1, 1)
                let q = (0..<32).map { _ in rng.int(16) }
                bytes += f16Bytes(d); if type == .q4_1 { bytes += f16Bytes(m) }
                for j in 0..<16 { bytes.append(UInt8(q[j] | (q[j + 16] << 4))) }
                want += q.map { type == .q4_0 ? Float($0 - 8) * d : Float($0) * d + m }
            case .q5_0, .q5_1:
                let d = half(0.01, 0.2), m = half(-1, 1)
                let q = (0..<32).map { _ in rng.int(32) }
                bytes += f16Bytes(d); if type == .q5_1 { bytes += f16Bytes(m) }
                var qh: UInt32 = 0
                for j in 0..<32 where q[j] & 16 != 0 { qh |= 1 << UInt32(j) }
                withUnsafeBytes(of: qh.littleEndian) { bytes += $0 }
                for j in 0..<16 { bytes.append(UInt8((q[j] & 15) | ((q[j + 16] & 15) << 4))) }
                want += q.map { type == .q5_0 ? Float($0 - 16) * d : Float($0) * d + m }
            case .q8_0:
                let d = half(0.001, 0.02)
                let q = (0..<32).map { _ in rng.int(255) - 127 }
                bytes += f16Bytes(d)
                bytes += q.map { UInt8(bitPattern: Int8($0)) }
                want += q.map { Float($0) * d }
            case .q4_K, .q5_K:
                let five = type == .q5_K
                let d = half(0.001, 0.01), dmin = half(0.001, 0.01)
                let sc = (0..<8).map { _ in rng.int(64) }, mn = (0..<8).map { _ in rng.int(64) }
                let q = (0..<256).map { _ in rng.int(five ? 32 : 16) }
                bytes += f16Bytes(d) + f16Bytes(dmin)
                var s = [UInt8](repeating: 0, count: 12)
                for j in 0..<4 {
                    s[j] = UInt8((sc[j] & 63) | ((sc[j + 4] >> 4) << 6))
                    s[j + 4] = UInt8((mn[j] & 63) | ((mn[j + 4] >> 4) << 6))
                    s[j + 8] = UInt8((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4))
                }
                bytes += s
                if five {
                    var qh = [UInt8](repeating: 0, count: 32)
                    for c in 0..<4 { for l in 0..<32 {
                        if q[64 * c + l] & 16 != 0 { qh[l] |= UInt8(1 << (2 * c)) }
                        if q[64 * c + 32 + l] & 16 != 0 { qh[l] |= UInt8(1 << (2 * c + 1)) }
                    } }
                    bytes += qh
                }
                for c in 0..<4 { for l in 0..<32 { bytes.append(UInt8((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4))) } }
                for e in 0..<256 {
                    let sub = e / 32
                    want.append(d * Float(sc[sub]) * Float(q[e]) - dmin * Float(mn[sub]))
                }
            case .q6_K:
                let d = half(0.001, 0.01)
                let sc = (0..<16).map { _ in rng.int(256) - 128 }
                let q = (0..<256).map { _ in rng.int(64) }
                var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
                for n in 0..<2 { for l in 0..<32 {
                    let e = 128 * n + l
                    let a = q[e], b = q[e + 32], c = q[e + 64], dd = q[e + 96]
                    ql[64 * n + l] = UInt8((a & 15) | ((c & 15) << 4))
                    ql[64 * n + l + 32] = UInt8((b & 15) | ((dd & 15) << 4))
                    qh[32 * n + l] = UInt8((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((dd >> 4) << 6))
                } }
                bytes += ql + qh + sc.map { UInt8(bitPattern: Int8($0)) } + f16Bytes(d)
                for e in 0..<256 { want.append(d * Float(sc[e / 16]) * Float(q[e] - 32)) }
            case .f32:
                let v = rng.float()
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
                want.append(v)
            case .f16:
                let v = half(-2, 2)
                bytes += f16Bytes(v); want.append(v)
            case .bf16:
                let v = Float(bitPattern: Float(rng.float(-2, 2)).bitPattern & 0xFFFF_0000)
                let u = v.bitPattern >> 16
                bytes += [UInt8(u & 0xFF), UInt8(u >> 8)]; want.append(v)
            }
        }
        return (bytes, want)
    }

    static let allTypes: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    func testDequantizeHandBuiltBlocks() {
        for type in Self.allTypes {
            let blocks = type.blockSize == 1 ? 512 : 2048 / type.blockSize
            let (bytes, want) = Self.handBuilt(type, blocks: blocks)
            XCTAssertEqual(bytes.count, blocks * type.blockBytes, "\(type) block size")
            var got = [Float](repeating: .nan, count: want.count)
            bytes.withUnsafeBytes { dequantizeRow($0.baseAddress!, type: type, count: want.count, into: &got) }
            for i in 0..<want.count {
                XCTAssertEqual(got[i], want[i], accuracy: 1e-5 * max(1, abs(want[i])), "\(type) element \(i)")
                if abs(got[i] - want[i]) > 1e-5 * max(1, abs(want[i])) { break }
            }
        }
    }

    /// Matrix-vector products on the blocks vs. the exact float dot of the expected values. The activations are
    /// quantized to 8 bits, so the error bound is about 1% of Σ|w||x|.
    func testDotProductsOnHandBuiltBlocks() {
        for type in Self.allTypes {
            let rows = 5, cols = 512
            let (bytes, want) = Self.handBuilt(type, blocks: rows * cols / type.blockSize, seed: 7)
            var rng = TestRNG(3)
            let T = 3
            let x = (0..<(T * cols)).map { _ in rng.float() }
            var y = [Float](repeating: 0, count: T * rows)
            let scratch = ActivationScratch(bytes: T * cols * 2)
            bytes.withUnsafeBytes { b in
                let W = QuantMatrix(type: type, rows: rows, columns: cols, data: b.baseAddress!)
                quantMatmul(W, x, rows: T, into: &y, scratch: scratch)
                // a single-row product gives the same numbers as the batched one
                var y1 = [Float](repeating: 0, count: rows)
                quantMatmul(W, Array(x[cols..<(2 * cols)]), rows: 1, into: &y1, scratch: scratch)
                XCTAssertEqual(y1, Array(y[rows..<(2 * rows)]), "\(type): batched vs single")
            }
            for t in 0..<T { for r in 0..<rows {
                var exact: Double = 0, mag: Double = 0
                for c in 0..<cols {
                    exact += Double(want[r * cols + c]) * Double(x[t * cols + c])
                    mag += abs(Double(want[r * cols + c]) * Double(x[t * cols + c]))
                }
                let tol = type.blockSize == 1 ? 1e-4 * mag : 0.01 * mag
                XCTAssertEqual(Double(y[t * rows + r]), exact, accuracy: tol, "\(type) row \(r) token \(t)")
            } }
        }
    }

    /// Quantizes T activation rows of `cols` values the way `quantMatmul` does for `type`; returns the buffer and stride.
    static func prepared(_ type: GGMLType, _ x: [Float], rows T: Int, cols: Int) -> (UnsafeMutableRawPointer, Int) {
        let fmt = QuantMatrix(type: type, rows: 1, columns: cols, data: UnsafeRawPointer(bitPattern: 64)!).activation
        let stride = fmt.bytes(cols)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: max(64, T * stride), alignment: 64)
        x.withUnsafeBufferPointer { xp in
            for t in 0..<T {
                let src = xp.baseAddress! + t * cols, dst = buf + t * stride
                switch fmt {
                case .float: dst.copyMemory(from: src, byteCount: 4 * cols)
                case .q8_32: confab_quantize_q8_32(src, dst, Int32(cols))
                case .q8_K: confab_quantize_q8_K(src, dst, Int32(cols))
                }
            }
        }
        return (buf, stride)
    }

    /// The prefill kernels (one weight row against 4 activation rows, blocks unpacked once; with VNNI, tiles of
    /// RM rows × RN activation rows, RN up to 16, and every smaller tile of the same kernel for the rows and tokens
    /// left over) must give exactly the one-row kernel's numbers, directly and through quantMatmul with T = 21 and
    /// shorter prompts (2–14 tokens: partial tiles only), and quantMatmul must give the same bits with VNNI off and on.
    static func checkFourRowKernel(_ type: GGMLType, _ w: UnsafeRawPointer, rows: Int, cols: Int, seed: UInt64,
                                   _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let T = 21
        var rng = TestRNG(seed)
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        let (xq, stride) = prepared(type, x, rows: T, cols: cols)
        defer { xq.deallocate() }
        let W = QuantMatrix(type: type, rows: rows, columns: cols, data: w)
        var four = [Float](repeating: .nan, count: 4)
        // both variants of the 4-row kernels where the CPU has VNNI (vpdpbusd), the AVX2 one everywhere
        let vnni = confab_vnni(-1)
        defer { _ = confab_vnni(vnni) }
        for mode in vnni == 1 ? [Int32(0), 1] : [0] {
            _ = confab_vnni(mode)
            for r in 0..<rows {
                let wr = w + r * W.rowBytes
                confab_dot4(Int32(type.rawValue), Int32(cols), wr, xq + 4 * stride, stride, &four)
                for t in 0..<4 {
                    let one = confab_dot(Int32(type.rawValue), Int32(cols), wr, xq + (4 + t) * stride)
                    XCTAssertEqual(four[t].bitPattern, one.bitPattern, "\(label) vnni \(mode) row \(r) token \(t): \(four[t]) vs \(one)", file: file, line: line)
                }
            }
            // the tile kernel at rows 1..., tokens 2...
            var tile = [Float](repeating: .nan, count: 16 * rows)
            let shape = Int(confab_tile(Int32(type.rawValue), Int32(cols), w + W.rowBytes, W.rowBytes, xq + 2 * stride, stride, &tile, rows))
            if mode == 1 && [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K].contains(type) { XCTAssertNotEqual(shape, 0, "\(label): no VNNI tile", file: file, line: line) }
            if shape != 0 {
                let rm = shape / 64, rn = shape % 64
                XCTAssertTrue(rm <= rows - 1 && rn <= 16 && rn >= 1, "\(label) tile \(rm)×\(rn)", file: file, line: line)
                for r in 0..<rm { for t in 0..<rn {
                    let one = confab_dot(Int32(type.rawValue), Int32(cols), w + (1 + r) * W.rowBytes, xq + (2 + t) * stride)
                    XCTAssertEqual(tile[t * rows + r].bitPattern, one.bitPattern, "\(label) tile row \(r) token \(t): \(tile[t * rows + r]) vs \(one)", file: file, line: line)
                } }
                // every smaller tile: rm' rows × t' tokens, nothing written past them
                for pr in 1...rm { for pt in 1...rn {
                    var part = [Float](repeating: .nan, count: 16 * rows)
                    let ok = confab_tile_part(Int32(type.rawValue), Int32(pr), Int32(pt), Int32(cols), w + W.rowBytes, W.rowBytes,
                                              xq + 2 * stride, stride, &part, rows)
                    if mode == 1 && ![GGMLType.q4_1, .q5_1].contains(type) { XCTAssertEqual(ok, 1, "\(label): no \(pr)×\(pt) tile", file: file, line: line) }
                    guard ok == 1 else { continue }
                    for r in 0..<rows { for t in 0..<16 {
                        let v = part[t * rows + r]
                        if r < pr && t < pt {
                            XCTAssertEqual(v.bitPattern, tile[t * rows + r].bitPattern, "\(label) \(pr)×\(pt) tile row \(r) token \(t)", file: file, line: line)
                        } else {
                            XCTAssertTrue(v.isNaN, "\(label) \(pr)×\(pt) tile wrote row \(r) token \(t)", file: file, line: line)
                        }
                    } }
                } }
            }
        }
        var batched = [Float](repeating: .nan, count: T * rows), single = [Float](repeating: .nan, count: rows)
        let scratch = ActivationScratch(bytes: T * (cols / 32 + 1) * 40 + 4096)
        if vnni == 1 {
            for t in [2, 3, 5, 6, 7, 14, T] {
                var plain = [Float](repeating: .nan, count: t * rows), tiled = [Float](repeating: .nan, count: t * rows)
                let xt = Array(x[0..<(t * cols)])
                _ = confab_vnni(0)
                quantMatmul(W, xt, rows: t, into: &plain, scratch: scratch)
                _ = confab_vnni(1)
                quantMatmul(W, xt, rows: t, into: &tiled, scratch: scratch)
                XCTAssertEqual(plain.map(\.bitPattern), tiled.map(\.bitPattern), "\(label): \(t) tokens, VNNI off vs on", file: file, line: line)
            }
            // one token (decode): groups of 8 rows two to a zmm register with VNNI, the rows left over one at a time
            var plainOne = [Float](repeating: .nan, count: rows), vnniOne = [Float](repeating: .nan, count: rows)
            let x0 = Array(x[0..<cols])
            _ = confab_vnni(0)
            quantMatmul(W, x0, rows: 1, into: &plainOne, scratch: scratch)
            _ = confab_vnni(1)
            quantMatmul(W, x0, rows: 1, into: &vnniOne, scratch: scratch)
            XCTAssertEqual(plainOne.map(\.bitPattern), vnniOne.map(\.bitPattern), "\(label): one token, VNNI off vs on", file: file, line: line)
        }
        quantMatmul(W, x, rows: T, into: &batched, scratch: scratch)
        for t in 0..<T {
            quantMatmul(W, Array(x[(t * cols)..<((t + 1) * cols)]), rows: 1, into: &single, scratch: scratch)
            XCTAssertEqual(single.map(\.bitPattern), batched[(t * rows)..<((t + 1) * rows)].map(\.bitPattern),
                           "\(label): token \(t) batched vs single", file: file, line: line)
        }
    }

    /// Decoding's shared hand-off (q, k, v; gate, up) gives every output bit-identical to separate products, on one
    /// and two threads, for the default model's mix of Q4_K and Q6_K, row counts that are not multiples of 8, and
    /// rows of different sizes (the parts are cut by bytes); prefill and mixed activation formats take separate calls.
    func testSharedDecodeProductsMatchSeparateProducts() {
        let cols = 512
        for (types, rows) in [([GGMLType.q4_K, .q4_K, .q6_K], [37, 20, 45]), ([.q4_K, .q6_K], [64, 9]),
                              ([.q6_K, .q4_K, .q4_K], [8, 300, 3]), ([.q5_0, .q8_0], [40, 40]), ([.q4_K, .q5_0], [16, 16])] {
            let mats = zip(types, rows).enumerated().map { i, tr in Self.handBuilt(tr.0, blocks: tr.1 * cols / tr.0.blockSize, seed: 40 + UInt64(i)).0 }
            var rng = TestRNG(8)
            for T in [1, 3] {
                let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
                let scratch = ActivationScratch(bytes: T * cols * 2 + 4096)
                for threads in [1, 2] {
                    EngineThreads.configure(threads)
                    defer { EngineThreads.configure(1) }
                    var separate = rows.map { [Float](repeating: .nan, count: T * $0) }
                    var s0 = [Float](repeating: .nan, count: T * rows[0]), s1 = [Float](repeating: .nan, count: T * rows[1])
                    var s2 = [Float](repeating: .nan, count: types.count > 2 ? T * rows[2] : 1)
                    mats[0].withUnsafeBytes { m0 in mats[1].withUnsafeBytes { m1 in
                        let m2 = mats.count > 2 ? mats[2] : [UInt8](repeating: 0, count: 64)
                        m2.withUnsafeBytes { m2 in
                            let W = [m0, m1, m2].prefix(types.count).enumerated().map { i, m in
                                QuantMatrix(type: types[i], rows: rows[i], columns: cols, data: m.baseAddress!) }
                            for i in W.indices { quantMatmul(W[i], x, rows: T, into: &separate[i], scratch: scratch) }
                            s0.withUnsafeMutableBufferPointer { y0 in s1.withUnsafeMutableBufferPointer { y1 in s2.withUnsafeMutableBufferPointer { y2 in
                                quantMatmulShared(W[0], into: y0.baseAddress!, W[1], into: y1.baseAddress!,
                                                  W.count > 2 ? W[2] : nil, into: W.count > 2 ? y2.baseAddress! : nil,
                                                  from: x, rows: T, scratch: scratch)
                            } } }
                        }
                    } }
                    let shared = types.count > 2 ? [s0, s1, s2] : [s0, s1]
                    for i in types.indices {
                        XCTAssertEqual(shared[i].map(\.bitPattern), separate[i].map(\.bitPattern),
                                       "\(types) rows \(rows) T \(T) threads \(threads): matrix \(i)")
                    }
                }
            }
        }
    }

    /// Decoding's gated feed-forward input in one hand-off: bit-identical to the two products and the gating apart.
    func testSiluGateInOneHandOffMatchesSeparateSteps() {
        let cols = 512
        for (types, rows) in [([GGMLType.q4_K, .q4_K], 37), ([.q6_K, .q6_K], 300), ([.q5_0, .q5_0], 64), ([.q4_K, .q6_K], 40)] {
            let g = Self.handBuilt(types[0], blocks: rows * cols / types[0].blockSize, seed: 50).0
            let u = Self.handBuilt(types[1], blocks: rows * cols / types[1].blockSize, seed: 51).0
            var rng = TestRNG(9)
            for T in [1, 2] {
                let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
                let scratch = ActivationScratch(bytes: T * cols * 2 + 4096)
                for threads in [1, 2] {
                    EngineThreads.configure(threads)
                    defer { EngineThreads.configure(1) }
                    var h0 = [Float](repeating: .nan, count: T * rows), u0 = h0, h1 = h0, u1 = h0
                    g.withUnsafeBytes { gb in u.withUnsafeBytes { ub in
                        let G = QuantMatrix(type: types[0], rows: rows, columns: cols, data: gb.baseAddress!)
                        let U = QuantMatrix(type: types[1], rows: rows, columns: cols, data: ub.baseAddress!)
                        quantMatmul(G, x, rows: T, into: &h0, scratch: scratch)
                        quantMatmul(U, x, rows: T, into: &u0, scratch: scratch)
                        for i in 0..<(T * rows) { let v = h0[i]; h0[i] = v / (1 + expf(-v)) * u0[i] }
                        h1.withUnsafeMutableBufferPointer { hp in u1.withUnsafeMutableBufferPointer { up in
                            quantMatmulSiluGate(G, U, from: x, rows: T, into: hp.baseAddress!, up: up.baseAddress!, scratch: scratch)
                        } }
                    } }
                    XCTAssertEqual(h1.map(\.bitPattern), h0.map(\.bitPattern), "\(types) rows \(rows) T \(T) threads \(threads)")
                    XCTAssertEqual(u1.map(\.bitPattern), u0.map(\.bitPattern), "\(types) rows \(rows) T \(T) threads \(threads): up")
                }
            }
        }
    }

    func testFourRowKernelMatchesOneRowOnHandBuiltBlocks() {
        for type in Self.allTypes {
            let rows = 37, cols = 512   // 37 rows: two 16-row tiles and a partial one, split over the threads
            let (bytes, _) = Self.handBuilt(type, blocks: rows * cols / type.blockSize, seed: 9)
            bytes.withUnsafeBytes { Self.checkFourRowKernel(type, $0.baseAddress!, rows: rows, cols: cols, seed: 21, "\(type)") }
        }
    }

    func testFourRowKernelMatchesOneRowOnRealModelSlices() throws {
        try Self.forFirstTensorOfEachType { name, tname, t in
            Self.checkFourRowKernel(t.type, t.data, rows: min(40, t.rows), cols: t.columns, seed: 5, "\(name) \(tname) \(t.type)")
        }
    }

    /// Calls `body` with the first 2-D tensor of each type in each of the two real models, and checks that the
    /// types the default model mixes (and SmolLM2's Q4_1) were all among them.
    static func forFirstTensorOfEachType(_ body: (_ model: String, _ tensor: String, _ t: GGUFTensor) throws -> Void,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
        var seen = Set<String>()
        for name in ["qwen2.5-coder-0.5b", "smollm2-135m"] {
            let f = try GGUFFile(path: try ModelStore().resolve(name, kind: .llm).path)
            for tname in f.tensorOrder {
                let t = f.tensors[tname]!
                guard t.shape.count == 2, !seen.contains("\(name) \(t.type)") else { continue }
                seen.insert("\(name) \(t.type)")
                try body(name, tname, t)
            }
        }
        XCTAssertTrue(seen.contains("qwen2.5-coder-0.5b Q5_0") && seen.contains("qwen2.5-coder-0.5b Q4_K")
                      && seen.contains("qwen2.5-coder-0.5b Q6_K") && seen.contains("smollm2-135m Q4_1"), "\(seen)", file: file, line: line)
    }

    /// The first rows of every tensor type in the two real models: the engine's product vs. a naive
    /// dequantize-then-dot in Swift.
    func testRealModelSlices() throws {
        try Self.forFirstTensorOfEachType { name, tname, t in
            let rows = min(16, t.rows), cols = t.columns
            let W = QuantMatrix(type: t.type, rows: rows, columns: cols, data: t.data)
            var rng = TestRNG(11)
            let x = (0..<cols).map { _ in rng.float() }
            var y = [Float](repeating: 0, count: rows)
            quantMatmul(W, x, rows: 1, into: &y, scratch: ActivationScratch(bytes: cols * 2))
            var row = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                W.dequantizeRow(r, into: &row)
                var exact: Double = 0, mag: Double = 0
                for c in 0..<cols { exact += Double(row[c] * x[c]); mag += Double(abs(row[c] * x[c])) }
                XCTAssertEqual(Double(y[r]), exact, accuracy: 0.01 * mag + 1e-6, "\(name) \(tname) row \(r)")
            }
        }
    }

    func testActivationQuantizationRoundTrips() {
        var rng = TestRNG(5)
        let x = (0..<512).map { _ in rng.float(-3, 3) }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        defer { buf.deallocate() }
        confab_quantize_q8_32(x, buf, 512)
        for b in 0..<16 {
            let d = buf.load(fromByteOffset: b * 40, as: Float.self)
            let s = buf.load(fromByteOffset: b * 40 + 4, as: Float.self)
            var sum = 0
            for j in 0..<32 {
                let q = Int(buf.load(fromByteOffset: b * 40 + 8 + j, as: Int8.self))
                sum += q
                // d is stored at half precision (as ggml's block_q8_0): rounding half a step, plus |q|·d·2⁻¹¹
                XCTAssertEqual(Float(q) * d, x[b * 32 + j], accuracy: d * (0.5 + 127.0 / 2048))
            }
            XCTAssertEqual(s, d * Float(sum), accuracy: abs(d * Float(sum)) * 2e-3 + 1e-3)
        }
        confab_quantize_q8_K(x, buf, 512)
        for b in 0..<2 {
            let base = b * 292
            let d = buf.load(fromByteOffset: base, as: Float.self)
            for j in 0..<256 {
                let q = Float(buf.load(fromByteOffset: base + 4 + j, as: Int8.self))
                XCTAssertEqual(q * d, x[b * 256 + j], accuracy: abs(d) * 0.5001)
            }
            for g in 0..<16 {
                var s = 0
                for l in 0..<16 { s += Int(buf.load(fromByteOffset: base + 4 + 16 * g + l, as: Int8.self)) }
                XCTAssertEqual(Int(buf.loadUnaligned(fromByteOffset: base + 260 + 2 * g, as: Int16.self)), s)
            }
        }
    }
}
