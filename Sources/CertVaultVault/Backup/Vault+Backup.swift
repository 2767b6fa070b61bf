internal import CSodium
internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

extension FileKind {
    static let backupByte: UInt8 = 0x42  // "B"
}

/// Single-file encrypted backups of a whole vault. Format: docs/vault-format.md, "Backup bundle".
///
/// Format 2 (written since the 64 MiB limit was lifted) is sealed as a stream of 64 KiB chunks
/// (libsodium's `crypto_secretstream_xchacha20poly1305`), so backup and restore hold one chunk
/// in memory whatever the vault's size. Format 1 (sealed whole) is still restored.
extension Vault {
    /// Format 1: one AEAD seal over the whole plaintext. Read only.
    static let backupMagic = FileKind.prefix + [FileKind.backupByte, 1]
    /// Format 2: a secretstream of chunks.
    static let backupMagicV2 = FileKind.prefix + [FileKind.backupByte, 2]
    /// Plaintext bytes per chunk.
    static let backupChunk = 1 << 16
    /// The most a format-1 bundle may be (it is read whole into memory, about 3x its size).
    static let legacyBackupLimit = 2 << 30

    /// Writes every vault file (keyring, entries, audit log and head, and the passphrase file
    /// if any) into one new encrypted file, taken under the writers' lock so it is consistent.
    ///
    /// Files are streamed: memory use does not grow with the vault.
    ///
    /// - Returns: the number of files in the bundle.
    /// - Throws: ``CertVaultError`` `already-exists` when `bundlePath` exists, `file-system`
    ///   naming the folder when it is missing.
    public func backup(to bundlePath: String) throws -> Int {
        var existing = stat()
        if lstat(bundlePath, &existing) == 0 {
            throw CertVaultError(.alreadyExists, "The backup file '\(bundlePath)' already exists; certvault never overwrites a file.",
                                 hint: "Choose a new name with --out, or move the old backup away first.")
        }
        return try withLock {
            // The bundle names every item by its file name in the vault folder, whatever the storage.
            var names: [String] = []
            if try storage.blobRevision(.keyring) != nil { names.append(Keyring.fileName) }
            let hasLog = try fileStorage.map { FileManager.default.fileExists(atPath: $0.auditPath) } ?? !storage.readAuditLog().isEmpty
            if hasLog { names.append(AuditLog.fileName) }
            if try storage.readAuditHead() != nil { names.append(AuditLog.headName) }
            for tenant in try tenants() {
                for generation in try generations(of: tenant) {
                    names.append(FileVaultStorage.entryFileName(tenant: tenant, generation: generation))
                }
            }
            let passphraseFile = try storage.readBlob(.rootPassphrase)?.bytes
            var header = ByteWriter()
            header.append(Vault.backupMagicV2)
            if let passphraseFile {
                header.u8(1)
                header.u32(UInt32(passphraseFile.count))
                header.append(passphraseFile)
            } else {
                header.u8(0)
            }
            let output = try Leftovers.createTemporary(in: Leftovers.folder(of: bundlePath))
            defer { output.discard() }
            let sealer = try BundleSealer(fd: output.fd, key: AEAD.deriveKey(from: root, purpose: "certvault backup key v2"),
                                          prefix: header.bytes, chunk: Vault.backupChunk)
            for name in names {
                if let files = fileStorage {
                    // Streamed from the file: memory does not grow with the audit log.
                    try sealer.appendFile(named: name, at: files.file(name))
                } else {
                    try sealer.appendBytes(named: name, bytes: try storedBytes(named: name))
                }
            }
            try sealer.finish()
            try output.publish(as: bundlePath)
            try audit.append(actor: actor, action: "vault.backup", detail: "\(names.count) files to \(bundlePath)")
            return names.count
        }
    }

