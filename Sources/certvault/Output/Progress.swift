/// Progress of a bulk job: a redrawn line on a terminal, plain lines otherwise.
final class Progress {
    private let total: Int
    private let interactive: Bool
    private var done = 0

    init(total: Int, interactive: Bool) {
        self.total = total
        self.interactive = interactive
    }

    func step(_ what: String) {
        done += 1
        let width = String(total).count
        let count = String(repeating: " ", count: width - String(done).count) + "\(done)/\(total)"
        if interactive {
            let percent = done * 100 / max(total, 1)
            let filled = percent / 5
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled)
            Terminal.err("\r\u{1B}[2K[\(bar)] \(count) \(what)")
        } else {
            Terminal.err("[\(count)] \(what)\n")
        }
    }

    func finish(_ message: String) {
        Terminal.err((interactive ? "\r\u{1B}[2K" : "") + message + "\n")
    }
}
