import Foundation

/// A model's chat format, chosen from `tokenizer.chat_template` (and the vocabulary when the template is absent).
/// Turn markers become their special token ids; message text is tokenized as plain text, so a user
/// typing "<|im_end|>" cannot end a turn.
public enum ChatTemplate: String, Sendable {
    case chatML      // <|im_start|>role\ncontent<|im_end|>\n   (SmolLM2, Qwen2.5)
    case llama3      // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
    case zephyr      // <|role|>\ncontent</s>\n                 (TinyLlama chat)
    case plain       // "Role: content" lines, for models without a known format

    public static func detect(gguf: GGUFFile, tokenizer: Tokenizer) -> ChatTemplate {
        let t = gguf.metadata["tokenizer.chat_template"]?.string ?? ""
        if t.contains("<|im_start|>") { return .chatML }
        if t.contains("<|start_header_id|>") { return .llama3 }
        if t.contains("<|user|>") || t.contains("<|assistant|>") { return .zephyr }
        if tokenizer.id(of: "<|im_start|>") != nil { return .chatML }
        if tokenizer.id(of: "<|start_header_id|>") != nil { return .llama3 }
        return .plain
    }

    /// A prompt as text runs and special markers, in order.
    public enum Piece: Equatable { case special(String), text(String) }

    /// The conversation followed by the opening of the assistant's turn.
    public func render(_ messages: [ChatMessage]) -> [Piece] {
        var p: [Piece] = []
        switch self {
        case .chatML:
            for m in messages {
                p += [.special("<|im_start|>"), .text(m.role.rawValue + "\n" + m.content), .special("<|im_end|>"), .text("\n")]
            }
            p += [.special("<|im_start|>"), .text("assistant\n")]
        case .llama3:
            p.append(.special("<|begin_of_text|>"))
            for m in messages {
                p += [.special("<|start_header_id|>"), .text(m.role.rawValue), .special("<|end_header_id|>"),
                      .text("\n\n" + m.content.trimmingCharacters(in: .whitespacesAndNewlines)), .special("<|eot_id|>")]
            }
            p += [.special("<|start_header_id|>"), .text("assistant"), .special("<|end_header_id|>"), .text("\n\n")]
        case .zephyr:
            for m in messages { p += [.text("<|\(m.role.rawValue)|>\n" + m.content), .special("</s>"), .text("\n")] }
            p.append(.text("<|assistant|>\n"))
        case .plain:
            for m in messages { p.append(.text("\(m.role.rawValue.capitalized): \(m.content)\n")) }
            p.append(.text("Assistant:"))
        }
        return merged(p)
    }

    /// Adjacent text runs joined, so BPE sees the same text between markers as a whole-string tokenizer would.
    private func merged(_ pieces: [Piece]) -> [Piece] {
        var out: [Piece] = []
        for piece in pieces {
            if case .text(let b) = piece, case .text(let a)? = out.last { out[out.count - 1] = .text(a + b) }
            else { out.append(piece) }
        }
        return out
    }

    public func tokens(_ messages: [ChatMessage], tokenizer: Tokenizer) -> [Int32] {
        var ids: [Int32] = []
        for piece in render(messages) {
            switch piece {
            case .special(let s):
                if let id = tokenizer.id(of: s) { ids.append(id) }
                else { ids += tokenizer.encode(s, parseSpecial: false) }
            case .text(let s):
                ids += tokenizer.encode(s, parseSpecial: false)
            }
        }
        return ids
    }
}

/// The system prompt for a spoken assistant: everything it writes is read aloud. The one default for the
/// conversation, `ask` and `chat` (the date is added by `AssistantClock`).
public let defaultSpokenSystemPrompt = """
You are Confab, a voice assistant running on the user's computer. Your replies are spoken aloud, \
so answer in one to three short, plain sentences. Never use markdown, lists, headings, code blocks, \
tables or emoji. If you are not sure, say so briefly.
"""