    /// The bytes of a vault item named by its file name (for storage other than files).
    func storedBytes(named name: String) throws -> [UInt8] {
        switch name {
        case Keyring.fileName: return try storage.readBlob(.keyring)?.bytes ?? []
        case AuditLog.fileName: return try storage.readAuditLog()
        case AuditLog.headName: return try storage.readAuditHead() ?? []
        default:
            let parts = name.split(separator: "/")
            guard parts.count == 3, let tenant = try? TenantID(String(parts[1])), let generation = entryGeneration(fromFileName: String(parts[2])),
                let bytes = try storage.readEntry(tenant: tenant, generation: generation)
            else { throw CertVaultError(.notFound, "'\(storage.describe(name))' vanished during the backup.", hint: "Run the backup again.") }
            return bytes
        }
    }

    /// Restores a bundle into a new vault folder (which must not exist), unlocking it with the
    /// key file or passphrase of the vault it was taken from.
    ///
    /// Everything happens in a hidden staging folder beside `target`: the files are written,
    /// the index rebuilt and the whole vault verified there; only a vault that verifies intact
    /// is renamed to `target`. A bundle that is cut short, altered, lacks the keyring, or
    /// restores to a vault with any problem leaves nothing under `target`.
    public static func restore(from bundlePath: String, to target: String, unlock: RootKeyProtection,
                               actor: String = Vault.currentUser) throws -> Vault {
        try restoreAndVerify(from: bundlePath, to: target, unlock: unlock, actor: actor).vault
    }

