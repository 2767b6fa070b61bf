public import CertVaultCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The lock that makes `certvault serve` the only service on a vault: `serve.lock` in the vault
/// folder, taken with `flock` for the process's lifetime (the kernel releases it when the process
/// ends, however it ends, so a crash never leaves a stale lock). It is not the vault's own
/// writer lock (`lock`): the CLI keeps working on the vault while the service runs.
public final class ServeLock: Sendable {
    /// The lock file.
    public let path: String
    private let fd: Int32

    /// The lock file's name inside the vault folder.
    public static let fileName = "serve.lock"

    /// Takes the lock of the vault at `vaultPath` without waiting, and writes this process's id
    /// into the file (for the error a second `serve` gets).
    ///
    /// - Throws: ``CertVaultError`` `service-running` when another `serve` holds it, and
    ///   `file-system` when the file cannot be opened.
    public init(vaultPath: String) throws {
        path = "\(vaultPath)/\(Self.fileName)"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the service lock '\(path)'.",
                                 hint: "Check that the vault folder exists and that this user may write to it.",
                                 underlying: PrivateFiles.errnoText())
        }
        var result: Int32
        repeat { result = flock(fd, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let failure = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard failure == EWOULDBLOCK else {
                throw CertVaultError(.fileSystem, "Cannot lock '\(path)'.", underlying: PrivateFiles.errnoText(failure))
            }
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            let pid = Int(holder).map { " (process \($0))" } ?? ""
            throw CertVaultError(
                .serviceRunning, "Another 'certvault serve'\(pid) is already serving the vault '\(vaultPath)'.",
                hint: "Stop that one first (SIGTERM), or serve another vault. The CLI's commands work on the vault meanwhile.")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

extension CertVaultError.Code {
    /// Another `certvault serve` already serves this vault.
    public static let serviceRunning = CertVaultError.Code("service-running")
}
