// The keys of the configuration file: each key's table, name, kind of value and environment
// variable (see ConfigurationFile.swift for the reader and docs/configuration.md for the reference).
internal import CertVaultVB365

/// What a key takes, and how an environment variable's text becomes that.
enum ConfigurationKind: Sendable {
    case string
    /// A path: a non-empty string.
    case path
    /// A systemd credential's name: a file name inside `$CREDENTIALS_DIRECTORY`.
    case credentialName
    case integer(ClosedRange<Int>)
    case boolean
    case stringArray
    /// An array of whole numbers, each in the range.
    case integerArray(ClosedRange<Int>)
    case choice([String])

    var expectation: String {
        switch self {
        case .string: "a string in quotes"
        case .path: "a path in quotes"
        case .credentialName: "a credential name in quotes (a file name in $CREDENTIALS_DIRECTORY)"
        case .integer(let range): "a whole number from \(range.lowerBound) to \(range.upperBound)"
        case .boolean: "true or false"
        case .stringArray: "an array of strings, e.g. [\"a\", \"b\"]"
        case .integerArray(let range): "an array of whole numbers from \(range.lowerBound) to \(range.upperBound), e.g. [30, 7]"
        case .choice(let values): "one of " + values.map { "\"\($0)\"" }.joined(separator: ", ")
        }
    }
}

/// One key the file may hold.
struct ConfigurationKey: Sendable {
    let table: String
    let name: String
    let kind: ConfigurationKind
    /// The environment variable that overrides it, if any.
    let environment: String?
    let meaning: String

    var qualified: String { "\(table).\(name)" }
}

