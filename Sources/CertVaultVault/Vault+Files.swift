internal import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

extension Vault {
    // MARK: Paths

    func tenantFolder(_ tenant: TenantID) -> String { "\(path)/tenants/\(tenant.rawValue)" }

    func entryPath(_ tenant: TenantID, _ generation: Int) -> String {
        "\(path)/\(FileVaultStorage.entryFileName(tenant: tenant, generation: generation))"
    }

    // MARK: Locking and file access

    /// Device, inode, size and change time of a file, or nil.
    static func fileStamp(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec)]
    }

    /// Runs `body` holding the storage's writers' lock, with the keyring reloaded if another
    /// writer changed it.
    @discardableResult
    func withLock<T>(_ body: () throws -> T) throws -> T {
        try storage.withLock {
            // One look at the keyring's revision: nil before `create` stores it.
            if let revision = try storage.blobRevision(.keyring), revision != currentKeyringRevision { try reloadKeyring() }
            return try body()
        }
    }

    /// How an entry is named in messages (its file, or its row).
    func entryName(_ tenant: TenantID, _ generation: Int) -> String {
        storage.describe(FileVaultStorage.entryFileName(tenant: tenant, generation: generation))
    }

    /// Reads a whole file, refusing one larger than `limit` (entries are a few KiB), and
    /// anything but a regular file: `O_NONBLOCK` keeps a FIFO planted in a file's place from
    /// blocking the open, and the descriptor is checked before anything is read.
    static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let missing = errno == ENOENT
            throw CertVaultError(missing ? .notFound : .fileSystem, "Cannot read '\(path)'.",
                                 hint: "Check that it exists and that you may read it.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "'\(path)' is not a regular file (a FIFO, device or folder is in its place).",
                                 hint: "Move it away and put the file back from a backup; certvault reads only regular files here.")
        }
        guard info.st_size <= limit else {
            throw VaultError.corrupt(path, "it is \(info.st_size) bytes, more than the \(limit) a file of its kind can be")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw CertVaultError(.fileSystem, "Cannot read '\(path)'.", underlying: PrivateFiles.errnoText()) }
            done += got
        }
        return bytes
    }

    /// Temporary file (exclusive, 0600), write, fsync, rename (never over an existing file
    /// unless `replace`), fsync the folder.
    static func writeAtomically(_ bytes: [UInt8], to path: String, folder: String, replace: Bool = true) throws {
        // A temporary name is no secret: random bytes straight from libsodium, not through secure memory.
        let temporary = "\(folder)/.tmp-\(Hex.lower(Array(AEAD.nonce().prefix(8))))"
        do {
            try PrivateFiles.writeNewFile(temporary, bytes: bytes)
            if replace {
                guard rename(temporary, path) == 0 else {
                    throw CertVaultError(.fileSystem, "Cannot rename into '\(path)'.", underlying: PrivateFiles.errnoText())
                }
            } else {
                // link() fails if the name exists: the generation can never be replaced.
                guard link(temporary, path) == 0 else {
                    let exists = errno == EEXIST
                    throw CertVaultError(exists ? .alreadyExists : .fileSystem, "Cannot create '\(path)'.",
                                         hint: exists ? "Another writer created it first; nothing was replaced." : nil,
                                         underlying: PrivateFiles.errnoText())
                }
                unlink(temporary)
            }
            try PrivateFiles.syncDirectory(folder)
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
