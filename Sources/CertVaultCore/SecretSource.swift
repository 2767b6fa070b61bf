#if canImport(Glibc)
internal import Glibc
#endif
internal import CSodium

/// Where a secret (a PFX password, later a vault passphrase) is read from.
///
/// Secrets are never taken from the command line, where every user of the machine can read them
/// in the process list. The bytes go straight from the source into ``SecretBytes``.
public enum SecretSource: Sendable, Hashable, CustomStringConvertible {
    /// A file; its content, without one trailing line break, is the secret.
    case file(String)
    /// An open file descriptor, such as `3` with `3<password.txt` in a shell.
    case fileDescriptor(Int32)
    /// The process's standard input.
    case standardInput
    /// An environment variable. It is removed from the environment once read, so child
    /// processes do not inherit it.
    case environment(String)

    /// The most bytes a secret may have.
    public static let maximumLength = 4096

    public var description: String {
        switch self {
        case .file(let path): "file '\(path)'"
        case .fileDescriptor(let fd): "file descriptor \(fd)"
        case .standardInput: "standard input"
        case .environment(let name): "environment variable \(name)"
        }
    }

    /// Reads the secret, dropping one trailing line break (`\n` or `\r\n`).
    ///
    /// - Throws: ``CertVaultError`` `secret-source-unreadable` when the source cannot be opened or
    ///   read, or holds more than ``maximumLength`` bytes. An empty secret is returned as empty;
    ///   the caller's rules decide whether that is allowed.
    public func read() throws -> SecretBytes {
        switch self {
        case .environment(let name):
            guard let value = getenv(name) else {
                throw CertVaultError(.secretSourceUnreadable, "Environment variable \(name) is not set.",
                                     hint: "Export \(name) before running the command, or use another source.")
            }
            let length = strlen(value)
            guard length <= SecretSource.maximumLength else {
                throw tooLong()
            }
            let secret = SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: length))
            // Wipe the process's copy before removing the variable, so no stale copy stays in memory.
            sodium_memzero(value, length)
            unsetenv(name)
            return SecretSource.trimmingLineBreak(secret)
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw CertVaultError(.secretSourceUnreadable, "Cannot open the secret file '\(path)'.",
                                     hint: "Check the path and that the file is readable by you.",
                                     underlying: PrivateFiles.errnoText())
            }
            defer { close(fd) }
            SecretFilePermissions.warnIfShared(fd: fd, path: path)
            return try readAll(fd: fd)
        case .fileDescriptor(let fd):
            return try readAll(fd: fd)
        case .standardInput:
            return isatty(STDIN_FILENO) == 1 ? try readFromTerminal() : try readAll(fd: STDIN_FILENO)
        }
    }

    /// Reads one line from the terminal with echo off, after a prompt on stderr.
    private func readFromTerminal() throws -> SecretBytes {
        let prompt = Array("Password (not shown): ".utf8)
        _ = prompt.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        var saved = termios()
        let canHideEcho = tcgetattr(STDIN_FILENO, &saved) == 0
        if canHideEcho {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if canHideEcho { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
            _ = write(STDERR_FILENO, "\n", 1)
        }
        var used = 0
        let buffer = SecretBytes(count: SecretSource.maximumLength) { raw in
            var byte: UInt8 = 0
            while used < raw.count, Glibc.read(STDIN_FILENO, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
                raw[used] = byte
                used += 1
            }
            byte = 0
        }
        return try SecretSource.checked(SecretSource.trimmingLineBreak(buffer.prefix(used)), from: self)
    }

    /// Refuses a secret with a NUL byte: C libraries would silently cut it short there.
    static func checked(_ secret: SecretBytes, from source: SecretSource) throws -> SecretBytes {
        let hasNUL = secret.withUnsafeBytes { $0.contains(0) }
        guard !hasNUL else {
            throw CertVaultError(.secretSourceUnreadable, "The secret from \(source) contains a NUL byte.",
                                 hint: "Write the secret as text; a binary file cannot be a password.")
        }
        return secret
    }

    private func tooLong() -> CertVaultError {
        CertVaultError(.secretSourceUnreadable,
                       "The secret from \(self) is longer than \(SecretSource.maximumLength) bytes.",
                       hint: "Point the option at a file that holds only the secret.")
    }

    private func readAll(fd: Int32) throws -> SecretBytes {
        // Read into secure memory one byte larger than allowed, to detect oversize input.
        var used = 0
        let capacity = SecretSource.maximumLength + 1
        var failure: Int32 = 0
        let buffer = SecretBytes(count: capacity) { raw in
            while used < capacity {
                let got = Glibc.read(fd, raw.baseAddress! + used, capacity - used)
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if got == 0 { return }
                used += got
            }
        }
        if failure != 0 {
            throw CertVaultError(.secretSourceUnreadable, "Cannot read the secret from \(self).",
                                 hint: failure == EBADF ? "File descriptor is not open; open it in the shell, e.g. '3<file'." : nil,
                                 underlying: PrivateFiles.errnoText(failure))
        }
        guard used <= SecretSource.maximumLength else { throw tooLong() }
        return try SecretSource.checked(SecretSource.trimmingLineBreak(buffer.prefix(used)), from: self)
    }

    static func trimmingLineBreak(_ secret: SecretBytes) -> SecretBytes {
        let cut = secret.withUnsafeBytes { bytes -> Int in
            var end = bytes.count
            if end > 0 && bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
            if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") && end < bytes.count { end -= 1 }
            return end
        }
        return cut == secret.count ? secret : secret.prefix(cut)
    }
}
