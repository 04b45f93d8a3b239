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

    /// Output steps 0..<T, split over the engine threads. x: step 0 of channel 0 in a halo layout with rows `ldx`
    /// apart. The output goes where `out` says (its bias is this convolution's).
    public func apply(_ x: UnsafePointer<Float>, ldx: Int, length T: Int, out: confab_conv_out,
                      level: Int = ConvKernelLevel.current) {
        var o = out
        o.bias = bias
        let parts = min(EngineThreads.count, max(1, T / 96))
        if parts <= 1 {
            withUnsafePointer(to: &o) { op in
                confab_conv1d_direct(Int32(level), x, ldx, Int32(inChannels), packed.pointer, Int32(outChannels),
                                     Int32(kernel), Int32(dilation), Int32(padding), 0, T, op)
            }
            return
        }
        // Contiguous time ranges, cut on whole 48-step tiles.
        let per = ((T + parts - 1) / parts + 47) / 48 * 48
        let oc = o
        nonisolated(unsafe) let xs = x
        let (cin, cout, k, d, p, w) = (Int32(inChannels), Int32(outChannels), Int32(kernel), Int32(dilation),
                                       Int32(padding), UnsafePointer(packed.pointer))
        nonisolated(unsafe) let wp = w
        SpinningPool.shared.run(parts) { i in
            var oi = oc
            let t0 = min(T, i * per), t1 = min(T, t0 + per)
            withUnsafePointer(to: &oi) { op in
                confab_conv1d_direct(Int32(level), xs, ldx, cin, wp, cout, k, d, p, t0, t1, op)
            }
        }
    }
}
