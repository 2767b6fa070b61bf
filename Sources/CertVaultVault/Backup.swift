internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

extension FileKind {
    static let backupByte: UInt8 = 0x42  // "B"
}

/// Single-file encrypted backups of a whole vault. Format: docs/vault-format.md, "Backup bundle".
extension Vault {
    static let backupMagic = FileKind.prefix + [FileKind.backupByte, FileKind.formatVersion]

    /// Writes every vault file (keyring, entries, audit log and head, and the passphrase file
    /// if any) into one new encrypted file, taken under the writers' lock so it is consistent.
    ///
    /// - Returns: the number of files in the bundle.
    public func backup(to bundlePath: String) throws -> Int {
        try withLock {
            var files: [(String, [UInt8])] = []
            for name in [Keyring.fileName, AuditLog.fileName, AuditLog.headName] where FileManager.default.fileExists(atPath: "\(path)/\(name)") {
                files.append((name, try Vault.readFile("\(path)/\(name)")))
            }
            for tenant in try tenants() {
                for generation in try generations(of: tenant) {
                    let relative = String(entryPath(tenant, generation).dropFirst(path.count + 1))
                    files.append((relative, try Vault.readFile(entryPath(tenant, generation))))
                }
            }
            let passphraseFile = FileManager.default.contents(atPath: "\(path)/\(RootKey.passphraseFile)").map(Array.init)
            var plaintextLength = 0
            for (name, bytes) in files { plaintextLength += 2 + name.utf8.count + 8 + bytes.count }
            // Entries are ciphertext already, but the bundle is sealed whole so that nothing
            // about the vault (tenant names, counts, the audit log) is readable from it.
            let plaintext = SecretBytes(count: plaintextLength) { out in
                var writer = ByteWriter()
                for (name, bytes) in files {
                    let nameBytes = Array(name.utf8)
                    writer.append([UInt8(nameBytes.count >> 8), UInt8(nameBytes.count & 0xFF)])
                    writer.append(nameBytes)
                    writer.u64(UInt64(bytes.count))
                    writer.append(bytes)
                }
                out.copyBytes(from: writer.bytes)
            }
            var header = ByteWriter()
            header.append(Vault.backupMagic)
            if let passphraseFile {
                header.u8(1)
                header.u32(UInt32(passphraseFile.count))
                header.append(passphraseFile)
            } else {
                header.u8(0)
            }
            let nonce = AEAD.nonce()
            header.append(nonce)
            header.u64(UInt64(plaintext.count + AEAD.tagBytes))
            let sealed = AEAD.seal(plaintext, key: AEAD.deriveKey(from: root, purpose: "certvault backup key v1"), nonce: nonce,
                                   associatedData: header.bytes)
            try PrivateFiles.writeNewFileAtomically(bundlePath, bytes: header.bytes + sealed)
            try audit.append(actor: actor, action: "vault.backup", detail: "\(files.count) files to \(bundlePath)")
            return files.count
        }
    }

