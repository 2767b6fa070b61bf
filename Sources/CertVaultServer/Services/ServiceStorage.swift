public import CertVaultAccess
public import CertVaultConfiguration
internal import CertVaultCore
public import CertVaultOnboarding
public import CertVaultPostgres
public import CertVaultVault
public import CertVaultWebhooks
public import Logging

/// Where the service's state lives, as `[storage]` says: the files beside the vault (the default),
/// or one PostgreSQL database shared by several replicas. `certvault serve` and the CLI's commands
/// that read the configuration open their tokens, invitations and webhook outbox through it, so
/// both always use the same store.
///
/// With `backend = "postgres"` it makes one ``PostgresDatabase`` per process from
/// ``ServiceConfiguration/StorageSettings``, starts its pool and brings the schema up to date
/// (``PostgresDatabase/migrate()``) before anything else uses it.
public final class ServiceStorage: Sendable {
    /// The shared database; nil with the file backend.
    public let database: PostgresDatabase?

    /// Storage over `database` (nil: files).
    public init(database: PostgresDatabase?) {
        self.database = database
    }

    /// Opens what `configuration`'s `[storage]` names: nothing for files; for PostgreSQL the pool,
    /// started and migrated. Blocking (it waits for the database): call it off any event loop.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` (URL, password source), `storage-unavailable`
    ///   (the database cannot be reached within `[storage] timeout`, or its schema is newer).
    public static func open(_ configuration: ServiceConfiguration, logger: Logger) throws -> ServiceStorage {
        let storage = configuration.storage
        guard storage.backend == .postgres else { return ServiceStorage(database: nil) }
        guard let url = storage.url else {
            throw CertVaultError(.invalidInput, "[storage] backend = \"postgres\" needs a url.",
                                 hint: "Set url = \"postgres://USER@HOST:5432/DATABASE\" in [storage] of the configuration file.")
        }
        let settings = try PostgresSettings(
            url: url, password: storage.password, caFile: storage.caFile, poolSize: storage.poolSize,
            timeoutSeconds: storage.timeoutSeconds, replicaID: storage.replicaID, leaseSeconds: storage.leaseSeconds)
        let database = try PostgresDatabase(settings: settings, logger: logger)
        database.start()
        do {
            let version = try database.migrate()
            logger.info("storage: PostgreSQL \(settings.displayURL), schema version \(version), replica \(settings.replicaID)")
        } catch {
            database.shutdown()
            throw error
        }
        return ServiceStorage(database: database)
    }

    /// True when the state is in the shared database.
    public var isShared: Bool { database != nil }

    /// Where the state is, for logs: the database's URL (no password), or "files".
    public var description: String { database.map { $0.settings.displayURL } ?? "files" }

    /// The vault's storage: its rows in the database (``CertVaultPostgres/PostgresVaultStorage``), else
    /// the folder `[vault] path`. The root key stays in the local key file or passphrase either way.
    public func vaultStorage(_ settings: ServiceConfiguration.VaultSettings) -> any VaultStorage {
        guard let database else { return FileVaultStorage(path: settings.path) }
        return PostgresVaultStorage(database: database)
    }

    /// True when the vault exists where ``vaultStorage(_:)`` says.
    ///
    /// - Throws: `storage-unavailable` from the database.
    public func vaultExists(_ settings: ServiceConfiguration.VaultSettings) throws -> Bool {
        try Vault.exists(storage: vaultStorage(settings))
    }

    /// Opens the vault where ``vaultStorage(_:)`` says, unlocked as `[vault]` says. Blocking.
    ///
    /// - Throws: the errors of `Vault.open(storage:unlock:actor:)`.
    public func openVault(_ settings: ServiceConfiguration.VaultSettings, actor: String = Vault.currentUser) throws -> Vault {
        try Vault.open(storage: vaultStorage(settings), unlock: settings.rootKeyProtection(), actor: actor)
    }

    /// The token store of `vault`: the `tokens` row of the database, else the file (`path`, default
    /// `<vault>/tokens`).
    ///
    /// - Throws: the errors of ``CertVaultAccess/TokenStore/init(backend:key:policies:logger:)``.
    public func tokenStore(vault: Vault, path: String? = nil, policies: AccessPolicySet = .empty, logger: Logger) throws -> TokenStore {
        guard let database else { return try TokenStore(vault: vault, path: path, policies: policies, logger: logger) }
        return try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens),
                              key: vault.derivedKey(purpose: TokenStore.keyPurpose), policies: policies, logger: logger)
    }

    /// The invitation store of `vault`: the `invitations` row of the database, else `<vault>/invitations`.
    ///
    /// - Throws: the errors of ``CertVaultAccess/InvitationStore/init(backend:key:)``.
    public func invitationStore(vault: Vault) throws -> InvitationStore {
        guard let database else { return try InvitationStore(path: InvitationStore.defaultPath(vault: vault.path), vault: vault) }
        return try InvitationStore(backend: PostgresAccessDocuments(database: database, store: .invitations),
                                   key: vault.derivedKey(purpose: InvitationStore.keyPurpose))
    }

    /// The webhook outbox for `receivers`: the `webhook_outbox` table, else the folder `path`.
    ///
    /// - Throws: the folder's errors (``CertVaultWebhooks/WebhookOutbox/init(path:receivers:logger:clock:)``).
    public func webhookOutbox(path: String, receivers: [String], logger: Logger) throws -> WebhookOutbox {
        guard let database else { return try WebhookOutbox(path: path, receivers: receivers, logger: logger) }
        return WebhookOutbox(backend: PostgresWebhookOutbox(database: database, logger: logger), receivers: receivers, logger: logger)
    }

    /// The onboarding records: the `onboarding_records` table (per-tenant work under lease rows), else
    /// the folder `folder`.
    ///
    /// - Throws: the folder's errors.
    public func onboardingStore(folder: String) throws -> OnboardingStore {
        guard let database else { return try OnboardingStore(folder: folder) }
        return OnboardingStore(backend: PostgresOnboardingBackend(database: database, leaseSeconds: Double(database.settings.leaseSeconds)))
    }

    /// The lease of the background job `name` (``CertVaultOnboarding/JobLease/onboardingWorker`` and
    /// its siblings) for this replica (`[storage] replica_id`); nil with files (one process serves).
    public func jobLease(_ name: String, logger: Logger) -> JobLease? {
        guard let database else { return nil }
        return JobLease(name: name, leases: PostgresLeases(database: database), holder: database.settings.replicaID,
                        seconds: Double(database.settings.leaseSeconds), logger: logger)
    }

    /// Throws `storage-unavailable` when the database does not answer (one round trip); nothing
    /// with files. For `/readyz`.
    public func check() throws {
        try database?.ping()
    }

    /// Stops the pool (at the end of `serve`).
    public func shutdown() { database?.shutdown() }
}
