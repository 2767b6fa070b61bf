import CertVaultAccess
import CertVaultCore
import Testing

@Suite("Tenant selectors of grants")
struct TenantSelectorTests {
    @Test("Exact ids and prefix patterns match; others do not")
    func matching() throws {
        let selector = try TenantSelector(["contoso", "eu-*"])
        #expect(selector.matches(try TenantID("contoso")))
        #expect(selector.matches(try TenantID("eu-fabrikam")))
        #expect(!selector.matches(try TenantID("us-fabrikam")))
        #expect(!selector.matches(try TenantID("contoso2")))
    }

    @Test("A star in the middle, or a pattern that no tenant id can match, is refused")
    func badPatterns() {
        #expect(throws: CertVaultError.self) { try TenantSelector(["e*u"]) }
        #expect(throws: CertVaultError.self) { try TenantSelector(["../*"]) }
        #expect(throws: CertVaultError.self) { try TenantSelector(["../../etc"]) }
    }
}
