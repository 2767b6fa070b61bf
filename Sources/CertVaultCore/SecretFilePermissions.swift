#if canImport(Glibc)
internal import Glibc
#endif

/// A secret file that other users can read is a secret shared with them: certvault reads it
/// (the user chose it) but says so on standard error, with the fix.
public enum SecretFilePermissions {
    /// The warning for an open secret file whose mode lets group or others read it, or nil.
    public static func warning(fd: Int32, path: String) -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mode = info.st_mode & 0o777
        guard mode & 0o044 != 0 else { return nil }
        let who = mode & 0o004 != 0 ? "every user of this machine" : "its group"
        return "certvault: warning: the secret file '\(DisplayText.escapingControls(path))' can be read by \(who) "
            + "(mode \(String(mode, radix: 8))).\n  hint: Make it private: chmod 600 '\(DisplayText.escapingControls(path))'\n"
    }

    /// Writes ``warning(fd:path:)`` to standard error when there is one.
    static func warnIfShared(fd: Int32, path: String) {
        guard let text = warning(fd: fd, path: path) else { return }
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
