import ArgumentParser
import AudioIO

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List ALSA playback and capture devices (as `aplay -L` / `arecord -L`) and sound cards.",
        discussion: "Pass a NAME to --device, --playback-device or --capture-device of `play`, `record` and `chat`.")

    func run() throws {
        let pcms = ALSADevices.pcms()
        for (title, wanted) in [("Playback devices (aplay -L):", \ALSADevices.PCM.playback), ("Capture devices (arecord -L):", \ALSADevices.PCM.capture)] {
            print(title)
            let list = pcms.filter { $0[keyPath: wanted] }
            if list.isEmpty { print("  (none)") }
            for p in list {
                print("  \(p.name)")
                for line in p.description.split(separator: "\n") { print("      \(line)") }
            }
            print("")
        }
        print("Sound cards:")
        let cards = ALSADevices.cards()
        if cards.isEmpty {
            print("  (none found: only plugin devices such as those in ~/.asoundrc can be used; `default` needs a card)")
        }
        for c in cards { print("  \(c.index): \(c.name) — \(c.longName)  (hw:\(c.index), plughw:\(c.index))") }
    }
}
