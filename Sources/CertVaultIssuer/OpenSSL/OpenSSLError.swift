internal import COpenSSL
internal import CertVaultCore

/// Reads OpenSSL's thread-local error queue.
enum OpenSSLError {
    /// Drains the error queue into one line of text (empty when the queue is empty).
    static func drainQueue() -> String {
        var messages: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.joined(separator: "; ")
    }

    /// An error for a failed OpenSSL call, carrying the queue's text.
    static func failure(_ what: String, code: CertVaultError.Code = .cryptoFailure, hint: String? = nil) -> CertVaultError {
        CertVaultError(code, "OpenSSL failed to \(what).", hint: hint, underlying: drainQueue())
    }

    /// Clears stale entries so that a later failure reports only its own causes.
    static func clearQueue() { ERR_clear_error() }
}
