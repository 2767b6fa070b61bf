public import CertVaultCore

/// Everything `certvault serve` needs, and the VB365 connection the CLI's VB365 commands share with
/// it: the values of one configuration file (`--config FILE` / `$CERTVAULT_CONFIG`) after environment
/// overrides. It holds paths and sources of secrets, never a secret itself.
///
/// docs/configuration.md documents every key of the file and the environment variable that overrides it.
public struct ServiceConfiguration: Sendable, Hashable {
    /// Where the service listens.
    public struct Listen: Sendable, Hashable {
        /// An address or host name (default `127.0.0.1`).
        public var host: String = "127.0.0.1"
        /// The TCP port; 0 picks any free port (default 8443).
        public var port: Int = 8443
        public init(host: String = "127.0.0.1", port: Int = 8443) {
            self.host = host
            self.port = port
        }
    }

    /// How the service speaks TLS.
    public enum TLS: Sendable, Hashable {
        /// A certificate chain and its private key, both PEM files.
        case files(certificate: String, key: String)
        /// A certificate made at start with certvault's own issuer (for local use); its SHA-256
        /// fingerprint is printed at start.
        case selfSigned
        /// Plain HTTP, allowed only on a loopback address (behind a TLS-terminating proxy on the same
        /// host, or for tests and benchmarks).
        case plainLoopback
    }

    /// How the vault is unlocked. Never a passphrase in the file itself.
    public enum Unlock: Sendable, Hashable {
        /// A root key file.
        case keyFile(String)
        /// A passphrase read from a file, a descriptor, or a systemd credential
        /// (`$CREDENTIALS_DIRECTORY/NAME`).
        case passphrase(SecretSource)
    }

    /// The vault.
    public struct VaultSettings: Sendable, Hashable {
        /// The vault folder.
        public var path: String = "keys/vault"
        /// How to unlock it.
        public var unlock: Unlock = .keyFile("keys/vault-key/root.key")
        public init(path: String = "keys/vault", unlock: Unlock = .keyFile("keys/vault-key/root.key")) {
            self.path = path
            self.unlock = unlock
        }
    }

    /// The VB365 REST server.
    public struct VB365Settings: Sendable, Hashable {
        /// `https://host:4443` (or `http://` to a loopback address with ``allowPlainHTTPLoopback``).
        public var url: String?
        /// The account, often `DOMAIN\user`.
        public var user: String?
        /// Where the account's password comes from.
        public var password: SecretSource?
        /// Trust the server through this CA bundle alone.
        public var caFile: String?
        /// Also require this public key (`sha256//BASE64`).
        public var pin: String?
        /// `v6`, `v7` or `v8`; `nil`: detected.
        public var apiVersion: String?
        /// Allow plain `http://` to a loopback address.
        public var allowPlainHTTPLoopback: Bool = false
        /// Host names accepted in a verification URL (in addition to Microsoft's).
        public var verificationHosts: [String] = []
        /// Seconds to wait for the connection.
        public var connectTimeout: Double = 10
        /// Seconds to wait for each whole request.
        public var timeout: Double = 60
        /// Do not verify the server's certificate at all (the CLI's `--insecure-skip-tls-verify`, for tests
        /// only). The configuration file cannot set it.
        public var insecureSkipTLSVerify: Bool = false
        public init() {}
    }

    /// Defaults for onboardings started without them.
    public struct OnboardingDefaults: Sendable, Hashable {
        /// The VB365 region (`Worldwide` unless set).
        public var region: String = "Worldwide"
        /// The services to protect (as `onboard --services` takes them); `nil`: the CLI's default.
        public var services: String?
        /// The issuance policy's name (a file in ``ServiceConfiguration/policyFolder``) or path;
        /// `nil`: the built-in default.
        public var policy: String?
        /// Seconds between `DeviceCode/check` polls of one tenant by the background worker.
        public var pollInterval: Double = 5
        /// How many tenants the worker checks or adds at once.
        public var concurrency: Int = 4
        /// The folder of onboarding records (`[onboarding] state_dir`, `$CERTVAULT_ONBOARDING`).
        public var stateDirectory: String = "keys/onboarding"
        public init() {}
    }

    /// The customer onboarding portal (`/onboard/...`) and the operator dashboard (`/admin`).
    public struct PortalSettings: Sendable, Hashable {
        /// The address customers reach the service at, used in invitation links
        /// (`PUBLIC_URL/onboard/TOKEN`); `nil`: `https://LISTEN_HOST:LISTEN_PORT`.
        public var publicURL: String?
        /// The provider's name, shown on every page.
        public var providerName: String = "Your service provider"
        /// A PNG or SVG file with the provider's logo, served as `/assets/logo`; `nil`: none.
        public var providerLogo: String?
        /// How customers reach the provider (shown on the pages, e.g. "support@provider.example, +1 555 0100").
        public var contact: String?
        /// Labels of extra fields the customer's form asks for (free text, kept in the onboarding
        /// record's provider fields under the label).
        public var extraFields: [String] = []
        /// Default lifetime of an invitation, in days.
        public var invitationDays: Int = 7
        /// Lifetime of an operator's dashboard session, in minutes.
        public var sessionMinutes: Int = 30
        /// Seconds between the sign-in page's status checks (polling, and the no-JavaScript refresh).
        public var statusPollSeconds: Int = 3
        public init() {}
    }

