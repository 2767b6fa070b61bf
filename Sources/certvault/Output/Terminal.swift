import CertVaultCore
import Foundation

/// Writing to the terminal: data on stdout, diagnostics on stderr.
enum Terminal {
    static let lock = NSLock()

    /// Writes text to standard output. When the reader has gone (`certvault ... | head`), the
    /// process ends quietly, as it would by SIGPIPE (which the simulator's server ignores).
    static func out(_ text: String) {
        lock.withLock {
            if !write(STDOUT_FILENO, text), errno == EPIPE { Foundation.exit(0) }
        }
    }

    /// Writes text to standard error (errors writing it are ignored: there is nowhere to report them).
    static func err(_ text: String) {
        lock.withLock { _ = write(STDERR_FILENO, text) }
    }

    private static func write(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// True when standard error is a terminal (progress display) rather than a pipe or file.
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// Prints a certvault error with its hint.
    static func reportError(_ error: CertVaultError) {
        var text = "certvault: error: \(error.reason)\n"
        if let underlying = error.underlying, !underlying.isEmpty { text += "  cause: \(underlying)\n" }
        if let hint = error.hint, !hint.isEmpty { text += "  hint: \(hint)\n" }
        err(text)
    }

    /// Encodes a value as pretty, stable JSON.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
