import CKernels

/// The vector kernels the direct convolutions use: 2 AVX-512, 1 AVX2 + FMA, 0 plain loops (the reference).
/// Chosen once from the CPU; tests set each level this machine can run.
public enum ConvKernelLevel {
    public static let detected = Int(confab_cpu_vector_level())
    nonisolated(unsafe) public static var current = detected
}

/// A stride-1 Conv1d (any dilation, "same" or explicit padding, groups 1) run by the
/// register-tiled kernels in CKernels/conv.c, its weights packed once at load.
///
/// Input rows are read with their padding in place, so the input lives in a *halo layout*: rows `ld` floats
/// apart, step 0 at `halo` floats into the row, zeros in [0, halo) and after the T steps of each row.
public struct DirectConv: @unchecked Sendable {
    public let inChannels: Int, outChannels: Int, kernel: Int, dilation: Int, padding: Int
    let packed: FloatBuffer
    let bias: UnsafePointer<Float>?
    let biasStorage: FloatBuffer?

    /// W [Cout, Cin, K].
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outChannels: Int, inChannels: Int,
                 kernel: Int, dilation: Int, padding: Int) {
        precondition(outChannels > 0 && inChannels > 0 && kernel > 0)
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.dilation = dilation; self.padding = padding
        packed = FloatBuffer(count: (outChannels + 7) / 8 * 8 * inChannels * kernel, zeroed: false)
        confab_conv_pack8(weight, Int32(outChannels), Int32(inChannels), Int32(kernel), packed.pointer)
        if let bias {
            let b = FloatBuffer(count: outChannels, zeroed: false)
            b.pointer.update(from: bias, count: outChannels)
            biasStorage = b; self.bias = UnsafePointer(b.pointer)
        } else {
            biasStorage = nil; self.bias = nil
        }
    }

    /// The halo (zeros each side of a row) the input needs: the padding on the left, the reach past the last
    /// step on the right, and room for the kernels' last vector.
    public var leftHalo: Int { padding }
    public var rightHalo: Int { max(0, dilation * (kernel - 1) - padding) + 64 }

    /// Output steps 0..<T, split over the engine threads: by time when each thread gets at least 96 steps, else by
    /// output channels (a short sentence's text encoder and flow, whose T is tens to a few hundred steps, ran on
    /// one thread before). x: step 0 of channel 0 in a halo layout with rows `ldx` apart. The output goes where
    /// `out` says (its bias is this convolution's).
    public func apply(_ x: UnsafePointer<Float>, ldx: Int, length T: Int, out: confab_conv_out,
                      level: Int = ConvKernelLevel.current) {
        var o = out
        o.bias = bias
        let blocks = (outChannels + 7) / 8
        let (cin, k, d, p) = (Int32(inChannels), Int32(kernel), Int32(dilation), Int32(padding))
        let wp = UnsafePointer(packed.pointer)
        switch split(length: T, threads: EngineThreads.count) {
        case .time(let timeParts):
            // Contiguous time ranges, cut on whole 48-step tiles.
            let per = ((T + timeParts - 1) / timeParts + 47) / 48 * 48
            let oc = o, cout = Int32(outChannels)
            SpinningPool.shared.run(timeParts) { i in
                var oi = oc
                let t0 = min(T, i * per), t1 = min(T, t0 + per)
                withUnsafePointer(to: &oi) { op in
                    confab_conv1d_direct(Int32(level), x, ldx, cin, wp, cout, k, d, p, t0, t1, op)
                }
            }
        case .channels(let channelParts):
            // Runs of whole 8-channel blocks (the packed weights' unit), each with its rows of the outputs.
            let per = (blocks + channelParts - 1) / channelParts
            let oc = o
            SpinningPool.shared.run(channelParts) { i in
                let b0 = min(blocks, i * per), b1 = min(blocks, b0 + per)
                guard b0 < b1 else { return }
                let o0 = b0 * 8, count = min(outChannels, b1 * 8) - o0
                var oi = oc
                if let b = oi.bias { oi.bias = b + o0 }
                if let r = oi.res { oi.res = r + o0 * oi.ldr }
                if let y = oi.y { oi.y = y + o0 * oi.ldy }
                if let a = oi.act { oi.act = a + o0 * oi.lda }
                withUnsafePointer(to: &oi) { op in
                    confab_conv1d_direct(Int32(level), x, ldx, cin, wp + b0 * 8 * inChannels * kernel, Int32(count),
                                         k, d, p, 0, T, op)
                }
            }
        case .none:
            withUnsafePointer(to: &o) { op in
                confab_conv1d_direct(Int32(level), x, ldx, cin, wp, Int32(outChannels), k, d, p, 0, T, op)
            }
        }
    }

    public enum Split: Equatable { case none, time(Int), channels(Int) }

    /// How `apply` shares T output steps among `threads`: by time when each part gets at least 96 steps, else by
    /// runs of at least two 8-channel blocks when the convolution is worth sharing (GemmSplit.minimumWork).
    public func split(length T: Int, threads: Int) -> Split {
        let timeParts = min(threads, max(1, T / 96))
        if timeParts > 1 { return .time(timeParts) }
        let channelParts = min(threads, (outChannels + 7) / 8 / 2)
        let work = T.multipliedReportingOverflow(by: outChannels * inChannels * kernel).partialValue
        if channelParts > 1 && work >= GemmSplit.minimumWork { return .channels(channelParts) }
        return .none
    }
}
