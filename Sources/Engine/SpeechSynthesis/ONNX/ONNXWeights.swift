import Foundation
import SwiftProtobuf

public struct ConvAttributes: Sendable, Equatable {
    public var dilation = 1, padding = 0, stride = 1, groups = 1
    public init(dilation: Int = 1, padding: Int = 0, stride: Int = 1, groups: Int = 1) {
        self.dilation = dilation; self.padding = padding; self.stride = stride; self.groups = groups
    }
}

/// A float32 tensor copied out of an ONNX initializer at load time.
public struct Tensor: @unchecked Sendable {
    public var shape: [Int]
    public var data: FloatBuffer
    public var count: Int { shape.reduce(1, *) }
    public var pointer: UnsafeMutablePointer<Float> { data.pointer }
    public init(shape: [Int], data: FloatBuffer) { self.shape = shape; self.data = data }
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.data = FloatBuffer(values) }
}

/// The initializers of an exported Piper `.onnx`, keyed by the PyTorch parameter name they come from.
///
/// torch.onnx.export keeps names like "enc_p.encoder.attn_layers.0.conv_q.weight" for plain parameters but
/// folds others (weight-normed convs of the flow's WN) into constants named "onnx::Conv_123". Those are
/// named here after the node that consumes them: the Conv node "/flow/flows.0/enc/in_layers.0/Conv" takes
/// input 1 = "flow.flows.0.enc.in_layers.0.weight" and input 2 = ".bias".
public struct ONNXWeights: @unchecked Sendable {
    public var tensors: [String: Tensor] = [:]
    /// Conv/ConvTranspose attributes read from the graph, keyed by the canonical weight name.
    public var convAttributes: [String: ConvAttributes] = [:]
    public let path: String

    /// Weights given directly (tests build a tiny random VITS this way); conv attributes take VITS defaults.
    public init(tensors: [String: Tensor], path: String = "<memory>") {
        self.tensors = tensors
        self.path = path
    }

    public init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        let model: Onnx_ModelProto
        do {
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: file.base), count: file.count, deallocator: .none)
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw ModelFileError(path: path, problem: "not a valid ONNX model (\(error))")
        }
        let graph = model.graph
        guard !graph.initializer.isEmpty else { throw ModelFileError(path: path, problem: "ONNX graph has no initializers") }

        // Consumers: initializer name → canonical parameter name from the first Conv-like node using it.
        var alias: [String: String] = [:]
        let initNames = Set(graph.initializer.map(\.name))
        var attrsByInput: [String: ConvAttributes] = [:]
        for node in graph.node {
            let scope = Self.scope(of: node.name)
            if node.opType == "Conv" || node.opType == "ConvTranspose" {
                var a = ConvAttributes()
                for at in node.attribute {
                    switch at.name {
                    case "dilations": a.dilation = Int(at.ints.first ?? 1)
                    case "pads": a.padding = Int(at.ints.first ?? 0)
                    case "strides": a.stride = Int(at.ints.first ?? 1)
                    case "group": a.groups = Int(at.i)
                    default: break
                    }
                }
                if node.input.count > 1 { attrsByInput[node.input[1]] = a }
                guard !scope.isEmpty else { continue }
                for (i, inp) in node.input.enumerated() where i >= 1 && initNames.contains(inp) && !inp.contains(".weight") && !inp.contains(".bias") {
                    if alias[inp] == nil { alias[inp] = scope + (i == 1 ? ".weight" : ".bias") }
                }
            } else if node.opType == "Gather", let table = node.input.first, initNames.contains(table),
                      !table.hasSuffix(".weight"), !scope.isEmpty {
                // The embedding table of enc_p.emb is exported as "sid" (a naming artifact).
                if alias[table] == nil { alias[table] = scope + ".weight" }
            }
        }
        for t in graph.initializer {
            guard let values = try Self.floats(t, path: path) else { continue }
            let name = alias[t.name] ?? t.name
            tensors[name] = Tensor(shape: t.dims.map { Int($0) }, data: values)
            if let a = attrsByInput[t.name] { convAttributes[name] = a }
        }
    }

    /// "/flow/flows.0/enc/in_layers.0/Conv" → "flow.flows.0.enc.in_layers.0"
    static func scope(of nodeName: String) -> String {
        var parts = nodeName.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return "" }
        parts.removeLast()
        return parts.joined(separator: ".")
    }

    static func floats(_ t: Onnx_TensorProto, path: String) throws -> FloatBuffer? {
        // In overflow-checked arithmetic; the data is checked to be there before anything is allocated for it.
        var count: Int64 = 1
        for d in t.dims {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !o, p < 1 << 31 else { throw ModelFileError(path: path, problem: "initializer \(t.name) has bad dims \(t.dims)") }
            count = p
        }
        let n = Int(count)
        switch t.dataType {
        case 1: // FLOAT
            if !t.rawData.isEmpty {
                guard t.rawData.count == n * 4 else {
                    throw ModelFileError(path: path, problem: "initializer \(t.name): \(t.rawData.count) bytes for \(n) floats")
                }
                let buf = FloatBuffer(count: n, zeroed: false)
                t.rawData.withUnsafeBytes { raw in
                    UnsafeMutableRawPointer(buf.pointer).copyMemory(from: raw.baseAddress!, byteCount: n * 4)
                }
                return buf
            }
            guard t.floatData.count == n else { throw ModelFileError(path: path, problem: "initializer \(t.name): \(t.floatData.count) floats for \(n)") }
            let buf = FloatBuffer(count: n, zeroed: false)
            for i in 0..<n { buf.pointer[i] = t.floatData[i] }
            return buf
        default:
            return nil // int64 shape constants and the like are not weights
        }
    }

    public func has(_ name: String) -> Bool { tensors[name] != nil }

    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelFileError(path: path, problem: "missing weight \(name) (not a Piper VITS voice?)") }
        return t
    }

    /// The tensor, checked to have `shape` (−1 matches any size).
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let t = try tensor(name)
        guard t.shape.count == shape.count, zip(t.shape, shape).allSatisfy({ $1 < 0 || $0 == $1 }) else {
            throw ModelFileError(path: path, problem: "weight \(name) has shape \(t.shape), expected \(shape)")
        }
        return t
    }
}
