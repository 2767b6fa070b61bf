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
    /// Where the vault is: the folder for ``FileVaultStorage``, the database for PostgreSQL.
    public let path: String
    /// Where the vault's bytes are kept.
    public let storage: any VaultStorage
    let root: SecretBytes
    var keyring: Keyring
    let audit: AuditLog
    /// The MACed index beside the entries; only the file backend keeps one (the others list by
    /// opening the entries' metadata).
    let index: EntryIndex?
    let actor: String

    /// Set by ``list()`` when the index could not be used and every entry was opened instead,
    /// and by writes when the index could not be updated.
    public internal(set) var indexWarning: String?

    /// Called with a warning when something went wrong that does not fail the operation (the
    /// index could not be updated after an entry was stored). The command line prints it.
    public var onWarning: ((String) -> Void)?

    /// Set when an index write failed, so that the warning is given once per handle.
    var indexWriteFailed = false

    /// The keyring revision this handle last read.
    private var keyringRevision: String?

    /// The storage when it is the vault folder.
    var fileStorage: FileVaultStorage? { storage as? FileVaultStorage }

    private init(storage: any VaultStorage, root: SecretBytes, keyring: Keyring, actor: String) {
        self.storage = storage
        self.path = storage.location
        self.root = root
        self.keyring = keyring
        self.audit = AuditLog(storage: storage, root: root)
        self.index = (storage as? FileVaultStorage).map { EntryIndex(folder: $0.path, root: root) }
        self.actor = actor
    }

    /// The OS user running this process, for the audit log.
    public static var currentUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    // MARK: Creating and opening

    /// Creates a new vault in the folder `path` with a fresh root key and a first KEK.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing` when a vault already exists at `path`,
    ///   `already-exists` when the key file exists, and the errors of reading the passphrase.
    public static func create(at path: String, protection: RootKeyProtection, actor: String = Vault.currentUser,
                              now: Int64? = nil) throws -> Vault {
        try create(storage: FileVaultStorage(path: path), protection: protection, actor: actor, now: now)
    }

    /// Creates a new vault in `storage` with a fresh root key and a first KEK.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing` when a vault already exists there,
    ///   `already-exists` when the key file exists, and the errors of reading the passphrase.
    public static func create(storage: any VaultStorage, protection: RootKeyProtection, actor: String = Vault.currentUser,
                              now: Int64? = nil) throws -> Vault {
        let now = now ?? UTCTime.now()
        if try storage.exists() {
            throw CertVaultError(.vaultMissing, "A vault already exists at '\(storage.location)'.",
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
        try storage.prepareForCreate()
        if case .keyFile(let keyPath) = protection { try RootKey.writeKeyFile(root, to: keyPath) }
        if let passphraseFile { try storage.createBlob(.rootPassphrase, bytes: passphraseFile) }
        let keyring = Keyring.new(now: now)
        // Created, never replaced: if another `init` got here first, this one fails instead of replacing its keyring.
        try storage.createBlob(.keyring, bytes: keyring.serialize(root: root))
        let vault = Vault(storage: storage, root: root, keyring: keyring, actor: actor)
        try vault.index?.rewrite([])
        try vault.withLock {
            let mode: String = if case .keyFile = protection { "key file" } else { "passphrase" }
            try vault.audit.append(actor: actor, action: "vault.init", detail: "root key in \(mode); KEK 1")
        }
        return vault
    }

    /// True when the folder `path` holds a vault (its keyring exists).
    public static func exists(at path: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(path)/\(Keyring.fileName)")
    }

    /// True when `storage` holds a vault (its keyring is stored).
    public static func exists(storage: any VaultStorage) throws -> Bool { try storage.exists() }

    /// Opens the vault in the folder `path` with its key file or passphrase.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing`, `vault-locked` (wrong key or passphrase; nothing
    ///   changes on disk), `insecure-permissions`, `vault-corrupt`.
    public static func open(at path: String, unlock: RootKeyProtection, actor: String = Vault.currentUser) throws -> Vault {
        try open(storage: FileVaultStorage(path: path), unlock: unlock, actor: actor)
    }

    /// Opens the vault in `storage` with its key file or passphrase.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing`, `vault-locked` (wrong key or passphrase; nothing
    ///   changes), `insecure-permissions`, `vault-corrupt`, `storage-unavailable`.
    public static func open(storage: any VaultStorage, unlock: RootKeyProtection, actor: String = Vault.currentUser) throws -> Vault {
        let path = storage.location
        guard try storage.exists() else {
            throw CertVaultError(.vaultMissing, "There is no vault at '\(path)'.",
                                 hint: "Create one with 'certvault init', or point --vault (or CERTVAULT_VAULT) at an existing one.")
        }
        try storage.checkBeforeOpen()
        let passphraseName = storage.describe(RootKey.passphraseFile)
        let root: SecretBytes
        switch unlock {
        case .keyFile(let keyPath):
            if try storage.blobRevision(.rootPassphrase) != nil {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' is protected by a passphrase, not a key file.",
                                     hint: "Give the passphrase with --passphrase-file, --passphrase-fd, --passphrase-stdin or --passphrase-env.")
            }
            root = try RootKey.readKeyFile(keyPath)
        case .passphrase(let source, _):
            guard let stored = try storage.readBlob(.rootPassphrase) else {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' has no passphrase; it is opened with its key file.",
                                     hint: "Give the key file with --key-file (or CERTVAULT_KEY_FILE).")
            }
            guard stored.bytes.count <= 4096 else { throw VaultError.corrupt(passphraseName, "it is \(stored.bytes.count) bytes, more than 4096") }
            root = try RootKey.unwrap(stored.bytes, passphrase: try source.read(), file: passphraseName)
        }
        return try open(storage: storage, root: root, actor: actor)
    }

    /// A second handle on the same vault with the same unlocked root key: the passphrase is not read
    /// again (a descriptor can be read only once) and Argon2id does not run again. Each handle has
    /// its own storage object (lock descriptor) and keyring copy, so handles can be used on different threads at once.
    public func anotherHandle(actor: String? = nil) throws -> Vault {
        try Vault.open(storage: try storage.anotherHandle(), root: root, actor: actor ?? self.actor)
    }

    /// Opens a vault folder whose root key is already unwrapped (after a restore).
    static func open(at path: String, root: SecretBytes, actor: String) throws -> Vault {
        try open(storage: FileVaultStorage(path: path), root: root, actor: actor)
    }

    /// Opens a vault whose root key is already unwrapped.
    static func open(storage: any VaultStorage, root: SecretBytes, actor: String) throws -> Vault {
        guard let stored = try storage.readBlob(.keyring) else {
            throw CertVaultError(.vaultMissing, "There is no vault at '\(storage.location)'.",
                                 hint: "Create one with 'certvault init', or point --vault (or CERTVAULT_VAULT) at an existing one.")
        }
        let keyring = try Keyring.parse(stored.bytes, root: root, file: storage.describe(Keyring.fileName))
        let vault = Vault(storage: storage, root: root, keyring: keyring, actor: actor)
        vault.keyringRevision = stored.revision
        return vault
    }

    /// Reads the keyring again: another process may have rotated the KEK since this handle
    /// opened. Every writer calls it under the lock, so it never wraps with a stale KEK or
    /// writes back a keyring that lost another writer's KEK.
    func reloadKeyring() throws {
        guard let stored = try storage.readBlob(.keyring) else {
            throw VaultError.corrupt(storage.describe(Keyring.fileName), "it is gone")
        }
        keyring = try Keyring.parse(stored.bytes, root: root, file: storage.describe(Keyring.fileName))
        keyringRevision = stored.revision
    }

    /// Reloads the keyring only if it changed (its revision: for files, a new inode per write).
    func reloadKeyringIfChanged() throws {
        let revision = try storage.blobRevision(.keyring)
        if revision == nil || revision != keyringRevision { try reloadKeyring() }
    }

    /// The keyring revision this handle last read (for compare-and-swap writes).
    var currentKeyringRevision: String? { keyringRevision }

    /// Writes a changed keyring, refused when another writer changed it since this handle read it.
    func writeKeyring(_ updated: Keyring) throws {
        try storage.replaceBlob(.keyring, bytes: updated.serialize(root: root), expectedRevision: keyringRevision)
        keyring = updated
        keyringRevision = try storage.blobRevision(.keyring)
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
