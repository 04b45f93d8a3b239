import XCTest
@testable import Engine

/// Speculative decoding: a batched call's logits rows against one-token calls, the decoding loop with drafts against
/// plain decoding (token for token with greedy), and the acceptance rule's distribution when sampling.
final class SpeculativeDecodingTests: XCTestCase {
    private func tinyModel(_ arch: String, quantize: Bool, seed: UInt64) throws -> LlamaModel {
        let tiny = TinyModelTests.Tiny(arch: arch, quantize: quantize, seed: seed)
        let path = tempPath("spec-\(arch)-\(quantize)-\(seed).gguf")
        try tiny.write(path)
        return try LlamaModel(path: path, contextLimit: nil, maxBatch: 16)
    }

    /// Every row of a batched call equals, bit for bit, the logits of one-token calls at the same positions.
    func testBatchedLogitRowsAreBitIdenticalToOneTokenCalls() throws {
        for (arch, q) in [("qwen2", true), ("llama", false), ("qwen2", false)] {
            let m = try tinyModel(arch, quantize: q, seed: 5)
            let V = m.config.vocabSize
            let prompt: [Int32] = [3, 17, 5, 40, 22]
            let more: [Int32] = [9, 31, 0, 12, 44, 7, 7, 21, 2, 30, 11]   // 11 rows: the 4-token and VNNI tile paths too
            try m.forward(prompt, pos0: 0)
            var oneByOne: [[Float]] = []
            for (i, t) in more.enumerated() {
                try m.forward([t], pos0: prompt.count + i)
                oneByOne.append(Array(UnsafeBufferPointer(start: m.logits.pointer, count: V)))
            }
            for rows in [2, 5, 11] {
                try m.forward(prompt, pos0: 0)
                try m.forward(Array(more.prefix(rows)), pos0: prompt.count, logitRows: rows)
                for r in 0..<rows {
                    let got = Array(UnsafeBufferPointer(start: m.rowLogits.pointer + r * V, count: V))
                    XCTAssertEqual(got.map(\.bitPattern), oneByOne[r].map(\.bitPattern), "\(arch) q8=\(q): row \(r) of \(rows)")
                }
                XCTAssertEqual(Array(UnsafeBufferPointer(start: m.logits.pointer, count: V)).map(\.bitPattern),
                               oneByOne[rows - 1].map(\.bitPattern), "logits = the last row")
            }
        }
    }

