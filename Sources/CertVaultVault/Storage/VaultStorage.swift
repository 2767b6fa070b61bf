public import CertVaultCore

/// The vault's single stored objects besides entries and the audit log.
public enum VaultBlob: String, Sendable, CaseIterable {
    /// The key-encryption keys, sealed under the root key (file `keyring`).
    case keyring
    /// The root key wrapped under a passphrase, in passphrase mode only (file `root.passphrase`).
    case rootPassphrase = "root.passphrase"
}

/// A stored blob and its revision: an opaque token that changes with every write, for
/// compare-and-swap (``VaultStorage/replaceBlob(_:bytes:expectedRevision:)``).
public struct StoredBlob: Sendable {
    /// The blob's bytes, exactly as sealed by the vault.
    public let bytes: [UInt8]
    /// Changes with every write of the blob.
    public let revision: String

    /// A blob read from storage.
    public init(bytes: [UInt8], revision: String) {
        self.bytes = bytes
        self.revision = revision
    }
}

/// The last record of the audit log, from which the next record's chain continues.
public struct AuditTail: Sendable, Hashable {
    /// Its sequence number.
    public let sequence: Int
    /// Its MAC (64 lowercase hex digits).
    public let mac: String

    /// The tail of a log.
    public init(sequence: Int, mac: String) {
        self.sequence = sequence
        self.mac = mac
    }
}

/// One line of the audit log, as the vault made it (ending with LF), and its sequence number.
public struct AuditLine: Sendable, Hashable {
    /// The record's sequence number (the line's first field).
    public let sequence: Int
    /// The whole line, ending with LF.
    public let text: String

    /// A line to append.
    public init(sequence: Int, text: String) {
        self.sequence = sequence
        self.text = text
    }
}

/// What the vault appends to its audit log in one step: lines and the new head.
public struct AuditAppend: Sendable {
    /// The lines, in order, continuing the chain from the tail the vault was given.
    public let lines: [AuditLine]
    /// The new `audit.head` bytes (sequence, mac and head MAC of the last line).
    public let head: [UInt8]

    /// Lines and head to store together.
    public init(lines: [AuditLine], head: [UInt8]) {
        self.lines = lines
        self.head = head
    }
}

/// Where a vault keeps its bytes: the sealed blobs (keyring, passphrase-wrapped root key), one
/// sealed entry per tenant and generation, and the audit log's lines and head.
///
/// Storage never sees a key: everything it stores is sealed or MACed by ``Vault`` (formats in
/// docs/vault-format.md), and it only moves bytes. Two implementations: ``FileVaultStorage`` (the
/// vault folder, the default) and `PostgresVaultStorage` in CertVaultPostgres (rows holding
/// exactly the bytes of the files).
///
/// Concurrency: ``withLock(_:)`` is the writers' lock (the file backend's `flock`; one process's
/// writers for PostgreSQL, where the operations themselves are atomic across replicas:
/// ``createEntry(tenant:generation:bytes:)`` refuses a taken generation, ``updateEntry(tenant:generation:_:)``
/// reads and writes in one critical section, ``replaceBlob(_:bytes:expectedRevision:)`` is a
/// compare-and-swap, and ``appendAudit(_:)`` serializes appends). A storage object is used by one
/// ``Vault`` handle; ``anotherHandle()`` makes one for another handle (its own lock descriptor).
public protocol VaultStorage: AnyObject {
    /// Where the vault is, for messages and `Vault.path` (the folder for files; the database URL without password).
    var location: String { get }

    /// How a vault item is named in messages: `relative` is the file's name in the vault folder
    /// (`keyring`, `audit.log`, `tenants/<tenant>/<generation>.entry`).
    func describe(_ relative: String) -> String

    /// A new storage object on the same vault, for another ``Vault`` handle.
    func anotherHandle() throws -> any VaultStorage

    /// True when a vault exists here (its keyring is stored).
    func exists() throws -> Bool

    /// Makes the place for a new vault (folders); called once by `Vault.create` before anything is stored.
    func prepareForCreate() throws

    /// Checks the place before a vault is opened (permissions of the folder).
    func checkBeforeOpen() throws

    /// Runs `body` holding the writers' lock.
    func withLock<T>(_ body: () throws -> T) throws -> T

    // MARK: Blobs

    /// The blob's bytes and revision, or nil when it is not stored.
    func readBlob(_ blob: VaultBlob) throws -> StoredBlob?

    /// The blob's current revision (cheap), or nil when it is not stored.
    func blobRevision(_ blob: VaultBlob) throws -> String?

    /// Stores a blob that must not exist yet.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when it exists (nothing is replaced).
    func createBlob(_ blob: VaultBlob, bytes: [UInt8]) throws

