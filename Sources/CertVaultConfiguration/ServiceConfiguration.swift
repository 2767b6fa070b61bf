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

    /// Where these values came from: the configuration file's path, or `nil` for built-in defaults
    /// (plus environment overrides). Errors about the values name it.
    public var source: String?
    public var listen = Listen()
    public var tls: TLS = .selfSigned
    public var vault = VaultSettings()
    public var vb365 = VB365Settings()
    public var onboarding = OnboardingDefaults()
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
    /// The folder of access policies.
    public var accessPolicyFolder: String { policyFolder + "/access" }
}
