internal import CCertVaultShims
internal import CSodium

#if canImport(Glibc)
internal import Glibc
#endif

/// File-system operations for files that hold or sit next to secrets.
///
/// Files are created exclusively with mode 0600 and fsynced; folders are created 0700. A set of
/// output files is written into a hidden staging folder and then renamed into place in one step
/// (``publishStagedDirectory(_:as:)``), so a failure or a crash never leaves a partial set where
/// a user or a later step would take it for a complete one.
public enum PrivateFiles {
    /// Whether writes are flushed with fsync. Only the benchmark turns this off, to measure
    /// the cost of flushing; nothing in the product does.
    nonisolated(unsafe) package static var durableWrites = true

    /// How strictly an existing folder's permissions are checked.
    public enum Exposure: Sendable {
        /// No access at all for group or others (a folder that holds secrets directly).
        case privateOnly
        /// Others may list it but not change it (a folder of 0700 sub-folders, such as an
        /// export folder): no group or other write permission, unless the sticky bit is set.
        case listable
    }

    /// Creates `path` and any missing parents; the folders this call creates are mode 0700.
    ///
    /// The final folder, if it already exists, is checked against `exposure`; a private one must
    /// also belong to the user running certvault.
    /// - Throws: ``CertVaultError`` (`file-system`, `insecure-permissions`).
    public static func makePrivateDirectory(_ path: String, exposure: Exposure = .privateOnly) throws {
        // The common cases first: the parent exists (one mkdir), or the folder does (check it).
        if mkdir(path, 0o700) == 0 { return }
        if errno != EEXIST {
            var prefix = path.hasPrefix("/") ? "/" : ""
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            for part in parts {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
                if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                    throw CertVaultError(
                        .fileSystem, "Cannot create folder '\(prefix)'.",
                        hint: "Check that the parent folder exists and that you may write to it.",
                        underlying: errnoText())
                }
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CertVaultError(.fileSystem, "'\(path)' exists but is not a folder.",
                                 hint: "Choose another output folder.", underlying: errnoText())
        }
        if exposure == .privateOnly && info.st_uid != geteuid() { try checkOwnerAndMode(info, path: path, what: "Folder", folder: true) }
        let writableByOthers = info.st_mode & 0o022 != 0 && info.st_mode & S_ISVTX == 0
        if exposure == .privateOnly ? info.st_mode & 0o077 != 0 : writableByOthers {
            throw CertVaultError(
                .insecurePermissions,
                "Folder '\(path)' is \(exposure == .privateOnly ? "accessible" : "writable") to other users "
                    + "(mode \(String(info.st_mode & 0o777, radix: 8))).",
                hint: exposure == .privateOnly
                    ? "Run 'chmod 700 \(path)' or choose another folder; certvault keeps secrets only in private folders."
                    : "Run 'chmod go-w \(path)' or choose another folder.")
        }
    }

