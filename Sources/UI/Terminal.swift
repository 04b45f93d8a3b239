import CNCurses
import Engine
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The ncurses session. While it is open nothing else may write to the screen; `restore()` (called
/// on quit, on SIGTERM/SIGHUP, on every error path and at exit) gives the terminal back as it was:
/// cursor, echo, colours and the line discipline.
public final class Terminal: @unchecked Sendable {
    public enum Key: Equatable, Sendable {
        case char(Character)
        case enter, backspace, delete, tab, escape
        case up, down, left, right, home, end, pageUp, pageDown
        case resize
        case control(Character)   // Ctrl-A … Ctrl-Z as their letter
        case function(Int)
    }

    public enum Style: Sendable { case normal, you, confab, system, error, header, dim, meterLow, meterMid, meterHigh, accent }

    public let colors: Bool
    private var open = false
    nonisolated(unsafe) private static var current: Terminal?
    private var signalSources: [DispatchSourceSignal] = []
    /// Standard error as it was before the screen opened (see `divertStandardError`).
    private var savedStandardError: Int32 = -1
    /// Where library chatter on standard error goes while the screen is open (replayed on `restore()`).
    private var standardErrorLog: String?
    /// Set when SIGTERM/SIGHUP/SIGINT arrives; the UI loop checks it between keys.
    public var terminationRequested: Bool { terminationSignal != nil }
    /// The signal that asked the screen to close (SIGTERM, SIGHUP or SIGINT), if one did.
    public var terminationSignal: Int32? { signalLock.withLock { receivedSignal } }
    private let signalLock = NSLock()
    private var receivedSignal: Int32?

    /// Opens the screen. Fails with a one-line error when standard output or input is not a terminal.
    public init(color: Bool = true) throws {
        guard isatty(0) == 1, isatty(1) == 1 else { throw TerminalError.notATerminal }
        let noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        tcgetattr(0, &Terminal.savedModes)
        setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" { setlocale(LC_ALL, "C.UTF-8") }
        guard initscr() != nil else { throw TerminalError.cannotInitialize }
        open = true
        Terminal.screenOpen = 1
        raw()                 // Ctrl-C arrives as a key, so quitting is an ordinary, clean path
        noecho()
        nonl()
        keypad(confab_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
        var useColor = color && !noColor && has_colors()
        if useColor {
            start_color()
            use_default_colors()
            useColor = confab_colors() >= 8
        }
        colors = useColor
        divertStandardError()
        Terminal.current = self
        atexit { Terminal.current?.restore() }
        Terminal.installCrashRestore()
        // A model file truncated under the running model is a SIGBUS the guard turns into a message: the terminal first.
        MappedFileGuard.emergencyCleanup = { Terminal.emergencyRestore() }
        if colors {
            init_pair(1, Int16(COLOR_CYAN), -1)    // you
            init_pair(2, Int16(COLOR_GREEN), -1)   // confab
            init_pair(3, Int16(COLOR_YELLOW), -1)  // system
            init_pair(4, Int16(COLOR_RED), -1)     // error
            init_pair(5, Int16(COLOR_BLACK), Int16(COLOR_CYAN)) // header
            init_pair(6, Int16(COLOR_GREEN), -1)
            init_pair(7, Int16(COLOR_YELLOW), -1)
            init_pair(8, Int16(COLOR_RED), -1)
            init_pair(9, Int16(COLOR_MAGENTA), -1)
        }
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [weak self] in
                guard let self else { return }
                let again = signalLock.withLock { () -> Bool in
                    if receivedSignal == nil { receivedSignal = sig; return false }
                    return true
                }
                // A second signal while the first one's clean stop is under way: the terminal back, and out at once.
                if again { Terminal.emergencyRestore(); _exit(128 + sig) }
            }
            src.resume()
            signalSources.append(src)
        }
    }

    deinit { restore() }

    /// The terminal's modes before curses changed them, for the crash handler.
    nonisolated(unsafe) private static var savedModes = termios()
    /// The real standard error and the diverted log, for the crash handler (which cannot touch Swift objects).
    nonisolated(unsafe) private static var crashStandardError: Int32 = -1
    nonisolated(unsafe) private static var crashLogPath: UnsafeMutablePointer<CChar>?

    /// A crash (a Swift trap is SIGILL or SIGTRAP; SIGSEGV, SIGBUS, SIGFPE, SIGABRT) must not leave the
    /// terminal raw and on the alternate screen. The handler only makes async-signal-safe calls: the saved
    /// modes back, the usual sequences for "leave the alternate screen, show the cursor, reset colours",
    /// then the handler that was there before (the crash report and exit status stay as they were).
    private static func installCrashRestore() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            Terminal.emergencyRestore()
            // Then whatever handled the signal before (the Swift runtime's backtracer, or the default action).
            sigaction(sig, &Terminal.previousCrashActions[Int(sig)], nil)
            raise(sig)
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        for sig in crashSignals { sigaction(sig, &action, &previousCrashActions[Int(sig)]) }
    }

    /// The terminal back as it was, from a signal handler (async-signal-safe calls only): the saved modes, the
    /// sequences that leave the alternate screen, show the cursor and reset colours, and the real standard error
    /// with what was diverted meanwhile. Only while the screen is open; harmless twice.
    static func emergencyRestore() {
        guard Terminal.screenOpen != 0 else { return }
        tcsetattr(0, TCSANOW, &Terminal.savedModes)
        let reset: StaticString = "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l\r\n"
        _ = write(1, reset.utf8Start, reset.utf8CodeUnitCount)
        // The runtime's "Fatal error: …" went to the diverted log: put it on the real standard error.
        if Terminal.crashStandardError >= 0, let path = Terminal.crashLogPath {
            dup2(Terminal.crashStandardError, 2)
            let fd = Glibc.open(path, O_RDONLY)
            if fd >= 0 {
                var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
                withUnsafeMutableBytes(of: &buffer) { b in
                    while true {
                        let n = read(fd, b.baseAddress, b.count)
                        if n <= 0 { break }
                        _ = write(2, b.baseAddress, n)
                    }
                }
                Glibc.close(fd)
                unlink(path)
            }
            Terminal.crashStandardError = -1
        }
    }

    /// 1 while the screen is open (read by `emergencyRestore` in signal handlers).
    nonisolated(unsafe) private static var screenOpen: Int32 = 0

    private static let crashSignals = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT]
    nonisolated(unsafe) private static var previousCrashActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)

    /// Idempotent: ends curses mode and restores the terminal's modes.
    public func restore() {
        guard open else { return }
        open = false
        Terminal.screenOpen = 0
        curs_set(1)
        endwin()
        fflush(nil)
        for sig in Terminal.crashSignals { sigaction(sig, &Terminal.previousCrashActions[Int(sig)], nil) }
        MappedFileGuard.reinstate()
        Terminal.crashStandardError = -1
        if savedStandardError >= 0 {
            dup2(savedStandardError, 2)
            Glibc.close(savedStandardError)
            savedStandardError = -1
            // What the libraries said while the screen was up is shown now, where it no longer breaks the screen.
            if let log = standardErrorLog {
                if let said = FileManager.default.contents(atPath: log), !said.isEmpty { FileHandle.standardError.write(said) }
                unlink(log)
                standardErrorLog = nil
            }
        }
    }

    /// While ncurses owns the screen nothing else may write to it: whatever a library prints on standard
    /// error (ALSA, espeak-ng, a runtime warning) goes to a log file instead and standard error comes
    /// back on `restore()`, which then shows what was written. Curses itself draws through standard output.
    private func divertStandardError() {
        guard isatty(2) == 1 else { return }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("confab-\(getpid())-stderr.log").path
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        fflush(nil)
        savedStandardError = dup(2)
        dup2(fd, 2)
        Glibc.close(fd)
        standardErrorLog = path
        Terminal.crashStandardError = savedStandardError
        Terminal.crashLogPath = strdup(path)
    }

    /// The terminal's bell: the audible cue when the microphone opens or closes (a visual flash where
    /// the terminal has no bell).
    public func bell() { beep() }

    public var rows: Int { Int(getmaxy(confab_stdscr())) }
    public var cols: Int { Int(getmaxx(confab_stdscr())) }

    /// Waits up to `timeoutMs` for a key.
    public func readKey(timeoutMs: Int32) -> Key? {
        wtimeout(confab_stdscr(), timeoutMs)
        var ch: wint_t = 0
        let r = wget_wch(confab_stdscr(), &ch)
        if r == ERR { return nil }
        if r == KEY_CODE_YES {
            switch Int32(ch) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_BACKSPACE: return .backspace
            case KEY_DC: return .delete
            case KEY_ENTER: return .enter
            case KEY_RESIZE: return .resize
            case KEY_F0...(KEY_F0 + 63): return .function(Int(Int32(ch) - KEY_F0))
            default: return nil
            }
        }
        switch ch {
        case 10, 13: return .enter
        case 9: return .tab
        case 27: return .escape
        case 127, 8: return .backspace
        case 1...26: return .control(Character(UnicodeScalar(UInt8(ch) + 96)))
        default:
            guard let s = UnicodeScalar(UInt32(ch)) else { return nil }
            return .char(Character(s))
        }
    }

    // MARK: drawing

    public func clearScreen() { werase(confab_stdscr()) }
    public func refresh() { wrefresh(confab_stdscr()) }

    /// Writes `text` at (row, col), clipped to the screen width; wide characters count double.
    public func put(_ row: Int, _ col: Int, _ text: String, _ style: Style = .normal, bold: Bool = false, fill: Bool = false) {
        guard row >= 0, row < rows, col < cols else { return }
        let room = cols - col
        var s = DisplayWidth.prefix(text, fitting: room)
        if fill { s += String(repeating: " ", count: max(0, room - DisplayWidth.of(s))) }
        let attr = attribute(style) | (bold ? confab_a_bold() : 0)
        wattr_on(confab_stdscr(), attr_t(attr), nil)
        // The last cell of the last row would scroll the screen: leave it empty.
        if row == rows - 1, col + DisplayWidth.of(s) >= cols { s = DisplayWidth.prefix(s, fitting: room - 1) }
        var wide = Array(s.unicodeScalars.map { wchar_t(bitPattern: $0.value) })
        wide.append(0)
        mvwaddwstr(confab_stdscr(), Int32(row), Int32(col), wide)
        wattr_off(confab_stdscr(), attr_t(attr), nil)
    }

    public func moveCursor(_ row: Int, _ col: Int, visible: Bool) {
        curs_set(visible ? 1 : 0)
        if visible { wmove(confab_stdscr(), Int32(row), Int32(col)) }
    }

    private func attribute(_ style: Style) -> Int32 {
        guard colors else {
            switch style {
            case .header: return confab_a_reverse()
            case .error, .you: return confab_a_bold()
            case .dim: return confab_a_dim()
            default: return confab_a_normal()
            }
        }
        switch style {
        case .normal: return confab_a_normal()
        case .you: return confab_color_pair(1) | confab_a_bold()
        case .confab: return confab_color_pair(2)
        case .system: return confab_color_pair(3)
        case .error: return confab_color_pair(4) | confab_a_bold()
        case .header: return confab_color_pair(5)
        case .dim: return confab_a_dim()
        case .meterLow: return confab_color_pair(6)
        case .meterMid: return confab_color_pair(7)
        case .meterHigh: return confab_color_pair(8)
        case .accent: return confab_color_pair(9) | confab_a_bold()
        }
    }
}

public enum TerminalError: Error, CustomStringConvertible {
    case notATerminal, cannotInitialize
    public var description: String {
        switch self {
        case .notATerminal: return "the front end needs a terminal: standard input and output must be a tty (use `confab converse --input … --output …` or `confab ask` without one)"
        case .cannotInitialize: return "cannot initialize the terminal (check TERM)"
        }
    }
}
