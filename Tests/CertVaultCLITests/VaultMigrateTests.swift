import CertVaultCore
import CertVaultPostgres
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

/// A file vault with three generations of two tenants (issued by the CLI), an empty database of
/// its own on the test server, and a configuration file naming both.
private final class MigrationWorld: @unchecked Sendable {
    let dir: TemporaryDirectory
    let server: PostgresTestServer
    let database: String
    let config: String
    /// No CERTVAULT_* variable from CLI.isolation may override the file (an empty one counts as unset).
    let env = ["CERTVAULT_VAULT": "", "CERTVAULT_KEY_FILE": "", "CERTVAULT_CONFIG": ""]

    /// nil when no PostgreSQL server can be had (the test then skips; in CI it fails).
    static func make() throws -> MigrationWorld? {
        if let reason = PostgresTestServer.unavailableReason {
            if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here (CERTVAULT_REQUIRE_TOOLS=1): \(reason)") }
            return nil
        }
        return try MigrationWorld()
    }

    private init() throws {
        dir = try TemporaryDirectory()
        server = try PostgresTestServer.shared()
        database = try server.makeDatabase(prefix: "migrate")
        config = try dir.write("certvault.toml", """
            [vault]
            path = "\(dir.file("vault"))"
            key_file = "\(dir.file("vault-key/root.key"))"

            [storage]
            backend = "postgres"
            url = "\(server.url(database: database))"
            password_file = "\(server.passwordFile)"
            """)
        try check(run(["init", "--config", config]))
        for tenant in ["contoso", "contoso", "fabrikam"] {
            try check(run(["issue", tenant, "--org", tenant.capitalized, "--policy", CLI.defaultPolicy, "--config", config]))
        }
    }

    func run(_ arguments: [String]) throws -> ProcessOutput {
        try CLI.run(arguments, environment: env, in: dir.path)
    }

    @discardableResult
    func check(_ output: ProcessOutput) throws -> ProcessOutput {
        try #require(output.status == 0, "\(output.combined)")
        return output
    }