    /// Renewal before expiry (the service's scheduler).
    public struct RenewalSettings: Sendable, Hashable {
        /// Whether `serve` runs the scheduler.
        public var enabled: Bool = true
        /// Days before `notAfter` at which reminders go out, largest first.
        public var reminderDays: [Int] = [60, 30, 14, 7, 1]
        /// Hours between scheduler passes (one also runs at start).
        public var intervalHours: Int = 24
        /// Whether each pass also reads every onboarded organization from VB365 to report drift.
        public var checkDrift: Bool = true
        public init() {}
    }

    /// Webhooks: signed JSON events to the provider's systems.
    public struct WebhookSettings: Sendable, Hashable {
        /// The receivers; empty: no webhooks.
        public var urls: [String] = []
        /// The HMAC-SHA256 signing key's source (a file, descriptor or systemd credential).
        public var secret: SecretSource?
        /// Trust receivers through this CA bundle alone.
        public var caFile: String?
        /// Allow plain `http://` to a loopback address (tests, a local relay).
        public var allowPlainHTTPLoopback: Bool = false
        /// Seconds to wait for each delivery.
        public var timeout: Int = 10
        /// Attempts per event before it is parked as undeliverable.
        public var maxAttempts: Int = 12
        /// The durable outbox folder; `nil`: `webhooks` beside the onboarding records' folder.
        public var outbox: String?
        public init() {}
    }

    /// Where the vault and the service's state live (`[storage]`).
    public struct StorageSettings: Sendable, Hashable {
        public enum Backend: String, Sendable, Hashable {
            /// The vault folder and the state folders beside it (the default; nothing else to run).
            case files
            /// PostgreSQL, shared by several replicas.
            case postgres
        }
        public var backend: Backend = .files
        /// `postgres://USER@HOST:PORT/DATABASE[?sslmode=verify-full|disable]`, without a password.
        public var url: String?
        /// The database password's source (a file, descriptor or systemd credential).
        public var password: SecretSource?
        /// The CA bundle the database server's certificate must chain to.
        public var caFile: String?
        /// The most connections per process.
        public var poolSize: Int = 10
        /// Seconds a storage call may wait before it fails (503 in the service).
        public var timeoutSeconds: Int = 10
        /// This replica's name in leases and logs; `nil`: `HOST:PID`.
        public var replicaID: String?
        /// Seconds a lease stays valid without renewal.
        public var leaseSeconds: Int = 30
        public init() {}
    }

    /// Where these values came from: the configuration file's path, or `nil` for built-in defaults
    /// (plus environment overrides). Errors about the values name it.
    public var source: String?
    public var listen = Listen()
    public var tls: TLS = .selfSigned
    public var vault = VaultSettings()
    public var vb365 = VB365Settings()
    public var onboarding = OnboardingDefaults()
    public var portal = PortalSettings()
    public var renewal = RenewalSettings()
    public var webhooks = WebhookSettings()
    public var storage = StorageSettings()
    /// The token store file (default: `tokens` inside the vault folder).
    public var tokenStore: String?
    /// The folder of issuance policies (`NAME.toml`); access policies are in its `access/` subfolder.
    public var policyFolder: String = "policy"
    /// The largest request body accepted, in bytes; larger ones get 413.
    public var maxRequestBodyBytes: Int = 1 << 20
    /// Seconds in-flight requests get to finish after SIGTERM.
    public var shutdownGraceSeconds: Double = 20
    /// The number of threads for blocking work (vault I/O, key generation, libcurl).
    public var blockingThreads: Int = 4

    public init() {}

    /// The token store's path.
    public var tokenStorePath: String { tokenStore ?? vault.path + "/tokens" }
    /// The portal's public base URL, without a trailing slash.
    public var portalPublicURL: String {
        if let url = portal.publicURL { return url.hasSuffix("/") ? String(url.dropLast()) : url }
        let host = listen.host.contains(":") && !listen.host.hasPrefix("[") ? "[\(listen.host)]" : listen.host
        let scheme = tls == .plainLoopback ? "http" : "https"
        return "\(scheme)://\(host):\(listen.port)"
    }
    /// The webhook outbox folder.
    public var webhookOutboxPath: String {
        if let outbox = webhooks.outbox { return outbox }
        let state = onboarding.stateDirectory
        let parent = state.contains("/") ? String(state[..<state.lastIndex(of: "/")!]) : "."
        return (parent.isEmpty ? "/" : parent) + "/webhooks"
    }
    /// The folder of access policies.
    public var accessPolicyFolder: String { policyFolder + "/access" }
}
