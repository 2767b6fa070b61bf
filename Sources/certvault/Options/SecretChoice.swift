import ArgumentParser
import CertVaultCore

/// The one rule every secret option group shares: at most one source, chosen by the user, and
/// never a value on the command line.
enum SecretChoice {
    /// The source the user gave, or nil.
    ///
    /// - Throws: `ValidationError` naming the options when more than one is given.
    static func pick(file: String?, fd: Int32?, stdin: Bool = false, env: String?, options: String) throws -> SecretSource? {
        var sources: [SecretSource] = []
        if let file { sources.append(.file(file)) }
        if let fd {
            guard fd >= 0 else { throw ValidationError("A file descriptor must be 0 or more.") }
            sources.append(.fileDescriptor(fd))
        }
        if stdin { sources.append(.standardInput) }
        if let env { sources.append(.environment(env)) }
        guard sources.count <= 1 else { throw ValidationError("Give at most one of \(options).") }
        return sources.first
    }
}