    /// ``restore(from:to:unlock:actor:)``, also returning the verification of the restored vault.
    public static func restoreAndVerify(from bundlePath: String, to target: String, unlock: RootKeyProtection,
                                        actor: String = Vault.currentUser) throws -> (vault: Vault, report: VerifyReport) {
        if FileManager.default.fileExists(atPath: target) {
            throw CertVaultError(.alreadyExists, "'\(target)' already exists; a restore never writes over anything.",
                                 hint: "Restore into a new folder, check it with 'certvault vault verify', then swap folders.")
        }
        let parent = RootKey.parentFolder(of: target)
        var parentInfo = stat()
        guard stat(parent, &parentInfo) == 0, (parentInfo.st_mode & S_IFMT) == S_IFDIR else {
            throw CertVaultError(.fileSystem, "The folder '\(parent)' for the restored vault does not exist.",
                                 hint: "Create it first (mkdir -m 700 -p '\(parent)'), or restore into an existing folder.")
        }
        let fd = Glibc.open(bundlePath, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw CertVaultError(errno == ENOENT ? .notFound : .fileSystem, "Cannot read the backup '\(bundlePath)'.",
                                 hint: "Check that it exists and that you may read it.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "'\(bundlePath)' is not a regular file.", hint: "Give the backup file itself.")
        }
        var input = BundleInput(fd: fd, file: bundlePath)
        let magic = try input.read(8, what: "its header")
        if magic == backupMagic {
            return try restoreLegacy(from: bundlePath, size: Int(info.st_size), to: target, unlock: unlock, actor: actor)
        }
        guard magic == backupMagicV2 else {
            throw VaultError.corrupt(bundlePath, Array(magic[0..<7]) == Array(backupMagicV2[0..<7])
                                     ? "it has backup format version \(magic[7]); this certvault reads versions 1 and 2"
                                     : "it is not a certvault backup bundle")
        }
        var prefix = magic
        var passphraseFile: [UInt8]?
        let protection = try input.read(1, what: "its header")
        prefix += protection
        switch protection[0] {
        case 0: break
        case 1:
            let lengthBytes = try input.read(4, what: "its header")
            let length = Int(lengthBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard length <= 4096 else { throw VaultError.corrupt(bundlePath, "its root-key record claims \(length) bytes") }
            passphraseFile = try input.read(length, what: "its root-key record")
            prefix += lengthBytes + passphraseFile!
        default: throw VaultError.corrupt(bundlePath, "it names an unknown root-key protection")
        }
        let streamHeader = try input.read(Int(crypto_secretstream_xchacha20poly1305_headerbytes()), what: "its header")
        prefix += streamHeader
        let root = try unlockBundle(bundlePath, passphraseFile: passphraseFile, unlock: unlock)
        let opener = try BundleOpener(key: AEAD.deriveKey(from: root, purpose: "certvault backup key v2"), header: streamHeader,
                                      prefix: prefix, file: bundlePath, chunk: backupChunk)
        return try restoreStaged(bundlePath: bundlePath, target: target, root: root, passphraseFile: passphraseFile, actor: actor) { sink in
            var chunks = 0
            while true {
                guard let lengthBytes = try input.readOrEnd(4) else {
                    throw VaultError.corrupt(bundlePath, "it ends early: it was cut short after \(chunks) chunks",
                                             hint: "Copy the whole backup file again, or use another backup.")
                }
                let length = Int(lengthBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                // Checked before anything is read or allocated: a planted length cannot make
                // restore reserve gigabytes (the fuzzers found that it did).
                let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())
                guard length >= overhead, length <= backupChunk + overhead else {
                    throw VaultError.corrupt(bundlePath, "chunk \(chunks + 1) claims \(length) bytes; a chunk holds \(overhead) to \(backupChunk + overhead)",
                                             hint: "The bundle is damaged or not a certvault backup: use another backup.")
                }
                let sealed = try input.read(length, what: "chunk \(chunks + 1)")
                let final = try opener.open(sealed, index: chunks, into: &sink)
                chunks += 1
                if final { break }
            }
            if try input.readOrEnd(1) != nil {
                throw VaultError.corrupt(bundlePath, "it has unexpected bytes after its final chunk")
            }
        }
    }

    /// The root key for a bundle: from the key file, or unwrapped from the bundle's copy of
    /// `root.passphrase` with the passphrase.
    static func unlockBundle(_ bundlePath: String, passphraseFile: [UInt8]?, unlock: RootKeyProtection) throws -> SecretBytes {
        switch unlock {
        case .keyFile(let keyPath):
            guard passphraseFile == nil else {
                throw CertVaultError(.vaultLocked, "This backup is of a passphrase-protected vault.",
                                     hint: "Give the passphrase with a --passphrase option.")
            }
            return try RootKey.readKeyFile(keyPath)
        case .passphrase(let source, _):
            guard let passphraseFile else {
                throw CertVaultError(.vaultLocked, "This backup is of a key-file vault.", hint: "Give its key file with --key-file.")
            }
            return try RootKey.unwrap(passphraseFile, passphrase: try source.read(), file: "\(bundlePath) (root key)")
        }
    }

    /// Writes the files `extract` feeds into a staging folder beside `target`, checks that the
    /// keyring is there and opens with the root key, rebuilds the index, verifies everything,
    /// and only then renames the staging folder to `target`.
    static func restoreStaged(bundlePath: String, target: String, root: SecretBytes, passphraseFile: [UInt8]?, actor: String,
                              extract: (inout BundleFileSink) throws -> Void) throws -> (vault: Vault, report: VerifyReport) {
        let parent = RootKey.parentFolder(of: target)
        Leftovers.note(Leftovers.sweep(parent, matching: { $0.hasPrefix(".staging-restore-") }), in: parent,
                       what: "unfinished restore folder(s)")
        let staging = try PrivateFiles.makeStagingDirectory(in: parent, label: "restore")
        // Held until the end: a concurrent restore's sweep sees this folder as live.
        let lockFD = Leftovers.lock(staging)
        defer { if let lockFD { close(lockFD) } }
        let count: Int
        let report: VerifyReport
        do {
            try PrivateFiles.makePrivateDirectory("\(staging)/tenants")
            var sink = BundleFileSink(folder: staging, bundle: bundlePath)
            try extract(&sink)
            try sink.finish()
            count = sink.names.count
            guard sink.names.contains(Keyring.fileName) else {
                throw VaultError.corrupt(bundlePath, "it holds no keyring, so nothing in it could be opened",
                                         hint: "Use another backup; this one is incomplete. Nothing was restored.")
            }
            if let passphraseFile { try PrivateFiles.writeNewFile("\(staging)/\(RootKey.passphraseFile)", bytes: passphraseFile) }
            try sink.makeDurable()
            // The root key is already unwrapped: a passphrase from a pipe or a variable is read once only.
            let staged = try Vault.open(at: staging, root: root, actor: actor)
            _ = try staged.reindex()
            try staged.withLock { try staged.audit.append(actor: actor, action: "vault.restore", detail: "\(count) files from \(bundlePath)") }
            report = try staged.verify()
            guard report.intact else {
                let shown = report.problems.prefix(5).joined(separator: "; ") + (report.problems.count > 5 ? "; …" : "")
                throw CertVaultError(.vaultCorrupt, "The vault in the backup '\(bundlePath)' does not verify "
                    + "(\(report.problems.count) problem(s)): \(shown). Nothing was restored.",
                                     hint: "Use another backup; or run 'certvault vault verify' on the vault it was taken from.")
            }
            try PrivateFiles.publishStagedDirectory(staging, as: target)
        } catch {
            Leftovers.shredFolder(staging)
            throw error
        }
        return (try Vault.open(at: target, root: root, actor: actor), report)
    }

    /// Format 1: the whole file is one AEAD seal, read into memory.
    static func restoreLegacy(from bundlePath: String, size: Int, to target: String, unlock: RootKeyProtection,
                              actor: String) throws -> (vault: Vault, report: VerifyReport) {
        guard size <= legacyBackupLimit else {
            throw VaultError.corrupt(bundlePath, "it is a format-1 bundle of \(size) bytes, more than the \(legacyBackupLimit) "
                + "this certvault reads whole into memory")
        }
        let bytes = try readFile(bundlePath, limit: legacyBackupLimit)
        var reader = ByteReader(bytes)
        var passphraseFile: [UInt8]?
        let root: SecretBytes
        let plaintext: SecretBytes
        do {
            _ = try reader.take(8)
            switch try reader.u8() {
            case 0: break
            case 1: passphraseFile = Array(try reader.take(Int(try reader.u32())))
            default: throw VaultError.corrupt(bundlePath, "it names an unknown root-key protection")
            }
            let nonce = try reader.take(AEAD.nonceBytes)
            let declared = try reader.u64()
            guard declared <= UInt64(reader.remaining) else { throw VaultError.corrupt(bundlePath, "it ends early") }
            let headerLength = reader.offset
            let sealed = try reader.take(Int(declared))
            guard reader.atEnd else { throw VaultError.corrupt(bundlePath, "it has \(reader.remaining) unexpected bytes at the end") }
            root = try unlockBundle(bundlePath, passphraseFile: passphraseFile, unlock: unlock)
            guard let opened = AEAD.open(sealed, key: AEAD.deriveKey(from: root, purpose: "certvault backup key v1"), nonce: nonce,
                                         associatedData: Array(bytes[0..<headerLength]))
            else {
                throw CertVaultError(.vaultLocked, "The key does not open the backup '\(bundlePath)', or the backup was altered.",
                                     hint: "Use the key file or passphrase of the vault the backup was taken from.")
            }
            plaintext = opened
        } catch let error as FormatError {
            throw VaultError.corrupt(bundlePath, error.message)
        }
        return try restoreStaged(bundlePath: bundlePath, target: target, root: root, passphraseFile: passphraseFile, actor: actor) { sink in
            try plaintext.withUnsafeBytes { try sink.consume($0) }
        }
    }

    /// Only the vault's own file names may come out of a bundle: no "..", no absolute paths.
    static func isAllowedBackupPath(_ name: String) -> Bool {
        if [Keyring.fileName, AuditLog.fileName, AuditLog.headName].contains(name) { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tenants", (try? TenantID(String(parts[1]))) != nil else { return false }
        return Vault.generation(fromFileName: String(parts[2])) != nil
    }
}
