import CertVaultConfiguration
import CertVaultCore
import CertVaultHTTP
import CertVaultPolicy
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import Foundation
import Logging
import Testing

@Suite("Configuration values become the libraries' objects (one mapping for the CLI and the service)")
struct ConfigurationMappingTests {
    @Test("VB365 settings become the client's configuration")
    func clientConfiguration() throws {
        var settings = ServiceConfiguration.VB365Settings()
        settings.url = "https://vb365.example:4443"
        settings.user = "CORP\\svc"
        settings.apiVersion = "v7"
        settings.caFile = "/etc/ca.pem"
        settings.allowPlainHTTPLoopback = true
        settings.verificationHosts = ["login.microsoftonline.us"]
        settings.connectTimeout = 3
        settings.timeout = 30
        let configuration = try settings.clientConfiguration(userAgent: "certvault/test")
        #expect(configuration.serverURL == "https://vb365.example:4443")
        #expect(configuration.username == "CORP\\svc")
        #expect(configuration.version == .v7)
        #expect(configuration.verificationHosts == ["login.microsoftonline.us"])
        #expect(configuration.http.trust == .caFile("/etc/ca.pem"))
        #expect(configuration.http.connectTimeout == 3 && configuration.http.totalTimeout == 30)
        #expect(configuration.http.allowPlainHTTPToLoopback)
        settings.pin = "sha256//AAAA"
        #expect(settings.trust == .pinnedPublicKey("sha256//AAAA", caFile: "/etc/ca.pem"))
        settings.insecureSkipTLSVerify = true
        #expect(settings.trust == .insecureNoVerification)
        #expect(ServiceConfiguration.VB365Settings().trust == .systemStore)
        settings.verificationHosts = []
        #expect(try settings.clientConfiguration(userAgent: "x").verificationHosts == nil, "empty: the built-in list")
    }

    @Test("Missing URL, user or password source: errors naming the key, the variable and the flag")
    func missingConnection() throws {
        var settings = ServiceConfiguration.VB365Settings()
        let noURL = #expect(throws: CertVaultError.self) { try settings.clientConfiguration(userAgent: "x") }
        #expect(noURL?.hint?.contains("CERTVAULT_VB365_URL") == true && noURL?.hint?.contains("[vb365]") == true)
        settings.url = "https://vb365.example:4443"
        let noUser = #expect(throws: CertVaultError.self) { try settings.clientConfiguration(userAgent: "x") }
        #expect(noUser?.hint?.contains("CERTVAULT_VB365_USER") == true)
        settings.user = "u"
        let noPassword = #expect(throws: CertVaultError.self) {
            try settings.makeClient(userAgent: "x", logger: .init(label: "test"))
        }
        #expect(noPassword?.hint?.contains("password_file") == true)
    }

    @Test("Vault settings become the root key protection, and open the vault")
    func vault() throws {
        let dir = try TemporaryDirectory()
        var settings = ServiceConfiguration.VaultSettings(path: dir.file("vault"), unlock: .keyFile(dir.file("key/root.key")))
        #expect(!settings.exists)
        _ = try Vault.create(at: settings.path, protection: settings.rootKeyProtection())
        #expect(settings.exists)
        #expect(try settings.openVault().path.hasSuffix("/vault"))
        settings.unlock = .passphrase(.file("/p"))
        guard case .passphrase(let source, _) = settings.rootKeyProtection() else {
            Issue.record("expected a passphrase protection")
            return
        }
        #expect(source == .file("/p"))
    }

    @Test("An issuance policy is a path, a name in the policy folder, or the built-in default")
    func policyNames() throws {
        let dir = try TemporaryDirectory()
        var configuration = ServiceConfiguration()
        configuration.policyFolder = dir.path
        #expect(configuration.issuancePolicyPath() == nil)
        #expect(configuration.issuancePolicyPath("default") == nil, "no default.toml there: the built-in default")
        #expect(configuration.issuancePolicyPath("strict") == dir.path + "/strict.toml")
        #expect(configuration.issuancePolicyPath("/etc/p.toml") == "/etc/p.toml")
        #expect(configuration.issuancePolicyPath("mine.toml") == "mine.toml")
        configuration.onboarding.policy = "strict"
        #expect(configuration.issuancePolicyPath() == dir.path + "/strict.toml")
        _ = try dir.write("strict.toml", try String(contentsOfFile: TestEnvironment.policy("default"), encoding: .utf8))
        #expect(try configuration.issuancePolicy().renewBeforeDays > 0)
        #expect(try ServiceConfiguration().issuancePolicy().renewBeforeDays > 0, "the built-in default")
    }
}