    /// Restores a bundle into a new vault folder (which must not exist), unlocking it with the
    /// key file or passphrase of the vault it was taken from, then verifies the result.
    public static func restore(from bundlePath: String, to target: String, unlock: RootKeyProtection,
                               actor: String = Vault.currentUser) throws -> Vault {
        if FileManager.default.fileExists(atPath: target) {
            throw CertVaultError(.alreadyExists, "'\(target)' already exists; a restore never writes over anything.",
                                 hint: "Restore into a new folder, check it with 'certvault vault verify', then swap folders.")
        }
        let bytes = try readFile(bundlePath)
        guard bytes.count >= 8, Array(bytes[0..<8]) == backupMagic else {
            throw VaultError.corrupt(bundlePath, bytes.count >= 8 && Array(bytes[0..<7]) == Array(backupMagic[0..<7])
                                     ? "it has backup format version \(bytes[7])" : "it is not a certvault backup bundle")
        }
        var reader = ByteReader(bytes)
        let files: [(String, [UInt8])]
        var passphraseFile: [UInt8]?
        var unlockedRoot: SecretBytes?
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
            let length = Int(declared)
            let headerLength = reader.offset
            let sealed = try reader.take(length)
            guard reader.atEnd else { throw VaultError.corrupt(bundlePath, "it has \(reader.remaining) unexpected bytes at the end") }
            let root: SecretBytes
            switch unlock {
            case .keyFile(let keyPath):
                guard passphraseFile == nil else {
                    throw CertVaultError(.vaultLocked, "This backup is of a passphrase-protected vault.",
                                         hint: "Give the passphrase with a --passphrase option.")
                }
                root = try RootKey.readKeyFile(keyPath)
            case .passphrase(let source, _):
                guard let passphraseFile else {
                    throw CertVaultError(.vaultLocked, "This backup is of a key-file vault.", hint: "Give its key file with --key-file.")
                }
                root = try RootKey.unwrap(passphraseFile, passphrase: try source.read(), file: "\(bundlePath) (root key)")
            }
            unlockedRoot = root
            guard let plaintext = AEAD.open(sealed, key: AEAD.deriveKey(from: root, purpose: "certvault backup key v1"), nonce: nonce,
                                            associatedData: Array(bytes[0..<headerLength]))
            else {
                throw CertVaultError(.vaultLocked, "The key does not open the backup '\(bundlePath)', or the backup was altered.",
                                     hint: "Use the key file or passphrase of the vault the backup was taken from.")
            }
            files = try plaintext.withUnsafeBytes { raw -> [(String, [UInt8])] in
                var inner = ByteReader(Array(raw))
                var result: [(String, [UInt8])] = []
                while !inner.atEnd {
                    let nameLength = Int(try inner.u8()) << 8 | Int(try inner.u8())
                    let name = String(decoding: try inner.take(nameLength), as: UTF8.self)
                    let size = try inner.u64()
                    guard size <= UInt64(inner.remaining) else { throw FormatError.truncated(at: inner.offset) }
                    let data = Array(try inner.take(Int(size)))
                    result.append((name, data))
                }
                return result
            }
        } catch let error as FormatError {
            throw VaultError.corrupt(bundlePath, error.message)
        }
        for (name, _) in files where !isAllowedBackupPath(name) {
            throw VaultError.corrupt(bundlePath, "it names an unexpected file '\(TenantID.printable(name))'")
        }
        let parent = RootKey.parentFolder(of: target)
        let staging = try PrivateFiles.makeStagingDirectory(in: parent, label: "restore")
        do {
            try PrivateFiles.makePrivateDirectory("\(staging)/tenants")
            var folders: Set<String> = ["\(staging)/tenants"]
            for (name, data) in files {
                let folder = RootKey.parentFolder(of: "\(staging)/\(name)")
                try PrivateFiles.makePrivateDirectory(folder)
                folders.insert(folder)
                try PrivateFiles.writeNewFile("\(staging)/\(name)", bytes: data)
            }
            // Every folder the restore made must be durable before the vault appears.
            for folder in folders.sorted(by: { $0.count > $1.count }) { try PrivateFiles.syncDirectory(folder) }
            if let passphraseFile { try PrivateFiles.writeNewFile("\(staging)/\(RootKey.passphraseFile)", bytes: passphraseFile) }
            try PrivateFiles.publishStagedDirectory(staging, as: target)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        // The root key is already unwrapped: a passphrase from a pipe or a variable is read once only.
        let vault = try Vault.open(at: target, root: unlockedRoot!, actor: actor)
        _ = try vault.reindex()
        try vault.withLock { try vault.audit.append(actor: actor, action: "vault.restore", detail: "\(files.count) files from \(bundlePath)") }
        return vault
    }

    /// Only the vault's own file names may come out of a bundle: no "..", no absolute paths.
    static func isAllowedBackupPath(_ name: String) -> Bool {
        if [Keyring.fileName, AuditLog.fileName, AuditLog.headName].contains(name) { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tenants", (try? TenantID(String(parts[1]))) != nil else { return false }
        return Vault.generation(fromFileName: String(parts[2])) != nil
    }
}
