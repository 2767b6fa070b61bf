import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultPostgres
import CertVaultVault

extension VaultCommand {
    /// `certvault vault migrate --to postgres|files`: the vault between its folder and PostgreSQL.
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the vault into PostgreSQL ([storage] of --config), or from there into a new folder; then verify it.",
            discussion: """
                --to postgres copies the file vault named by [vault] path (or --vault) into the database of \
                [storage] url; --to files DIR copies the database's vault into the folder DIR. The bytes are \
                copied unchanged (blobs, every entry, the audit log's lines and head); then the target is opened \
                with the same key file or passphrase, and every entry and the audit chain must verify (exit 1 if \
                not). Safe to run again after an interruption: what the target already holds with the same bytes \
                is skipped; a target holding other data is refused and nothing there is replaced. The database \
                password comes from [storage] password_file, password_fd or password_credential, never from the \
                command line. Stop the services that write to the source while it runs.
                """)

        enum Target: String, ExpressibleByArgument, CaseIterable {
            case postgres, files
        }

        @OptionGroup var vault: VaultOptions

        @Option(name: .long, help: ArgumentHelp("Where to copy the vault: postgres or files (then give the folder).", valueName: "target"))
        var to: Target

        @Argument(help: ArgumentHelp("With --to files: the folder of the new file vault.", valueName: "dir"))
        var directory: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func validate() throws {
            switch to {
            case .files where directory == nil:
                throw ValidationError("--to files needs the new vault's folder: certvault vault migrate --to files DIR --config FILE")
            case .postgres where directory != nil:
                throw ValidationError("--to postgres takes no folder: the database is [storage] url in --config.")
            default:
                break
            }
        }

        func run() throws {
            let configuration = try vault.configuration()
            let storage = configuration.storage
            guard let url = storage.url else {
                throw CertVaultError(.invalidInput, "The configuration names no database: [storage] url is missing.",
                                     hint: "Give --config with a [storage] table (backend = \"postgres\", url, password_file); "
                                         + "see docs/configuration.md.")
            }
            let settings = try PostgresSettings(url: url, password: storage.password, caFile: storage.caFile, poolSize: 2,
                                                timeoutSeconds: max(storage.timeoutSeconds, 60), replicaID: storage.replicaID,
                                                leaseSeconds: storage.leaseSeconds)
            let database = try PostgresDatabase(settings: settings)
            defer { database.shutdown() }
            try database.migrate()
            let postgres = PostgresVaultStorage(database: database)
            let files = FileVaultStorage(path: try directory ?? vault.vaultPath)
            let (source, target): (any VaultStorage, any VaultStorage) = to == .postgres ? (files, postgres) : (postgres, files)
            let report = try Self.migrate(from: source, to: target, unlock: try vault.protection())
            if json {
                Terminal.out(try Terminal.json(report) + "\n")
            } else {
                Terminal.out("Copied \(report.entriesCopied) entries and \(report.auditRecordsCopied) audit records from \(source.location) "
                    + "to \(target.location) (already there: \(report.entriesAlreadyThere) entries).\n")
                let check = report.verification
                Terminal.out("Verified the target: \(check.entries) entries and \(check.auditRecords) audit records: "
                    + (check.intact ? "all intact.\n" : "\(check.problems.count) problem(s).\n"))
                for problem in check.problems { Terminal.out("  FAILED: \(problem)\n") }
            }
            if !report.verification.intact { throw ExitCode(1) }
        }

        /// Opens the source with the key (it must verify: a copy of a damaged vault would verify as
        /// damaged), then copies it into the target and verifies the target (``Vault/copy(to:)``).
        static func migrate(from source: any VaultStorage, to target: any VaultStorage,
                            unlock: RootKeyProtection) throws -> VaultCopyReport {
            guard try source.exists() else {
                throw CertVaultError(.vaultMissing, "There is no vault at \(source.location) to migrate.",
                                     hint: "Check [vault] path (for --to postgres, or --vault) or [storage] url (for --to files) in --config.")
            }
            let vault = try Vault.open(storage: source, unlock: unlock)
            let check = try vault.verify()
            guard check.intact else {
                throw CertVaultError(.vaultCorrupt, "The vault at \(source.location) does not verify (\(check.problems.count) problem(s), "
                                     + "first: \(check.problems[0])); certvault migrates only an intact vault.",
                                     hint: "Run 'certvault vault verify' on it and repair it first (reindex, or restore from a backup).")
            }
            // The target's place must exist before its writers' lock can be taken (a new folder for --to files).
            if try !target.exists() { try target.prepareForCreate() }
            return try vault.copy(to: target)
        }
    }
}
