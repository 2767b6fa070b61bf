internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// An encrypted file vault that keeps every certificate generation of every tenant.
///
/// Layout of the vault folder (0700; every file 0600), byte formats in docs/vault-format.md:
///
/// | path | content |
/// | --- | --- |
/// | `root.passphrase` | the root key wrapped under a passphrase (only in passphrase mode) |
/// | `keyring` | the key-encryption keys, sealed under the root key |
/// | `tenants/<tenant>/<generation>.entry` | one file per generation, generation as 8 digits |
/// | `audit.log`, `audit.head` | the authenticated audit log and its head |
/// | `lock` | taken with `flock` by writers |
///
/// Writers take the lock, so two processes cannot both create generation N; readers need no
/// lock because every file is written to a temporary name, fsynced and renamed into place.
public final class Vault {
    /// The vault folder.
    public let path: String
    let root: SecretBytes
    var keyring: Keyring
    let audit: AuditLog
    let index: EntryIndex
    let actor: String

    /// Set by ``list()`` when the index could not be used and every entry was opened instead,
    /// and by writes when the index could not be updated.
    public internal(set) var indexWarning: String?

    /// Called with a warning when something went wrong that does not fail the operation (the
    /// index could not be updated after an entry was stored). The command line prints it.
    public var onWarning: ((String) -> Void)?

    /// Set when an index write failed, so that the warning is given once per handle.
    var indexWriteFailed = false

    /// The lock file, opened once per vault handle; writers take `flock` on it.
    var lockFD: Int32 = -1

    /// Identifies the keyring file this handle last read.
    private var keyringStamp: [Int]?

    deinit {
        if lockFD >= 0 { close(lockFD) }
    }

    private init(path: String, root: SecretBytes, keyring: Keyring, actor: String) {
        self.path = path
        self.root = root
        self.keyring = keyring
        self.audit = AuditLog(folder: path, root: root)
        self.index = EntryIndex(folder: path, root: root)
        self.actor = actor
    }

    /// The OS user running this process, for the audit log.
    public static var currentUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    // MARK: Creating and opening

    /// Creates a new vault with a fresh root key and a first KEK.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing` when a vault already exists at `path`,
    ///   `already-exists` when the key file exists, and the errors of reading the passphrase.
    public static func create(at path: String, protection: RootKeyProtection, actor: String = Vault.currentUser,
                              now: Int64? = nil) throws -> Vault {
        let now = now ?? UTCTime.now()
        if FileManager.default.fileExists(atPath: "\(path)/\(Keyring.fileName)") {
            throw CertVaultError(.vaultMissing, "A vault already exists at '\(path)'.",
                                 hint: "Use it, or choose another folder with --vault.")
        }
        let root = RootKey.generate()
        var passphraseFile: [UInt8]?
        switch protection {
        case .keyFile(let keyPath):
            if FileManager.default.fileExists(atPath: keyPath) {
                throw CertVaultError(.alreadyExists, "The key file '\(keyPath)' already exists; certvault never overwrites a key.",
                                     hint: "Choose another --key-file, or move the old one away if it belongs to no vault.")
            }
        case .passphrase(let source, let parameters):
            let passphrase = try source.read()
            guard passphrase.count >= 12 else {
                throw CertVaultError(.invalidPassword, "The passphrase from \(source) is shorter than 12 characters.",
                                     hint: "Choose a longer passphrase.")
            }
            passphraseFile = try RootKey.wrap(root, passphrase: passphrase, parameters: parameters)
        }
        try PrivateFiles.makePrivateDirectory(path, exposure: .privateOnly)
        try PrivateFiles.makePrivateDirectory("\(path)/tenants", exposure: .privateOnly)
        if case .keyFile(let keyPath) = protection { try RootKey.writeKeyFile(root, to: keyPath) }
        if let passphraseFile {
            try writeAtomically(passphraseFile, to: "\(path)/\(RootKey.passphraseFile)", folder: path, replace: false)
        }
        let keyring = Keyring.new(now: now)
        // link(2): if another `init` got here first, this one fails instead of replacing its keyring.
        try writeAtomically(keyring.serialize(root: root), to: "\(path)/\(Keyring.fileName)", folder: path, replace: false)
        let vault = Vault(path: path, root: root, keyring: keyring, actor: actor)
        try vault.index.rewrite([])
        try vault.withLock {
            let mode: String = if case .keyFile = protection { "key file" } else { "passphrase" }
            try vault.audit.append(actor: actor, action: "vault.init", detail: "root key in \(mode); KEK 1")
        }
        return vault
    }