    var vaultFiles: [String] {
        ["keyring", "tenants/contoso/00000001.entry", "tenants/contoso/00000002.entry", "tenants/fabrikam/00000001.entry",
         "audit.log", "audit.head"]
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// The row's bytes as hex, read with psql (not through certvault).
    func rowHex(_ tenant: String, _ generation: Int) throws -> String {
        try server.psql(database: database, "SELECT encode(bytes, 'hex') FROM vault_entries WHERE tenant = '\(tenant)' AND generation = \(generation)")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func count(_ table: String) throws -> Int {
        Int(try server.psql(database: database, "SELECT count(*) FROM \(table)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// A connection of the test's own to the world's database.
    func openDatabase() throws -> PostgresDatabase {
        let settings = try PostgresSettings(url: server.url(database: database), password: .file(server.passwordFile), timeoutSeconds: 30)
        return try PostgresDatabase(settings: settings)
    }
}

@Suite("certvault vault migrate: a file vault into PostgreSQL and back", .serialized)
struct VaultMigrateTests {
    @Test("--to postgres copies every entry byte for byte and the audit log; the credential reads out through PostgreSQL")
    func migrateToPostgres() throws {
        guard let world = try MigrationWorld.make() else { return }
        // The credential as the file vault gives it out (export), to compare with the database's.
        try world.check(world.run(["export", "contoso", "--generation", "1", "--out", world.dir.file("c.pfx"), "--config", world.config]))
        let auditLines = try String(contentsOfFile: world.dir.file("vault/audit.log"), encoding: .utf8).split(separator: "\n").count

        let migrated = try world.check(world.run(["vault", "migrate", "--to", "postgres", "--config", world.config]))
        #expect(migrated.stdout.contains("Copied 3 entries and \(auditLines) audit records"), "\(migrated.stdout)")
        #expect(migrated.stdout.contains("all intact"))
        #expect(try world.count("vault_entries") == 3)
        #expect(try world.count("vault_audit") == auditLines)
        // Every row holds exactly the bytes the file backend wrote.
        for (tenant, generation) in [("contoso", 1), ("contoso", 2), ("fabrikam", 1)] {
            let file = try world.bytes(world.dir.file("vault/tenants/\(tenant)/0000000\(generation).entry"))
            #expect(try world.rowHex(tenant, generation) == world.hex(file), "\(tenant) \(generation)")
        }
        let keyring = try world.server.psql(database: world.database, "SELECT encode(bytes, 'hex') FROM vault_blobs WHERE name = 'keyring'")
        #expect(keyring.trimmingCharacters(in: .whitespacesAndNewlines) == world.hex(try world.bytes(world.dir.file("vault/keyring"))))

        // Running it again copies nothing and still verifies.
        let again = try world.check(world.run(["vault", "migrate", "--to", "postgres", "--config", world.config]))
        #expect(again.stdout.contains("Copied 0 entries and 0 audit records"), "\(again.stdout)")
        #expect(try world.count("vault_entries") == 3)

        // Opened through PostgreSQL with the same key file, the same PFX and password come out.
        let database = try world.openDatabase()
        defer { database.shutdown() }
        let vault = try Vault.open(storage: PostgresVaultStorage(database: database), unlock: .keyFile(path: world.dir.file("vault-key/root.key")),
                                   actor: "test")
        let (generation, payload, _) = try vault.readOut(tenant: try TenantID("contoso"), generation: 1, purpose: "migration test")
        #expect(generation == 1)
        #expect(payload.pfx == (try world.bytes(world.dir.file("c.pfx"))))
        let password = try String(contentsOfFile: world.dir.file("c.pfx.password"), encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(payload.password.withUnsafeBytes { Array($0) } == Array(password.utf8))
        #expect(try vault.verify().intact)

    }

    @Test("An interrupted migration (half the rows there) is finished by running it again")
    func interruptedMigrationResumes() throws {
        guard let world = try MigrationWorld.make() else { return }
        let database = try world.openDatabase()
        defer { database.shutdown() }
        try database.migrate()
        // What an interrupted run leaves: some entries copied, no keyring yet.
        for (tenant, generation) in [("contoso", 1), ("fabrikam", 1)] {
            let file = try world.bytes(world.dir.file("vault/tenants/\(tenant)/0000000\(generation).entry"))
            try world.server.psql(database: world.database,
                                  "INSERT INTO vault_entries (tenant, generation, bytes) VALUES ('\(tenant)', \(generation), decode('\(world.hex(file))', 'hex'))")
        }
        let resumed = try world.check(world.run(["vault", "migrate", "--to", "postgres", "--config", world.config]))
        #expect(resumed.stdout.contains("Copied 1 entries"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("already there: 2 entries"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("all intact"))
        #expect(try world.count("vault_entries") == 3)
    }

    @Test("A database holding other bytes under a tenant and generation is refused, and nothing there is replaced")
    func differentTargetRefused() throws {
        guard let world = try MigrationWorld.make() else { return }
        let database = try world.openDatabase()
        defer { database.shutdown() }
        try database.migrate()
        // fabrikam's generation 1 stored under contoso/1: another vault's row.
        let other = try world.bytes(world.dir.file("vault/tenants/fabrikam/00000001.entry"))
        try world.server.psql(database: world.database,
                              "INSERT INTO vault_entries (tenant, generation, bytes) VALUES ('contoso', 1, decode('\(world.hex(other))', 'hex'))")
        let refused = try world.run(["vault", "migrate", "--to", "postgres", "--config", world.config])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("vault_entries row (contoso, 1)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("already holds something other than the vault being copied"), "\(refused.stderr)")
        #expect(refused.stderr.contains("hint:"), "\(refused.stderr)")
        #expect(try world.rowHex("contoso", 1) == world.hex(other))
        #expect(try world.count("vault_entries") == 1)
        #expect(try world.count("vault_audit") == 0)
    }

    @Test("--to files DIR gives back a vault whose keyring, entries, audit log and head are the original files byte for byte")
    func migrateBackToFiles() throws {
        guard let world = try MigrationWorld.make() else { return }
        try world.check(world.run(["vault", "migrate", "--to", "postgres", "--config", world.config]))
        let back = world.dir.file("back")
        let migrated = try world.check(world.run(["vault", "migrate", "--to", "files", back, "--config", world.config]))
        #expect(migrated.stdout.contains("Copied 3 entries"), "\(migrated.stdout)")
        #expect(migrated.stdout.contains("all intact"))
        for file in world.vaultFiles {
            #expect(try world.bytes("\(back)/\(file)") == world.bytes(world.dir.file("vault/\(file)")), "\(file)")
        }
        #expect(try TemporaryDirectory.mode(back) == 0o700)
        #expect(try TemporaryDirectory.mode("\(back)/keyring") == 0o600)
        // The new folder is an ordinary vault.
        let verify = try world.run(["vault", "verify", "--vault", back, "--key-file", world.dir.file("vault-key/root.key")])
        #expect(verify.status == 0, "\(verify.combined)")
        #expect(verify.stdout.contains("Checked 3 entries"))
        // Again: nothing to copy.
        let again = try world.check(world.run(["vault", "migrate", "--to", "files", back, "--config", world.config]))
        #expect(again.stdout.contains("Copied 0 entries and 0 audit records"), "\(again.stdout)")
    }

    @Test("--to files needs a folder, --to postgres takes none, and a configuration without [storage] url is refused with a hint")
    func usageErrors() throws {
        let dir = try TemporaryDirectory()
        let noFolder = try CLI.run(["vault", "migrate", "--to", "files"], in: dir.path)
        #expect(noFolder.status != 0)
        #expect(noFolder.stderr.contains("--to files needs the new vault's folder"), "\(noFolder.stderr)")
        let config = try dir.write("certvault.toml", """
            [vault]
            path = "\(dir.file("vault"))"
            key_file = "\(dir.file("key/root.key"))"
            """)
        let noURL = try CLI.run(["vault", "migrate", "--to", "postgres", "--config", config],
                                environment: ["CERTVAULT_VAULT": "", "CERTVAULT_KEY_FILE": ""], in: dir.path)
        #expect(noURL.status != 0)
        #expect(noURL.stderr.contains("[storage] url is missing"), "\(noURL.stderr)")
        #expect(noURL.stderr.contains("hint:"), "\(noURL.stderr)")
    }
}
