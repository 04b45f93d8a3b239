import ArgumentParser
import Engine

/// `--wake PHRASE` and `--follow-up SECONDS`: hands-free answers only speech addressed to Confab.
/// Shared by talk, converse and bench e2e.
struct WakeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Hands-free, answer only speech that starts with this phrase, e.g. \"hey confab\" (default: off, every utterance is answered).", valueName: "phrase"))
    var wake: String?
    @Option(name: .customLong("follow-up"),
            help: ArgumentHelp("With --wake: seconds after a reply in which a question needs no phrase (default: \(Self.defaultText)).", valueName: "seconds"))
    var followUp: Double = ConversationConfiguration.defaultFollowUpWindow

    static var defaultText: String { String(format: "%g", ConversationConfiguration.defaultFollowUpWindow) }

    func validate() throws {
        guard followUp.isFinite, followUp >= 0, followUp <= 3600 else {
            throw ValidationError("--follow-up: give seconds from 0 to 3600 (got \(followUp))")
        }
        if wake == nil && followUp != ConversationConfiguration.defaultFollowUpWindow {
            throw ValidationError("--follow-up needs --wake (without a wake phrase every utterance is answered)")
        }
        _ = try phrase()
    }

    /// The configured phrase (nil: no --wake).
    func phrase() throws -> WakePhrase? {
        guard let wake else { return nil }
        do { return try WakePhrase(wake) } catch { throw ValidationError("\(error)") }
    }

    func apply(to config: inout ConversationConfiguration) throws {
        config.wakePhrase = try phrase()
        config.followUpWindow = followUp
    }
}