    /// True when `path` holds a vault (its keyring exists).
    public static func exists(at path: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(path)/\(Keyring.fileName)")
    }

    /// Opens a vault with its key file or passphrase.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing`, `vault-locked` (wrong key or passphrase; nothing
    ///   changes on disk), `insecure-permissions`, `vault-corrupt`.
    public static func open(at path: String, unlock: RootKeyProtection, actor: String = Vault.currentUser) throws -> Vault {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        guard FileManager.default.fileExists(atPath: keyringPath) else {
            throw CertVaultError(.vaultMissing, "There is no vault at '\(path)'.",
                                 hint: "Create one with 'certvault init', or point --vault (or CERTVAULT_VAULT) at an existing one.")
        }
        try PrivateFiles.checkPrivateFolder(path, what: "The vault folder")
        let passphrasePath = "\(path)/\(RootKey.passphraseFile)"
        let root: SecretBytes
        switch unlock {
        case .keyFile(let keyPath):
            if FileManager.default.fileExists(atPath: passphrasePath) {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' is protected by a passphrase, not a key file.",
                                     hint: "Give the passphrase with --passphrase-file, --passphrase-fd, --passphrase-stdin or --passphrase-env.")
            }
            root = try RootKey.readKeyFile(keyPath)
        case .passphrase(let source, _):
            let bytes: [UInt8]
            do {
                bytes = try readFile(passphrasePath, limit: 4096)
            } catch let error as CertVaultError where error.code == .notFound {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' has no passphrase; it is opened with its key file.",
                                     hint: "Give the key file with --key-file (or CERTVAULT_KEY_FILE).")
            }
            root = try RootKey.unwrap(bytes, passphrase: try source.read(), file: passphrasePath)
        }
        return try open(at: path, root: root, actor: actor)
    }

    /// A second handle on the same vault with the same unlocked root key: the passphrase is not read
    /// again (a descriptor can be read only once) and Argon2id does not run again. Each handle has
    /// its own lock descriptor and keyring copy, so handles can be used on different threads at once.
    public func anotherHandle(actor: String? = nil) throws -> Vault {
        try Vault.open(at: path, root: root, actor: actor ?? self.actor)
    }

    /// Opens a vault whose root key is already unwrapped (after a restore).
    static func open(at path: String, root: SecretBytes, actor: String) throws -> Vault {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        let stamp = fileStamp(keyringPath)
        let keyring = try Keyring.parse(try readFile(keyringPath, limit: 1 << 20), root: root, file: keyringPath)
        let vault = Vault(path: path, root: root, keyring: keyring, actor: actor)
        vault.keyringStamp = stamp
        return vault
    }

    /// Reads the keyring again: another process may have rotated the KEK since this handle
    /// opened. Every writer calls it under the lock, so it never wraps with a stale KEK or
    /// writes back a keyring that lost another writer's KEK.
    func reloadKeyring() throws {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        let stamp = Vault.fileStamp(keyringPath)
        keyring = try Keyring.parse(try Vault.readFile(keyringPath, limit: 1 << 20), root: root, file: keyringPath)
        keyringStamp = stamp
    }

    /// Reloads the keyring only if its file changed (every change renames a new file into
    /// place, so the inode changes).
    func reloadKeyringIfChanged() throws {
        let stamp = Vault.fileStamp("\(path)/\(Keyring.fileName)")
        if stamp == nil || stamp != keyringStamp { try reloadKeyring() }
    }

    /// The data key of an entry; reloads the keyring once if the entry names a KEK this handle
    /// has not seen (another process rotated in the meantime).
    func dataKey(of file: EntryFile, path: String) throws -> SecretBytes {
        if keyring.key(id: file.kekID) == nil { try reloadKeyring() }
        return try file.dataKey(keyring: keyring, file: path)
    }
}

// The rest of `Vault` is in extensions, one file per feature:
// Entries/Vault+Entries.swift (store, list, read out, metadata), Integrity/ (verify, reindex,
// missing generations), Keys/Vault+KeyManagement.swift (KEK rotation, passphrase change),
// Backup/Vault+Backup.swift (backup and restore), Audit/Vault+Audit.swift, Vault+Leftovers.swift,
// Vault+Files.swift (paths, the lock, reading and writing files).
