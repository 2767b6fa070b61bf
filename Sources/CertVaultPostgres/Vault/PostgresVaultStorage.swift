public import CertVaultCore
public import CertVaultVault
internal import Foundation
internal import PostgresNIO

/// The vault in PostgreSQL: rows that hold exactly the bytes of the vault folder's files
/// (docs/vault-format.md, "In PostgreSQL"), so that the database only ever sees ciphertext and
/// MACed audit lines.
///
/// | table | rows | the file it replaces |
/// | --- | --- | --- |
/// | `vault_blobs` | `keyring`, `root.passphrase`, `audit.head` | the files of the same names |
/// | `vault_entries` | (tenant, generation) -> bytes | `tenants/<tenant>/<generation>.entry` |
/// | `vault_audit` | (sequence) -> line | one line of `audit.log` (without its LF) |
///
/// There is no index: listing reads the rows and opens each entry's metadata.
///
/// Several replicas share one database:
/// - a generation is claimed by the primary key of `vault_entries` (INSERT; a unique violation
///   means another replica took it, and the vault tries the next number);
/// - an entry's read-modify-write (metadata update, KEK rewrap) runs in one transaction under
///   `pg_advisory_xact_lock` keyed by the tenant, with the row locked;
/// - the keyring is replaced by compare-and-swap on `revision`;
/// - audit appends run in one transaction under a vault-wide advisory lock: the last row is read,
///   the chain continues from it, and the lines and the head are written together, so the chain
///   stays linear; a group commit's batch is one transaction.
///
/// ``withLock(_:)`` serializes the writers of this process that share the lock (handles made by
/// ``anotherHandle()``), as `flock` does for the file backend; the operations above are atomic
/// across processes by themselves.
public final class PostgresVaultStorage: VaultStorage, @unchecked Sendable {
    /// The database.
    public let database: PostgresDatabase
    private let processLock: NSRecursiveLock

    /// The vault in `database` (migrated with ``PostgresDatabase/migrate()`` at start; ``Vault/create(storage:protection:actor:now:)`` migrates too).
    public init(database: PostgresDatabase) {
        self.database = database
        self.processLock = NSRecursiveLock()
    }

    private init(database: PostgresDatabase, processLock: NSRecursiveLock) {
        self.database = database
        self.processLock = processLock
    }

    /// Advisory lock keys (`hashtextextended` of these names) for the critical sections.
    static let auditLockName = "certvault vault audit"
    static func tenantLockName(_ tenant: TenantID) -> String { "certvault vault tenant \(tenant.rawValue)" }

    public var location: String { database.settings.displayURL }

    public func describe(_ relative: String) -> String {
        let parts = relative.split(separator: "/")
        if parts.count == 3, parts[0] == "tenants" {
            let generation = parts[2].hasSuffix(".entry") ? Int(parts[2].dropLast(6)).map(String.init) ?? String(parts[2]) : String(parts[2])
            return "vault_entries row (\(parts[1]), \(generation)) in \(location)"
        }
        if relative == "audit.log" { return "vault_audit in \(location)" }
        return "vault_blobs row '\(relative)' in \(location)"
    }

    public func anotherHandle() throws -> any VaultStorage { PostgresVaultStorage(database: database, processLock: processLock) }

    /// False also for a database whose schema was never created (SQLSTATE 42P01, no such table).
    public func exists() throws -> Bool {
        do {
            return try blobRevision(.keyring) != nil
        } catch let error as CertVaultError where error.underlying?.hasPrefix("SQLSTATE 42P01") == true {
            return false
        }
    }

    public func prepareForCreate() throws { try database.migrate() }

    public func checkBeforeOpen() throws {}

    public func withLock<T>(_ body: () throws -> T) throws -> T {
        processLock.lock()
        defer { processLock.unlock() }
        return try body()
    }

    // MARK: Blobs

