public import CertVaultCore
internal import Foundation

/// Where the shared store is and how certvault talks to it: parsed from `[storage]` in the
/// configuration file (`url`, `password_file`/`_fd`/`_credential`, `ca_file`, ...).
///
/// The URL never carries the password (`postgres://USER@HOST:PORT/DATABASE`): a password in it
/// would end up in the configuration file, in `ps` and in logs. It comes from a file, a
/// descriptor or a systemd credential instead, read once at start.
public struct PostgresSettings: Sendable {
    /// How the connection is protected.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP; accepted only for a loopback host (tests, a local socket proxy).
        case disable
        /// TLS, with the server's certificate checked against `caFile` (or the system's roots) and its name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// The password's source; `nil`: none (trust or peer authentication).
    public var password: SecretSource?
    public var tls: TLSMode
    /// A PEM bundle the server's certificate must chain to (with `verify-full`); `nil`: the system's roots.
    public var caFile: String?
    /// The most connections this process opens.
    public var poolSize: Int
    /// Seconds a storage call may wait (for a connection or an answer) before it fails with
    /// `storage-unavailable`, which the service answers with 503.
    public var timeoutSeconds: Int
    /// This replica's name in lease rows and the audit log (`HOST:PID` unless configured).
    public var replicaID: String
    /// Seconds a lease (onboarding work, a background job) stays valid without renewal.
    public var leaseSeconds: Int

    public init(host: String, port: Int = 5432, user: String, database: String, password: SecretSource? = nil,
                tls: TLSMode = .verifyFull, caFile: String? = nil, poolSize: Int = 10, timeoutSeconds: Int = 10,
                replicaID: String? = nil, leaseSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.poolSize = poolSize
        self.timeoutSeconds = timeoutSeconds
        self.replicaID = replicaID ?? PostgresSettings.defaultReplicaID()
        self.leaseSeconds = leaseSeconds
    }

    /// Parses `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|verify-full]`.
    ///
    /// - Throws: `invalid-input` with a hint when the URL is malformed or carries a password.
    public init(url: String, password: SecretSource?, caFile: String? = nil, poolSize: Int = 10, timeoutSeconds: Int = 10,
                replicaID: String? = nil, leaseSeconds: Int = 30) throws {
        let shown = DisplayText.escapingControls(url, limit: 120)
        let example = "Write it as postgres://USER@HOST:PORT/DATABASE, e.g. postgres://certvault@db.internal:5432/certvault."
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql" else {
            throw CertVaultError(.invalidInput, "The storage URL is not a postgres:// URL.", hint: example)
        }
        if parts.password != nil {
            throw CertVaultError(.invalidInput, "The storage URL carries a password; certvault does not take passwords in URLs.",
                                 hint: "Remove it from the URL and give it with password_file, password_fd or password_credential in [storage].")
        }
        guard let host = parts.host, !host.isEmpty else {
            throw CertVaultError(.invalidInput, "The storage URL '\(shown)' names no host.", hint: example)
        }
        guard let user = parts.user, !user.isEmpty else {
            throw CertVaultError(.invalidInput, "The storage URL '\(shown)' names no user.", hint: example)
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw CertVaultError(.invalidInput, "The storage URL '\(shown)' names no database.", hint: example)
        }
        var tls = TLSMode.verifyFull
        for item in parts.queryItems ?? [] {
            guard item.name == "sslmode", let value = item.value, let mode = TLSMode(rawValue: value) else {
                throw CertVaultError(.invalidInput, "The storage URL has the option '\(DisplayText.escapingControls(item.name, limit: 40))', "
                                     + "which certvault does not know.",
                                     hint: "The one option is sslmode=verify-full (the default) or sslmode=disable (loopback only).")
            }
            tls = mode
        }
        if tls == .disable, !PostgresSettings.isLoopback(host) {
            throw CertVaultError(.invalidInput, "sslmode=disable is accepted only for a loopback host, not '\(DisplayText.escapingControls(host, limit: 80))'.",
                                 hint: "Use TLS (sslmode=verify-full, with ca_file in [storage] for a private CA): the connection carries the vault's rows.")
        }
        self.init(host: host, port: parts.port ?? 5432, user: user, database: database, password: password, tls: tls,
                  caFile: caFile, poolSize: poolSize, timeoutSeconds: timeoutSeconds, replicaID: replicaID,
                  leaseSeconds: leaseSeconds)
    }

    /// The URL without a password, for messages and logs.
    public var displayURL: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(shownHost):\(port)/\(database)" + (tls == .disable ? "?sslmode=disable" : "")
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    static func defaultReplicaID() -> String {
        let host = ProcessInfo.processInfo.hostName
        return "\(host.isEmpty ? "localhost" : host):\(ProcessInfo.processInfo.processIdentifier)"
    }
}