    /// Checks that an existing folder holding secrets is a folder, belongs to the user running
    /// certvault, and is closed to group and others.
    ///
    /// - Parameter what: how the error names it, e.g. "The vault folder".
    /// - Throws: ``CertVaultError`` `insecure-permissions` (with the chmod or chown that fixes it),
    ///   `file-system` when it is missing or not a folder.
    public static func checkPrivateFolder(_ path: String, what: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CertVaultError(.fileSystem, "\(what) '\(path)' is missing or not a folder.",
                                 hint: "Check the path.", underlying: errnoText())
        }
        try checkOwnerAndMode(info, path: path, what: what, folder: true)
    }

    /// Opens a file that holds a secret (a key file) once, without following a symbolic link,
    /// and checks the open descriptor: a regular file, owned by the user running certvault,
    /// closed to group and others. Checking the descriptor, not the path, leaves no window in
    /// which the file could be swapped between the check and the read.
    ///
    /// - Returns: the open descriptor; the caller closes it.
    /// - Throws: ``CertVaultError`` `file-system` when it cannot be opened,
    ///   `insecure-permissions` for a link, another owner or an open mode.
    public static func openPrivateFile(_ path: String, what: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            let failure = errno
            if failure == ELOOP {
                throw CertVaultError(.insecurePermissions, "\(what) '\(path)' is a symbolic link.",
                                     hint: "Point the option at the file itself; certvault does not follow links to secrets.")
            }
            throw CertVaultError(.fileSystem, "Cannot open \(what.lowercased()) '\(path)'.",
                                 hint: "Check the path and that you may read it.", underlying: errnoText(failure))
        }
        var info = stat()
        do {
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                throw CertVaultError(.insecurePermissions, "\(what) '\(path)' is not a regular file.",
                                     hint: "Point the option at the file itself.")
            }
            try checkOwnerAndMode(info, path: path, what: what, folder: false)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Refuses a file or folder that belongs to another user or that group or others may use.
    static func checkOwnerAndMode(_ info: stat, path: String, what: String, folder: Bool) throws {
        let user = geteuid()
        if info.st_uid != user {
            throw CertVaultError(
                .insecurePermissions,
                "\(what) '\(path)' belongs to another user (uid \(info.st_uid)), not to the one running certvault (uid \(user)).",
                hint: "Run 'chown \(user) \(path)' if it is yours, or run certvault as its owner; "
                    + "whoever owns it can read or replace the secrets.")
        }
        if info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw CertVaultError(
                .insecurePermissions, "\(what) '\(path)' is accessible to other users (mode \(mode)).",
                hint: "Run 'chmod \(folder ? "700" : "600") \(path)' and check who could have copied \(folder ? "what is in it" : "it"); "
                    + "certvault will not use it until then.")
        }
    }

    /// Creates a new hidden staging folder (mode 0700) inside `parent` and returns its path.
    public static func makeStagingDirectory(in parent: String, label: String) throws -> String {
        let suffix = randomName()
        let path = "\(parent)/.staging-\(label)-\(suffix)"
        guard mkdir(path, 0o700) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot create staging folder '\(path)'.",
                                 hint: "Check free space and permissions of '\(parent)'.", underlying: errnoText())
        }
        return path
    }

    /// 16 random hex digits, for temporary names.
    public static func randomName() -> String {
        // A name is not a secret: plain memory, not a secure allocation (guard pages, mlock)
        // for every temporary file.
        var bytes = [UInt8](repeating: 0, count: 8)
        randombytes_buf(&bytes, bytes.count)
        return Hex.lower(bytes)
    }

    /// The names in a folder (without "." and ".."), or an empty list when it cannot be read.
    public static func names(in folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var result: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { result.append(name) }
        }
        return result
    }

    /// Writes `bytes` to a new file at `path` with mode 0600, then fsyncs it.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when the file exists; `file-system` otherwise.
    public static func writeNewFile(_ path: String, bytes: some Collection<UInt8>) throws {
        let array = Array(bytes)
        try array.withUnsafeBytes { try writeNewFile(path, raw: $0) }
    }

    /// Writes a new 0600 file so that it appears whole or not at all: a temporary file in the
    /// same folder, flushed, linked to `path` (which fails if `path` exists), folder flushed.
    public static func writeNewFileAtomically(_ path: String, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeNewFileAtomically(path, raw: $0) }
    }

    /// The same for secret bytes, straight from secure memory.
    public static func writeNewFileAtomically(_ path: String, secret: SecretBytes) throws {
        try secret.withUnsafeBytes { try writeNewFileAtomically(path, raw: $0) }
    }

    private static func writeNewFileAtomically(_ path: String, raw: UnsafeRawBufferPointer) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let folder = parts.count > 1 ? (parts.dropLast().joined(separator: "/").isEmpty ? "/" : parts.dropLast().joined(separator: "/")) : "."
        let temporary = "\(folder)/.tmp-\(randomName())"
        try writeNewFile(temporary, raw: raw)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            let exists = errno == EEXIST
            throw CertVaultError(exists ? .alreadyExists : .fileSystem, "Cannot create file '\(path)'.",
                                 hint: exists ? "certvault never overwrites a file; move it away first." : nil, underlying: errnoText())
        }
        try syncDirectory(folder)
    }

    /// Writes secret bytes to a new 0600 file straight from secure memory.
    public static func writeNewFile(_ path: String, secret: SecretBytes) throws {
        try secret.withUnsafeBytes { try writeNewFile(path, raw: $0) }
    }

    private static func writeNewFile(_ path: String, raw: UnsafeRawBufferPointer) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code: CertVaultError.Code = errno == EEXIST ? .alreadyExists : .fileSystem
            throw CertVaultError(code, "Cannot create file '\(path)'.",
                                 hint: code == .alreadyExists ? "certvault never overwrites a file; move it away first." : nil,
                                 underlying: errnoText())
        }
        defer { close(fd) }
        try writeAll(fd: fd, raw, what: path)
        guard !durableWrites || fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush file '\(path)' to disk.", underlying: errnoText())
        }
    }

    /// Writes every byte to an open file descriptor, retrying short writes and EINTR.
    public static func writeAll(fd: Int32, _ raw: UnsafeRawBufferPointer, what: String) throws {
        var offset = 0
        while offset < raw.count {
            let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw CertVaultError(.fileSystem, "Cannot write to \(what).", underlying: errnoText())
            }
            offset += written
        }
    }

    /// Renames a complete staging folder to its final name in one step, never replacing anything
    /// that is already there, and fsyncs the parent folder so the rename survives a crash.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when `finalPath` exists.
    public static func publishStagedDirectory(_ stagingPath: String, as finalPath: String) throws {
        try syncDirectory(stagingPath)
        var renamed = CCertVaultShims_renameat2(AT_FDCWD, stagingPath, AT_FDCWD, finalPath, 1 /* RENAME_NOREPLACE */) == 0
        var failure = renamed ? 0 : errno
        if !renamed && failure == EINVAL {
            // Some file systems (NFS, some FUSE) lack RENAME_NOREPLACE: check, then rename. The
            // window between the two is closed for certvault's own writers by never reusing names.
            var existing = stat()
            if lstat(finalPath, &existing) == 0 {
                failure = EEXIST
            } else {
                renamed = rename(stagingPath, finalPath) == 0
                failure = renamed ? 0 : errno
            }
        }
        if !renamed {
            if failure == EEXIST || failure == ENOTEMPTY {
                throw CertVaultError(
                    .alreadyExists, "'\(finalPath)' already exists; certvault never overwrites issued credentials.",
                    hint: "Move or delete the old folder, or choose another output folder with --out.")
            }
            throw CertVaultError(.fileSystem, "Cannot move '\(stagingPath)' to '\(finalPath)'.",
                                 underlying: errnoText(failure))
        }
        // The folder is in place now; a failure to flush its parent must not report the
        // publication as failed (the caller would lose track of a complete export).
        let parent = finalPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        try? syncDirectory(parent.isEmpty ? (finalPath.hasPrefix("/") ? "/" : ".") : parent)
    }

    /// Deletes a staging folder and the regular files directly inside it (best effort).
    public static func removeStagingDirectory(_ path: String) {
        guard let dir = opendir(path) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { unlink("\(path)/\(name)") }
        }
        closedir(dir)
        rmdir(path)
    }

    /// fsyncs a folder so that entries created or renamed in it are durable.
    public static func syncDirectory(_ path: String) throws {
        guard durableWrites else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open folder '\(path)' to flush it.", underlying: errnoText())
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush folder '\(path)'.", underlying: errnoText())
        }
    }

    /// The text of an errno value.
    public static func errnoText() -> String { errnoText(errno) }

    /// The text of a saved errno value.
    public static func errnoText(_ value: Int32) -> String {
        String(cString: strerror(value))
    }
}