    public func readBlob(_ blob: VaultBlob) throws -> StoredBlob? {
        let name = blob.rawValue
        return try database.blocking { client in
            let rows = try await client.query("SELECT bytes, revision FROM vault_blobs WHERE name = \(name)", logger: PostgresDatabase.quiet)
            for try await (bytes, revision) in rows.decode((Data, Int64).self) {
                return StoredBlob(bytes: Array(bytes), revision: String(revision))
            }
            return nil
        }
    }

    public func blobRevision(_ blob: VaultBlob) throws -> String? {
        let name = blob.rawValue
        return try database.blocking { client in
            let rows = try await client.query("SELECT revision FROM vault_blobs WHERE name = \(name)", logger: PostgresDatabase.quiet)
            for try await revision in rows.decode(Int64.self) { return String(revision) }
            return nil
        }
    }

    public func createBlob(_ blob: VaultBlob, bytes: [UInt8]) throws {
        let name = blob.rawValue
        let data = Data(bytes)
        try database.blocking { client in
            _ = try await client.query("INSERT INTO vault_blobs (name, bytes) VALUES (\(name), \(data))", logger: PostgresDatabase.quiet)
        }
    }

    public func replaceBlob(_ blob: VaultBlob, bytes: [UInt8], expectedRevision: String?) throws {
        let name = blob.rawValue
        let data = Data(bytes)
        if let expectedRevision {
            guard let expected = Int64(expectedRevision) else {
                throw CertVaultError(.invalidInput, "'\(expectedRevision)' is not a revision of \(describe(name)).", hint: "Read the blob again.")
            }
            let changed = try database.blocking { client in
                let rows = try await client.query("""
                    UPDATE vault_blobs SET bytes = \(data), revision = revision + 1, updated_at = now()
                    WHERE name = \(name) AND revision = \(expected) RETURNING revision
                    """, logger: PostgresDatabase.quiet)
                for try await _ in rows.decode(Int64.self) { return true }
                return false
            }
            guard changed else {
                throw CertVaultError(.alreadyExists, "\(describe(name)) was changed by another writer (another replica).",
                                     hint: "Nothing was replaced; read it again and retry.")
            }
        } else {
            try database.blocking { client in
                _ = try await client.query("""
                    INSERT INTO vault_blobs (name, bytes) VALUES (\(name), \(data))
                    ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes, revision = vault_blobs.revision + 1, updated_at = now()
                    """, logger: PostgresDatabase.quiet)
            }
        }
    }

    // MARK: Entries

    public func readEntry(tenant: TenantID, generation: Int) throws -> [UInt8]? {
        let name = tenant.rawValue
        return try database.blocking { client in
            let rows = try await client.query("SELECT bytes FROM vault_entries WHERE tenant = \(name) AND generation = \(generation)",
                                              logger: PostgresDatabase.quiet)
            for try await bytes in rows.decode(Data.self) { return Array(bytes) }
            return nil
        }
    }

