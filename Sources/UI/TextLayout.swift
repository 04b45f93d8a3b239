import CNCurses

/// Display width of text in terminal cells: wide (CJK, emoji) characters take two, combining marks none.
public enum DisplayWidth {
    public static func of(_ c: Character) -> Int {
        var w = 0
        for (i, s) in c.unicodeScalars.enumerated() {
            let cw = Int(wcwidth(wchar_t(bitPattern: s.value)))
            if i == 0 { w = max(cw, s.value < 32 ? 0 : 1) } else if cw > 1 { w = max(w, cw) }
        }
        return w
    }

    public static func of(_ s: String) -> Int { s.reduce(0) { $0 + of($1) } }

    /// The longest prefix of `s` that fits in `width` cells.
    public static func prefix(_ s: String, fitting width: Int) -> String {
        var out = "", used = 0
        for c in s {
            let w = of(c)
            if used + w > width { break }
            out.append(c); used += w
        }
        return out
    }
}

/// Word wrap by display width. Breaks at spaces; a word longer than the width is broken by characters.
/// Explicit newlines start new lines. Never returns a line wider than `width`.
public func wrap(_ text: String, width: Int) -> [String] {
    let width = max(width, 1)
    var lines: [String] = []
    for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
        var line = "", lineWidth = 0
        for word in paragraph.split(separator: " ", omittingEmptySubsequences: true) {
            var w = String(word)
            var ww = DisplayWidth.of(w)
            if lineWidth > 0 && lineWidth + 1 + ww <= width {
                line += " " + w; lineWidth += 1 + ww
                continue
            }
            if lineWidth > 0 { lines.append(line); line = ""; lineWidth = 0 }
            while ww > width {
                let head = DisplayWidth.prefix(w, fitting: width)
                let cut = head.isEmpty ? String(w.prefix(1)) : head
                lines.append(cut)
                w = String(w.dropFirst(cut.count)); ww = DisplayWidth.of(w)
            }
            line = w; lineWidth = ww
        }
        lines.append(line)
    }
    return lines
}
