public import CertVaultCore
public import Logging
internal import Foundation
internal import PostgresNIO

/// The connection pool to the shared store, and the one way the storage implementations of this
/// module reach it.
///
/// One per process: `certvault serve` and the CLI make it from `[storage]`, call ``start()``
/// (which runs the pool) and ``migrate()``, and hand it to the stores (``PostgresVaultStorage``,
/// the onboarding records, tokens, invitations, the webhook outbox).
///
/// Every query has bound parameters (postgres-nio turns `\(value)` in a query literal into a
/// parameter); no SQL is ever built from a value.
///
/// Failures: a call that cannot get a connection, or gets no answer within
/// ``PostgresSettings/timeoutSeconds``, throws `storage-unavailable` (the service answers 503;
/// the caller may try again). A unique-key violation throws `already-exists`. Any other refusal by
/// the server throws `storage-unavailable` too, with PostgreSQL's SQLSTATE and message (which
/// name no values) in `underlying`.
public final class PostgresDatabase: Sendable {
    public let settings: PostgresSettings
    let client: PostgresClient
    let logger: Logger
    private let runner = RunState()

    /// Makes the pool (it connects at the first query). Reads the password from its source once.
    ///
    /// The password has to become a `String` here: postgres-nio keeps it in its configuration for
    /// reconnecting. It stays in that one place, is never logged, and never leaves the process.
    public init(settings: PostgresSettings, logger: Logger = Logger(label: "certvault.postgres")) throws {
        self.settings = settings
        self.logger = logger
        var password: String?
        if let source = settings.password {
            let secret = try source.read()
            password = secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            if let text = password, text.hasSuffix("\n") { password = String(text.dropLast()) }
        }
        let tls: PostgresClient.Configuration.TLS
        switch settings.tls {
        case .disable:
            tls = .disable
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let caFile = settings.caFile {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                } catch {
                    throw CertVaultError(.invalidInput, "The storage CA bundle '\(caFile)' cannot be read as PEM certificates.",
                                         hint: "Point ca_file in [storage] at the PEM file of the CA that signed the database server's certificate.")
                }
            }
            tls = .require(configuration)
        }
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: password,
            database: settings.database, tls: tls)
        configuration.options.maximumConnections = settings.poolSize
        configuration.options.connectTimeout = .seconds(Int64(settings.timeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", "certvault")]
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    deinit { runner.stop() }

    /// Runs the pool in the background (once; later calls do nothing). Queries before it would wait.
    public func start() {
        runner.start { [client] in await client.run() }
    }

    /// Stops the pool; queries after it fail with `storage-unavailable`.
    public func shutdown() { runner.stop() }

    /// Runs `body` with the pool and waits for it, at most ``PostgresSettings/timeoutSeconds``
    /// (or `timeout`). For the synchronous stores; never call it from an event loop or from inside
    /// another `blocking` body.
    func blocking<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> T) throws -> T {
        start()
        let limit = timeout ?? .seconds(Int64(settings.timeoutSeconds))
        let outcome = Outcome<T>()
        let client = self.client
        let work = Task(executorPreference: BridgeExecutor.shared) {
            do { outcome.finish(.success(try await body(client))) } catch { outcome.finish(.failure(error)) }
        }
        let result = outcome.wait(timeout: limit)
        switch result {
        case .success(let value)?:
            return value
        case .failure(let error)?:
            throw PostgresDatabase.translate(error, settings: settings)
        case nil:
            work.cancel()
            throw CertVaultError(.storageUnavailable, "The database at \(settings.displayURL) did not answer within \(limit).",
                                 hint: "Check that PostgreSQL is running and reachable; try again. Nothing was changed by this call "
                                   + "unless it was already committed (a retry is safe: writes are idempotent or refused as duplicates).")
        }
    }

    /// Runs `body` in a transaction (committed when it returns, rolled back when it throws).
    func transaction<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
        let logger = self.logger
        return try blocking(timeout: timeout) { client in
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        }
    }

    /// One round trip (`SELECT 1`), for readiness checks.
    public func ping() throws {
        try blocking { client in _ = try await client.query("SELECT 1").collect() }
    }

    /// The library error for what postgres-nio threw.
    static func translate(_ error: any Error, settings: PostgresSettings) -> any Error {
        if error is CertVaultError { return error }
        if let wrapped = error as? PostgresTransactionError {
            // The closure's own error matters most; then why BEGIN or COMMIT failed.
            if let inner = wrapped.closureError ?? wrapped.beginError ?? wrapped.commitError { return translate(inner, settings: settings) }
        }
        if let error = error as? PSQLError {
            if error.code == .server, let state = error.serverInfo?[.sqlState] {
                let message = error.serverInfo?[.message] ?? ""
                if state == "23505" {
                    return CertVaultError(.alreadyExists, "The database already has that row (another writer got there first).",
                                          hint: "Nothing was replaced; read the current state and try again.",
                                          underlying: "SQLSTATE \(state): \(message)")
                }
                return CertVaultError(.storageUnavailable, "The database at \(settings.displayURL) refused a query.",
                                      hint: "The database's log has the cause; check its state and that its schema is certvault's.",
                                      underlying: "SQLSTATE \(state): \(message)")
            }
            return CertVaultError(.storageUnavailable, "The database at \(settings.displayURL) cannot be reached.",
                                  hint: "Check that PostgreSQL is running and reachable, and the user, password and TLS settings in [storage]; try again.",
                                  underlying: "\(error.code)")
        }
        if error is CancellationError {
            return CertVaultError(.storageUnavailable, "A database call was cancelled.", hint: "Try again.")
        }
        return CertVaultError(.storageUnavailable, "A database call failed.", hint: "Check the database and try again.",
                              underlying: String(describing: type(of: error)))
    }

    /// True when `error` is a unique-key violation (translated or not).
    static func isUniqueViolation(_ error: any Error) -> Bool {
        if let error = error as? CertVaultError { return error.code == .alreadyExists }
        if let error = error as? PostgresTransactionError, let inner = error.closureError { return isUniqueViolation(inner) }
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "23505" }
        return false
    }
}

/// The outcome of a bridged call, set once, waited for with a limit.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func finish(_ value: Result<T, any Error>) {
        condition.lock()
        if result == nil { result = value }
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: Duration) -> Result<T, any Error>? {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while result == nil {
            if !condition.wait(until: deadline) { break }
        }
        return result
    }
}

/// The background task running the pool.
private final class RunState: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<Void, Never>?

    func start(_ body: @escaping @Sendable () async -> Void) {
        lock.lock()
        defer { lock.unlock() }
        guard task == nil else { return }
        task = Task(executorPreference: BridgeExecutor.shared) { await body() }
    }

    func stop() {
        lock.lock()
        let running = task
        lock.unlock()
        running?.cancel()
    }
}
