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
    ///
    /// The terminal is set up before the prompt is shown, so nothing typed after it is echoed.
    /// Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT) while waiting puts the terminal back as it was, echo
    /// on, before the process exits with 128 + the signal's number (130 for Ctrl-C).
    ///
    /// The line is read byte by byte with the kernel's line editing off, because the kernel
    /// silently drops what passes 4095 bytes of a line; erase (Backspace) and kill (Ctrl-U) are
    /// handled here instead. A line longer than ``maximumLength`` is read to its end, so none of
    /// it is left over for the shell, and refused.
    private func readFromTerminal() throws -> SecretBytes {
        var saved = termios()
        let isTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            TerminalPrompt.arm(restoring: saved)
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ICANON)
            withUnsafeMutableBytes(of: &quiet.c_cc) {
                $0[Int(VMIN)] = 1
                $0[Int(VTIME)] = 0
            }
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if isTerminal {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                TerminalPrompt.disarm()
            }
            var newline = UInt8(ascii: "\n")
            _ = write(STDERR_FILENO, &newline, 1)
        }
        let prompt = Array("Password (not shown): ".utf8)
        _ = prompt.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }

        let (erase, kill, endOfFile) = withUnsafeBytes(of: saved.c_cc) {
            ($0[Int(VERASE)], $0[Int(VKILL)], $0[Int(VEOF)])
        }
        var used = 0
        var overlong = false
        var failure: Int32 = 0
        let buffer = SecretBytes(count: SecretSource.maximumLength) { raw in
            var byte: UInt8 = 0
            reading: while true {
                let got = Glibc.read(STDIN_FILENO, &byte, 1)
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if got == 0 || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
                if isTerminal && byte == endOfFile { break }
                if overlong { continue }  // read the rest of the line, keep none of it
                if isTerminal && (byte == erase || byte == 0x7F || byte == 0x08) {
                    // One character, however many UTF-8 bytes it has.
                    while used > 0 {
                        used -= 1
                        if raw[used] & 0xC0 != 0x80 { break }
                    }
                } else if isTerminal && byte == kill {
                    used = 0
                } else if used < raw.count {
                    raw[used] = byte
                    used += 1
                } else {
                    overlong = true
                }
            }
            byte = 0
        }
        if failure != 0 {
            throw CertVaultError(.secretSourceUnreadable, "Cannot read the secret from the terminal.",
                                 underlying: PrivateFiles.errnoText(failure))
        }
        guard !overlong else { throw tooLong() }
        return try SecretSource.checked(buffer.prefix(used), from: self)
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

/// What a terminal prompt must undo if a signal ends the process while it waits: the terminal's
/// settings as they were before echo was turned off.
private enum TerminalPrompt {
    /// The signals that end a process waiting at a prompt (Ctrl-C, Ctrl-\\, kill, hang-up).
    static let signals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Saves `settings` and installs handlers that restore them and exit.
    static func arm(restoring settings: termios) {
        savedTerminal.pointee = settings
        for signal in signals {
            let previous = Glibc.signal(signal, restoreTerminalAndExit)
            previousHandlers.pointee[Int(signal)] = previous
            // A signal the process was told to ignore (nohup, a background job) stays ignored.
            if let previous, unsafeBitCast(previous, to: Int.self) == Int(bitPattern: UInt(1)) {  // SIG_IGN
                _ = Glibc.signal(signal, previous)
            }
        }
    }

    /// Puts the handlers back as they were before ``arm(restoring:)``.
    static func disarm() {
        for signal in signals { _ = Glibc.signal(signal, previousHandlers.pointee[Int(signal)] ?? nil) }
    }
}

// Written before the handlers are installed and only read inside them; a signal handler cannot
// reach anything but globals.
nonisolated(unsafe) private let savedTerminal: UnsafeMutablePointer<termios> = {
    let pointer = UnsafeMutablePointer<termios>.allocate(capacity: 1)
    pointer.initialize(to: termios())
    return pointer
}()

nonisolated(unsafe) private let previousHandlers: UnsafeMutablePointer<[Int: __sighandler_t?]> = {
    let pointer = UnsafeMutablePointer<[Int: __sighandler_t?]>.allocate(capacity: 1)
    pointer.initialize(to: [:])
    return pointer
}()

/// The signal handler: only async-signal-safe calls (tcsetattr, write, _exit).
private func restoreTerminalAndExit(_ signal: Int32) {
    _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, savedTerminal)
    var newline = UInt8(ascii: "\n")
    _ = write(STDERR_FILENO, &newline, 1)
    _exit(128 + signal)
}
