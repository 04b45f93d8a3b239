import Engine
import XCTest

/// The wake phrase matcher on the ways Whisper writes "hey confab", and on speech that does not start with it.
final class WakePhraseTests: XCTestCase {
    func testWhisperSpellingsAndPunctuationMatchAndLeaveTheQuestion() throws {
        let wake = try WakePhrase("hey confab")
        let cases: [(String, String)] = [
            ("Hey, Confab. What time is it?", "What time is it?"),
            ("hey confab what time is it", "What time is it"),
            ("Hey Khan fab, what's the weather like?", "What's the weather like?"),
            ("Hey Conf-ab, tell me a joke.", "Tell me a joke."),
            ("Hey Comfab, how are you?", "How are you?"),
            ("Heyconfab, how are you?", "How are you?"),
            ("HEY CONFAB WHAT IS TWO PLUS TWO", "WHAT IS TWO PLUS TWO"),
            ("Hey Kanfab! Who wrote Hamlet?", "Who wrote Hamlet?"),
            ("Hey, Con Fab, who wrote Hamlet?", "Who wrote Hamlet?"),
            ("Hey Confab... how far is the moon?", "How far is the moon?"),
            ("Um, hey confab, what is the capital of Peru?", "What is the capital of Peru?"),
            ("A confab, what is the capital of Peru?", "What is the capital of Peru?"),
            ("Hi Confab, set a timer.", "Set a timer."),
            ("Hey Confab, 3 plus 4?", "3 plus 4?"),
            ("Hey confirm, what is the capital of Japan?", "What is the capital of Japan?"),
            ("They confirm what is the capital of France?", "What is the capital of France?"),
            ("Pay confirm, what is half of ninety?", "What is half of ninety?"),
            ("Okay, confirm. What is the square root of 81?", "What is the square root of 81?"),
            ("Hey, Kentab, how many months are there in a year?", "How many months are there in a year?"),
            ("Hey, Confab.", ""),
            ("Hey Khan Fab", ""),
        ]
        for (said, question) in cases {
            XCTAssertEqual(wake.match(said)?.rest, question, said)
        }
        XCTAssertEqual(wake.match("Hey Confab, hi.")?.edits, 0)
        XCTAssertEqual(wake.match("Hey Khan fab, hi.")?.edits, 0)
        XCTAssertEqual(wake.match("Hey Comfab, hi.")?.edits, 0, "m and n are merged")
    }

    func testOrdinarySpeechDoesNotMatch() throws {
        let wake = try WakePhrase("hey confab")
        for said in [
            "What time is it?", "", "...", "Hey, can you pass the salt?", "Hey Conrad, how are you?", "Hey, come back here.",
            "Can five be divided by two?", "He can fly.", "Conference call at noon.",
            "Hey", "Confidential information follows.", "Hey, Karen, how was the trip?",
            "Hey, can fabrics be washed hot?", "I have a confab later.", "Thank you for coming.",
        ] {
            XCTAssertNil(wake.match(said), said)
        }
    }

    func testOtherPhrasesAndBadPhrases() throws {
        let computer = try WakePhrase("OK computer")
        XCTAssertEqual(computer.match("Okay, Computer, lights off.")?.rest, "Lights off.")
        XCTAssertEqual(computer.match("ok compute her lights off")?.rest, "Lights off")
        XCTAssertNil(computer.match("Okay, come to her place."))
        // Other spellings after "|"; the phrase as configured is the first.
        let two = try WakePhrase("hey jarvis|hey service")
        XCTAssertEqual(two.phrase, "hey jarvis")
        XCTAssertEqual(two.match("Hey service, lights on.")?.rest, "Lights on.")
        XCTAssertEqual(two.match("Hey Jarvis, lights on.")?.rest, "Lights on.")
        XCTAssertNil(try WakePhrase("hey jarvis").match("Hey service, lights on."))
        XCTAssertThrowsError(try WakePhrase("  ")) { XCTAssertEqual("\($0)", "--wake: the wake phrase has no words") }
        XCTAssertThrowsError(try WakePhrase("hey")) { XCTAssertTrue("\($0)".contains("too short"), "\($0)") }
    }
}
