internal import CertVaultCore
internal import Logging
internal import PostgresNIO

/// The database's tables, created and changed by numbered migrations.
///
/// `certvault_schema` records which migrations ran. ``PostgresDatabase/migrate()`` runs the
/// missing ones at start, in one transaction under an advisory lock, so two replicas starting at
/// once do not both run them, a failure leaves the schema as it was, and running it again changes
/// nothing. A database whose schema is newer than this program knows is refused.
///
/// Each area owns its statements (Schema+Vault.swift, Schema+Onboarding.swift, ...);
/// docs/operations.md lists the tables and what the database administrator can read in them.
enum Schema {
    struct Migration {
        let version: Int
        let description: String
        let statements: [String]
    }

    /// Every migration, in order. Never change one that has shipped; add the next.
    static let migrations: [Migration] = [
        Migration(version: 1, description: "vault, onboarding, leases, access, webhooks",
                  statements: vaultTables + onboardingTables + accessTables + webhookTables),
    ]

    /// The newest version this program knows.
    static var latest: Int { migrations.map(\.version).max() ?? 0 }

    /// The advisory lock key migrations run under ("certvault" in ASCII, as a number).
    static let migrationLock: Int64 = 0x6365_7274_7661_756C
}

extension PostgresDatabase {
    /// Brings the schema up to date (see ``Schema``) and returns its version.
    ///
    /// - Throws: `storage-unavailable` when the database cannot be reached or its schema is newer
    ///   than this program's.
    @discardableResult
    public func migrate() throws -> Int {
        let settings = self.settings
        return try transaction(timeout: .seconds(Int64(max(settings.timeoutSeconds, 60)))) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Schema.migrationLock))", logger: Self.quiet)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS certvault_schema (
                    version integer PRIMARY KEY,
                    description text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: Self.quiet)
            var current = 0
            for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM certvault_schema",
                                                                 logger: Self.quiet).decode(Int.self) {
                current = version
            }
            if current > Schema.latest {
                throw CertVaultError(.storageUnavailable,
                                     "The database's schema is version \(current), newer than this certvault knows (\(Schema.latest)).",
                                     hint: "Run the newer certvault that upgraded the database on every replica; never run an older one against it.")
            }
            for migration in Schema.migrations where migration.version > current {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Self.quiet)
                }
                try await connection.query("INSERT INTO certvault_schema (version, description) VALUES (\(migration.version), \(migration.description))",
                                           logger: Self.quiet)
            }
            return Schema.latest
        }
    }

    /// A logger that drops postgres-nio's per-query messages.
    static let quiet = Logger(label: "certvault.postgres.query", factory: { _ in SwiftLogNoOpLogHandler() })
}
