internal import CCertVaultShims
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// What an interrupted run (a crash, a SIGKILL, a power cut) can leave behind, and how the next
/// run finds and removes it.
///
/// A temporary file or staging folder is *live* while the process writing it holds an exclusive
/// `flock` on it; the kernel drops that lock when the process ends, however it ends. A leftover
/// is therefore one that nobody holds locked, and that is older than ``minimumAge`` (which
/// covers the instant between creating a name and locking it). No process id is involved, so
/// a reused pid or another machine on a shared file system cannot make a live file look dead.
///
/// Leftovers are shredded: every regular file is overwritten with zeros and flushed before it
/// is unlinked, since a staging folder can hold a complete credential (PFX and password).
public enum Leftovers {
    /// Files younger than this are never taken for leftovers, locked or not.
    public static let minimumAge: Int = 2

    /// The prefix of certvault's own temporary files outside the vault (see ``writeNewFileAtomically(_:bytes:)``).
    public static let temporaryPrefix = ".certvault-tmp-"

    /// Takes an exclusive `flock` on a file or folder and returns the descriptor that holds it;
    /// the lock lasts until the descriptor is closed or the process ends. nil when it cannot be taken.
    public static func lock(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR {
                close(fd)
                return nil
            }
        }
        return fd
    }

    /// Overwrites a regular file with zeros, flushes it and unlinks it. Best effort.
    ///
    /// A file with more than one name is only unlinked: its content lives on under the other
    /// name (a temporary file killed between `link` and `unlink` is the very entry it became).
    @discardableResult
    public static func shred(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd >= 0 {
            var info = stat()
            if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink == 1, info.st_size > 0 {
                let zeros = [UInt8](repeating: 0, count: 1 << 16)
                var left = Int(info.st_size)
                while left > 0 {
                    let written = zeros.withUnsafeBytes { write(fd, $0.baseAddress, min(left, $0.count)) }
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { break }
                    left -= written
                }
                fsync(fd)
            }
            close(fd)
        }
        return unlink(path) == 0
    }

    /// Shreds the regular files inside a folder and its sub-folders, then removes the folders.
    /// Symbolic links are removed, never followed. Best effort.
    @discardableResult
    public static func shredFolder(_ path: String) -> Bool {
        for name in PrivateFiles.names(in: path) {
            var info = stat()
            let file = "\(path)/\(name)"
            guard lstat(file, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: shred(file)
            case S_IFDIR: shredFolder(file)
            default: unlink(file)
            }
        }
        return rmdir(path) == 0
    }

    /// True when nobody holds `path` locked and it is at least ``minimumAge`` seconds old. While
    /// it answers, it holds the lock itself (returned in `heldBy`, to close after removing).
    static func abandoned(_ path: String, now: Int) -> Int32? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG || (info.st_mode & S_IFMT) == S_IFDIR,
            info.st_uid == geteuid(), now - Int(info.st_mtim.tv_sec) >= minimumAge
        else { return nil }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Removes the abandoned leftovers in `folder` whose names `matches` accepts (files are
    /// shredded; folders have their files shredded), and returns their names.
    public static func sweep(_ folder: String, matching matches: (String) -> Bool) -> [String] {
        var removed: [String] = []
        let now = Int(time(nil))
        for name in PrivateFiles.names(in: folder) where matches(name) {
            let path = "\(folder)/\(name)"
            guard let fd = abandoned(path, now: now) else { continue }
            var info = stat()
            let isFolder = lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
            if isFolder ? shredFolder(path) : shred(path) { removed.append(name) }
            close(fd)
        }
        if !removed.isEmpty { try? PrivateFiles.syncDirectory(folder) }
        return removed
    }

    private static let swept = Mutex<Set<String>>([])

    /// ``sweep(_:matching:)`` once per folder per process (bulk runs write many times into one folder).
    public static func sweepOnce(_ folder: String, matching matches: (String) -> Bool) -> [String] {
        let first = swept.withLock { $0.insert(folder).inserted }
        return first ? sweep(folder, matching: matches) : []
    }

    /// Flushes the whole file system that holds `folder` (`syncfs`): one call instead of an
    /// fsync per file when many files were written at once (a restore, a synthetic vault).
    public static func syncFileSystem(of folder: String) throws {
        guard PrivateFiles.durableWrites else { return }
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open folder '\(folder)' to flush it.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        guard CCertVaultShims_syncfs(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush the files in '\(folder)'.", underlying: PrivateFiles.errnoText())
        }
    }

    /// Writes a note about removed leftovers to stderr.
    public static func note(_ removed: [String], in folder: String, what: String) {
        guard !removed.isEmpty else { return }
        let names = removed.sorted().prefix(5).joined(separator: ", ") + (removed.count > 5 ? ", …" : "")
        let text = "certvault: note: removed \(removed.count) \(what) left by an interrupted run in '\(folder)' "
            + "(overwritten, then deleted): \(names)\n"
        _ = Array(text.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Whether `name` is one of certvault's temporary files outside the vault.
    public static func isTemporary(_ name: String) -> Bool { name.hasPrefix(temporaryPrefix) }

    /// Writes a new 0600 file whole or not at all, like ``PrivateFiles/writeNewFileAtomically(_:bytes:)``,
    /// with a temporary name that stays locked while it is written, so that one left by a kill
    /// is recognised (and removed) by the next run that writes into the same folder.
    public static func writeNewFileAtomically(_ path: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeNewFileAtomically(path, raw: $0) }
    }

    /// The same for secret bytes, straight from secure memory.
    public static func writeNewFileAtomically(_ path: String, secret: SecretBytes) throws {
        try secret.withUnsafeBytes { try writeNewFileAtomically(path, raw: $0) }
    }

    /// The folder a path is in ("." for a bare name).
    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// The same, replacing `path` if it exists (only for a leftover the caller has checked).
    public static func replaceFileAtomically(_ path: String, secret: SecretBytes) throws {
        try secret.withUnsafeBytes { try writeNewFileAtomically(path, raw: $0, replacing: true) }
    }

    private static func writeNewFileAtomically(_ path: String, raw: UnsafeRawBufferPointer, replacing: Bool = false) throws {
        let folder = folder(of: path)
        let handle = try createTemporary(in: folder)
        defer { handle.discard() }
        try PrivateFiles.writeAll(fd: handle.fd, raw, what: "'\(path)'")
        try handle.publish(as: path, replacing: replacing)
    }

    /// Sweeps `folder` of abandoned temporary files (once per process), then creates a new
    /// locked temporary file there.
    ///
    /// - Throws: ``CertVaultError`` `file-system` naming the folder (not the temporary name)
    ///   when the folder is missing or not writable.
    public static func createTemporary(in folder: String) throws -> TemporaryFile {
        note(sweepOnce(folder, matching: isTemporary), in: folder, what: "temporary file(s)")
        let path = "\(folder)/\(temporaryPrefix)\(PrivateFiles.randomName())"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let failure = errno
            var info = stat()
            let missing = stat(folder, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR
            throw CertVaultError(
                .fileSystem, missing ? "The folder '\(folder)' does not exist." : "Cannot create a file in the folder '\(folder)'.",
                hint: missing ? "Create it first (mkdir -p '\(folder)'), or choose a file in an existing folder."
                    : "Check that you may write to '\(folder)' and that it has free space.",
                underlying: PrivateFiles.errnoText(failure))
        }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        return TemporaryFile(path: path, folder: folder, fd: fd)
    }

    /// A locked temporary file, published under its final name by linking (never replacing).
    public final class TemporaryFile {
        /// Its temporary path.
        public let path: String
        let folder: String
        /// The open descriptor (write through it).
        public let fd: Int32
        private var closed = false

        init(path: String, folder: String, fd: Int32) {
            self.path = path
            self.folder = folder
            self.fd = fd
        }

        deinit { discard() }

        /// Flushes the file and links it to `finalPath`, which must not exist (or, with
        /// `replacing`, renames it over `finalPath`); then removes the temporary name.
        public func publish(as finalPath: String, replacing: Bool = false) throws {
            guard !PrivateFiles.durableWrites || fsync(fd) == 0 else {
                throw CertVaultError(.fileSystem, "Cannot flush '\(finalPath)' to disk.", underlying: PrivateFiles.errnoText())
            }
            if replacing {
                guard rename(path, finalPath) == 0 else {
                    throw CertVaultError(.fileSystem, "Cannot replace '\(finalPath)'.", underlying: PrivateFiles.errnoText())
                }
            } else if link(path, finalPath) != 0 {
                let exists = errno == EEXIST
                throw CertVaultError(exists ? .alreadyExists : .fileSystem, "Cannot create file '\(finalPath)'.",
                                     hint: exists ? "certvault never overwrites a file; move it away first." : nil,
                                     underlying: PrivateFiles.errnoText())
            } else {
                unlink(path)
            }
            try PrivateFiles.syncDirectory(folder)
            if !closed {
                close(fd)
                closed = true
            }
        }

        /// Closes and removes the temporary file if it was not published.
        public func discard() {
            guard !closed else { return }
            closed = true
            unlink(path)
            close(fd)
        }
    }
}