    /// Replaces a blob if its revision is still `expectedRevision` (nil: whatever it is).
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when another writer changed it first.
    func replaceBlob(_ blob: VaultBlob, bytes: [UInt8], expectedRevision: String?) throws

    // MARK: Entries

    /// A generation's sealed bytes, or nil when it is not stored.
    func readEntry(tenant: TenantID, generation: Int) throws -> [UInt8]?

    /// Stores a new generation; never replaces one.
    ///
    /// - Throws: ``CertVaultError`` `already-exists` when the generation is taken (another writer
    ///   claimed it: read the generations again and take the next).
    func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8]) throws

    /// Reads a generation and replaces it with what `change` makes of its bytes (nil: no change),
    /// in one critical section (no other writer changes it in between).
    ///
    /// `change` must not call this storage. - Returns: false when the generation is not stored.
    @discardableResult
    func updateEntry(tenant: TenantID, generation: Int, _ change: ([UInt8]) throws -> [UInt8]?) throws -> Bool

    /// Stores a new generation sealed under the keyring at `keyringRevision`; never replaces one.
    ///
    /// Where writers of several processes do not share the writers' lock (PostgreSQL), the keyring's
    /// revision is checked in the same transaction as the insert, holding the keyring row against a
    /// concurrent change, so that a KEK rotation on another replica either sees this entry (and
    /// rewraps it) or makes this call fail; otherwise an entry sealed under a KEK the rotation is
    /// about to retire could be stored after its scan and never open again.
    ///
    /// - Throws: ``CertVaultError`` `keyring-changed` when the keyring is no longer at
    ///   `keyringRevision` (reload it, seal again, retry), `already-exists` as ``createEntry(tenant:generation:bytes:)``.
    func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8], sealedUnderKeyring keyringRevision: String?) throws

    /// The generation numbers stored for a tenant, ascending.
    func generations(of tenant: TenantID) throws -> [Int]

    /// Every stored entry's bytes, by tenant and generation (for listing a vault without an index).
    /// The default reads them one by one; PostgreSQL answers it with one query.
    func allEntries() throws -> [(tenant: TenantID, generation: Int, bytes: [UInt8])]

    /// The tenants that have at least one generation, sorted.
    func tenants() throws -> [TenantID]

    /// Every stored generation, and the names of stored things that are not valid entries
    /// (for `vault verify`).
    func inventory() throws -> (entries: [(TenantID, Int)], strays: [String])

    // MARK: Audit log

    /// Appends to the audit log: `make` gets the last stored record (nil for an empty log) and
    /// returns the lines continuing the chain from it and the new head; both are stored
    /// atomically with respect to other appends (no other line in between), durable when this returns.
    func appendAudit(_ make: (AuditTail?) throws -> AuditAppend) throws

    /// The whole audit log (its lines, each ending with LF).
    func readAuditLog() throws -> [UInt8]

    /// The audit head's bytes, or nil when there is none.
    func readAuditHead() throws -> [UInt8]?
}

extension VaultStorage {
    /// One entry after the other: the tenants, their generations, each entry's bytes.
    public func allEntries() throws -> [(tenant: TenantID, generation: Int, bytes: [UInt8])] {
        var entries: [(tenant: TenantID, generation: Int, bytes: [UInt8])] = []
        for tenant in try tenants() {
            for generation in try generations(of: tenant) {
                if let bytes = try readEntry(tenant: tenant, generation: generation) { entries.append((tenant, generation, bytes)) }
            }
        }
        return entries
    }

    /// The file backend: every writer of every process holds the writers' lock (`flock`), under which
    /// the keyring is reloaded and a KEK rotation runs whole, so the keyring cannot change in between.
    public func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8], sealedUnderKeyring keyringRevision: String?) throws {
        try createEntry(tenant: tenant, generation: generation, bytes: bytes)
    }

    /// The name of an entry's file in the vault folder: `tenants/<tenant>/<generation, 8 digits>.entry`.
    public static func entryFileName(tenant: TenantID, generation: Int) -> String {
        let digits = String(generation)
        return "tenants/\(tenant.rawValue)/\(String(repeating: "0", count: max(0, 8 - digits.count)) + digits).entry"
    }
}

/// The generation in an entry file's name: exactly 8 ASCII digits, ".entry", and at least 1.
func entryGeneration(fromFileName name: String) -> Int? {
    let bytes = Array(name.utf8)
    guard bytes.count == 14, name.hasSuffix(".entry"),
        bytes.prefix(8).allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
        let value = Int(String(decoding: bytes.prefix(8), as: UTF8.self)), value >= 1
    else { return nil }
    return value
}
