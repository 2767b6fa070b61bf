import CertVaultCore
import Foundation

/// Writing to the terminal: data on stdout, diagnostics on stderr.
enum Terminal {
    static let lock = NSLock()

    /// Writes text to standard output.
    static func out(_ text: String) {
        lock.withLock { FileHandle.standardOutput.write(Data(text.utf8)) }
    }

    /// Writes text to standard error.
    static func err(_ text: String) {
        lock.withLock { FileHandle.standardError.write(Data(text.utf8)) }
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