    public func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8]) throws {
        let name = tenant.rawValue
        let data = Data(bytes)
        // The primary key claims the number: a second INSERT of it fails with a unique violation
        // (`already-exists`), whichever replica it comes from.
        try database.blocking { client in
            _ = try await client.query("INSERT INTO vault_entries (tenant, generation, bytes) VALUES (\(name), \(generation), \(data))",
                                       logger: PostgresDatabase.quiet)
        }
    }

    public func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8], sealedUnderKeyring keyringRevision: String?) throws {
        guard let keyringRevision, let expected = Int64(keyringRevision) else {
            return try createEntry(tenant: tenant, generation: generation, bytes: bytes)
        }
        let name = tenant.rawValue
        let data = Data(bytes)
        let where_ = describe("keyring")
        // FOR SHARE holds the keyring row until this transaction ends: a rotation's keyring UPDATE
        // waits for the insert to commit (and its scan then sees the entry), or it committed first
        // and the revision differs here.
        try database.transaction { connection in
            var current: Int64?
            for try await revision in try await connection.query(
                "SELECT revision FROM vault_blobs WHERE name = 'keyring' FOR SHARE", logger: PostgresDatabase.quiet
            ).decode(Int64.self) {
                current = revision
            }
            guard current == expected else {
                throw CertVaultError(.keyringChanged, "\(where_) changed (another replica rotated the KEK) after the entry was sealed.",
                                     hint: "Nothing was stored; the vault reloads the keyring and seals the entry again.")
            }
            _ = try await connection.query("INSERT INTO vault_entries (tenant, generation, bytes) VALUES (\(name), \(generation), \(data))",
                                           logger: PostgresDatabase.quiet)
        }
    }

    public func allEntries() throws -> [(tenant: TenantID, generation: Int, bytes: [UInt8])] {
        let rows = try database.blocking { client in
            var rows: [(String, Int, Data)] = []
            for try await row in try await client.query(
                "SELECT tenant, generation, bytes FROM vault_entries ORDER BY tenant, generation", logger: PostgresDatabase.quiet
            ).decode((String, Int, Data).self) {
                rows.append(row)
            }
            return rows
        }
        // A tenant name that is no valid id is a row nobody but certvault should have written: it is
        // left out here, as a stray folder is by the file backend, and `vault verify` names it.
        return rows.compactMap { tenant, generation, bytes -> (tenant: TenantID, generation: Int, bytes: [UInt8])? in
            guard let id = try? TenantID(tenant), generation >= 1 else { return nil }
            return (id, generation, Array(bytes))
        }
        // The order of tenants() (Swift's, not the database's collation).
        .sorted { ($0.tenant.rawValue, $0.generation) < ($1.tenant.rawValue, $1.generation) }
    }

    @discardableResult
    public func updateEntry(tenant: TenantID, generation: Int, _ change: ([UInt8]) throws -> [UInt8]?) throws -> Bool {
        let name = tenant.rawValue
        let lockName = PostgresVaultStorage.tenantLockName(tenant)
        return try withoutActuallyEscaping(change) { change in
            let scoped = ScopedCall(change)
            defer { scoped.end() }
            return try database.transaction { connection in
                _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockName), 0))", logger: PostgresDatabase.quiet)
                let rows = try await connection.query(
                    "SELECT bytes FROM vault_entries WHERE tenant = \(name) AND generation = \(generation) FOR UPDATE", logger: PostgresDatabase.quiet)
                var current: [UInt8]?
                for try await bytes in rows.decode(Data.self) { current = Array(bytes) }
                guard let current else { return false }
                guard let changed = try scoped.call(current) else { return true }
                let data = Data(changed)
                _ = try await connection.query(
                    "UPDATE vault_entries SET bytes = \(data) WHERE tenant = \(name) AND generation = \(generation)", logger: PostgresDatabase.quiet)
                return true
            }
        }
    }

    public func generations(of tenant: TenantID) throws -> [Int] {
        let name = tenant.rawValue
        return try database.blocking { client in
            let rows = try await client.query("SELECT generation FROM vault_entries WHERE tenant = \(name) ORDER BY generation",
                                              logger: PostgresDatabase.quiet)
            var found: [Int] = []
            for try await generation in rows.decode(Int.self) { found.append(generation) }
            return found
        }
    }

    public func tenants() throws -> [TenantID] {
        let names = try database.blocking { client in
            let rows = try await client.query("SELECT DISTINCT tenant FROM vault_entries", logger: PostgresDatabase.quiet)
            var found: [String] = []
            for try await name in rows.decode(String.self) { found.append(name) }
            return found
        }
        return names.compactMap { try? TenantID($0) }.sorted()
    }

    public func inventory() throws -> (entries: [(TenantID, Int)], strays: [String]) {
        let rows = try database.blocking { client in
            let rows = try await client.query("SELECT tenant, generation FROM vault_entries", logger: PostgresDatabase.quiet)
            var found: [Pair] = []
            for try await (tenant, generation) in rows.decode((String, Int).self) { found.append(Pair(tenant: tenant, generation: generation)) }
            return found
        }
        var entries: [(TenantID, Int)] = []
        var strays: [String] = []
        for row in rows {
            if let tenant = try? TenantID(row.tenant) {
                entries.append((tenant, row.generation))
            } else {
                strays.append("vault_entries row (\(row.tenant), \(row.generation)): not a valid tenant name")
            }
        }
        entries.sort { ($0.0.rawValue, $0.1) < ($1.0.rawValue, $1.1) }
        return (entries, strays.sorted())
    }

    private struct Pair: Sendable {
        let tenant: String
        let generation: Int
    }

    // MARK: Audit log

    public func appendAudit(_ make: (AuditTail?) throws -> AuditAppend) throws {
        let lockName = PostgresVaultStorage.auditLockName
        try withoutActuallyEscaping(make) { make in
            let scoped = ScopedCall(make)
            defer { scoped.end() }
            try database.transaction { connection in
                // One appender at a time across every replica; the chain continues from the last row.
                _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockName), 0))", logger: PostgresDatabase.quiet)
                let rows = try await connection.query("SELECT sequence, line FROM vault_audit ORDER BY sequence DESC LIMIT 1",
                                                      logger: PostgresDatabase.quiet)
                var tail: AuditTail?
                for try await (sequence, line) in rows.decode((Int, String).self) {
                    let mac = line.split(separator: "\t", omittingEmptySubsequences: false).last.map(String.init) ?? ""
                    tail = AuditTail(sequence: sequence, mac: mac)
                }
                let append = try scoped.call(tail)
                guard !append.lines.isEmpty else { return }
                let sequences = append.lines.map { Int64($0.sequence) }
                let lines = append.lines.map { $0.text.hasSuffix("\n") ? String($0.text.dropLast()) : $0.text }
                _ = try await connection.query(
                    "INSERT INTO vault_audit (sequence, line) SELECT * FROM unnest(\(sequences)::bigint[], \(lines)::text[])",
                    logger: PostgresDatabase.quiet)
                let head = Data(append.head)
                _ = try await connection.query("""
                    INSERT INTO vault_blobs (name, bytes) VALUES ('audit.head', \(head))
                    ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes, revision = vault_blobs.revision + 1, updated_at = now()
                    """, logger: PostgresDatabase.quiet)
            }
        }
    }

    public func readAuditLog() throws -> [UInt8] {
        try database.blocking { client in
            let rows = try await client.query("SELECT line FROM vault_audit ORDER BY sequence", logger: PostgresDatabase.quiet)
            var bytes: [UInt8] = []
            for try await line in rows.decode(String.self) {
                bytes += line.utf8
                bytes.append(UInt8(ascii: "\n"))
            }
            return bytes
        }
    }

    public func readAuditHead() throws -> [UInt8]? {
        try database.blocking { client in
            let rows = try await client.query("SELECT bytes FROM vault_blobs WHERE name = 'audit.head'", logger: PostgresDatabase.quiet)
            for try await bytes in rows.decode(Data.self) { return Array(bytes) }
            return nil
        }
    }
}

/// A caller's non-escaping closure, handed to a bridged database call that runs it on another
/// thread while the caller waits. ``end()`` (when the wait is over, also after a timeout) drops
/// it under the lock: a call still running is waited for, and none starts after.
final class ScopedCall<Argument, Result>: @unchecked Sendable {
    private let lock = NSLock()
    private var body: ((Argument) throws -> Result)?

    init(_ body: @escaping (Argument) throws -> Result) {
        self.body = body
    }

    func call(_ argument: Argument) throws -> Result {
        lock.lock()
        defer { lock.unlock() }
        guard let body else {
            throw CertVaultError(.storageUnavailable, "A database call outlived its caller's wait.", hint: "Try again.")
        }
        return try body(argument)
    }

    func end() {
        lock.lock()
        body = nil
        lock.unlock()
    }
}
