import Engine
import XCTest

final class SentenceChunkerTests: XCTestCase {
    /// Streams `text` in small pieces (as a model would) and returns every chunk, the final flush included.
    func chunks(_ text: String, pieceLength: Int = 3, _ p: SentenceChunker.Parameters = .init()) -> [String] {
        var c = SentenceChunker(p)
        var out: [String] = []
        var piece = ""
        for ch in text {
            piece.append(ch)
            if piece.count == pieceLength { out += c.append(piece); piece = "" }
        }
        out += c.append(piece)
        out += c.finish()
        return out
    }

    func testSplitsAtSentenceEnds() {
        XCTAssertEqual(chunks("Hello there. How are you? I am fine!"), ["Hello there.", "How are you?", "I am fine!"])
    }

    func testDoesNotSplitAbbreviationsNumbersOrEllipses() {
        XCTAssertEqual(chunks("Dr. Smith met Mr. Jones at 3.5 km. Then they left."),
                       ["Dr. Smith met Mr. Jones at 3.5 km.", "Then they left."])
        XCTAssertEqual(chunks("Use a fruit, e.g. an apple. Or i.e. a pear."),
                       ["Use a fruit, e.g. an apple.", "Or i.e. a pear."])
        XCTAssertEqual(chunks("Well... I think so. Wait… really? Yes."), ["Well... I think so.", "Wait… really?", "Yes."])
        XCTAssertEqual(chunks("It costs $1,000.50 today. J. R. R. Tolkien wrote it."),
                       ["It costs $1,000.50 today.", "J. R. R. Tolkien wrote it."])
        XCTAssertEqual(chunks("Version 2.0 is out. See example.com for it."), ["Version 2.0 is out.", "See example.com for it."])
    }

    func testDoesNotSplitInsideQuotesOrParentheses() {
        XCTAssertEqual(chunks("He said \"Stop. Now.\" Then he left."), ["He said \"Stop. Now.\"", "Then he left."])
        XCTAssertEqual(chunks("She wrote “Go home. Rest.” and slept."), ["She wrote “Go home. Rest.” and slept."])
        XCTAssertEqual(chunks("It works (see note 2. Below.) fine. Done."), ["It works (see note 2. Below.) fine.", "Done."])
    }

    func testSentenceEndBeforeLowercaseIsNotAnEnd() {
        XCTAssertEqual(chunks("Approx. five of them. Good."), ["Approx. five of them.", "Good."])
        XCTAssertEqual(chunks("We have apples, pears etc. and more. Fine."), ["We have apples, pears etc. and more.", "Fine."])
        XCTAssertEqual(chunks("Buy apples, pears etc. Then go."), ["Buy apples, pears etc.", "Then go."])
    }

    func testLinesAndListNumbers() {
        XCTAssertEqual(chunks("Steps:\n1. Open it\n2. Close it\nDone"), ["Steps:", "1. Open it", "2. Close it", "Done"])
    }

    func testFirstChunkCutsEarlyAtAClause() {
        let text = "The weather in Paris today is quite mild, with a light breeze from the west, and it stays dry until the evening when clouds arrive."
        let c = chunks(text)
        XCTAssertEqual(c.first, "The weather in Paris today is quite mild,")
        XCTAssertEqual(c.joined(separator: " "), text)
        // Later clauses only once a chunk is long (default 80 characters).
        XCTAssertEqual(c.count, 2, "\(c)")
        // No clause cut inside a number.
        XCTAssertEqual(chunks("Meet me at the station at 3:30, then we walk to the museum together."),
                       ["Meet me at the station at 3:30,", "then we walk to the museum together."])
    }

    /// An opening parenthesis after a long enough first clause starts the next chunk, so speech need not wait
    /// for the aside (numbers and units are many tokens); a short one stays with its sentence.
    func testFirstChunkCutsBeforeAParenthesis() {
        XCTAssertEqual(chunks("Water boils at 100 degrees Celsius (212 degrees Fahrenheit) at sea level. Done."),
                       ["Water boils at 100 degrees Celsius", "(212 degrees Fahrenheit) at sea level.", "Done."])
        XCTAssertEqual(chunks("Use it (as noted) well. Then stop."), ["Use it (as noted) well.", "Then stop."])
    }

    func testLongTextWithoutPunctuationIsCutAtASpace() {
        var p = SentenceChunker.Parameters(); p.maxLength = 40
        let text = String(repeating: "word ", count: 30).trimmingCharacters(in: .whitespaces)
        let c = chunks(text, p)
        XCTAssertGreaterThan(c.count, 1)
        XCTAssertTrue(c.allSatisfy { $0.count <= 42 }, "\(c)")
        XCTAssertEqual(c.joined(separator: " "), text)
    }

    func testWaitsForTheNextCharacterAndFlushesTheRest() {
        var c = SentenceChunker()
        XCTAssertEqual(c.append("It is 3."), [])          // could be 3.5
        XCTAssertEqual(c.append("5 degrees. And"), ["It is 3.5 degrees."])
        XCTAssertEqual(c.append(" more"), [])
        XCTAssertEqual(c.finish(), ["And more"])
        XCTAssertEqual(c.finish(), [])
    }