extension ServiceConfiguration {
    /// The keys of the configuration file, table by table, in the order docs/configuration.md lists them.
    static let keys: [ConfigurationKey] = [
        .init(table: "listen", name: "host", kind: .string, environment: "CERTVAULT_LISTEN_HOST", meaning: "address to listen on"),
        .init(table: "listen", name: "port", kind: .integer(0...65535), environment: "CERTVAULT_LISTEN_PORT", meaning: "TCP port"),
        .init(table: "tls", name: "mode", kind: .choice(["self-signed", "files", "plain-loopback"]), environment: "CERTVAULT_TLS_MODE",
              meaning: "how the service speaks TLS"),
        .init(table: "tls", name: "certificate", kind: .path, environment: "CERTVAULT_TLS_CERTIFICATE", meaning: "PEM certificate chain"),
        .init(table: "tls", name: "key", kind: .path, environment: "CERTVAULT_TLS_KEY", meaning: "PEM private key"),
        .init(table: "vault", name: "path", kind: .path, environment: "CERTVAULT_VAULT", meaning: "vault folder"),
        .init(table: "vault", name: "key_file", kind: .path, environment: "CERTVAULT_KEY_FILE", meaning: "root key file"),
        .init(table: "vault", name: "passphrase_file", kind: .path, environment: "CERTVAULT_PASSPHRASE_FILE", meaning: "passphrase file"),
        .init(table: "vault", name: "passphrase_fd", kind: .integer(0...65535), environment: "CERTVAULT_PASSPHRASE_FD",
              meaning: "passphrase descriptor"),
        .init(table: "vault", name: "passphrase_credential", kind: .credentialName, environment: "CERTVAULT_PASSPHRASE_CREDENTIAL",
              meaning: "passphrase systemd credential"),
        .init(table: "vb365", name: "url", kind: .string, environment: "CERTVAULT_VB365_URL", meaning: "VB365 REST server"),
        .init(table: "vb365", name: "user", kind: .string, environment: "CERTVAULT_VB365_USER", meaning: "VB365 account"),
        .init(table: "vb365", name: "password_file", kind: .path, environment: "CERTVAULT_VB365_PASSWORD_FILE", meaning: "password file"),
        .init(table: "vb365", name: "password_fd", kind: .integer(0...65535), environment: "CERTVAULT_VB365_PASSWORD_FD",
              meaning: "password descriptor"),
        .init(table: "vb365", name: "password_credential", kind: .credentialName, environment: "CERTVAULT_VB365_PASSWORD_CREDENTIAL",
              meaning: "password systemd credential"),
        .init(table: "vb365", name: "ca_file", kind: .path, environment: "CERTVAULT_VB365_CA_FILE", meaning: "CA bundle"),
        .init(table: "vb365", name: "pin", kind: .string, environment: "CERTVAULT_VB365_PIN", meaning: "public-key pin"),
        .init(table: "vb365", name: "api_version", kind: .choice(["v6", "v7", "v8"]), environment: "CERTVAULT_VB365_API_VERSION",
              meaning: "REST API version"),
        .init(table: "vb365", name: "allow_plain_http_loopback", kind: .boolean, environment: "CERTVAULT_VB365_ALLOW_PLAIN_HTTP_LOOPBACK",
              meaning: "plain http:// to loopback"),
        .init(table: "vb365", name: "verification_hosts", kind: .stringArray, environment: "CERTVAULT_VB365_VERIFICATION_HOSTS",
              meaning: "verification URL hosts"),
        .init(table: "vb365", name: "connect_timeout", kind: .integer(1...600), environment: "CERTVAULT_VB365_CONNECT_TIMEOUT",
              meaning: "connect timeout"),
        .init(table: "vb365", name: "timeout", kind: .integer(1...3600), environment: "CERTVAULT_VB365_TIMEOUT", meaning: "request timeout"),
        .init(table: "onboarding", name: "region", kind: .choice(VB365Region.allCases.map(\.rawValue)), environment: "CERTVAULT_REGION",
              meaning: "default region"),
        .init(table: "onboarding", name: "services", kind: .string, environment: "CERTVAULT_SERVICES", meaning: "default services"),
        .init(table: "onboarding", name: "policy", kind: .string, environment: "CERTVAULT_POLICY", meaning: "issuance policy"),
        .init(table: "onboarding", name: "poll_interval", kind: .integer(1...3600), environment: "CERTVAULT_POLL_INTERVAL",
              meaning: "worker poll interval"),
        .init(table: "onboarding", name: "concurrency", kind: .integer(1...64), environment: "CERTVAULT_ONBOARDING_CONCURRENCY",
              meaning: "worker concurrency"),
        .init(table: "onboarding", name: "state_dir", kind: .path, environment: "CERTVAULT_ONBOARDING", meaning: "onboarding records"),
        .init(table: "tokens", name: "store", kind: .path, environment: "CERTVAULT_TOKEN_STORE", meaning: "token store"),
        .init(table: "policy", name: "folder", kind: .path, environment: "CERTVAULT_POLICY_FOLDER", meaning: "policy folder"),
        .init(table: "limits", name: "max_request_body_bytes", kind: .integer(1024...(64 << 20)),
              environment: "CERTVAULT_MAX_REQUEST_BODY_BYTES", meaning: "request body cap"),
        .init(table: "limits", name: "shutdown_grace_seconds", kind: .integer(0...600), environment: "CERTVAULT_SHUTDOWN_GRACE_SECONDS",
              meaning: "shutdown grace"),
        .init(table: "limits", name: "blocking_threads", kind: .integer(1...256), environment: "CERTVAULT_BLOCKING_THREADS",
              meaning: "blocking threads"),
        .init(table: "portal", name: "public_url", kind: .string, environment: "CERTVAULT_PORTAL_PUBLIC_URL",
              meaning: "base URL of invitation links"),
        .init(table: "portal", name: "provider_name", kind: .string, environment: "CERTVAULT_PORTAL_PROVIDER_NAME",
              meaning: "provider's name on the pages"),
        .init(table: "portal", name: "provider_logo", kind: .path, environment: "CERTVAULT_PORTAL_PROVIDER_LOGO",
              meaning: "provider's logo (PNG or SVG)"),
        .init(table: "portal", name: "contact", kind: .string, environment: "CERTVAULT_PORTAL_CONTACT", meaning: "contact line"),
        .init(table: "portal", name: "extra_fields", kind: .stringArray, environment: "CERTVAULT_PORTAL_EXTRA_FIELDS",
              meaning: "extra form fields"),
        .init(table: "portal", name: "invitation_days", kind: .integer(1...90), environment: "CERTVAULT_PORTAL_INVITATION_DAYS",
              meaning: "invitation lifetime"),
        .init(table: "portal", name: "session_minutes", kind: .integer(5...720), environment: "CERTVAULT_PORTAL_SESSION_MINUTES",
              meaning: "dashboard session lifetime"),
        .init(table: "portal", name: "status_poll_seconds", kind: .integer(1...60), environment: "CERTVAULT_PORTAL_STATUS_POLL_SECONDS",
              meaning: "sign-in page status interval"),
        .init(table: "renewal", name: "enabled", kind: .boolean, environment: "CERTVAULT_RENEWAL_ENABLED", meaning: "run the scheduler"),
        .init(table: "renewal", name: "reminder_days", kind: .integerArray(1...365), environment: "CERTVAULT_RENEWAL_REMINDER_DAYS",
              meaning: "reminder days before expiry"),
        .init(table: "renewal", name: "interval_hours", kind: .integer(1...168), environment: "CERTVAULT_RENEWAL_INTERVAL_HOURS",
              meaning: "hours between passes"),
        .init(table: "renewal", name: "check_drift", kind: .boolean, environment: "CERTVAULT_RENEWAL_CHECK_DRIFT",
              meaning: "compare with VB365"),
        .init(table: "webhooks", name: "urls", kind: .stringArray, environment: "CERTVAULT_WEBHOOK_URLS", meaning: "receivers"),
        .init(table: "webhooks", name: "secret_file", kind: .path, environment: "CERTVAULT_WEBHOOK_SECRET_FILE",
              meaning: "signing key file"),
        .init(table: "webhooks", name: "secret_fd", kind: .integer(0...65535), environment: "CERTVAULT_WEBHOOK_SECRET_FD",
              meaning: "signing key descriptor"),
        .init(table: "webhooks", name: "secret_credential", kind: .credentialName, environment: "CERTVAULT_WEBHOOK_SECRET_CREDENTIAL",
              meaning: "signing key systemd credential"),
        .init(table: "webhooks", name: "ca_file", kind: .path, environment: "CERTVAULT_WEBHOOK_CA_FILE", meaning: "receivers' CA bundle"),
        .init(table: "webhooks", name: "allow_plain_http_loopback", kind: .boolean,
              environment: "CERTVAULT_WEBHOOK_ALLOW_PLAIN_HTTP_LOOPBACK", meaning: "plain http:// to loopback"),
        .init(table: "webhooks", name: "timeout", kind: .integer(1...300), environment: "CERTVAULT_WEBHOOK_TIMEOUT",
              meaning: "delivery timeout"),
        .init(table: "webhooks", name: "max_attempts", kind: .integer(1...100), environment: "CERTVAULT_WEBHOOK_MAX_ATTEMPTS",
              meaning: "attempts per event"),
        .init(table: "webhooks", name: "outbox", kind: .path, environment: "CERTVAULT_WEBHOOK_OUTBOX", meaning: "outbox folder"),
        .init(table: "storage", name: "backend", kind: .choice(["files", "postgres"]), environment: "CERTVAULT_STORAGE",
              meaning: "where the vault and the service's state live"),
        .init(table: "storage", name: "url", kind: .string, environment: "CERTVAULT_POSTGRES_URL",
              meaning: "postgres://USER@HOST:PORT/DATABASE (no password)"),
        .init(table: "storage", name: "password_file", kind: .path, environment: "CERTVAULT_POSTGRES_PASSWORD_FILE",
              meaning: "database password file"),
        .init(table: "storage", name: "password_fd", kind: .integer(0...65535), environment: "CERTVAULT_POSTGRES_PASSWORD_FD",
              meaning: "database password descriptor"),
        .init(table: "storage", name: "password_credential", kind: .credentialName, environment: "CERTVAULT_POSTGRES_PASSWORD_CREDENTIAL",
              meaning: "database password systemd credential"),
        .init(table: "storage", name: "ca_file", kind: .path, environment: "CERTVAULT_POSTGRES_CA_FILE", meaning: "database server's CA bundle"),
        .init(table: "storage", name: "pool_size", kind: .integer(1...200), environment: "CERTVAULT_POSTGRES_POOL_SIZE",
              meaning: "most connections per process"),
        .init(table: "storage", name: "timeout", kind: .integer(1...300), environment: "CERTVAULT_POSTGRES_TIMEOUT",
              meaning: "seconds a storage call may wait before 503"),
        .init(table: "storage", name: "replica_id", kind: .string, environment: "CERTVAULT_REPLICA_ID",
              meaning: "this replica's name in leases and logs"),
        .init(table: "storage", name: "lease_seconds", kind: .integer(5...3600), environment: "CERTVAULT_LEASE_SECONDS",
              meaning: "lease lifetime without renewal"),
    ]

    /// The tables of the file.
    static let tables = ["listen", "tls", "vault", "vb365", "onboarding", "tokens", "policy", "limits", "portal", "renewal", "webhooks", "storage"]

    /// The documented environment variables that override file values, `CERTVAULT_CONFIG` aside.
    public static var environmentVariables: [String] { keys.compactMap(\.environment) }
}
