import CertVaultConfiguration
import Testing

@Suite("Service configuration defaults")
struct ConfigurationDefaultsTests {
    @Test("The token store defaults to a file inside the vault folder")
    func tokenStoreDefault() {
        var configuration = ServiceConfiguration()
        configuration.vault.path = "/srv/vault"
        #expect(configuration.tokenStorePath == "/srv/vault/tokens")
        #expect(configuration.accessPolicyFolder == "policy/access")
    }
}