    /// A prompt longer than a chunk with logit rows asked for across the chunk boundary.
    func testLogitRowsAcrossChunks() throws {
        let m = try tinyModel("llama", quantize: true, seed: 9)
        let V = m.config.vocabSize
        let toks: [Int32] = (0..<20).map { Int32(($0 * 7 + 3) % 48) }     // maxBatch 16: chunks 16 + 4 → 12 + 8
        try m.forward(toks, pos0: 0, logitRows: 8)
        let batched = Array(UnsafeBufferPointer(start: m.rowLogits.pointer, count: 8 * V))
        try m.forward(Array(toks.prefix(12)), pos0: 0)
        for i in 12..<20 {
            try m.forward([toks[i]], pos0: i)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: m.logits.pointer, count: V)).map(\.bitPattern),
                           batched[(i - 12) * V ..< (i - 11) * V].map(\.bitPattern), "position \(i)")
        }
    }

    private func decode(_ m: LlamaModel, prompt: [Int32], count: Int, speculation: SpeculationParameters,
                        sampling: SamplingParameters = .greedy) throws -> (tokens: [Int32], loop: DecodeLoop, cached: [Int32]) {
        try m.forward(prompt, pos0: 0)
        var cached = prompt
        var loop = DecodeLoop(model: m, sampler: Sampler(vocabSize: m.config.vocabSize, params: sampling),
                              speculation: speculation, maxTokens: count, repeatLastN: sampling.repeatLastN)
        var out: [Int32] = []
        try loop.run(cached: &cached, isCancelled: { false }) { out.append($0); return true }
        return (out, loop, cached)
    }

    /// Greedy: the same tokens with and without drafts, and drafts were actually taken (random models fall into loops
    /// that prompt lookup predicts).
    func testGreedyDecodingWithDraftsEqualsPlainDecoding() throws {
        var acceptedSomewhere = 0, rejectedSomewhere = 0
        for seed: UInt64 in [1, 2, 3, 4] {
            for (arch, q) in [("qwen2", true), ("llama", false)] {
                let m = try tinyModel(arch, quantize: q, seed: seed)
                let prompt: [Int32] = [3, 17, 5, 40, 3, 17, 5, 22, 9]
                let plain = try decode(m, prompt: prompt, count: 40, speculation: .off)
                let spec = try decode(m, prompt: prompt, count: 40, speculation: SpeculationParameters())
                XCTAssertEqual(spec.tokens, plain.tokens, "\(arch) seed \(seed)")
                XCTAssertEqual(plain.tokens.count, 40)
                XCTAssertEqual(plain.loop.drafted, 0)
                // The cache holds the prompt and the reply tokens that were run: all but the last (picked, never run),
                // or all when the last was an accepted draft token (run in the call that checked it).
                XCTAssertEqual(plain.cached, prompt + plain.tokens.dropLast())
                XCTAssertTrue(spec.cached == prompt + spec.tokens || spec.cached == prompt + spec.tokens.dropLast())
                acceptedSomewhere += spec.loop.accepted
                rejectedSomewhere += spec.loop.drafted - spec.loop.accepted
            }
        }
        XCTAssertGreaterThan(acceptedSomewhere, 20, "drafts were accepted")
        XCTAssertGreaterThan(rejectedSomewhere, 0, "and some rejected")
    }

    /// The acceptance rule keeps the sampler's distribution: draws through `verify` with a fixed draft (likely,
    /// unlikely, or outside the candidates) match plain `sample` draws within sampling error.
    func testAcceptanceRuleKeepsTheDistribution() throws {
        let V = 8
        let logits: [Float] = [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -9.0]
        var p = SamplingParameters()
        p.temperature = 0.8; p.topK = 0; p.topP = 1; p.minP = 0; p.repeatPenalty = 1; p.seed = 42
        let n = 40_000
        func histogram(_ pick: (Sampler, UnsafeMutablePointer<Float>) -> Int32) -> [Double] {
            let s = Sampler(vocabSize: V, params: p)
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: V); defer { buf.deallocate() }
            var h = [Double](repeating: 0, count: V)
            for _ in 0..<n { buf.update(from: logits, count: V); h[Int(pick(s, buf))] += 1 }
            return h.map { $0 / Double(n) }
        }
        let want = histogram { s, l in s.sample(l, recent: []) }
        for d: Int32 in [0, 3, 7] {
            let got = histogram { s, l in s.verify(l, recent: [], draft: d) }
            for i in 0..<V {
                // 5 standard errors of a binomial proportion, and a floor for the rare ones
                let se = (want[i] * (1 - want[i]) / Double(n)).squareRoot()
                XCTAssertEqual(got[i], want[i], accuracy: 5 * se + 0.002, "draft \(d): token \(i)")
            }
        }
        // Greedy: the argmax, whatever the draft.
        let g = Sampler(vocabSize: V, params: .greedy)
        var l = logits
        XCTAssertEqual(l.withUnsafeMutableBufferPointer { g.verify($0.baseAddress!, recent: [], draft: 3) }, 0)
    }

    /// Sampling through the loop: drafts change nothing about where the reply may go (the same tokens are possible),
    /// and seeded runs are reproducible.
    func testSampledDecodingWithDraftsIsSeededAndWellFormed() throws {
        let m = try tinyModel("qwen2", quantize: true, seed: 3)
        var p = SamplingParameters(); p.seed = 7; p.temperature = 0.7
        let a = try decode(m, prompt: [3, 17, 5, 40, 3, 17, 5], count: 30, speculation: SpeculationParameters(), sampling: p)
        let b = try decode(m, prompt: [3, 17, 5, 40, 3, 17, 5], count: 30, speculation: SpeculationParameters(), sampling: p)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.tokens.count, 30)
        XCTAssertTrue(a.tokens.allSatisfy { $0 >= 0 && $0 < 48 })
        XCTAssertTrue(a.cached == [3, 17, 5, 40, 3, 17, 5] + a.tokens || a.cached == [3, 17, 5, 40, 3, 17, 5] + a.tokens.dropLast())
    }

    func testRepetitionLoopIsThreeCopiesOfABlockBackToBack() {
        let block: [Int32] = Array(100..<112)                      // 12 tokens
        XCTAssertTrue(RepetitionLoop.ends([1, 2, 3] + block + block + block))
        XCTAssertFalse(RepetitionLoop.ends([1, 2, 3] + block + block), "two copies are not a loop")
        XCTAssertFalse(RepetitionLoop.ends(block + block + block + [7]), "the copies must end the reply")
        XCTAssertFalse(RepetitionLoop.ends(Array(repeating: [5, 6, 7] as [Int32], count: 5).flatMap { $0 }),
                       "shorter than 8 tokens: a 3-token block repeated 5 times (15 tokens) has no period of 8...64 over 24+ tokens")
        XCTAssertTrue(RepetitionLoop.ends(Array(repeating: [5, 6, 7, 8] as [Int32], count: 6).flatMap { $0 }),
                      "a 4-token block six times is periodic with period 8 over 24 tokens")
        XCTAssertFalse(RepetitionLoop.ends((0..<200).map { Int32($0 % 97) }), "counting is not a loop")
        let long = (0..<64).map { Int32($0 * 3 % 151) }
        XCTAssertTrue(RepetitionLoop.ends(long + long + long))
        XCTAssertFalse(RepetitionLoop.ends(Array((long + long + long).dropFirst())), "65-token periods are not looked for")
    }

    /// Tiny random models fall into loops: with stopLoops a reply ends at the first token that completes three copies
    /// of a block, with the same tokens as without it up to there; a reply that never loops runs to its end.
    func testALoopingReplyEndsAfterThreeCopies() throws {
        var looped = 0, ranOut = 0
        for seed: UInt64 in 1...8 {
            let m = try tinyModel(seed % 2 == 0 ? "llama" : "qwen2", quantize: true, seed: seed)
            let prompt: [Int32] = [3, 17, 5, 40, 22]
            let plain = try decode(m, prompt: prompt, count: 58, speculation: SpeculationParameters()).tokens
            let firstLoop = (1...plain.count).first { RepetitionLoop.ends(Array(plain.prefix($0))) }
            try m.forward(prompt, pos0: 0)
            var cached = prompt
            var loop = DecodeLoop(model: m, sampler: Sampler(vocabSize: m.config.vocabSize, params: .greedy),
                                  speculation: SpeculationParameters(), maxTokens: 58, repeatLastN: 64, stopLoops: true)
            var out: [Int32] = []
            try loop.run(cached: &cached, isCancelled: { false }) { out.append($0); return true }
            if let firstLoop {
                looped += 1
                XCTAssertEqual(loop.stopReason, "repetition", "seed \(seed)")
                XCTAssertEqual(out, Array(plain.prefix(firstLoop)), "seed \(seed)")
            } else {
                ranOut += 1
                XCTAssertEqual(out, plain, "seed \(seed)")
                XCTAssertEqual(loop.stopReason, "length", "seed \(seed)")
            }
        }
        XCTAssertGreaterThan(looped, 0, "no tiny model looped: the test saw no loop to end")
        XCTAssertGreaterThan(ranOut, 0, "every tiny model looped: the test saw no reply that had to be left alone")
    }

    func testPromptLookupProposesWhatFollowedTheLatestMatch() {
        var p = SpeculationParameters(); p.ngramMax = 3; p.ngramMin = 1; p.maxDraft = 4
        let l = PromptLookup(p)
        var out: [Int32] = []
        // ... 1 2 3 [7 8 9 10 11] ... 1 2 | 3 → the latest "1 2 3" was followed by 7 8 9 10
        l.propose(after: [5, 1, 2, 3, 4, 4, 1, 2, 3, 7, 8, 9, 10, 11, 6, 1, 2], 3, max: 8, into: &out)
        XCTAssertEqual(out, [7, 8, 9, 10])
        out = []; l.propose(after: [5, 6], 9, max: 8, into: &out)
        XCTAssertEqual(out, [])
        out = []; l.propose(after: [1, 2, 1], 2, max: 2, into: &out)      // "1 2" matched at the start: 1 2
        XCTAssertEqual(out, [1, 2])
    }
}