    /// The first sentence goes to speech synthesis on its full stop, without waiting a token for what follows, when
    /// the word before it is a plain word; anything that may go on (a number, an initial, an abbreviation, a file
    /// name's dot arriving with its extension, a quote) still waits.
    func testFirstSentenceEndsWithoutWaitingForTheNextToken() {
        var c = SentenceChunker()
        XCTAssertEqual(["Paris", " is", " the", " capital", " of", " France"].flatMap { c.append($0) }, [])
        XCTAssertEqual(c.append("."), ["Paris is the capital of France."])
        XCTAssertEqual(c.append(" It"), [])
        XCTAssertEqual(c.append(" is big."), [], "later sentences wait for the next character")
        XCTAssertEqual(c.finish(), ["It is big."])

        var q = SentenceChunker()
        XCTAssertEqual(q.append("Really?"), ["Really?"])
        for waits in ["It is 3.", "Ask Dr.", "Call J.", "Use e.", "Open main", "He said \"Stop.", "Wait..", "See (note."] {
            var w = SentenceChunker()
            XCTAssertEqual(w.append(waits), [], waits)
        }
        var f = SentenceChunker()
        XCTAssertEqual(f.append("Open main"), [])
        XCTAssertEqual(f.append(".py now."), ["Open main.py now."])
        XCTAssertEqual(f.finish(), [])
    }

    /// A long first sentence without a comma is cut before a word that opens a phrase, once the word is complete;
    /// a short one, a word that only begins like one ("andante"), and later sentences are not.
    func testLongFirstSentenceIsCutBeforeAPhrase() {
        XCTAssertEqual(chunks("Sleeping better can help reduce stress and improve your mood. Try it and see."),
                       ["Sleeping better can help reduce stress", "and improve your mood.", "Try it and see."])
        XCTAssertEqual(chunks("Romeo and Juliet were written by Shakespeare."), ["Romeo and Juliet were written by Shakespeare."])
        XCTAssertEqual(chunks("The orchestra played the second movement andante tonight."),
                       ["The orchestra played the second movement andante tonight."])
        var c = SentenceChunker()
        XCTAssertEqual(c.append("A good routine includes getting enough sleep"), [])
        XCTAssertEqual(c.append(" and"), [], "\"and\" may still go on (\"android\")")
        XCTAssertEqual(c.append(" eating well."), ["A good routine includes getting enough sleep"])
        XCTAssertEqual(c.finish(), ["and eating well."])
    }

    /// A conjunction opens a clause (or a list's last item) wherever it stands, so the first chunk may end before one
    /// sooner (20 characters); other phrase starters may sit inside a noun phrase and wait for 36.
    func testFirstChunkCutsSoonerBeforeAConjunction() {
        XCTAssertEqual(chunks("Water boils at 100 degrees Celsius or 212 degrees Fahrenheit at sea level."),
                       ["Water boils at 100 degrees Celsius", "or 212 degrees Fahrenheit at sea level."])
        XCTAssertEqual(chunks("Mix the flour with the sugar and add two eggs."),
                       ["Mix the flour with the sugar", "and add two eggs."])
        XCTAssertEqual(chunks("The chemical symbol for gold is Au, from the Latin aurum."),
                       ["The chemical symbol for gold is Au,", "from the Latin aurum."], "a preposition at 20: no cut")
        XCTAssertEqual(chunks("Salt and pepper are common spices."), ["Salt and pepper are common spices."], "under 20")
        XCTAssertEqual(chunks("The weather in Paris today is mild and sunny."), ["The weather in Paris today is mild", "and sunny."])
        var p = SentenceChunker.Parameters()
        p.firstConjunctionMinLength = 36
        XCTAssertEqual(chunks("Water boils at 100 degrees Celsius or 212 degrees Fahrenheit.", pieceLength: 3, p),
                       ["Water boils at 100 degrees Celsius or 212 degrees Fahrenheit."])
    }

    /// Text cut mid-sentence is spoken as a clause: a comma for the voice, which then rises and pauses instead of
    /// falling as at a sentence's end. Text that ends in punctuation is left as it is.
    func testSpeechOfATextCutMidSentenceEndsAsAClause() {
        XCTAssertEqual(SpeakableText.endingAsClause("Water boils at 100 degrees Celsius"), "Water boils at 100 degrees Celsius,")
        XCTAssertEqual(SpeakableText.endingAsClause("It has 8 legs"), "It has 8 legs,")
        XCTAssertEqual(SpeakableText.endingAsClause("It is Paris."), "It is Paris.")
        XCTAssertEqual(SpeakableText.endingAsClause("Really?"), "Really?")
        XCTAssertEqual(SpeakableText.endingAsClause("First, this:"), "First, this:")
        XCTAssertEqual(SpeakableText.endingAsClause("(see above)"), "(see above)")
        XCTAssertEqual(SpeakableText.endingAsClause(""), "")
    }

    func testReplySpeechFilterDropsCodeBlocksAcrossChunksAndMarkup() {
        var s = ReplySpeechFilter()
        XCTAssertEqual(s.speakable("**Bold** and `code` in [a link](http://x.y)"), "Bold and code in a link")
        XCTAssertEqual(s.speakable("## Heading"), "Heading")
        XCTAssertEqual(s.speakable("- item one"), "item one")
        XCTAssertEqual(s.speakable("```swift"), "")
        XCTAssertEqual(s.speakable("let x = 1"), "")
        XCTAssertEqual(s.speakable("```"), "")
        XCTAssertEqual(s.speakable("After the code."), "After the code.")
    }
}
