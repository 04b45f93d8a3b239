import XCTest
@testable import UI

final class TextLayoutTests: XCTestCase {
    func testWrapKeepsWordsAndWidth() {
        let text = "the quick brown fox jumps over the lazy dog"
        let lines = wrap(text, width: 10)
        XCTAssertEqual(lines, ["the quick", "brown fox", "jumps over", "the lazy", "dog"])
        for l in lines { XCTAssertLessThanOrEqual(DisplayWidth.of(l), 10) }
    }

    func testWrapBreaksLongWordsAndHonoursNewlines() {
        XCTAssertEqual(wrap("abcdefghij", width: 4), ["abcd", "efgh", "ij"])
        XCTAssertEqual(wrap("one\n\ntwo", width: 10), ["one", "", "two"])
    }

    func testWideCharactersCountTwoCells() {
        setlocale(LC_ALL, "C.UTF-8")
        XCTAssertEqual(DisplayWidth.of("日本語"), 6)
        XCTAssertEqual(DisplayWidth.of("é"), 1)
        let lines = wrap("日本語 テキスト です", width: 8)
        for l in lines { XCTAssertLessThanOrEqual(DisplayWidth.of(l), 8, l) }
        XCTAssertEqual(lines.joined(separator: " "), "日本語 テキスト です")
    }

    func testLineEditorEditsCharactersAndHistory() {
        var e = LineEditor()
        e.insert("héllo wörld")
        e.backspace()
        XCTAssertEqual(e.string, "héllo wörl")
        e.home(); e.right(); e.delete()
        XCTAssertEqual(e.string, "hllo wörl")
        e.end(); e.insert("d")
        XCTAssertEqual(e.submit(), "hllo wörld")
        XCTAssertEqual(e.string, "")
        XCTAssertNil(e.submit())           // blank lines are not sent
        e.insert("second"); _ = e.submit()
        e.insert("draft")
        e.historyUp(); XCTAssertEqual(e.string, "second")
        e.historyUp(); XCTAssertEqual(e.string, "hllo wörld")
        e.historyDown(); XCTAssertEqual(e.string, "second")
        e.historyDown(); XCTAssertEqual(e.string, "draft")
    }

    func testLineEditorScrollsToKeepCursorVisible() {
        var e = LineEditor()
        e.insert(String(repeating: "x", count: 50))
        let (text, col) = e.visible(width: 20)
        XCTAssertLessThanOrEqual(text.count, 20)
        XCTAssertLessThan(col, 20)
    }

    func testTranscriptLinesLabelSpeakersAndStreamReply() {
        var m = ScreenModel()
        m.add(.you, "what is the capital of france")
        m.streamingReply = "Paris is"
        let lines = m.transcriptLines(width: 40)
        XCTAssertEqual(lines.first?.0, .you)
        XCTAssertTrue(lines.first!.1.hasPrefix("you › what is"))
        XCTAssertEqual(lines.last?.0, .confab)
        XCTAssertTrue(lines.last!.1.contains("Paris is"))
        XCTAssertEqual(m.transcriptText, "you: what is the capital of france\n")
    }
}
