/// A one-line text editor for typed input: UTF-8 aware (edits whole characters), cursor movement,
/// backspace/delete, and a history recalled with up/down.
public struct LineEditor: Sendable {
    public private(set) var text: [Character] = []
    public private(set) var cursor = 0
    private var history: [String] = []
    private var historyIndex: Int?
    private var draft: [Character] = []

    public init() {}

    public var string: String { String(text) }

    public mutating func insert(_ c: Character) { text.insert(c, at: cursor); cursor += 1 }
    public mutating func insert(_ s: String) { for c in s { insert(c) } }
    public mutating func backspace() { if cursor > 0 { cursor -= 1; text.remove(at: cursor) } }
    public mutating func delete() { if cursor < text.count { text.remove(at: cursor) } }
    public mutating func left() { cursor = max(0, cursor - 1) }
    public mutating func right() { cursor = min(text.count, cursor + 1) }
    public mutating func home() { cursor = 0 }
    public mutating func end() { cursor = text.count }
    public mutating func killToStart() { text.removeFirst(cursor); cursor = 0 }
    public mutating func clear() { text = []; cursor = 0; historyIndex = nil }

    /// Enter: returns the line (nil if blank), remembers it, and clears the editor.
    public mutating func submit() -> String? {
        let line = string
        clear()
        guard !line.allSatisfy(\.isWhitespace) else { return nil }
        if history.last != line { history.append(line) }
        return line
    }

    public mutating func historyUp() {
        guard !history.isEmpty else { return }
        if historyIndex == nil { draft = text; historyIndex = history.count }
        historyIndex = max(0, historyIndex! - 1)
        text = Array(history[historyIndex!]); cursor = text.count
    }

    public mutating func historyDown() {
        guard let i = historyIndex else { return }
        if i + 1 >= history.count { historyIndex = nil; text = draft } else { historyIndex = i + 1; text = Array(history[i + 1]) }
        cursor = text.count
    }

    /// The visible slice of the line for a field `width` cells wide, and the cursor's column in it.
    public func visible(width: Int) -> (text: String, cursorColumn: Int) {
        let width = max(width, 2)
        var start = 0
        // Scroll so that the cursor stays inside the field.
        while DisplayWidth.of(String(text[start..<cursor])) >= width { start += 1 }
        var out = "", used = 0
        for c in text[start...] {
            let w = DisplayWidth.of(c)
            if used + w > width { break }
            out.append(c); used += w
        }
        return (out, DisplayWidth.of(String(text[start..<cursor])))
    }
}
