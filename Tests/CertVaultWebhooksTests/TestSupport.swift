import CertVaultTesting
import Foundation
import Logging
import Synchronization

/// A clock the test moves (Unix seconds), starting at the real time so that receivers accept
/// the signatures' timestamps.
final class ManualClock: Sendable {
    private let value = Mutex(Date().timeIntervalSince1970)
    func now() -> Double { value.withLock { $0 } }
    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
    var function: @Sendable () -> Double { { [self] in now() } }
}

/// A log handler that keeps every message, for tests that check what was logged.
final class CollectedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var messages: [String] { lock.withLock { stored } }
    func append(_ message: String) { lock.withLock { stored.append(message) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CollectedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            log.append("\(level): \(message)")
        }
    }
}
