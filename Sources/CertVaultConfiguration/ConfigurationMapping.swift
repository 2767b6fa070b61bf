// Turning configuration values into the libraries' objects: the one place the CLI and the service
// both call, so that the file, the environment and the CLI's options mean the same thing everywhere.
public import CertVaultCore
public import CertVaultHTTP
public import CertVaultVB365
public import CertVaultVault
public import Logging
public import CertVaultPolicy
internal import Foundation

extension ServiceConfiguration.VB365Settings {
    /// How the server's certificate is trusted: `insecureSkipTLSVerify`, else the pin (with the CA
    /// file if any), else the CA file alone, else the system store.
    public var trust: HTTPTrust {
        if insecureSkipTLSVerify { return .insecureNoVerification }
        if let pin { return .pinnedPublicKey(pin, caFile: caFile) }
        if let caFile { return .caFile(caFile) }
        return .systemStore
    }

    /// The VB365 client's configuration for these settings.
    ///
    /// - Parameter userAgent: the `User-Agent` header, e.g. `certvault/VERSION`.
    /// - Throws: ``CertVaultError`` `invalid-input` when no URL or user is set, or the API version is
    ///   not v6, v7 or v8; the hint names the configuration key, the environment variable and the flag.
    public func clientConfiguration(userAgent: String) throws -> VB365Client.Configuration {
        guard let url else {
            throw CertVaultError(.invalidInput, "No VB365 server given.",
                                 hint: "Set url in [vb365] of the configuration file (--config), CERTVAULT_VB365_URL, or give --url https://HOST:4443.")
        }
        guard let user else {
            throw CertVaultError(.invalidInput, "No VB365 account given.",
                                 hint: "Set user in [vb365] of the configuration file, CERTVAULT_VB365_USER, or give --user 'DOMAIN\\user' "
                                    + "(in single quotes: the shell drops a bare backslash).")
        }
        var version: VB365APIVersion?
        if let apiVersion {
            guard let known = VB365APIVersion(rawValue: apiVersion.lowercased()) else {
                throw CertVaultError(.invalidInput, "The VB365 API version must be v6, v7 or v8.", hint: "Leave it out to detect it.")
            }
            version = known
        }
        let http = HTTPClient.Configuration(trust: trust, connectTimeout: connectTimeout, totalTimeout: timeout,
                                           allowPlainHTTPToLoopback: allowPlainHTTPLoopback, userAgent: userAgent)
        return VB365Client.Configuration(serverURL: url, version: version, username: user, http: http,
                                         verificationHosts: verificationHosts.isEmpty ? nil : verificationHosts)
    }

    /// A VB365 client: ``clientConfiguration(userAgent:)`` and the password read from its source.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` without a password source (the hint names
    ///   `passwordSourceNames`, the places the caller offers), or what reading the source throws.
    public func makeClient(userAgent: String, logger: Logger,
                           passwordSourceNames: String = "password_file, password_fd or password_credential in [vb365]") throws -> VB365Client {
        let configuration = try clientConfiguration(userAgent: userAgent)
        guard let password else {
            throw CertVaultError(.invalidInput, "No source for the VB365 password given.",
                                 hint: "Give one of \(passwordSourceNames); passwords are never taken as arguments or plain configuration values.")
        }
        return try VB365Client(configuration: configuration, password: try password.read(), logger: logger)
    }
}

extension ServiceConfiguration.VaultSettings {
    /// How the vault's root key is unlocked, in the vault library's terms.
    public func rootKeyProtection(parameters: Argon2Parameters = .default) -> RootKeyProtection {
        switch unlock {
        case .keyFile(let path): .keyFile(path: path)
        case .passphrase(let source): .passphrase(source, parameters: parameters)
        }
    }

    /// True when a vault exists at ``path``.
    public var exists: Bool { Vault.exists(at: path) }

    /// Opens the vault at ``path`` with ``rootKeyProtection(parameters:)``. Blocking (file I/O and,
    /// with a passphrase, Argon2id): call it off any event loop.
    public func openVault(actor: String = Vault.currentUser) throws -> Vault {
        try Vault.open(at: path, unlock: rootKeyProtection(), actor: actor)
    }
}

extension ServiceConfiguration {
    /// Where the issuance policy `nameOrPath` (else ``OnboardingDefaults/policy``) is read from; `nil`
    /// for the built-in default.
    ///
    /// A value with a `/` or ending in `.toml` is a path, used as written. Any other value is a name:
    /// `policyFolder/NAME.toml`, except that `default` without such a file is the built-in default.
    public func issuancePolicyPath(_ nameOrPath: String? = nil) -> String? {
        guard let value = nameOrPath ?? onboarding.policy, !value.isEmpty else { return nil }
        if value.contains("/") || value.hasSuffix(".toml") { return value }
        let path = policyFolder + "/" + value + ".toml"
        if value == "default" && !FileManager.default.fileExists(atPath: path) { return nil }
        return path
    }

    /// The issuance policy `nameOrPath` (else ``OnboardingDefaults/policy``, else the built-in default),
    /// found as ``issuancePolicyPath(_:)`` says.
    public func issuancePolicy(_ nameOrPath: String? = nil) throws -> IssuancePolicy {
        try PolicyLoader.load(pathOrBuiltIn: issuancePolicyPath(nameOrPath))
    }
}
